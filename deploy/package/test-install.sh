#!/usr/bin/env bash
# Install test of the gatewatch package, into a throwaway root (nothing on this machine changes):
#
#   deploy/package/test-install.sh [target/debian/gatewatch_VERSION_ARCH.deb]
#
# 1. unpacks it (dpkg-deb -x) and checks the maintainer scripts parse and the conffiles exist;
# 2. verifies its systemd units with `systemd-analyze verify --root` (beside the root's files,
#    only the host's targets and /bin/kill, which every system has): any warning fails;
# 3. runs the packaged `gatewatch check-config` on the packaged configurations;
# 4. runs the packaged aggregator and edge from the root on the sample clip (media/vtest.avi)
#    with a broker of its own: the shipped configurations, their package paths moved into the
#    root, the one camera on the clip and plate reading on; every frame decoded, every event
#    stored and acknowledged.
# A package for another architecture (arm64, from deploy/cross-aarch64.sh) gets 1-3, with step 3
# run by qemu-user on the arm64 sysroot that script made, and a check that the binary and ONNX
# Runtime's library are aarch64 code; not 4: ONNX Runtime's CPU probe (cpuinfo) crashes under
# Debian 12's qemu-user, so inference on arm64 is measured on a board (gatewatch bench).
set -euo pipefail
cd "$(dirname "$0")/../.."
DEB=${1:-$(ls target/debian/gatewatch_*_"$(dpkg --print-architecture)".deb | tail -1)}
root=$(mktemp -d)
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$root" "$work"
}
trap cleanup EXIT
fail() { echo "[install-test] FAILED: $*" >&2; exit 1; }

dpkg-deb -x "$DEB" "$root"
dpkg-deb -e "$DEB" "$work/DEBIAN"
for s in postinst prerm postrm; do sh -n "$work/DEBIAN/$s" || fail "$s does not parse"; done
while read -r f; do [ -f "$root$f" ] || fail "conffile $f missing"; done < "$work/DEBIAN/conffiles"
echo "[install-test] unpacked $(basename "$DEB"): $(find "$root" -type f | wc -l) files"

cp -a /lib/systemd/system/*.target "$root/lib/systemd/system/"
install -D /bin/kill "$root/bin/kill"
out=$(systemd-analyze verify --root="$root" "$root"/lib/systemd/system/gatewatch-*.service 2>&1) || fail "units: $out"
[ -z "$out" ] || fail "units: $out"
echo "[install-test] systemd-analyze verify: $(ls "$root"/lib/systemd/system/gatewatch-*.service | wc -l) units clean"

bin="$root/usr/bin/gatewatch"
arch=$(dpkg-deb -f "$DEB" Architecture)
if [ "$arch" != "$(dpkg --print-architecture)" ]; then
  [ "$arch" = arm64 ] || fail "no way to run a $arch package here"
  sysroot=${SYSROOT:-target/aarch64-sysroot}
  command -v qemu-aarch64 >/dev/null || fail "qemu-aarch64 missing (deploy/cross-aarch64.sh --prepare)"
  [ -d "$sysroot/usr/lib/aarch64-linux-gnu" ] || fail "no arm64 sysroot at $sysroot (deploy/cross-aarch64.sh --prepare)"
  for f in "$bin" "$root/usr/lib/gatewatch/libonnxruntime.so"; do
    file -L "$f" | grep -q 'ELF 64-bit LSB .*ARM aarch64' || fail "$f is not aarch64 code: $(file -L "$f")"
  done
  qemu-aarch64 -L "$sysroot" "$bin" check-config "$root/etc/gatewatch/edge.toml" "$root/etc/gatewatch/aggregator.toml" \
    || fail "check-config (arm64, under qemu) refused the shipped configurations"
  echo "[install-test] ok: the arm64 binary and ONNX Runtime are aarch64 code; the packaged check-config ran under qemu"
  exit 0
fi
"$bin" check-config "$root/etc/gatewatch/edge.toml" "$root/etc/gatewatch/aggregator.toml" \
  || fail "check-config refused the shipped configurations"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
port=$(free_port)
mosquitto -p "$port" >"$work/mosquitto.log" 2>&1 &
pids+=($!)
moved="s|/usr/share/gatewatch|$root/usr/share/gatewatch|g; s|/usr/lib/gatewatch|$root/usr/lib/gatewatch|g;
       s|/var/lib/gatewatch|$work|g; s|^port = 1883|port = $port|; s|^listen = \"127.0.0.1:[0-9]*\"|listen = \"127.0.0.1:0\"|"
sed -e "$moved" "$root/etc/gatewatch/aggregator.toml" > "$work/aggregator.toml"
sed -e "$moved" -e "s|^uri = \"rtsp://192.0.2.10/stream1\"|uri = \"$PWD/media/vtest.avi\"|" \
    -e '/^\[plates\]/,/^\[/ s/^enabled = false/enabled = true/' "$root/etc/gatewatch/edge.toml" > "$work/edge.toml"
grep -q "$root/usr/share/gatewatch/models/nanodet" "$work/edge.toml" || fail "the edge config names no packaged model"
(cd "$work" && exec "$bin" aggregator --config "$work/aggregator.toml") >"$work/aggregator.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "aggregator subscribed" "$work/aggregator.log" && break; sleep 0.2; done
grep -q "aggregator subscribed" "$work/aggregator.log" || fail "aggregator did not start: $(tail -5 "$work/aggregator.log")"
(cd "$work" && timeout 600 "$bin" edge --config "$work/edge.toml") >"$work/edge.log" 2>&1 \
  || fail "edge: $(tail -20 "$work/edge.log")"
summary=$(grep "edge stopped" "$work/edge.log") || fail "no summary: $(tail -5 "$work/edge.log")"
echo "[install-test] $summary"
echo "$summary" | grep -q "frames=795" || fail "not every frame of vtest.avi decoded"
echo "$summary" | grep -q "unacked=0" || fail "events left unacknowledged"
events=$(echo "$summary" | sed -n 's/.*events=\([0-9]*\).*/\1/p')
[ "${events:-0}" -gt 0 ] || fail "no events"
stored=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from events').fetchone()[0])" "$work/gatewatch.db")
[ "$stored" = "$events" ] || fail "the aggregator stored $stored of $events events"
echo "[install-test] ok: the packaged edge and aggregator ran the clip, $stored events stored"
