#!/usr/bin/env bash
# The zcnet demo: zcnet-httpd behind a net_tap interface inside a fresh
# network namespace, driven by real kernel clients (ping, curl, wrk).
# Everything stays inside the namespace, which is deleted at the end.
#
#   scripts/demo.sh            (as root, on Debian 12 / Ubuntu 22.04+; it runs
#                               scripts/setup.sh first, which installs what is missing)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/netns.sh

NS="zcnet-demo-$$"
WORK=$(mktemp -d)
BIN=target/release/zcnet-httpd
cleanup() {
  zc_ns_stop || true
  zc_ns_delete "$NS"
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

if [ "$(id -u)" -ne 0 ]; then
  echo "demo: run as root (it creates a network namespace and a tap device)" >&2
  exit 1
fi
echo "== scripts/setup.sh (DPDK, clang, kernel clients, hugepages; idempotent)"
scripts/setup.sh

echo "== building zcnet-httpd (release)"
cargo build --release --quiet --bin zcnet-httpd

echo "== starting zcnet-httpd behind net_tap in namespace $NS"
head -c $((4 * 1024 * 1024)) /dev/urandom >"$WORK/blob.bin"
zc_ns_create "$NS"
zc_ns_start "$NS" "$WORK/httpd.log" "$BIN" --config config/tap.toml --root "$WORK" --port 80 ${DEMO_ARGS:-}
zc_ns_tap_up "$NS" zc0 198.18.0.1/24
for i in $(seq 1 100); do grep -q "http on" "$WORK/httpd.log" && break; sleep 0.1; done
grep "http on" "$WORK/httpd.log"
echo "   kernel side: zc0 $(ip netns exec "$NS" cat /sys/class/net/zc0/address) 198.18.0.1/24"
echo "   zcnet side:  02:00:c6:12:00:02 198.18.0.2 (config/tap.toml)"

echo
echo "== ping 198.18.0.2 (answered by the zcnet stack, not the kernel)"
ip netns exec "$NS" ping -c 5 -i 0.2 -W 1 198.18.0.2 | tail -2

echo
echo "== curl http://198.18.0.2/"
ip netns exec "$NS" curl -sS -m 5 -i http://198.18.0.2/

echo
echo "== curl a 4 MiB file and compare checksums"
ip netns exec "$NS" curl -sS -m 30 -o "$WORK/blob.out" http://198.18.0.2/blob.bin \
  -w '   %{size_download} bytes in %{time_total} s\n'
if [ "$(sha256sum <"$WORK/blob.bin")" = "$(sha256sum <"$WORK/blob.out")" ]; then
  echo "   sha256 matches"
else
  echo "   sha256 MISMATCH" >&2
  exit 1
fi

echo
echo "== wrk -t1 -c32 -d5s http://198.18.0.2/  (net_tap tops out near 110k packets/s here: the tap is the ceiling)"
ip netns exec "$NS" timeout 20 wrk -t1 -c32 -d5s http://198.18.0.2/ | sed 's/^/   /'

echo
echo "== stopping zcnet-httpd (SIGTERM: graceful close, every mbuf back in its pool)"
rc=0
zc_ns_stop || rc=$?
grep -E "^queue [0-9]+: NetStats" "$WORK/httpd.log" | sed 's/^/   /' || true
if grep -q "mbuf(s) out" "$WORK/httpd.log"; then
  echo "   LEAK: $(grep 'mbuf(s) out' "$WORK/httpd.log")" >&2
  exit 1
fi
echo "   exit code $rc"
[ "$rc" -eq 0 ]
echo
echo "demo done: namespace $NS is removed on exit."
