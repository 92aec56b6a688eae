#!/usr/bin/env bash
# Cross-compile gatewatch for 64-bit ARM boards (Raspberry Pi 4/5, Jetson, RK3588):
#
#   deploy/cross-aarch64.sh            # -> target/aarch64-unknown-linux-gnu/release/gatewatch
#
# Needs: the Rust target aarch64-unknown-linux-gnu (rustup), Debian's cross gcc, and an arm64
# sysroot holding GStreamer's and OpenSSL's development files. Not Debian multiarch on the
# build machine: Debian 12's libgstreamer-plugins-base1.0-dev cannot be installed for amd64
# and arm64 at once (installing the arm64 one removes the native one and breaks the x86 build).
# Make the sysroot apart, from Debian's arm64 packages, unpacked (nothing installed for arm64):
#   deploy/cross-aarch64.sh --make-sysroot
# (adds the arm64 architecture to dpkg so apt can download, then `dpkg -x`s every package the
# development files need into $SYSROOT, ~76 MB of downloads, and points absolute symlinks into it). ONNX Runtime is loaded at run time (ort load-dynamic): on the board, take
# libonnxruntime.so from the aarch64 `onnxruntime` wheel on PyPI (models/fetch.py does it when run
# on the board). Every missing piece is named; nothing here runs in CI.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=aarch64-unknown-linux-gnu
SYSROOT=${SYSROOT:-$PWD/target/aarch64-sysroot}
missing=0

if [ "${1:-}" = "--make-sysroot" ]; then
  dpkg --print-foreign-architectures | grep -qx arm64 || { dpkg --add-architecture arm64; apt-get update -q; }
  debs=$(mktemp -d)
  apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
      --no-enhances --no-pre-depends libgstreamer-plugins-base1.0-dev:arm64 libssl-dev:arm64 libc6-dev:arm64 \
    | grep -E '^[a-z0-9].*:arm64$' | grep -vE '^(dpkg|perl|debconf|python3|install-info|tar|coreutils|bash|dash|sed|grep|util-linux|base-files|mount)' \
    | sort -u > "$debs/list"
  (cd "$debs" && apt-get download $(cat list) >/dev/null)
  mkdir -p "$SYSROOT"
  for d in "$debs"/*.deb; do dpkg -x "$d" "$SYSROOT"; done
  (cd "$SYSROOT" && find . -type l -lname '/*' | while read -r l; do ln -sfn "$SYSROOT$(readlink "$l")" "$l"; done)
  rm -rf "$debs"
  echo "[cross] sysroot ready at $SYSROOT ($(du -sh "$SYSROOT" | cut -f1))"
fi

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
PC="$SYSROOT/usr/lib/aarch64-linux-gnu/pkgconfig:$SYSROOT/usr/share/pkgconfig"
if ! PKG_CONFIG_SYSROOT_DIR=$SYSROOT PKG_CONFIG_LIBDIR=$PC pkg-config --exists gstreamer-video-1.0 openssl 2>/dev/null; then
  echo "[cross] no arm64 sysroot with GStreamer and OpenSSL development files at $SYSROOT" >&2
  echo "[cross]   make one: $0 --make-sysroot   (or set SYSROOT to yours)" >&2
  missing=1
fi
if [ "$missing" -ne 0 ]; then
  echo "[cross] not built: see the missing pieces above" >&2
  exit 2
fi

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C link-arg=--sysroot=$SYSROOT"
export CFLAGS_aarch64_unknown_linux_gnu="--sysroot=$SYSROOT"
export PKG_CONFIG_ALLOW_CROSS=1
export PKG_CONFIG_SYSROOT_DIR=$SYSROOT
export PKG_CONFIG_LIBDIR=$PC
cargo build --release --locked --target "$TARGET" -p gatewatch
file "target/$TARGET/release/gatewatch"
if command -v qemu-aarch64 >/dev/null; then   # Debian's qemu-user: a smoke run, emulated
  qemu-aarch64 -L "$SYSROOT" "target/$TARGET/release/gatewatch" check-config deploy/edge.toml deploy/aggregator.toml
fi
echo "[cross] copy target/$TARGET/release/gatewatch, models/ and deploy/ to the board; run gatewatch bench there"
