# Shared helpers for scripts that run a zcnet app inside a network namespace,
# behind net_tap or on one end of a veth pair (AF_XDP, or AF_PACKET where the
# kernel has no AF_XDP). Source it; it defines functions only.
#
#   zc_ns_create NAME             new namespace, lo up, IPv6 off
#   zc_ns_start NAME LOG CMD...   run CMD inside it in the background (sets ZC_APP_PID, ZC_APP_LOG)
#   zc_ns_tap_up NAME [IFACE] [CIDR]   wait for the tap (and, with ZC_APP_LOG set, for the
#                                 app to listen), give the kernel side its MAC and address
#   zc_ns_veth_up NAME [APP_IFACE] [KERNEL_IFACE] [CIDR]
#                                 a veth pair inside NAME: APP_IFACE (zcv0) for the app's
#                                 port, KERNEL_IFACE (zck0) with CIDR for kernel clients
#   zc_veth_config NAME           which config/*.toml drives the veth's app end: xdp.toml
#                                 (net_af_xdp) or af_packet.toml (no AF_XDP, or
#                                 ZCNET_VETH=af_packet); says which on stderr
#   zc_ns_start_veth NAME LOG CMD...   zc_ns_start for an app on the veth (bpffs mounted
#                                 inside the app's own mount namespace for libxdp;
#                                 ZC_BPFFS_PREFIX is that wrapper, for scripts' own spawners)
#   zc_ns_wait_listening          wait until the app started with ZC_APP_LOG listens
#   zc_ns_stop                    SIGTERM the app by PID, wait, report its exit code
#   zc_ns_delete NAME             delete the namespace
#
# Addresses come from 198.18.0.0/15: the kernel side is 198.18.0.1/24, the
# stack 198.18.0.2 (config/tap.toml, config/xdp.toml). Nothing is routed out
# of the namespace.

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

zc_ns_veth_up() {
  local ns=$1 app=${2:-zcv0} kernel=${3:-zck0} cidr=${4:-198.18.0.1/24}
  ip -n "$ns" link add "$app" type veth peer name "$kernel"
  # The kernel end computes its own TCP/UDP checksums. With tx checksum
  # offload on (a veth's default) the kernel leaves them partial (only the
  # pseudo-header sum) for a NIC that never comes: the frame reaches AF_XDP
  # and AF_PACKET as it is, without the skb's "checksum partial" mark, so the
  # stack sees a wrong checksum and drops every TCP segment (counted in
  # drop_bad_checksum) while ping still works.
  ip netns exec "$ns" ethtool -K "$kernel" tx off >/dev/null
  ip -n "$ns" addr add "$cidr" dev "$kernel"
  ip -n "$ns" link set "$app" up
  ip -n "$ns" link set "$kernel" up
}

zc_veth_config() {
  local ns=$1 root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  # AF_XDP needs the PMD and the kernel's AF_XDP sockets (address family 44);
  # ZCNET_VETH=af_packet asks for the fallback.
  if [ "${ZCNET_VETH:-}" != af_packet ] && ls /usr/lib/*/dpdk/pmds-*/librte_net_af_xdp.so* >/dev/null 2>&1 \
    && ip netns exec "$ns" python3 -c 'import socket; socket.socket(44, socket.SOCK_RAW).close()' 2>/dev/null; then
    echo "netns: the veth's app end uses AF_XDP (net_af_xdp, config/xdp.toml)" >&2
    echo "$root/config/xdp.toml"
  else
    echo "netns: no AF_XDP here (PMD or kernel support missing); falling back to AF_PACKET (net_af_packet, config/af_packet.toml)" >&2
    echo "$root/config/af_packet.toml"
  fi
}

# A command prefix for `ip netns exec NAME`: libxdp pins its XDP dispatcher
# in bpffs, and `ip netns exec` gives the app a mount namespace of its own
# with a fresh /sys, so a bpffs mounted there is the app's alone and goes
# away with it. Scripts that wrap the app themselves (bench.sh) use it too.
ZC_BPFFS_PREFIX=(sh -c 'mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf 2>/dev/null; exec "$@"' sh)

zc_ns_start_veth() {
  local ns=$1 log=$2
  shift 2
  ip netns exec "$ns" "${ZC_BPFFS_PREFIX[@]}" "$@" >"$log" 2>&1 &
  ZC_APP_PID=$!
  ZC_APP_LOG=$log
}

zc_ns_wait_listening() {
  local i
  for i in $(seq 1 200); do
    grep -qE '^core [0-9]+ .* on ' "$ZC_APP_LOG" 2>/dev/null && return 0
    if [ -n "$ZC_APP_PID" ] && ! kill -0 "$ZC_APP_PID" 2>/dev/null; then
      echo "the app exited before it listened" >&2
      return 1
    fi
    sleep 0.1
  done
  echo "the app did not listen within 20 s" >&2
  return 1
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
