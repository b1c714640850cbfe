#!/usr/bin/env bash
# The soak test (issue 6, item 5; not part of scripts/test.sh): zcnet-echo
# (release) behind net_tap in a fresh network namespace, for N minutes
# (default 5, at most 120), under
#   - kernel clients in connect / transfer / verify / close loops (TCP, with
#     a UDP echo now and then), and
#   - a background of hostile frames (scapy): truncated and lying headers,
#     bad checksums, illegal TCP flags, stray RSTs and SYNs, fragments,
#     IP options, ARP spoofs of the stack's address, ICMP errors.
# It samples the app's RSS every 10 s and, at the end, checks that
#   - no transfer returned wrong bytes, and connection errors stay under 1%,
#   - the app exits 0 with every mbuf back in its pool,
#   - its TCP socket count at exit is back to the start value (0),
#   - its RSS grew by less than ZCNET_SOAK_RSS_MIB (default 64) MiB.
# Every loop is bounded in time and in count; all traffic stays on
# 198.18.0.0/24 inside the namespace, which is deleted at the end.
#
#   scripts/soak.sh [--minutes N]        (as root)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/netns.sh

MINUTES=5
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) MINUTES=${2:?--minutes needs a number}; shift 2 ;;
    --minutes=*) MINUTES=${1#--minutes=}; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "soak: unknown argument $1 (usage: scripts/soak.sh [--minutes N])" >&2; exit 2 ;;
  esac
done
if ! [[ "$MINUTES" =~ ^[0-9]+$ ]] || [ "$MINUTES" -lt 1 ] || [ "$MINUTES" -gt 120 ]; then
  echo "soak: --minutes must be a whole number in 1..120 (got $MINUTES)" >&2
  exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "soak: run as root (it creates a network namespace and a tap device)" >&2
  exit 1
fi
RSS_BOUND_MIB=${ZCNET_SOAK_RSS_MIB:-64}
SECONDS_TOTAL=$((MINUTES * 60))
PYTHON=/usr/bin/python3 # Debian's, which has scapy
NS="zcnet-soak-$$"
WORK=$(mktemp -d /tmp/zcnet-soak.XXXXXX)
BIN=target/release/zcnet-echo
BG_PIDS=()

cleanup() {
  local pid
  for pid in "${BG_PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${BG_PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  zc_ns_stop >/dev/null 2>&1 || true
  zc_ns_delete "$NS"
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== building zcnet-echo (release)"
cargo build --release --quiet --bin zcnet-echo

echo "== zcnet-echo in namespace $NS for $MINUTES minute(s)"
zc_ns_create "$NS"
# Every client connection ends in TIME-WAIT on the kernel side (the client
# closes first) for 60 s: give the clients more ports than they can use up
# at their capped rate, all above the hostile frames' source ports.
ip netns exec "$NS" sysctl -qw net.ipv4.ip_local_port_range="10000 65000"
zc_ns_start "$NS" "$WORK/app.log" "$BIN" --config config/tap.toml
APP_PID=$ZC_APP_PID # `ip netns exec` execs the app: same PID
zc_ns_tap_up "$NS"
for _ in $(seq 1 200); do
  grep -q " on 198.18.0.2" "$WORK/app.log" && break
  kill -0 "$APP_PID" 2>/dev/null || { cat "$WORK/app.log" >&2; echo "soak: the app exited at start" >&2; exit 1; }
  sleep 0.1
done
grep -q " on 198.18.0.2" "$WORK/app.log" || { cat "$WORK/app.log" >&2; echo "soak: the app never listened" >&2; exit 1; }

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$APP_PID/status" 2>/dev/null || echo 0; }
RSS_START=$(rss_kib)

# Clients: 8 threads of connect / send 1..128 KiB / half-close / read the
# echo to EOF / compare / close, and a UDP echo every 20th round; at most
# 400 rounds a second in all (400 x 60 s of TIME-WAIT < 55000 ports).
cat >"$WORK/clients.py" <<'EOF'
import os, random, socket, sys, threading, time
HOST, DEADLINE, MAX_ROUNDS = "198.18.0.2", time.time() + float(sys.argv[1]), 2_000_000
lock = threading.Lock()
stats = {"ok": 0, "mismatch": 0, "errors": 0, "bytes": 0, "udp_ok": 0, "udp_lost": 0}
first_error, error_kinds = [], {}
ROUND_SECS = 8 / 400  # per worker

def count(key, n=1):
    with lock:
        stats[key] += n

def tcp_round():
    data = os.urandom(random.randint(1, 128 * 1024))
    s = socket.create_connection((HOST, 7), timeout=10)
    got = bytearray()
    def reader():
        try:
            while True:
                b = s.recv(65536)
                if not b:
                    return
                got.extend(b)
        except OSError:
            pass
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    t.join(15)
    s.close()
    if got == data:
        count("ok")
        count("bytes", 2 * len(data))
    elif data.startswith(bytes(got)):
        raise OSError(f"echo stopped after {len(got)} of {len(data)} bytes")
    else:
        count("mismatch")

def udp_round():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect((HOST, 7))
    s.settimeout(0.5)
    data = os.urandom(random.randint(1, 1472))
    for _ in range(3):
        s.send(data)
        try:
            if s.recv(2048) == data:
                count("udp_ok")
                return
        except socket.timeout:
            pass
    count("udp_lost")

def worker(rounds):
    for i in range(rounds):
        started = time.time()
        if started > DEADLINE:
            return
        try:
            udp_round() if i % 20 == 19 else tcp_round()
        except OSError as e:
            count("errors")
            with lock:
                kind = type(e).__name__
                error_kinds[kind] = error_kinds.get(kind, 0) + 1
                if not first_error:
                    first_error.append(repr(e))
        time.sleep(max(0.0, started + ROUND_SECS - time.time()))

threads = [threading.Thread(target=worker, args=(MAX_ROUNDS // 8,)) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join(float(sys.argv[1]) + 60)
print(" ".join(f"{k}={v}" for k, v in stats.items()), flush=True)
if first_error:
    print(f"first_error={first_error[0]}", flush=True)
    print("error_kinds=" + ", ".join(f"{k} x{n}" for k, n in sorted(error_kinds.items())), flush=True)
EOF

# Hostile frames, about 100 a second. Source ports stay below the clients'
# ports (10000..), so no crafted frame carries the 4-tuple of a client's
# live connection; sources are the kernel's own address, which resets every
# SYN-ACK it did not ask for.
cat >"$WORK/hostile.py" <<'EOF'
import os, random, socket, sys, time
from scapy.config import conf
conf.verb = 0
from scapy.layers.l2 import Ether, ARP
from scapy.layers.inet import IP, TCP, UDP, ICMP, IPOption_NOP, IPOption_Router_Alert, fragment
HOST, KERNEL = "198.18.0.2", "198.18.0.1"
STACK_MAC, KERNEL_MAC = "02:00:c6:12:00:02", "02:00:c6:12:00:01"
DEADLINE, MAX_FRAMES = time.time() + float(sys.argv[1]), 1_000_000
w = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
w.bind(("zc0", 0))
e = lambda: Ether(src=KERNEL_MAC, dst=STACK_MAC)
ip = lambda **kw: IP(src=KERNEL, dst=HOST, **kw)
port = lambda: random.randint(1024, 9999)

def cut(frame, n):
    return bytes(frame)[:n]

makers = [
    lambda: [cut(e() / ip() / TCP(sport=port(), dport=7, flags="S"), random.randint(14, 53))],
    lambda: [cut(e() / ip() / UDP(sport=port(), dport=7) / (b"x" * 20), random.randint(14, 41))],
    lambda: [e() / ip(len=random.choice([10, 200, 65535])) / TCP(sport=port(), dport=7, flags="S")],
    lambda: [e() / ip() / TCP(sport=port(), dport=7, flags="S", chksum=random.getrandbits(16))],
    lambda: [e() / ip(chksum=random.getrandbits(16)) / UDP(sport=port(), dport=7) / b"bad"],
    lambda: [e() / ip() / UDP(sport=port(), dport=7, chksum=random.getrandbits(16) | 1) / b"bad"],
    lambda: [e() / ip() / TCP(sport=port(), dport=random.choice([7, 9]), flags=random.choice(["SF", "", "FSRPAUEC", "SR"]))],
    lambda: [e() / ip() / TCP(sport=port(), dport=7, flags=random.choice(["R", "RA", "A", "PA"]),
                               seq=random.getrandbits(32), ack=random.getrandbits(32)) / os.urandom(random.randint(0, 64))],
    lambda: [e() / ip() / TCP(sport=port(), dport=7, flags="S", dataofs=random.choice([2, 15]))],
    lambda: [e() / ip() / TCP(sport=port(), dport=7, flags="S")],  # a half-open connection the kernel resets
    lambda: fragment(e() / ip(id=random.getrandbits(16)) / UDP(sport=port(), dport=7) / (b"F" * 1600), fragsize=600),
    lambda: [e() / ip(options=[IPOption_Router_Alert(), IPOption_NOP(), IPOption_NOP(), IPOption_NOP()])
             / UDP(sport=port(), dport=7) / b"options"],
    lambda: [Ether(src="02:00:de:ad:be:ef", dst="ff:ff:ff:ff:ff:ff")
             / ARP(op=random.choice([1, 2]), hwsrc="02:00:de:ad:be:ef", psrc=HOST, pdst=HOST)],
    lambda: [e() / ip() / ICMP(type=3, code=random.choice([1, 3, 4])) / bytes(IP(src=HOST, dst=KERNEL) / TCP(sport=7, dport=port()))[:28]],
    lambda: [e() / os.urandom(random.randint(1, 200))],
]
sent = 0
while time.time() < DEADLINE and sent < MAX_FRAMES:
    for f in random.choice(makers)():
        try:
            w.send(bytes(f))
            sent += 1
        except OSError:
            pass  # the kernel refuses some (shorter than a header): fine
    time.sleep(0.01)
print(f"hostile_frames={sent}", flush=True)
EOF

RUN_SECS=$((SECONDS_TOTAL - 10))
[ "$RUN_SECS" -ge 20 ] || RUN_SECS=20
ip netns exec "$NS" "$PYTHON" -u "$WORK/clients.py" "$RUN_SECS" >"$WORK/clients.out" 2>&1 &
CLIENTS_PID=$!
BG_PIDS+=("$CLIENTS_PID")
ip netns exec "$NS" "$PYTHON" -u "$WORK/hostile.py" "$RUN_SECS" >"$WORK/hostile.out" 2>&1 &
HOSTILE_PID=$!
BG_PIDS+=("$HOSTILE_PID")

# Sample RSS every 10 s until the clients are done (bounded by the run time).
echo "   time  rss(MiB)"
RSS_MAX=$RSS_START
started=$(date +%s)
while kill -0 "$CLIENTS_PID" 2>/dev/null && [ $(($(date +%s) - started)) -lt $((RUN_SECS + 90)) ]; do
  rss=$(rss_kib)
  [ "$rss" -gt "$RSS_MAX" ] && RSS_MAX=$rss
  printf '%6ss  %8.1f\n' "$(($(date +%s) - started))" "$(echo "$rss / 1024" | bc -l)"
  for _ in $(seq 1 100); do
    kill -0 "$CLIENTS_PID" 2>/dev/null || break
    sleep 0.1
  done
done
wait "$CLIENTS_PID" || true
wait "$HOSTILE_PID" || true
BG_PIDS=()
RSS_END=$(rss_kib)
[ "$RSS_END" -gt "$RSS_MAX" ] && RSS_MAX=$RSS_END

set +e
zc_ns_stop
APP_RC=$?
set -e

clients=$(grep -m1 '^ok=' "$WORK/clients.out" || true)
field() { echo "$clients" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }' || true; }
OK=$(field ok); MISMATCH=$(field mismatch); ERRORS=$(field errors); BYTES=$(field bytes)
UDP_OK=$(field udp_ok); UDP_LOST=$(field udp_lost)
HOSTILE=$(grep -m1 '^hostile_frames=' "$WORK/hostile.out" | cut -d= -f2 || true)
stats=$(grep -m1 '^queue 0: NetStats' "$WORK/app.log" || true)
stat() { echo "$stats" | grep -o " $1: [0-9]*" | head -1 | awk '{ print $2 }' || true; }
SOCKETS=$(stat tcp_sockets); ACCEPTED=$(stat accepted)
MBUFS_OUT=$(awk '/mbuf\(s\) out/ { for (i = 1; i < NF; i++) if ($i == "has") s += $(i + 1) } END { print s + 0 }' "$WORK/app.log")
GROWTH_KIB=$((RSS_MAX - RSS_START))

fail=()
[ -n "$clients" ] || fail+=("the clients printed no summary")
[ "${MISMATCH:-1}" -eq 0 ] || fail+=("$MISMATCH transfer(s) returned wrong bytes")
total=$(( ${OK:-0} + ${ERRORS:-0} + ${MISMATCH:-0} ))
[ $(( ${ERRORS:-0} * 100 )) -le "$total" ] || fail+=("connection errors over 1% ($ERRORS of $total)")
[ "$APP_RC" -eq 0 ] || fail+=("the app exited $APP_RC")
[ "$MBUFS_OUT" -eq 0 ] || fail+=("$MBUFS_OUT mbuf(s) out at exit")
[ "${SOCKETS:-1}" -eq 0 ] || fail+=("${SOCKETS:-?} TCP socket(s) at exit, 0 at start")
[ "$GROWTH_KIB" -lt $((RSS_BOUND_MIB * 1024)) ] || fail+=("RSS grew by $((GROWTH_KIB / 1024)) MiB (bound $RSS_BOUND_MIB MiB)")

mib() { echo "scale=1; $1 / 1024" | bc; }
echo
echo "== soak: $MINUTES minute(s), zcnet-echo (release) behind net_tap"
printf '%-34s %s\n' "metric" "value"
printf '%-34s %s\n' "tcp echo rounds ok" "${OK:-?}"
printf '%-34s %s\n' "bytes echoed (both ways)" "${BYTES:-?}"
printf '%-34s %s\n' "transfers with wrong bytes" "${MISMATCH:-?}"
printf '%-34s %s\n' "connection errors" "${ERRORS:-?}"
printf '%-34s %s\n' "udp echoes ok / lost" "${UDP_OK:-?} / ${UDP_LOST:-?}"
printf '%-34s %s\n' "hostile frames sent" "${HOSTILE:-?}"
printf '%-34s %s\n' "connections accepted (app)" "${ACCEPTED:-?}"
printf '%-34s %s\n' "rss start / max / end (MiB)" "$(mib "$RSS_START") / $(mib "$RSS_MAX") / $(mib "$RSS_END")"
printf '%-34s %s\n' "rss growth (MiB, bound $RSS_BOUND_MIB)" "$(mib "$GROWTH_KIB")"
printf '%-34s %s\n' "tcp sockets at start / exit" "0 / ${SOCKETS:-?}"
printf '%-34s %s\n' "mbufs out at exit" "$MBUFS_OUT"
printf '%-34s %s\n' "app exit code" "$APP_RC"
grep -m1 '^first_error=' "$WORK/clients.out" | sed 's/^first_error=/first client error: /' || true
grep -m1 '^error_kinds=' "$WORK/clients.out" | sed 's/^error_kinds=/client errors by kind: /' || true
echo "exit statistics: ${stats:-none}"
if [ ${#fail[@]} -gt 0 ]; then
  printf 'soak: FAILED: %s\n' "${fail[@]}" >&2
  exit 1
fi
echo "soak: passed"
