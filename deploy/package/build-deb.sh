#!/usr/bin/env bash
# A Debian package of gatewatch for a gate box or a central server:
#
#   deploy/package/build-deb.sh                    # amd64, from target/release (deploy/setup.sh)
#   deploy/cross-aarch64.sh --prepare && deploy/cross-aarch64.sh &&
#   python3 models/fetch.py --onnxruntime-for aarch64 &&
#   deploy/package/build-deb.sh --arch arm64          # the cross-built binary and the aarch64 ONNX Runtime
#
# -> target/debian/gatewatch_VERSION_ARCH.deb holding
#   /usr/bin/gatewatch, /usr/lib/gatewatch/libonnxruntime.so (ONNX Runtime, loaded at run time),
#   /usr/share/gatewatch/models/ (detector and plate models, as models/fetch.py made them),
#   /etc/gatewatch/{edge,aggregator}.toml (conffiles: deploy/'s, pointed at those paths and at
#   /var/lib/gatewatch), /lib/systemd/system/gatewatch-{edge,aggregator,desk}.service (run as
#   the system user `gatewatch`, hardened; none is enabled by installing: configure first),
#   /usr/share/doc/gatewatch/ (README, events.md, the Grafana dashboard, Mosquitto and
#   PostgreSQL set-up). Built with dpkg-deb (no other tool); runtime dependencies come from
#   dpkg-shlibdeps for the native build, plus GStreamer's plugins.
set -euo pipefail
cd "$(dirname "$0")/../.."
ARCH=amd64
BIN=
ORT=
while [ $# -gt 0 ]; do
  case "$1" in
    --arch) ARCH=$2; shift 2 ;;
    --binary) BIN=$2; shift 2 ;;
    --onnxruntime) ORT=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$ARCH" in
  amd64) BIN=${BIN:-target/release/gatewatch}; ORT=${ORT:-models/onnxruntime/libonnxruntime.so} ;;
  arm64) BIN=${BIN:-target/aarch64-unknown-linux-gnu/release/gatewatch}; ORT=${ORT:-models/onnxruntime-aarch64/libonnxruntime.so} ;;
  *) echo "--arch: amd64 or arm64" >&2; exit 2 ;;
esac
for f in "$BIN" "$ORT" models/nanodet-m-416.onnx models/clp_det.onnx models/ch_PP-OCRv4_rec_infer.onnx; do
  [ -f "$f" ] || { echo "[deb] missing $f (run deploy/setup.sh, or deploy/cross-aarch64.sh for arm64)" >&2; exit 2; }
done
VERSION=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
OUT=target/debian
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
P=$STAGE/pkg

install -D -m 755 "$BIN" "$P/usr/bin/gatewatch"
# Debug symbols stay in the build tree: the package ships the stripped binary.
case "$ARCH" in
  "$(dpkg --print-architecture)") STRIP=strip ;;
  arm64) STRIP=aarch64-linux-gnu-strip ;;
  *) STRIP=false ;;
esac
"$STRIP" --strip-unneeded "$P/usr/bin/gatewatch" 2>/dev/null || echo "[deb] $STRIP not found: binary left unstripped" >&2
install -D -m 644 "$ORT" "$P/usr/lib/gatewatch/libonnxruntime.so"
install -d "$P/usr/share/gatewatch/models"
for m in models/*.onnx models/*.txt; do install -m 644 "$m" "$P/usr/share/gatewatch/models/"; done
# The shipped configurations, with the package's paths.
paths='s|"models/onnxruntime/libonnxruntime.so"|"/usr/lib/gatewatch/libonnxruntime.so"|;
       s|"models/|"/usr/share/gatewatch/models/|;
       s|^dir = "spool" |dir = "/var/lib/gatewatch/spool"|;
       s|"sqlite://gatewatch.db"|"sqlite:///var/lib/gatewatch/gatewatch.db"|'
install -d "$P/etc/gatewatch"
sed -e "$paths" deploy/edge.toml > "$P/etc/gatewatch/edge.toml"
sed -e "$paths" deploy/aggregator.toml > "$P/etc/gatewatch/aggregator.toml"
chmod 640 "$P/etc/gatewatch/"*.toml
for u in deploy/systemd/*.service; do install -D -m 644 "$u" "$P/lib/systemd/system/$(basename "$u")"; done
D=$P/usr/share/doc/gatewatch
install -d "$D/grafana" "$D/mosquitto" "$D/postgres"
install -m 644 README.md docs/events.md "$D/"
install -m 644 deploy/grafana/gatewatch.json "$D/grafana/"
install -m 644 deploy/mosquitto/* "$D/mosquitto/"
install -m 644 deploy/postgres/* "$D/postgres/"
install -m 644 deploy/package/copyright "$D/copyright"

if [ "$ARCH" = "$(dpkg --print-architecture)" ]; then
  mkdir -p "$STAGE/src/debian"
  printf 'Source: gatewatch\n\nPackage: gatewatch\nArchitecture: any\n' > "$STAGE/src/debian/control"
  SHLIBS=$(cd "$STAGE/src" && dpkg-shlibdeps -O -e "$P/usr/bin/gatewatch" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
else
  # Cross-built: the arm64 libraries' symbols are not on this machine; Debian 12's names.
  SHLIBS="libc6 (>= 2.34), libgcc-s1 (>= 4.2), libssl3 (>= 3.0.0), libgstreamer1.0-0 (>= 1.22), libgstreamer-plugins-base1.0-0 (>= 1.22), libglib2.0-0 (>= 2.74)"
fi
SIZE=$(du -sk "$P" | cut -f1)
install -d "$P/DEBIAN"
cat > "$P/DEBIAN/control" <<CONTROL
Package: gatewatch
Version: $VERSION
Architecture: $ARCH
Maintainer: gatewatch engineers <gatewatch@localhost>
Installed-Size: $SIZE
Depends: $SHLIBS, adduser, gstreamer1.0-plugins-base, gstreamer1.0-plugins-good, gstreamer1.0-plugins-bad, gstreamer1.0-libav
Suggests: mosquitto, postgresql
Section: video
Priority: optional
Homepage: https://localhost/gatewatch
Description: video analytics for residential compound gates
 Edge worker (cameras -> ONNX detection -> tracks, zones, plates -> events
 over MQTT, spooled on disk), aggregator (events -> rules -> alerts in SQLite
 or PostgreSQL) and the watch desk (officers' web pages), with systemd units.
CONTROL
printf '/etc/gatewatch/edge.toml\n/etc/gatewatch/aggregator.toml\n' > "$P/DEBIAN/conffiles"
install -m 755 deploy/package/postinst deploy/package/prerm deploy/package/postrm "$P/DEBIAN/"
mkdir -p "$OUT"
DEB="$OUT/gatewatch_${VERSION}_${ARCH}.deb"
dpkg-deb --root-owner-group -Zxz --build "$P" "$DEB" >/dev/null
echo "[deb] $DEB ($(du -h "$DEB" | cut -f1))"
