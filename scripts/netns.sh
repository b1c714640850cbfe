# Shared helpers for scripts that run a zcnet app behind net_tap inside a
# network namespace. Source it; it defines functions only.
#
#   zc_ns_create NAME             new namespace, lo up, IPv6 off
#   zc_ns_start NAME LOG CMD...   run CMD inside it in the background (sets ZC_APP_PID, ZC_APP_LOG)
#   zc_ns_tap_up NAME [IFACE] [CIDR]   wait for the tap (and, with ZC_APP_LOG set, for the
#                                 app to listen), give the kernel side its MAC and address
#   zc_ns_stop                    SIGTERM the app by PID, wait, report its exit code
#   zc_ns_delete NAME             delete the namespace
#
# Addresses come from 198.18.0.0/15: the kernel side is 198.18.0.1/24, the
# stack 198.18.0.2 (config/tap.toml). Nothing is routed out of the namespace.

ZC_APP_PID=""
ZC_APP_LOG=""

zc_ns_create() {
  local ns=$1
  ip netns add "$ns"
  ip netns exec "$ns" ip link set lo up
  # IPv6 off before the tap appears, so the kernel sends no router solicitations.
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
}

zc_ns_start() {
  local ns=$1 log=$2
  shift 2
  ip netns exec "$ns" "$@" >"$log" 2>&1 &
  ZC_APP_PID=$!
  ZC_APP_LOG=$log
}

zc_ns_tap_up() {
  local ns=$1 iface=${2:-zc0} cidr=${3:-198.18.0.1/24}
  local i
  for i in $(seq 1 200); do
    ip netns exec "$ns" ip link show "$iface" >/dev/null 2>&1 && break
    if [ -n "$ZC_APP_PID" ] && ! kill -0 "$ZC_APP_PID" 2>/dev/null; then
      echo "the app exited before its tap $iface appeared" >&2
      return 1
    fi
    sleep 0.1
  done
  ip netns exec "$ns" ip link show "$iface" >/dev/null 2>&1 || { echo "tap $iface did not appear" >&2; return 1; }
  # net_tap gives the kernel side the port's MAC when the app configures the
  # port and again when it starts it, both after the tap appears: a MAC set
  # before that is undone, and both ends would share one. The sample servers
  # print "core N ... on ADDR" once their port has started.
  if [ -n "${ZC_APP_LOG:-}" ]; then
    for i in $(seq 1 200); do
      grep -qE '^core [0-9]+ .* on ' "$ZC_APP_LOG" 2>/dev/null && break
      if [ -n "$ZC_APP_PID" ] && ! kill -0 "$ZC_APP_PID" 2>/dev/null; then
        echo "the app exited before it listened" >&2
        return 1
      fi
      sleep 0.1
    done
  fi
  # Give the kernel side its own MAC.
  ip netns exec "$ns" ip link set "$iface" address "${ZC_KERNEL_MAC:-02:00:c6:12:00:01}"
  ip netns exec "$ns" ip addr add "$cidr" dev "$iface"
  ip netns exec "$ns" ip link set "$iface" up
}

zc_ns_stop() {
  [ -n "$ZC_APP_PID" ] || return 0
  local i rc=0
  kill -TERM "$ZC_APP_PID" 2>/dev/null || true
  for i in $(seq 1 100); do
    kill -0 "$ZC_APP_PID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$ZC_APP_PID" 2>/dev/null; then
    echo "app $ZC_APP_PID did not stop in 10 s; killing it" >&2
    kill -KILL "$ZC_APP_PID" 2>/dev/null || true
  fi
  wait "$ZC_APP_PID" 2>/dev/null || rc=$?
  # A killed app leaves EAL's files of its prefix (zcnet-<pid>) behind.
  rm -rf "/var/run/dpdk/zcnet-$ZC_APP_PID" "/dev/hugepages/zcnet-${ZC_APP_PID}map_"* 2>/dev/null || true
  ZC_APP_PID=""
  ZC_APP_LOG=""
  return $rc
}

zc_ns_delete() {
  ip netns del "$1" 2>/dev/null || true
}
