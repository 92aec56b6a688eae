#!/usr/bin/env bash
# Cross-compile gatewatch for 64-bit ARM boards (Raspberry Pi 4/5, Jetson, RK3588):
#
#   deploy/cross-aarch64.sh            # -> target/aarch64-unknown-linux-gnu/release/gatewatch
#
# Needs: the Rust target aarch64-unknown-linux-gnu (rustup), Debian's cross gcc, and an arm64
# sysroot of GStreamer's development files (Debian multiarch: libgstreamer1.0-dev:arm64 and
# friends). ONNX Runtime is loaded at run time (ort load-dynamic): on the board, take
# libonnxruntime.so from the aarch64 `onnxruntime` wheel on PyPI (models/fetch.py does it when run
# on the board). Every missing piece is named; nothing here runs in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=aarch64-unknown-linux-gnu
missing=0

if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
  echo "[cross] installing the Rust target $TARGET"
  if ! rustup target add "$TARGET"; then
    echo "[cross] cannot install the Rust target $TARGET here (rustup needs static.rust-lang.org)." >&2
    echo "[cross] on a machine that can: rustup target add $TARGET" >&2
    missing=1
  fi
fi
if ! command -v aarch64-linux-gnu-gcc >/dev/null; then
  echo "[cross] missing the cross C compiler: apt-get install gcc-aarch64-linux-gnu" >&2
  missing=1
fi
if ! PKG_CONFIG_PATH=/usr/lib/aarch64-linux-gnu/pkgconfig pkg-config --exists gstreamer-video-1.0 2>/dev/null; then
  echo "[cross] missing the arm64 GStreamer development files:" >&2
  echo "[cross]   dpkg --add-architecture arm64 && apt-get update" >&2
  echo "[cross]   apt-get install libgstreamer1.0-dev:arm64 libgstreamer-plugins-base1.0-dev:arm64 libssl-dev:arm64" >&2
  missing=1
fi
if [ "$missing" -ne 0 ]; then
  echo "[cross] not built: see the missing pieces above" >&2
  exit 2
fi

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export PKG_CONFIG_ALLOW_CROSS=1
export PKG_CONFIG_PATH=/usr/lib/aarch64-linux-gnu/pkgconfig
export PKG_CONFIG_LIBDIR=/usr/lib/aarch64-linux-gnu/pkgconfig
cargo build --release --locked --target "$TARGET" -p gatewatch
file "target/$TARGET/release/gatewatch"
echo "[cross] copy target/$TARGET/release/gatewatch, models/ and deploy/ to the board; run gatewatch bench there"
