#!/usr/bin/env bash
# Install what zcnet needs to build, test and benchmark on Debian 12 / Ubuntu 22.04+
# (run as root), and reserve hugepages. Idempotent: running it twice is harmless.
#
#   HUGEPAGES=512 scripts/setup.sh     # number of 2 MiB pages to reserve (0 = skip)
#
# Where hugepages cannot be had, it says so; the stack then runs with --no-huge.
set -euo pipefail

HUGEPAGES=${HUGEPAGES:-512}
PACKAGES=(
  # DPDK from the distribution (22.11 LTS on Debian 12) and its PMD plugins
  libdpdk-dev dpdk dpdk-dev
  # bindgen needs libclang; the C shim needs a compiler; the build finds DPDK with pkg-config
  clang libclang-dev pkg-config build-essential
  # namespaces, tap and veth setup; ethtool turns off the tx checksum offload
  # of a veth's kernel end (scripts/netns.sh says why)
  iproute2 procps ethtool
  # kernel-side clients used by tests, demo and benchmarks
  curl wrk iputils-ping netcat-openbsd python3 python3-scapy nginx-light
  # nft: tests drop chosen segments inside their own namespaces (a lost ACK)
  nftables
  # machine-independent instruction counts for benchmarks
  valgrind time
)

log() { echo "setup: $*"; }

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: must run as root (it installs packages and reserves hugepages)" >&2
  exit 1
fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
  # nginx-light's package starts a system nginx on :80; the benchmarks start their own.
  if command -v systemctl >/dev/null && systemctl is-active -q nginx 2>/dev/null; then
    systemctl stop nginx || true
    systemctl disable nginx >/dev/null 2>&1 || true
  fi
else
  log "all packages present"
fi

if ! command -v cargo >/dev/null; then
  echo "setup: cargo not found; install Rust (rustup) first" >&2
  exit 1
fi
if ! cargo nextest --version >/dev/null 2>&1; then
  log "installing cargo-nextest"
  cargo install --locked cargo-nextest
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  log "installing cargo-fuzz (scripts/fuzz.sh)"
  cargo install --locked cargo-fuzz
fi

# Hugepages: reserve 2 MiB pages through sysfs and mount hugetlbfs.
if [ "$HUGEPAGES" -gt 0 ]; then
  nr=/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages
  if [ -w "$nr" ]; then
    have=$(cat "$nr")
    if [ "$have" -lt "$HUGEPAGES" ]; then
      echo "$HUGEPAGES" > "$nr" 2>/dev/null || true
      have=$(cat "$nr")
    fi
    if [ "$have" -gt 0 ]; then
      log "$have x 2 MiB hugepages reserved"
    else
      log "could not reserve hugepages; zcnet will run with --no-huge"
    fi
  else
    log "no 2 MiB hugepage control in sysfs; zcnet will run with --no-huge"
  fi
  if ! grep -qs ' /dev/hugepages hugetlbfs ' /proc/mounts; then
    mkdir -p /dev/hugepages
    mount -t hugetlbfs nodev /dev/hugepages 2>/dev/null \
      || log "could not mount hugetlbfs on /dev/hugepages; zcnet will run with --no-huge"
  fi
fi

pkg-config --atleast-version=22.11 libdpdk \
  || { echo "setup: libdpdk >= 22.11 not found by pkg-config" >&2; exit 1; }
log "ok: DPDK $(pkg-config --modversion libdpdk), $(clang --version | head -1)"
