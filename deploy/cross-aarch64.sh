#!/usr/bin/env bash
# Cross-compile gatewatch for 64-bit ARM boards (Raspberry Pi 4/5, Jetson, RK3588):
#
#   deploy/cross-aarch64.sh --prepare  # once, as root: the tools, the compiler and an arm64 sysroot
#   deploy/cross-aarch64.sh            # -> target/aarch64-unknown-linux-gnu/release/gatewatch
#
# Needs: a Rust compiler with aarch64-unknown-linux-gnu's standard library, Debian's cross gcc,
# and an arm64 sysroot holding GStreamer's and OpenSSL's development files.
# The compiler: rustup's target where it is already installed; else Debian's own Rust (only Debian's
# archive, crates.io and PyPI are fetched from here), `rustc-web` from bookworm-security with its
# amd64 and arm64 standard libraries, unpacked under target/debian-rust (it conflicts with rustup as an
# installed package, so it is only unpacked) and used by cargo as RUSTC.
# The sysroot: not Debian multiarch on the build machine: Debian 12's
# libgstreamer-plugins-base1.0-dev cannot be installed for amd64 and arm64 at once (installing the
# arm64 one removes the native one and breaks the x86 build). --prepare adds the arm64
# architecture to dpkg so apt can download, `dpkg -x`s every package the development files need
# into $SYSROOT (~76 MB of downloads, nothing installed for arm64) and points absolute symlinks
# into it. ONNX Runtime is loaded at run time (ort load-dynamic): `python3 models/fetch.py
# --onnxruntime-for aarch64` takes it from the aarch64 `onnxruntime` wheel on PyPI, and
# deploy/package/build-deb.sh --arch arm64 packages both. Every missing piece is named.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=aarch64-unknown-linux-gnu
SYSROOT=${SYSROOT:-$PWD/target/aarch64-sysroot}
missing=0

DEBRUST=$PWD/target/debian-rust
MIN_RUST=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml | head -1)

# Debian's rustc-web and its standard libraries for both architectures, unpacked into $DEBRUST.
unpack_debian_rust() {
  local debs
  debs=$(mktemp -d)
  local ver llvm
  ver=$(apt-cache policy rustc-web | sed -n 's/^ *Candidate: //p')
  local abi=${ver%%+*}; abi=${abi%.*}     # 1.96.0+dfsg1-... -> 1.96
  # Its LLVM is an ordinary library (no conflict with rustup): installed, with what it needs.
  llvm=$(apt-cache depends "libstd-rust-web-$abi" | sed -n 's/^ *Depends: \(libllvm[0-9]*\)$/\1/p' | head -1)
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$llvm" >/dev/null
  (cd "$debs" && apt-get download -q "rustc-web=$ver" "libstd-rust-web-$abi=$ver" "libstd-rust-web-dev=$ver" \
      "libstd-rust-web-dev:arm64=$ver" >/dev/null)
  rm -rf "$DEBRUST"
  mkdir -p "$DEBRUST"
  for d in "$debs"/*.deb; do dpkg -x "$d" "$DEBRUST"; done
  rm -rf "$debs"
  echo "[cross] Debian's Rust $ver unpacked at $DEBRUST"
}

if [ "${1:-}" = "--prepare" ]; then
  dpkg --print-foreign-architectures | grep -qx arm64 || { dpkg --add-architecture arm64; apt-get update -q >/dev/null; }
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu qemu-user file >/dev/null
  # Not `rustup target add`: that downloads from static.rust-lang.org, outside the registries
  # this project may fetch from. A target rustup already has is used as it is.
  if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
    [ -x "$DEBRUST/usr/bin/rustc" ] || unpack_debian_rust
  fi
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
  exit 0
fi

RUSTC_FOR_TARGET=
if rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
  :   # rustup's compiler, with its target
elif [ -x "$DEBRUST/usr/bin/rustc" ]; then
  # Debian's compiler finds its libraries beside it; cargo (rustup's) drives it.
  RUSTC_FOR_TARGET=$DEBRUST/rustc
  printf '#!/bin/sh\nLD_LIBRARY_PATH=%s/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} exec %s/usr/bin/rustc "$@"\n' \
    "$DEBRUST" "$DEBRUST" > "$RUSTC_FOR_TARGET"
  chmod 755 "$RUSTC_FOR_TARGET"
  have=$("$RUSTC_FOR_TARGET" -V | awk '{print $2}')
  if [ "$(printf '%s\n%s\n' "$MIN_RUST" "$have" | sort -V | head -1)" != "$MIN_RUST" ]; then
    echo "[cross] Debian's rustc $have at $DEBRUST is older than the workspace's rust-version $MIN_RUST" >&2
    missing=1
  fi
  if [ ! -d "$DEBRUST/usr/lib/rustlib/$TARGET/lib" ]; then
    echo "[cross] $DEBRUST holds no standard library for $TARGET: rerun $0 --prepare" >&2
    missing=1
  fi
else
  echo "[cross] no Rust compiler for $TARGET: $0 --prepare (Debian's rustc-web)" >&2
  missing=1
fi
if ! command -v aarch64-linux-gnu-gcc >/dev/null; then
  echo "[cross] missing the cross C compiler: apt-get install gcc-aarch64-linux-gnu" >&2
  missing=1
fi
PC="$SYSROOT/usr/lib/aarch64-linux-gnu/pkgconfig:$SYSROOT/usr/share/pkgconfig"
if ! PKG_CONFIG_SYSROOT_DIR=$SYSROOT PKG_CONFIG_LIBDIR=$PC pkg-config --exists gstreamer-video-1.0 openssl 2>/dev/null; then
  echo "[cross] no arm64 sysroot with GStreamer and OpenSSL development files at $SYSROOT" >&2
  echo "[cross]   make one: $0 --prepare   (or set SYSROOT to yours)" >&2
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
[ -z "$RUSTC_FOR_TARGET" ] || export RUSTC=$RUSTC_FOR_TARGET
cargo build --release --locked --target "$TARGET" -p gatewatch
file "target/$TARGET/release/gatewatch"
if command -v qemu-aarch64 >/dev/null; then   # Debian's qemu-user: a smoke run, emulated
  qemu-aarch64 -L "$SYSROOT" "target/$TARGET/release/gatewatch" check-config deploy/edge.toml deploy/aggregator.toml
fi
echo "[cross] copy target/$TARGET/release/gatewatch, models/ and deploy/ to the board; run gatewatch bench there"
