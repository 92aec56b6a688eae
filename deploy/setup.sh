#!/usr/bin/env bash
# gatewatch set-up for a fresh Debian 12 machine that reaches only the package registries.
#
#   1. Debian packages: GStreamer (dev + plugins + libav + tools), Mosquitto, PostgreSQL,
#      Python for the one-off model conversion, npm for the npm registry, Chromium and its
#      driver (with a Chinese font) for the watch desk's browser test, dpkg-dev and systemd for
#      building the Debian package and checking its units. gatewatch relies on
#      no service these start: the demo and the tests start their own broker, and the tests
#      and the bench their own PostgreSQL cluster, on free ports.
#   2. models/fetch.py: ONNX Runtime, NanoDet-m, plate models and the vtest.avi clip, pinned
#      by version and sha256 (see models/manifest.toml), cached in ~/.cache/gatewatch.
#   3. cargo build --release of the `gatewatch` binary.
#
# Idempotent: a second run only re-checks hashes and does an incremental build (seconds).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev gstreamer1.0-plugins-base
  gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly
  gstreamer1.0-libav gstreamer1.0-tools mosquitto mosquitto-clients
  python3 python3-venv python3-pip npm pkg-config gcc ca-certificates libssl-dev openssl
  gir1.2-gst-rtsp-server-1.0 python3-gi postgresql
  chromium chromium-driver fonts-wqy-microhei
  dpkg-dev systemd
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# npm may come from elsewhere (nodesource, nvm): the client is all we need.
if command -v npm >/dev/null 2>&1; then
  missing=("${missing[@]/npm/}")
fi
# python3 may be a pyenv build with venv and pip already in it.
if python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  missing=("${missing[@]/python3-venv/}")
  missing=("${missing[@]/python3-pip/}")
fi
read -r -a missing <<<"${missing[*]}"
if ((${#missing[@]})); then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "[setup] installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "[setup] Debian packages present"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "[setup] cargo not found: install Rust >= 1.95 (rustup) first" >&2
  exit 1
fi

python3 models/fetch.py
echo "[setup] building gatewatch (release)"
cargo build --release --locked -p gatewatch
echo "[setup] done: target/release/gatewatch"
