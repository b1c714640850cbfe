#!/usr/bin/env bash
# zcnet benchmarks. Every figure is a ratio against what a user would pick
# instead, measured in the same invocation on the same cores; baseline and
# zcnet runs alternate. Tables go to stdout and to target/bench/.
#
#   scripts/bench.sh --help
#   scripts/bench.sh fwd [--runs N] [--secs S] [--only LIST] [--callgrind | --callgrind-only]
#   scripts/bench.sh rr|stream|crr|udp|udp-zc|http [--runs N] [--secs S]
#   scripts/bench.sh all [--runs N] [--secs S]
#   scripts/bench.sh smoke [--debug]      (the test suite's one-second check)
#
# One function per subcommand (cmd_<name>), plus shared helpers; the
# dispatcher is at the bottom. Benchmarks never run inside scripts/test.sh.
#
# Safety: every DPDK process gets --no-pci and its own --file-prefix, with
# --in-memory (or --no-shconf where --no-huge forbids --in-memory), uses only
# net_ring / net_null / net_tap virtual devices or the in-memory wire, runs
# under `timeout`, and is ended by PID only. Kernel traffic (http) stays
# inside two namespaces this script creates and deletes, on 198.18.0.0/15.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT_DIR=$ROOT/target/bench
CORES=0-1        # main lcore 0, forwarding on lcore 1, for every program
BURST=32
WARMUP=1         # seconds of traffic before the measured window opens
# Quiet-machine check: a run starts when the whole machine was at most
# QUIET_BUSY_PCT % busy over one second, or after QUIET_MAX_WAIT seconds of
# waiting (QUIET_BUDGET seconds of waiting in all, to bound the runtime).
QUIET_BUSY_PCT=${QUIET_BUSY_PCT:-10}
QUIET_MAX_WAIT=${QUIET_MAX_WAIT:-10}
QUIET_BUDGET=${QUIET_BUDGET:-20}

# ---------------------------------------------------------------- helpers --

usage() {
  cat <<'EOF'
usage: scripts/bench.sh SUBCOMMAND [OPTIONS]

Subcommands (each builds the release binaries first, checks that the machine
is quiet before every run, alternates baseline and zcnet runs, records each
process's CPU time and writes a markdown table to target/bench/NAME.md):
  fwd     zcnet-fwd against dpdk-testpmd: io and macswap on a net_ring pair
          (primed like `start tx_first 16`), io on net_null with and without
          copy=1; same cores (-l 0-1), burst 32, hugepages; alternating runs.
          Options:
            --runs N          runs per program and scenario (default 5)
            --secs S          measured window per run, whole seconds (default 5)
            --only LIST       comma-separated scenarios (default all):
                              ring-io,ring-macswap,null-io,null-copy-io
            --callgrind       also count instructions per forwarded packet of
                              the forwarding thread under valgrind (--no-huge)
            --callgrind-only  only the callgrind measurement
          Writes target/bench/fwd.md (and fwd-runs.tsv, fwd-callgrind.md).
  rr      request/response, 64 B each way, one request in flight per
          connection, 1, 32 and 256 connections: zcnet-bench on the in-memory
          wire (config/wire.toml) against zcnet-tokio-bench over the kernel's
          loopback; req/s, p50/p99/p99.9 latency.
  stream  one-way bulk transfer, 64 KiB writes, 1 and 4 connections; Gbit/s.
  crr     connect, one 64 B request/response, close; 32 connections; conns/s.
  udp     64 B datagram request/response, 32 sockets; datagrams/s.
  udp-zc  zcnet's zero-copy datagram path (zcnet-bench udp-zc) against its
          copying UdpSocket path (zcnet-bench udp, sends through smoltcp),
          same wire, same 32 sockets, beside one dpdk-testpmd
          macswap/net_ring run per alternation; million packets turned
          around per second.
  http    wrk -t1 -c32 and -c256 from a namespace against zcnet-httpd behind
          net_tap (config/tap.toml, its default idle policy unless --idle),
          beside the same wrk against nginx (one worker, same 13-byte body)
          in a second namespace over a veth pair; servers on CPU 1, wrk on
          CPU 0 (taskset). Extra option: --idle busy|backoff.
          Options of rr, stream, crr, udp, udp-zc and http:
            --runs N          runs per program and row (default 5)
            --secs S          measured seconds per run, whole seconds (default 5)
  all     every subcommand above (fwd with 3 runs of 3 s; the others with
          --runs 5 --secs 3 unless given), then target/bench/all.md with the
          command line, date, machine and commit; prints the total time.
  smoke   each scenario (rr, stream, crr, udp, udp-zc) of zcnet-bench and
          zcnet-tokio-bench for 1 s, 4 connections, one run, no quiet check;
          fails unless every run prints a well-formed result line with
          rate > 0 and errors = 0. --debug uses dev-profile binaries (what
          tests/bench_smoke.rs runs); ZCNET_BENCH / TOKIO_BENCH name the
          binaries to use instead of building them.
  help    this text (also -h, --help)

Environment: QUIET_BUSY_PCT (default 10), QUIET_MAX_WAIT (default 10 s per
run) and QUIET_BUDGET (default 20 s per invocation) tune the quiet-machine
check made before every run; TESTPMD overrides the testpmd binary;
ZCNET_BENCH, TOKIO_BENCH and HTTPD override the zcnet-bench,
zcnet-tokio-bench and zcnet-httpd binaries.
EOF
}

log() { echo "bench: $*" >&2; }
die() { echo "bench: $*" >&2; exit 1; }
usage_error() { echo "bench: $*" >&2; echo "try: scripts/bench.sh --help" >&2; exit 2; }

# Children we started. spawn() runs `/usr/bin/time ... timeout ... PROG`;
# timeout makes itself a process group leader, so its group holds only PROG.
# We record both PIDs; cleanup ends the timeout group (TERM, then KILL) and
# the time process, by PID / our own child's group ID only.
CHILDREN=()
NAMESPACES=()
TMP=""
cleanup() {
  local pid
  for pid in "${CHILDREN[@]}"; do
    kill -0 "$pid" 2>/dev/null && kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${CHILDREN[@]}"; do
    for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -KILL -- "-$pid" 2>/dev/null || true
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  done
  local ns
  for ns in "${NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  [ -n "$TMP" ] && rm -rf "$TMP"
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

forget_child() {
  local pid=$1 kept=() p
  for p in "${CHILDREN[@]}"; do [ "$p" = "$pid" ] || kept+=("$p"); done
  CHILDREN=("${kept[@]+"${kept[@]}"}")
}

# Writes one command line to the interactive program on fd 3. A program that
# died must not kill this script with SIGPIPE: the failure shows up later.
send() { (trap '' PIPE; printf '%s\n' "$1" >&3) 2>/dev/null || true; }

# Percentage of all CPUs busy over one second, from /proc/stat.
cpu_busy_pct() {
  local a b
  a=$(head -1 /proc/stat); sleep 1; b=$(head -1 /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN {
    n = split(a, x); split(b, y); tot = 0
    for (i = 2; i <= n; i++) tot += y[i] - x[i]
    idle = (y[5] - x[5]) + (y[6] - x[6])
    printf "%.0f", (tot > 0) ? 100 * (1 - idle / tot) : 0 }'
}

# Waits (bounded) until the machine is quiet: at most QUIET_MAX_WAIT s per
# run and QUIET_BUDGET s over the whole invocation. Sets LAST_BUSY to the
# busy percentage seen when the run starts; counts runs started while busy.
LAST_BUSY=0
BUSY_RUNS=0
HUNG_RUNS=0
QUIET_WAITED=0
wait_quiet() {
  local waited=0 busy
  while :; do
    busy=$(cpu_busy_pct)
    [ "$busy" -le "$QUIET_BUSY_PCT" ] && break
    if [ "$waited" -ge "$QUIET_MAX_WAIT" ] || [ "$QUIET_WAITED" -ge "$QUIET_BUDGET" ]; then
      log "warning: machine busy (${busy}% CPU, load $(cut -d' ' -f1-3 /proc/loadavg)); running anyway"
      BUSY_RUNS=$((BUSY_RUNS + 1))
      break
    fi
    log "warning: machine busy (${busy}% CPU, load $(cut -d' ' -f1-3 /proc/loadavg)); waiting"
    sleep 1
    waited=$((waited + 2)); QUIET_WAITED=$((QUIET_WAITED + 2))
  done
  LAST_BUSY=$busy
}

# "median min max" of the numbers given as arguments.
stats3() {
  [ $# -gt 0 ] || { echo "nan nan nan"; return 0; }
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
    END { if (NR == 0) { print "nan nan nan"; exit }
          m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
          # Fixed point: awk would print a large median as 1.23457e+06.
          printf "%.6f %.6f %.6f\n", m, v[1], v[NR] }'
}

ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN { num = "^[0-9]+([.][0-9]*)?$"
    if (a ~ num && b ~ num && b > 0) printf "%.2f", a / b; else printf "n/a" }'
}

# Starts "$@" in the background as `/usr/bin/time timeout LIMIT "$@"`, stdin
# from $STDIN_FROM (default /dev/null), stdout+stderr to $1, CPU times
# ("wall user sys" of the timeout process and, through wait4, of PROG) to $2.
# Sets CHILD_PID (the time process) and TIMEOUT_PID.
spawn() {
  local out=$1 time=$2 limit=$3; shift 3
  /usr/bin/time -o "$time" -f '%e %U %S' timeout -k 2 "$limit" "$@" \
    <"${STDIN_FROM:-/dev/null}" >"$out" 2>&1 &
  CHILD_PID=$!
  CHILDREN+=("$CHILD_PID")
  TIMEOUT_PID=""
  local i
  for ((i = 0; i < 200; i++)); do
    TIMEOUT_PID=$(cat "/proc/$CHILD_PID/task/$CHILD_PID/children" 2>/dev/null || true)
    TIMEOUT_PID=${TIMEOUT_PID%% *}
    [ -n "$TIMEOUT_PID" ] && { CHILDREN=("$TIMEOUT_PID" "${CHILDREN[@]}"); break; }
    kill -0 "$CHILD_PID" 2>/dev/null || break
    sleep 0.005
  done
}

# Waits for the time process $1 (and forgets it and its timeout); returns
# PROG's exit code (124 when timeout had to stop it).
reap() {
  local pid=$1 rc=0
  wait "$pid" || rc=$?
  forget_child "$pid"
  [ -n "$TIMEOUT_PID" ] && forget_child "$TIMEOUT_PID"
  return "$rc"
}

# "user+sys seconds" from a `/usr/bin/time -f '%e %U %S'` output file.
# "nan" if the process was killed (its CPU time is then unknown).
cpu_secs() {
  awk '/terminated by signal/ { bad = 1 } NF == 3 && $1 + 0 == $1 { v = $2 + $3 }
       END { if (bad || v == "") printf "nan"; else printf "%.2f", v }' "$1" 2>/dev/null || printf nan
}

# Where cargo puts the binaries (CARGO_TARGET_DIR is honoured).
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac
# The benchmark programs; ZCNET_BENCH, TOKIO_BENCH and HTTPD override them.
ZCNET_BENCH=${ZCNET_BENCH:-$TARGET_DIR/release/zcnet-bench}
TOKIO_BENCH=${TOKIO_BENCH:-$TARGET_DIR/release/zcnet-tokio-bench}
HTTPD=${HTTPD:-$TARGET_DIR/release/zcnet-httpd}

# Builds every release binary of the workspace, once per invocation.
BUILT=0
build_release() {
  [ "$BUILT" = 1 ] && return 0
  log "building the release binaries (cargo build --release --workspace --bins)"
  (cd "$ROOT" && cargo build --release --quiet --workspace --bins) || die "cargo build failed"
  BUILT=1
}

# One scratch directory per invocation (removed on exit), and the output directory.
ensure_tmp() {
  [ -n "$TMP" ] || TMP=$(mktemp -d /tmp/zcnet-bench.XXXXXX)
  mkdir -p "$OUT_DIR"
}

# "DATE, N CPUs (MODEL), commit ABC[+dirty]" for the tables.
machine_line() {
  printf '%s, %s CPUs (%s), commit %s%s' "$(date -u '+%Y-%m-%d %H:%M UTC')" "$(nproc)" \
    "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
    "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')" \
    "$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo '+dirty')"
}

# Checks a --runs / --secs value.
check_runs_secs() {
  [[ "$1" =~ ^[1-9][0-9]*$ ]] || usage_error "--runs must be a positive integer"
  [[ "$2" =~ ^[1-9][0-9]*$ ]] || usage_error "--secs must be a positive whole number of seconds"
}

# ------------------------------------------------------------------- fwd --

# Scenarios: name | label | mode | tx_first bursts | vdevs (space-separated)
FWD_SCENARIOS=(
  "ring-io|io/net_ring|io|16|net_ring0 net_ring1"
  "ring-macswap|macswap/net_ring|macswap|16|net_ring0 net_ring1"
  "null-io|io/net_null|io|0|net_null0 net_null1"
  "null-copy-io|io/net_null copy=1|io|0|net_null0,copy=1 net_null1,copy=1"
)

FWD_BIN=$ROOT/target/release/zcnet-fwd
TESTPMD=${TESTPMD:-dpdk-testpmd}
# testpmd's pool is sized like zcnet's (one pool of 8191 mbufs, per-core cache 256).
TESTPMD_APP_ARGS=(--burst="$BURST" --nb-cores=1 --total-num-mbufs=8191 --mbcache=256)

# Count of testpmd prompts written so far (the prompt is written unbuffered,
# so it tells when testpmd has read and executed a command).
prompts() { grep -o 'testpmd> ' "$1" 2>/dev/null | wc -l; }

# Waits until file $1 shows at least $2 prompts or process $3 is gone (bounded).
wait_prompts() {
  local file=$1 want=$2 pid=$3 i
  for ((i = 0; i < 1500; i++)); do
    [ "$(prompts "$file")" -ge "$want" ] && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.02
  done
  return 1
}

# One testpmd run. Args: mode tx_first secs tag vdevs...
# Sets R_MPPS and R_CPU ("nan" on failure). Like every run function it runs
# in the main shell (never in a command substitution), so the cleanup trap
# knows every child PID.
# The window: WARMUP s after `start` returns, send `show fwd stats all` (t0),
# sleep S, send it again (t1); each send is confirmed by the next prompt.
# Mpps = (TX1 - TX0) / (t1 - t0), TX summed over both ports (testpmd's
# accumulated forward statistics).
fwd_run_testpmd() {
  local mode=$1 txf=$2 secs=$3 tag=$4; shift 4
  local vdev_args=() v
  for v in "$@"; do vdev_args+=(--vdev "$v"); done
  local dir=$TMP/$tag; mkdir -p "$dir"
  local fifo=$dir/cmd out=$dir/out time=$dir/time
  mkfifo "$fifo"
  STDIN_FROM=$fifo spawn "$out" "$time" $((secs + WARMUP + 30)) \
    "$TESTPMD" -l "$CORES" --no-pci --in-memory --file-prefix "zcbench-tp-$$-$tag" \
    "${vdev_args[@]}" -- -i "${TESTPMD_APP_ARGS[@]}"
  local pid=$CHILD_PID
  exec 3>"$fifo"
  local ok=1 t0=0 t1=0 n
  R_MPPS=nan R_CPU=nan
  if wait_prompts "$out" 1 "$pid"; then
    n=$(prompts "$out")
    send "set fwd $mode"
    if [ "$txf" -gt 0 ]; then send "start tx_first $txf"; else send "start"; fi
    wait_prompts "$out" $((n + 2)) "$pid" || ok=0
    sleep "$WARMUP"
    n=$(prompts "$out"); t0=$EPOCHREALTIME; send "show fwd stats all"
    wait_prompts "$out" $((n + 1)) "$pid" || ok=0
    sleep "$secs"
    n=$(prompts "$out"); t1=$EPOCHREALTIME; send "show fwd stats all"
    wait_prompts "$out" $((n + 1)) "$pid" || ok=0
    send stop; send quit
  else
    ok=0
  fi
  exec 3>&-
  reap "$pid" || ok=0
  if [ "$ok" = 0 ]; then
    log "testpmd run failed; its output:"; tail -20 "$out" >&2
    return 0
  fi
  # Accumulated TX-packets of the two `show fwd stats all` (the third is `stop`'s).
  read -r R_MPPS R_CPU < <(awk -v t0="$t0" -v t1="$t1" -v cpu="$(cpu_secs "$time")" '
    /Accumulated forward statistics for all ports/ { acc = 1; next }
    acc && /TX-packets:/ { tx[++k] = $2; acc = 0 }
    END { if (k < 2) { print "nan", cpu; exit }
          printf "%.3f %s\n", (tx[2] - tx[1]) / (t1 - t0) / 1e6, cpu }' "$out")
}

# One zcnet-fwd run, same arguments. zcnet-fwd prints a cumulative stats line
# every second, timed from when its workers start (priming included, like
# testpmd's `start tx_first`). The window is the same: from line WARMUP to
# line WARMUP+S. Each line's interval is recovered exactly as delta_tx / Mpps
# (the printed elapsed time has only 0.1 s resolution).
fwd_run_zcnet() {
  local mode=$1 txf=$2 secs=$3 tag=$4; shift 4
  local vdev_args=() v
  for v in "$@"; do vdev_args+=(--vdev "$v"); done
  local dir=$TMP/$tag; mkdir -p "$dir"
  local out=$dir/out time=$dir/time ok=1
  R_MPPS=nan R_CPU=nan
  printf '[eal]\nhugepages = "required"\n' >"$dir/zc.toml"
  spawn "$out" "$time" $((secs + WARMUP + 20)) \
    "$FWD_BIN" --config "$dir/zc.toml" -l "$CORES" --file-prefix "zcbench-zc-$$-$tag" \
    "${vdev_args[@]}" --mode "$mode" --tx-first "$txf" --burst "$BURST" \
    --stats-interval 1 --duration "$((secs + WARMUP)).2"
  # It should exit 0.2 s after its last stats line. If it is still running
  # 1 s after that line, stop it (two SIGTERMs: the second ends it at once).
  local last="^\[ *$((secs + WARMUP))\.[0-9]*s\]" ticks=0 hung=0 rc=0 zpid i
  # Stay off the CPUs while it runs: check twice a second until the end is near.
  for ((i = 0; i < 2 * (secs + WARMUP); i++)); do
    kill -0 "$CHILD_PID" 2>/dev/null || break
    sleep 0.5
  done
  while kill -0 "$CHILD_PID" 2>/dev/null; do
    if grep -q "$last" "$out" 2>/dev/null; then
      ticks=$((ticks + 1))
      if [ "$ticks" -ge 20 ]; then
        zpid=$(cat "/proc/$TIMEOUT_PID/task/$TIMEOUT_PID/children" 2>/dev/null || true)
        for zpid in $zpid; do kill -TERM "$zpid" 2>/dev/null || true; done
        sleep 0.1
        for zpid in $zpid; do kill -TERM "$zpid" 2>/dev/null || true; done
        hung=1
        break
      fi
    fi
    sleep 0.05
  done
  reap "$CHILD_PID" || rc=$?
  if [ "$hung" = 1 ]; then
    # It forwarded through the whole window: use the window and say so.
    log "warning: zcnet-fwd did not exit within 1 s of --duration; stopped it"
    HUNG_RUNS=$((HUNG_RUNS + 1))
  elif [ "$rc" != 0 ]; then
    ok=0
  fi
  if [ "$ok" = 0 ]; then
    log "zcnet-fwd run failed (exit $rc); its output:"; grep -v '^ ' "$out" | tail -8 >&2
    return 0
  fi
  read -r R_MPPS R_CPU < <(sed -nE 's/^\[ *([0-9.]+)s\] +rx +([0-9]+) +tx +([0-9]+) +([0-9.]+) Mpps.*/\1 \3 \4/p' "$out" |
    awk -v w="$WARMUP" -v s="$secs" -v cpu="$(cpu_secs "$time")" '
      { tx[NR] = $2; mpps[NR] = $3 }
      END {
        if (NR < w + s) { print "nan", cpu; exit }
        pk = 0; dt = 0
        for (i = w + 1; i <= w + s; i++) {
          d = tx[i] - tx[i - 1]; pk += d
          dt += (mpps[i] > 0) ? d / (mpps[i] * 1e6) : 1
        }
        printf "%.3f %s\n", pk / dt / 1e6, cpu }')
  # A stopped run's CPU time includes its hang: leave it out.
  if [ "$hung" = 1 ]; then R_CPU=nan; fi
}

# Runs one program under callgrind (--no-huge) for a short while and sets
# R_IPP (instructions per packet) and R_PKTS: the forwarding thread is the non-main
# thread with the most instructions (--separate-threads=yes).
fwd_callgrind_one() {
  local prog=$1 mode=$2 txf=$3 tag=$4; shift 4
  local vdev_args=() v
  for v in "$@"; do vdev_args+=(--vdev "$v"); done
  local dir=$TMP/cg-$tag; mkdir -p "$dir"
  local out=$dir/out ok=1 pkts pid
  R_IPP=nan R_PKTS=0
  local vg=(valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$dir/cg.out")
  # DPDK 22.11 rejects --in-memory with --no-huge (legacy memory);
  # --no-shconf keeps the run just as private (no runtime files).
  if [ "$prog" = testpmd ]; then
    local fifo=$dir/cmd; mkfifo "$fifo"
    STDIN_FROM=$fifo spawn "$out" "$dir/time" 90 "${vg[@]}" \
      "$TESTPMD" -l "$CORES" --no-pci --no-huge --no-shconf -m 256 \
      --file-prefix "zcbench-cgtp-$$-$tag" "${vdev_args[@]}" -- -i "${TESTPMD_APP_ARGS[@]}"
    pid=$CHILD_PID
    exec 3>"$fifo"
    if wait_prompts "$out" 1 "$pid"; then
      send "set fwd $mode"
      if [ "$txf" -gt 0 ]; then send "start tx_first $txf"; else send "start"; fi
      sleep 2
      send stop; send quit
    else
      ok=0
    fi
    exec 3>&-
    reap "$pid" || ok=0
    pkts=$(awk '/Accumulated forward statistics/ { acc = 1; next }
                acc && /TX-packets:/ { v = $2; acc = 0 } END { print v + 0 }' "$out")
  else
    spawn "$out" "$dir/time" 25 "${vg[@]}" \
      "$FWD_BIN" -l "$CORES" --no-huge --file-prefix "zcbench-cgzc-$$-$tag" \
      "${vdev_args[@]}" --mode "$mode" --tx-first "$txf" --burst "$BURST" \
      --stats-interval 0 --duration 2
    reap "$CHILD_PID" || ok=0
    pkts=$(sed -nE 's/^summary:.* tx ([0-9]+) .*/\1/p' "$out" | tail -1)
  fi
  if [ "$ok" = 0 ] || [ -z "$pkts" ] || [ "$pkts" = 0 ]; then
    log "callgrind run of $prog failed; its output:"; grep -v '^ ' "$out" | tail -8 >&2
    return 0
  fi
  local ir
  ir=$(for f in "$dir"/cg.out-*; do
         case "$f" in *-01) continue ;; esac
         sed -n 's/^totals: *//p' "$f"
       done | sort -n | tail -1)
  R_PKTS=$pkts
  R_IPP=$(awk -v ir="${ir:-0}" -v p="$pkts" 'BEGIN { printf "%.1f", ir / p }')
}

fwd_callgrind() {
  local only=$1 spec name label mode txf vdevs tp zc ratio_line="" table
  command -v valgrind >/dev/null || {
    log "valgrind missing; installing it (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends valgrind >&2 ||
      die "could not install valgrind (scripts/setup.sh installs it)"
  }
  table="## fwd: instructions per forwarded packet (forwarding thread, callgrind, --no-huge)"$'\n\n'
  table+="| scenario | testpmd Ir/pkt | zcnet Ir/pkt | zcnet/testpmd |"$'\n'
  table+="|---|---|---|---|"$'\n'
  for spec in "${FWD_SCENARIOS[@]}"; do
    IFS='|' read -r name label mode txf vdevs <<<"$spec"
    [[ ",$only," == *",$name,"* || -z "$only" ]] || continue
    # shellcheck disable=SC2086  # vdevs is a space-separated list
    fwd_callgrind_one testpmd "$mode" "$txf" "$name" $vdevs
    tp=$R_IPP; log "callgrind $label: testpmd $tp Ir/packet ($R_PKTS packets)"
    # shellcheck disable=SC2086
    fwd_callgrind_one zcnet "$mode" "$txf" "$name" $vdevs
    zc=$R_IPP; log "callgrind $label: zcnet $zc Ir/packet ($R_PKTS packets)"
    table+="| $label | $tp | $zc | $(ratio "$zc" "$tp") |"$'\n'
    [ "$name" = ring-macswap ] && ratio_line="macswap/net_ring zcnet/testpmd Ir/packet = $(ratio "$zc" "$tp")"
  done
  [ -n "$ratio_line" ] && table+=$'\n'"$ratio_line"$'\n'
  CALLGRIND_TABLE=$table
}

cmd_fwd() {
  local runs=5 secs=5 callgrind=0 mpps=1 only=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --runs) [ $# -ge 2 ] || usage_error "--runs needs a value"; runs=$2; shift 2 ;;
      --secs) [ $# -ge 2 ] || usage_error "--secs needs a value"; secs=$2; shift 2 ;;
      --only) [ $# -ge 2 ] || usage_error "--only needs a value"; only=$2; shift 2 ;;
      --callgrind) callgrind=1; shift ;;
      --callgrind-only) callgrind=1; mpps=0; shift ;;
      -h|--help) usage; return 0 ;;
      *) usage_error "fwd: unknown option '$1'" ;;
    esac
  done
  check_runs_secs "$runs" "$secs"
  if [ -n "$only" ]; then
    local o known
    for o in ${only//,/ }; do
      known=0
      for spec in "${FWD_SCENARIOS[@]}"; do [ "${spec%%|*}" = "$o" ] && known=1; done
      [ "$known" = 1 ] || usage_error "--only: unknown scenario '$o'"
    done
  fi
  command -v "$TESTPMD" >/dev/null || die "$TESTPMD not found (scripts/setup.sh installs the dpdk package)"
  [ -x /usr/bin/time ] || die "/usr/bin/time not found (apt-get install time)"

  local started=$SECONDS
  build_release
  ensure_tmp
  BUSY_RUNS=0 HUNG_RUNS=0

  local table="" spec name label mode txf vdevs i r cpu
  if [ "$mpps" = 1 ]; then
    if [ "$(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo)" -lt 64 ]; then
      die "fewer than 64 free hugepages (scripts/setup.sh reserves them)"
    fi
    local tsv=$TMP/fwd-runs.tsv rows="" macswap_ratio="n/a"
    printf 'scenario\tprogram\trun\tmpps\tcpu_s\tbusy_pct_before\n' >"$tsv"
    for spec in "${FWD_SCENARIOS[@]}"; do
      IFS='|' read -r name label mode txf vdevs <<<"$spec"
      [[ ",$only," == *",$name,"* || -z "$only" ]] || continue
      local tp_mpps=() zc_mpps=() tp_cpu=() zc_cpu=()
      for ((i = 1; i <= runs; i++)); do
        wait_quiet
        # shellcheck disable=SC2086  # vdevs is a space-separated list
        fwd_run_testpmd "$mode" "$txf" "$secs" "$name-tp-$i" $vdevs; r=$R_MPPS cpu=$R_CPU
        log "$label run $i/$runs: testpmd $r Mpps (cpu ${cpu}s, busy before ${LAST_BUSY}%)"
        printf '%s\ttestpmd\t%d\t%s\t%s\t%s\n' "$name" "$i" "$r" "$cpu" "$LAST_BUSY" >>"$tsv"
        if [ "$r" != nan ]; then tp_mpps+=("$r"); fi
        if [ "$cpu" != nan ]; then tp_cpu+=("$cpu"); fi
        wait_quiet
        # shellcheck disable=SC2086
        fwd_run_zcnet "$mode" "$txf" "$secs" "$name-zc-$i" $vdevs; r=$R_MPPS cpu=$R_CPU
        log "$label run $i/$runs: zcnet   $r Mpps (cpu ${cpu}s, busy before ${LAST_BUSY}%)"
        printf '%s\tzcnet\t%d\t%s\t%s\t%s\n' "$name" "$i" "$r" "$cpu" "$LAST_BUSY" >>"$tsv"
        if [ "$r" != nan ]; then zc_mpps+=("$r"); fi
        if [ "$cpu" != nan ]; then zc_cpu+=("$cpu"); fi
      done
      local tp zc tpc zcc rt
      tp=$(stats3 "${tp_mpps[@]+"${tp_mpps[@]}"}"); zc=$(stats3 "${zc_mpps[@]+"${zc_mpps[@]}"}")
      tpc=$(stats3 "${tp_cpu[@]+"${tp_cpu[@]}"}"); zcc=$(stats3 "${zc_cpu[@]+"${zc_cpu[@]}"}")
      rt=$(ratio "${zc%% *}" "${tp%% *}")
      rows+=$(awk -v l="$label" -v tp="$tp" -v zc="$zc" -v tpc="$tpc" -v zcc="$zcc" -v rt="$rt" \
        -v nt="${#tp_mpps[@]}" -v nz="${#zc_mpps[@]}" 'BEGIN {
          split(tp, a, " "); split(zc, b, " "); split(tpc, c, " "); split(zcc, d, " ")
          printf "| %s | %s | %s | %s | %s | %s | %d/%d |\n",
            l, mm(a), mm(b), rt, num(c[1], "%.2f"), num(d[1], "%.2f"), nt, nz }
        function num(v, f) { return (v == "nan" || v == "") ? "n/a" : sprintf(f, v) }
        function mm(x) { return (x[1] == "nan") ? "n/a" : sprintf("%.1f (%.1f-%.1f)", x[1], x[2], x[3]) }')$'\n'
      [ "$name" = ring-macswap ] && macswap_ratio=$rt
    done
    table="## fwd: zcnet-fwd vs dpdk-testpmd (Mpps, TX packets summed over both ports)"$'\n\n'
    table+="$(machine_line);"
    table+=" -l $CORES (forwarding on lcore 1), burst $BURST, hugepages, $runs alternating runs each,"
    table+=" window ${secs} s after ${WARMUP} s warm-up. CPU = user+sys seconds of the whole process (median)."$'\n\n'
    table+="| scenario | testpmd Mpps median (min-max) | zcnet Mpps median (min-max) | zcnet/testpmd | testpmd CPU s | zcnet CPU s | runs ok tp/zc |"$'\n'
    table+="|---|---|---|---|---|---|---|"$'\n'
    table+=$rows
    if [ "$HUNG_RUNS" -gt 0 ]; then
      table+=$'\n'"Warning: $HUNG_RUNS zcnet-fwd run(s) did not exit after --duration and were stopped (their CPU time is left out)."$'\n'
    fi
    if [ "$BUSY_RUNS" -gt 0 ]; then
      table+=$'\n'"Warning: $BUSY_RUNS run(s) started on a busy machine (> ${QUIET_BUSY_PCT}% CPU); see target/bench/fwd-runs.tsv."$'\n'
    fi
  fi
  if [ "$callgrind" = 1 ]; then
    fwd_callgrind "$only"
    printf '%s' "$CALLGRIND_TABLE" >"$OUT_DIR/fwd-callgrind.md"
    if [ "$mpps" = 1 ]; then
      table+=$'\n'$CALLGRIND_TABLE
    else
      table=$CALLGRIND_TABLE
    fi
  fi
  if [ "$mpps" = 1 ]; then
    table+=$'\n'"macswap/net_ring zcnet/testpmd = $macswap_ratio"$'\n'
    printf '%s' "$table" >"$OUT_DIR/fwd.md"
    cp "$TMP/fwd-runs.tsv" "$OUT_DIR/fwd-runs.tsv"
  fi
  log "fwd: done in $((SECONDS - started)) s (quiet-machine waits: ${QUIET_WAITED} s)"
  echo
  printf '%s' "$table"
}

# ------------------------------------------------------------------ apps --
# rr, stream, crr, udp and udp-zc: zcnet-bench on the in-memory wire against
# zcnet-tokio-bench over the kernel's loopback, one process each. Both put
# the server on CPU 0 and the client on CPU 1: config/wire.toml runs the
# server on lcore 1 (CPU 0, beside the idle main lcore) and the client on
# lcore 2 (CPU 1); zcnet-tokio-bench gets --server-cpu 0 --client-cpu 1.

SERVER_CPU=0
CLIENT_CPU=1
WIRE_CONFIG=$ROOT/config/wire.toml
RESULT_KEYS="stack scenario conns size secs ops rate gbps p50_us p99_us p999_us errors"
RUNS_HEADER=$'row\tprogram\trun\trate\tgbps\tp50_us\tp99_us\tp999_us\terrors\tcpu_s\tbusy_pct_before'
APP_NOTE="Baseline: zcnet-tokio-bench (apps/tokio-bench), the same client and server written with tokio
(current_thread runtimes, TCP_NODELAY on both sides) over the kernel's loopback, server thread pinned
to CPU $SERVER_CPU, client to CPU $CLIENT_CPU. zcnet: zcnet-bench on the in-memory wire (config/wire.toml:
server on lcore 1 = CPU $SERVER_CPU, client on lcore 2 = CPU $CLIENT_CPU, busy polling, so it burns two CPUs by design).
Closed loop, one operation in flight per connection; latency is per operation, from hdrhistogram.
CPU = user+sys seconds of the whole process, both threads (median)."

# Parses a `result ...` line (apps/shared/bench.rs). Sets R_RATE R_GBPS
# R_P50 R_P99 R_P999 R_ERRORS R_OPS R_STACK R_SCENARIO; returns 1 (R_WHY
# says why) unless every field is present and the numbers are numbers.
parse_result() {
  local parsed
  parsed=$(awk -v keys="$RESULT_KEYS" '
    NR == 1 && $1 == "result" {
      ok = 1
      for (i = 2; i <= NF; i++) { eq = index($i, "="); if (eq > 1) v[substr($i, 1, eq - 1)] = substr($i, eq + 1) }
    }
    END {
      if (!ok) { print "bad", "no result line"; exit }
      n = split(keys, k, " ")
      for (i = 1; i <= n; i++) {
        if (!(k[i] in v) || v[k[i]] == "") { print "bad", "field " k[i] " missing"; exit }
        if (i > 2 && v[k[i]] !~ /^[0-9]+([.][0-9]+)?$/) { print "bad", "field " k[i] "=" v[k[i]] " is not a number"; exit }
      }
      print "ok", v["rate"], v["gbps"], v["p50_us"], v["p99_us"], v["p999_us"], v["errors"], v["ops"], v["stack"], v["scenario"]
    }' <<<"$1")
  if [ "${parsed%% *}" != ok ]; then R_WHY=${parsed#bad }; return 1; fi
  read -r _ R_RATE R_GBPS R_P50 R_P99 R_P999 R_ERRORS R_OPS R_STACK R_SCENARIO <<<"$parsed"
}

# One run of zcnet-bench (KIND zcnet) or zcnet-tokio-bench (KIND tokio).
# Args: kind scenario conns size secs tag. Sets R_OK=1 when the program
# exited 0 with a well-formed result line, the R_* of parse_result, R_CPU
# and R_LINE (all "nan" / empty on failure).
app_run() {
  local kind=$1 scenario=$2 conns=$3 size=$4 secs=$5 tag=$6
  local dir=$TMP/$tag rc=0 limit
  mkdir -p "$dir"
  local out=$dir/out time=$dir/time
  limit=$(awk -v s="$secs" 'BEGIN { printf "%d", s * 1.1 + 30 }')
  R_OK=0 R_RATE=nan R_GBPS=nan R_P50=nan R_P99=nan R_P999=nan R_ERRORS=nan R_OPS=nan R_CPU=nan R_LINE="" R_WHY=""
  local flags=(--scenario "$scenario" --conns "$conns" --size "$size" --secs "$secs")
  if [ "$kind" = zcnet ]; then
    spawn "$out" "$time" "$limit" "$ZCNET_BENCH" --config "$WIRE_CONFIG" \
      --file-prefix "zcbench-$$-$tag" "${flags[@]}"
  else
    spawn "$out" "$time" "$limit" "$TOKIO_BENCH" "${flags[@]}" \
      --server-cpu "$SERVER_CPU" --client-cpu "$CLIENT_CPU"
  fi
  reap "$CHILD_PID" || rc=$?
  R_LINE=$(grep '^result ' "$out" | tail -1 || true)
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    R_WHY="did not finish within ${limit} s; stopped"
  elif [ "$rc" != 0 ]; then
    R_WHY="exit code $rc"
  elif parse_result "$R_LINE"; then
    R_OK=1 R_CPU=$(cpu_secs "$time")
    return 0
  fi
  R_RATE=nan R_GBPS=nan R_P50=nan R_P99=nan R_P999=nan R_ERRORS=nan
  log "$kind $scenario conns=$conns run failed ($R_WHY); its output:"
  grep -v '^ ' "$out" | tail -8 >&2
}

# One TSV line for the run just made. Args: tsv row program run.
record_run() {
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$2" "$3" "$4" "$R_RATE" "$R_GBPS" \
    "$R_P50" "$R_P99" "$R_P999" "$R_ERRORS" "$R_CPU" "$LAST_BUSY" >>"$1"
}

run_summary() {
  printf 'rate %s/s, %s Gbit/s, p50/p99 %s/%s us, errors %s (cpu %ss, busy before %s%%)' \
    "$R_RATE" "$R_GBPS" "$R_P50" "$R_P99" "$R_ERRORS" "$R_CPU" "$LAST_BUSY"
}

# The non-"nan" values of COLUMN for ROW and PROGRAM in a runs TSV, one a line.
tsv_values() {
  awk -F'\t' -v row="$2" -v prog="$3" -v col="$4" '
    NR == 1 { for (i = 1; i <= NF; i++) if ($i == col) c = i; next }
    c && $1 == row && $2 == prog && $c != "nan" { print $c }' "$1"
}

# "median min max" of COLUMN for ROW and PROGRAM.
tsv_stats() {
  # shellcheck disable=SC2046  # one number a word
  stats3 $(tsv_values "$@")
}

# Count of successful runs, and sum of errors, of ROW and PROGRAM.
tsv_ok() { tsv_values "$1" "$2" "$3" rate | wc -l; }
tsv_errors() { tsv_values "$1" "$2" "$3" errors | awk '{ s += $1 } END { printf "%d", s }'; }

# "median (min-max)" of a "median min max" triple, times SCALE, in FORMAT.
fmt_mm() {
  awk -v s="$1" -v k="$2" -v f="$3" 'BEGIN { split(s, x, " ")
    if (x[1] == "nan" || x[1] == "") { print "n/a"; exit }
    printf f " (" f "-" f ")\n", x[1] * k, x[2] * k, x[3] * k }'
}

# The median of a "median min max" triple, in FORMAT (n/a for nan).
fmt_med() {
  awk -v s="$1" -v f="$2" 'BEGIN { split(s, x, " ")
    if (x[1] == "nan" || x[1] == "") print "n/a"; else printf f "\n", x[1] }'
}

# Median latencies "p50/p99/p99.9" (microseconds) of ROW and PROGRAM.
fmt_lat() {
  local tsv=$1 row=$2 prog=$3 col m out=""
  for col in p50_us p99_us p999_us; do
    m=$(tsv_stats "$tsv" "$row" "$prog" "$col"); m=${m%% *}
    out+=${out:+/}$(awk -v v="$m" 'BEGIN { if (v == "nan") print "n/a"; else if (v < 10) printf "%.1f\n", v; else printf "%.0f\n", v }')
  done
  printf '%s' "$out"
}

# Runs the zcnet/tokio comparison of SCENARIO for each connection count,
# alternating tokio and zcnet RUNS times per count, into TSV.
# Args: tsv scenario size runs secs conns...
pair_runs() {
  local tsv=$1 scenario=$2 size=$3 runs=$4 secs=$5; shift 5
  local conns i kind
  printf '%s\n' "$RUNS_HEADER" >"$tsv"
  for conns in "$@"; do
    for ((i = 1; i <= runs; i++)); do
      for kind in tokio zcnet; do
        wait_quiet
        app_run "$kind" "$scenario" "$conns" "$size" "$secs" "$scenario-$conns-$kind-$i"
        log "$scenario conns=$conns run $i/$runs: $(printf '%-5s' "$kind") $(run_summary)"
        record_run "$tsv" "$conns" "$kind" "$i"
      done
    done
  done
}

# The markdown table of a pair_runs TSV.
# Args: tsv unit column scale format latency(0/1) conns...
pair_table() {
  local tsv=$1 unit=$2 col=$3 scale=$4 fmt=$5 lat=$6; shift 6
  local conns tk zk tp99 zp99 head sep
  head="| conns | tokio $unit median (min-max) | zcnet $unit median (min-max) | zcnet/tokio |"
  sep="|---|---|---|---|"
  if [ "$lat" = 1 ]; then
    head+=" tokio p50/p99/p99.9 us | zcnet p50/p99/p99.9 us | p99 zcnet/tokio |"
    sep+="---|---|---|"
  fi
  printf '%s tokio CPU s | zcnet CPU s | errors tokio/zcnet | runs ok tokio/zcnet |\n' "$head"
  printf '%s---|---|---|---|\n' "$sep"
  for conns in "$@"; do
    tk=$(tsv_stats "$tsv" "$conns" tokio "$col"); zk=$(tsv_stats "$tsv" "$conns" zcnet "$col")
    printf '| %s | %s | %s | %s |' "$conns" "$(fmt_mm "$tk" "$scale" "$fmt")" \
      "$(fmt_mm "$zk" "$scale" "$fmt")" "$(ratio "${zk%% *}" "${tk%% *}")"
    if [ "$lat" = 1 ]; then
      tp99=$(tsv_stats "$tsv" "$conns" tokio p99_us); zp99=$(tsv_stats "$tsv" "$conns" zcnet p99_us)
      printf ' %s | %s | %s |' "$(fmt_lat "$tsv" "$conns" tokio)" "$(fmt_lat "$tsv" "$conns" zcnet)" \
        "$(ratio "${zp99%% *}" "${tp99%% *}")"
    fi
    printf ' %s | %s | %s/%s | %s/%s |\n' \
      "$(fmt_med "$(tsv_stats "$tsv" "$conns" tokio cpu_s)" %.2f)" \
      "$(fmt_med "$(tsv_stats "$tsv" "$conns" zcnet cpu_s)" %.2f)" \
      "$(tsv_errors "$tsv" "$conns" tokio)" "$(tsv_errors "$tsv" "$conns" zcnet)" \
      "$(tsv_ok "$tsv" "$conns" tokio)" "$(tsv_ok "$tsv" "$conns" zcnet)"
  done
}

# Options shared by rr, stream, crr, udp, udp-zc and http: sets RUNS, SECS
# (and IDLE for http). Args: subcommand args...
parse_app_opts() {
  local sub=$1; shift
  RUNS=5 SECS=5 IDLE=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --runs) [ $# -ge 2 ] || usage_error "--runs needs a value"; RUNS=$2; shift 2 ;;
      --secs) [ $# -ge 2 ] || usage_error "--secs needs a value"; SECS=$2; shift 2 ;;
      --idle)
        [ "$sub" = http ] || usage_error "$sub: --idle is an option of http only"
        [ $# -ge 2 ] || usage_error "--idle needs a value"
        case "$2" in busy|backoff) IDLE=$2 ;; *) usage_error "--idle must be busy or backoff" ;; esac
        shift 2 ;;
      -h|--help) usage; exit 0 ;;
      *) usage_error "$sub: unknown option '$1'" ;;
    esac
  done
  check_runs_secs "$RUNS" "$SECS"
}

# Everything a zcnet/tokio subcommand needs before its first run.
app_prepare() {
  build_release
  ensure_tmp
  [ -x /usr/bin/time ] || die "/usr/bin/time not found (apt-get install time)"
  [ -x "$ZCNET_BENCH" ] || die "$ZCNET_BENCH not found"
  [ -x "$TOKIO_BENCH" ] || die "$TOKIO_BENCH not found"
  if [ "$(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo)" -lt 64 ]; then
    log "warning: fewer than 64 free hugepages; zcnet runs without them (scripts/setup.sh reserves them)"
  fi
  BUSY_RUNS=0
}

# The lines under a table's title: when, where, how.
app_preamble() {
  local runs=$1 secs=$2
  printf '%s; %s alternating runs each (tokio first), %s s window after a %s s warm-up.\n\n%s\n\n' \
    "$(machine_line)" "$runs" "$secs" "$(awk -v s="$secs" 'BEGIN { print s / 10 }')" "$APP_NOTE"
}

# Warning lines about busy starts, for the end of a table. Args: tsv-name.
busy_note() {
  if [ "$BUSY_RUNS" -gt 0 ]; then
    printf '\nWarning: %s run(s) started on a busy machine (> %s%% CPU); see target/bench/%s.\n' \
      "$BUSY_RUNS" "$QUIET_BUSY_PCT" "$1"
  fi
}

# Writes TABLE (stdin) to target/bench/NAME.md, copies the runs TSV, prints it.
publish() {
  local name=$1 tsv=$2 started=$3
  cat >"$OUT_DIR/$name.md"
  [ -n "$tsv" ] && cp "$tsv" "$OUT_DIR/$name-runs.tsv"
  log "$name: done in $((SECONDS - started)) s (quiet-machine waits so far: ${QUIET_WAITED} s)"
  echo
  cat "$OUT_DIR/$name.md"
}

# A zcnet/tokio subcommand. Args: name title unit column scale format
# latency(0/1) scenario size conns-list -- options...
pair_cmd() {
  local name=$1 title=$2 unit=$3 col=$4 scale=$5 fmt=$6 lat=$7 scenario=$8 size=$9 conns_list=${10}
  shift 10
  parse_app_opts "$name" "$@"
  local started=$SECONDS
  app_prepare
  local tsv=$TMP/$name-runs.tsv
  # shellcheck disable=SC2086  # conns_list is a space-separated list
  pair_runs "$tsv" "$scenario" "$size" "$RUNS" "$SECS" $conns_list
  {
    printf '## %s: %s\n\n' "$name" "$title"
    app_preamble "$RUNS" "$SECS"
    # shellcheck disable=SC2086
    pair_table "$tsv" "$unit" "$col" "$scale" "$fmt" "$lat" $conns_list
    busy_note "$name-runs.tsv"
  } | publish "$name" "$tsv" "$started"
}

cmd_rr() {
  pair_cmd rr "zcnet-bench vs zcnet-tokio-bench, request/response, 64 B each way, one request in flight per connection" \
    "k req/s" rate 0.001 %.1f 1 rr 64 "1 32 256" "$@"
}

cmd_stream() {
  pair_cmd stream "zcnet-bench vs zcnet-tokio-bench, one-way bulk transfer, 64 KiB writes (Gbit/s of payload)" \
    "Gbit/s" gbps 1 %.2f 0 stream 65536 "1 4" "$@"
}

cmd_crr() {
  pair_cmd crr "zcnet-bench vs zcnet-tokio-bench, connect + one 64 B request/response + close, repeated (connections/s)" \
    "k conn/s" rate 0.001 %.1f 1 crr 64 "32" "$@"
}

cmd_udp() {
  pair_cmd udp "zcnet-bench vs zcnet-tokio-bench, 64 B datagram request/response, one per socket in flight (datagrams echoed/s)" \
    "k dgram/s" rate 0.001 %.1f 1 udp 64 "32" "$@"
}

# ---------------------------------------------------------------- udp-zc --
# zcnet's zero-copy datagram path against its smoltcp UdpSocket path on the
# same wire, beside dpdk-testpmd's macswap on a net_ring pair (one run of the
# fwd machinery per alternation).

UDPZC_CONNS=32

cmd_udp_zc() {
  parse_app_opts udp-zc "$@"
  local started=$SECONDS
  app_prepare
  command -v "$TESTPMD" >/dev/null || die "$TESTPMD not found (scripts/setup.sh installs the dpdk package)"
  local tsv=$TMP/udp-zc-runs.tsv i prog
  printf '%s\n' "$RUNS_HEADER" >"$tsv"
  for ((i = 1; i <= RUNS; i++)); do
    for prog in testpmd smoltcp fast; do
      wait_quiet
      case "$prog" in
        testpmd)
          fwd_run_testpmd macswap 16 "$SECS" "udpzc-tp-$i" net_ring0 net_ring1
          R_RATE=$(awk -v m="$R_MPPS" 'BEGIN { if (m == "nan") print "nan"; else printf "%.1f\n", m * 1e6 }')
          R_GBPS=nan R_P50=nan R_P99=nan R_P999=nan R_ERRORS=0
          [ "$R_RATE" = nan ] && R_CPU=nan R_ERRORS=nan
          ;;
        smoltcp) app_run zcnet udp "$UDPZC_CONNS" 64 "$SECS" "udpzc-smoltcp-$i" ;;
        fast) app_run zcnet udp-zc "$UDPZC_CONNS" 64 "$SECS" "udpzc-fast-$i" ;;
      esac
      log "udp-zc run $i/$RUNS: $(printf '%-7s' "$prog") $(run_summary)"
      record_run "$tsv" 64 "$prog" "$i"
    done
  done
  local fast smol tp label prog_label
  fast=$(tsv_stats "$tsv" 64 fast rate); smol=$(tsv_stats "$tsv" 64 smoltcp rate); tp=$(tsv_stats "$tsv" 64 testpmd rate)
  {
    printf '## udp-zc: zero-copy datagram echo vs the smoltcp UdpSocket path vs dpdk-testpmd macswap (same in-memory wire / net_ring)\n\n'
    printf '%s; %s alternating runs each (testpmd, smoltcp, fast), %s s windows.\n\n' "$(machine_line)" "$RUNS" "$SECS"
    printf 'zcnet rows: zcnet-bench --scenario udp-zc (fast path: recv_packet/send_packet, the server turns the\n'
    printf 'received mbuf around) and --scenario udp (UdpSocket recv_from/send_to: a copy each way, sends through\n'
    printf 'smoltcp'"'"'s buffer; receives now share the fast path'"'"'s per-socket queue) on config/wire.toml,\n'
    printf '%s sockets, 64 B datagrams, server on CPU %s, client on CPU %s; the rate is datagram echoes completed per\n' "$UDPZC_CONNS" "$SERVER_CPU" "$CLIENT_CPU"
    printf 'second, i.e. packets the server core receives, rewrites (Ethernet, IPv4, UDP) and sends back.\n'
    printf 'testpmd row: one dpdk-testpmd macswap run on a net_ring pair per alternation (the fwd subcommand'"'"'s\n'
    printf 'ring-macswap machinery: -l %s, burst %s, start tx_first 16, %s s after a %s s warm-up); the rate is packets\n' "$CORES" "$BURST" "$SECS" "$WARMUP"
    printf 'forwarded per second by its one forwarding core (TX summed over both ports; it only swaps MACs).\n'
    printf 'CPU = user+sys seconds of the whole process (median).\n\n'
    printf '| path | M packets turned around/s median (min-max) | p50/p99/p99.9 us | CPU s | errors | runs ok |\n'
    printf '|---|---|---|---|---|---|\n'
    for prog in fast smoltcp testpmd; do
      case "$prog" in
        fast) prog_label="zcnet udp-zc (fast path)" ;;
        smoltcp) prog_label="zcnet udp (UdpSocket copy path)" ;;
        testpmd) prog_label="dpdk-testpmd macswap/net_ring" ;;
      esac
      if [ "$prog" = testpmd ]; then label="n/a"; else label=$(fmt_lat "$tsv" 64 "$prog"); fi
      printf '| %s | %s | %s | %s | %s | %s/%s |\n' "$prog_label" \
        "$(fmt_mm "$(tsv_stats "$tsv" 64 "$prog" rate)" 0.000001 %.3f)" "$label" \
        "$(fmt_med "$(tsv_stats "$tsv" 64 "$prog" cpu_s)" %.2f)" "$(tsv_errors "$tsv" 64 "$prog")" \
        "$(tsv_ok "$tsv" 64 "$prog")" "$RUNS"
    done
    printf '\nfast/smoltcp = %s (target >= 3); fast/testpmd = %s (target >= 0.5)\n' \
      "$(ratio "${fast%% *}" "${smol%% *}")" "$(ratio "${fast%% *}" "${tp%% *}")"
    busy_note udp-zc-runs.tsv
  } | publish udp-zc "$tsv" "$started"
}

# ------------------------------------------------------------------ http --
# wrk in namespace A against zcnet-httpd behind net_tap (also in A: the tap
# is born where the process runs) and against nginx in namespace B over a
# veth pair. Both servers run under `taskset -c 1` (zcnet-httpd with its
# main lcore and worker mapped to CPU 1 too, so EAL stays inside the mask),
# wrk under `taskset -c 0`.

HTTP_SERVER_CPU=1
HTTP_CLIENT_CPU=0
HTTP_TAP_NOTE="net_tap tops out near 110k packets/s from kernel to DPDK on these VMs, so a tap figure measures the tap as much as the stack."
NS_CLIENT=""
NS_SERVER=""

# Creates both namespaces and the veth pair, and nginx's configuration.
http_setup() {
  NS_CLIENT=zcbench-cli-$$ NS_SERVER=zcbench-srv-$$
  # shellcheck source=scripts/netns.sh
  source "$ROOT/scripts/netns.sh"
  NAMESPACES+=("$NS_CLIENT" "$NS_SERVER")
  zc_ns_create "$NS_CLIENT"
  zc_ns_create "$NS_SERVER"
  ip -n "$NS_CLIENT" link add zcb0 type veth peer name zcb1 netns "$NS_SERVER"
  ip -n "$NS_CLIENT" addr add 198.18.1.1/24 dev zcb0
  ip -n "$NS_SERVER" addr add 198.18.1.2/24 dev zcb1
  ip -n "$NS_CLIENT" link set zcb0 up
  ip -n "$NS_SERVER" link set zcb1 up
  local dir=$TMP/nginx
  mkdir -p "$dir"
  cat >"$dir/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  server {
    listen 198.18.1.2:80;
    location / { default_type text/plain; return 200 "Hello, zcnet\n"; }
  }
}
EOF
}

http_teardown() {
  local ns
  for ns in "$NS_CLIENT" "$NS_SERVER"; do ip netns del "$ns" 2>/dev/null || true; done
  NAMESPACES=()
}

# Microseconds in a wrk time ("812.00us", "1.23ms", "2.00s", "1.5m").
wrk_us() {
  awk -v t="$1" 'BEGIN { v = t + 0
    if (t ~ /us$/) f = 1; else if (t ~ /ms$/) f = 1e3; else if (t ~ /m$/) f = 6e7; else if (t ~ /s$/) f = 1e6; else f = -1
    if (f < 0 || t == "") print "nan"; else printf "%.1f\n", v * f }'
}

# Waits (bounded) until URL answers from the client namespace.
http_wait_ready() {
  local url=$1 pid=$2 i
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || return 1
    ip netns exec "$NS_CLIENT" curl -s -m 1 -o /dev/null "$url" && return 0
    sleep 0.1
  done
  return 1
}

# One wrk run from the client namespace. Args: conns secs url tag.
# Sets R_RATE R_P50 R_P99 R_P999 (p99.9: n/a, wrk prints 50/75/90/99) R_ERRORS.
http_wrk() {
  local conns=$1 secs=$2 url=$3 tag=$4 dir=$TMP/$4 rc=0
  mkdir -p "$dir"
  spawn "$dir/wrk.out" "$dir/wrk.time" $((secs + 20)) ip netns exec "$NS_CLIENT" \
    taskset -c "$HTTP_CLIENT_CPU" wrk -t1 -c"$conns" -d"${secs}s" --latency "$url"
  reap "$CHILD_PID" || rc=$?
  R_RATE=nan R_P50=nan R_P99=nan R_P999=nan R_GBPS=nan R_ERRORS=nan
  if [ "$rc" != 0 ]; then
    log "wrk failed (exit $rc):"; tail -5 "$dir/wrk.out" >&2
    return 0
  fi
  R_RATE=$(awk '/^Requests\/sec:/ { print $2 }' "$dir/wrk.out")
  R_P50=$(wrk_us "$(awk '$1 == "50%" { print $2 }' "$dir/wrk.out")")
  R_P99=$(wrk_us "$(awk '$1 == "99%" { print $2 }' "$dir/wrk.out")")
  R_ERRORS=$(awk '/Socket errors:/ { gsub(",", ""); e += $4 + $6 + $8 + $10 }
                  /Non-2xx or 3xx responses:/ { e += $NF } END { printf "%d", e }' "$dir/wrk.out")
  [[ "$R_RATE" =~ ^[0-9]+([.][0-9]+)?$ ]] || R_RATE=nan
}

# Stops a server started with spawn: one SIGTERM to the server itself (the
# child of timeout: `ip netns exec` and taskset exec it), then reap. Not to
# timeout, which would pass it on twice (to the child and to its group), and
# a second SIGTERM ends a zcnet program at once, without its graceful close.
# Args: time-pid timeout-pid. Returns the server's exit code.
http_stop() {
  local pid=$1 rc=0 child
  TIMEOUT_PID=$2
  child=$(cat "/proc/$TIMEOUT_PID/task/$TIMEOUT_PID/children" 2>/dev/null || true)
  child=${child%% *}
  kill -TERM "${child:-$TIMEOUT_PID}" 2>/dev/null || true
  reap "$pid" || rc=$?
  return "$rc"
}

# One run against one server. Args: server(nginx|zcnet) conns secs tag.
# Sets R_* of http_wrk and R_CPU (the server's, whole process).
http_run() {
  local server=$1 conns=$2 secs=$3 tag=$4 dir=$TMP/$4 url pid tpid rc=0 ok=1
  mkdir -p "$dir"
  local out=$dir/server.out time=$dir/server.time
  if [ "$server" = nginx ]; then
    url=http://198.18.1.2/
    spawn "$out" "$time" $((secs + 60)) ip netns exec "$NS_SERVER" taskset -c "$HTTP_SERVER_CPU" \
      nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log"
    pid=$CHILD_PID tpid=$TIMEOUT_PID
  else
    url=http://198.18.0.2/
    local idle_args=()
    [ -n "$IDLE" ] && idle_args=(--idle "$IDLE")
    spawn "$out" "$time" $((secs + 60)) ip netns exec "$NS_CLIENT" taskset -c "$HTTP_SERVER_CPU" \
      "$HTTPD" --config "$ROOT/config/tap.toml" --lcores "0@$HTTP_SERVER_CPU,1@$HTTP_SERVER_CPU" \
      --file-prefix "zcbench-httpd-$$-$tag" --port 80 "${idle_args[@]+"${idle_args[@]}"}"
    pid=$CHILD_PID tpid=$TIMEOUT_PID
    ZC_APP_PID=$pid
    zc_ns_tap_up "$NS_CLIENT" zc0 198.18.0.1/24 >&2 || ok=0
    ZC_APP_PID=""
  fi
  R_RATE=nan R_P50=nan R_P99=nan R_P999=nan R_GBPS=nan R_ERRORS=nan R_CPU=nan
  if [ "$ok" = 1 ] && http_wait_ready "$url" "$pid"; then
    http_wrk "$conns" "$secs" "$url" "$tag"
  else
    log "$server did not answer $url"
    ok=0
  fi
  http_stop "$pid" "$tpid" || rc=$?
  if [ "$rc" != 0 ] || [ "$ok" = 0 ]; then
    log "$server run failed (server exit code $rc); its output:"; grep -v '^ ' "$out" | tail -8 >&2
    [ "$server" = nginx ] && tail -3 "$TMP/nginx/error.log" >&2 2>/dev/null
    R_RATE=nan R_P50=nan R_P99=nan R_ERRORS=nan R_CPU=nan
    return 0
  fi
  R_CPU=$(cpu_secs "$time")
}

cmd_http() {
  parse_app_opts http "$@"
  local started=$SECONDS
  build_release
  ensure_tmp
  BUSY_RUNS=0
  [ "$(id -u)" = 0 ] || die "http: run as root (it creates network namespaces and a tap device)"
  local t
  for t in wrk nginx curl taskset; do command -v "$t" >/dev/null || die "$t not found (scripts/setup.sh installs it)"; done
  [ -x /usr/bin/time ] || die "/usr/bin/time not found (apt-get install time)"
  [ -x "$HTTPD" ] || die "$HTTPD not found"
  http_setup
  local tsv=$TMP/http-runs.tsv conns i server rows="-c32 -c256"
  printf '%s\n' "$RUNS_HEADER" >"$tsv"
  for conns in 32 256; do
    for ((i = 1; i <= RUNS; i++)); do
      for server in nginx zcnet; do
        wait_quiet
        http_run "$server" "$conns" "$SECS" "http-$conns-$server-$i"
        log "http -c$conns run $i/$RUNS: $(printf '%-5s' "$server") $R_RATE req/s, p50/p99 $R_P50/$R_P99 us, errors $R_ERRORS (server cpu ${R_CPU}s, busy before ${LAST_BUSY}%)"
        record_run "$tsv" "-c$conns" "$server" "$i"
      done
    done
  done
  http_teardown
  local row nk zk np zp idle_text
  if [ -n "$IDLE" ]; then
    idle_text="$IDLE (--idle $IDLE; config/tap.toml's default, what users run, is backoff)"
  else
    idle_text="backoff (config/tap.toml's default, what users run)"
  fi
  {
    printf '## http: wrk -t1 against zcnet-httpd behind net_tap vs nginx over veth (13-byte body, keep-alive)\n\n'
    printf '%s; %s alternating runs each (nginx first), wrk -d%ss.\n\n' "$(machine_line)" "$RUNS" "$SECS"
    printf 'wrk runs in namespace A under taskset -c %s. zcnet: zcnet-httpd --config config/tap.toml in A behind\n' "$HTTP_CLIENT_CPU"
    printf 'net_tap (198.18.0.1 -> 198.18.0.2), taskset -c %s with --lcores 0@%s,1@%s (main lcore and worker on CPU %s);\n' \
      "$HTTP_SERVER_CPU" "$HTTP_SERVER_CPU" "$HTTP_SERVER_CPU" "$HTTP_SERVER_CPU"
    printf 'idle policy: %s. Baseline: nginx %s, one worker (worker_processes 1, access_log off,\n' \
      "$idle_text" "$(nginx -v 2>&1 | sed 's/.*nginx\///')"
    printf 'keepalive_requests 1000000, return 200 "Hello, zcnet\\n") in namespace B, taskset -c %s, reached over a veth\n' "$HTTP_SERVER_CPU"
    printf 'pair (198.18.1.1 -> 198.18.1.2). Latency: wrk --latency medians (it prints p50..p99, no p99.9).\n'
    printf 'CPU = user+sys seconds of the whole server process over its run (start, wrk -d%ss, stop; nginx: master + worker).\n\n' "$SECS"
    printf '| wrk | nginx k req/s median (min-max) | zcnet k req/s median (min-max) | zcnet/nginx | nginx p50/p99 us | zcnet p50/p99 us | p99 zcnet/nginx | nginx CPU s | zcnet-httpd CPU s | errors nginx/zcnet | runs ok nginx/zcnet |\n'
    printf '|---|---|---|---|---|---|---|---|---|---|---|\n'
    for row in $rows; do
      nk=$(tsv_stats "$tsv" "$row" nginx rate); zk=$(tsv_stats "$tsv" "$row" zcnet rate)
      np=$(tsv_stats "$tsv" "$row" nginx p99_us); zp=$(tsv_stats "$tsv" "$row" zcnet p99_us)
      printf '| -t1 %s | %s | %s | %s | %s/%s | %s/%s | %s | %s | %s | %s/%s | %s/%s |\n' "$row" \
        "$(fmt_mm "$nk" 0.001 %.1f)" "$(fmt_mm "$zk" 0.001 %.1f)" "$(ratio "${zk%% *}" "${nk%% *}")" \
        "$(fmt_med "$(tsv_stats "$tsv" "$row" nginx p50_us)" %.0f)" "$(fmt_med "$np" %.0f)" \
        "$(fmt_med "$(tsv_stats "$tsv" "$row" zcnet p50_us)" %.0f)" "$(fmt_med "$zp" %.0f)" \
        "$(ratio "${zp%% *}" "${np%% *}")" \
        "$(fmt_med "$(tsv_stats "$tsv" "$row" nginx cpu_s)" %.2f)" \
        "$(fmt_med "$(tsv_stats "$tsv" "$row" zcnet cpu_s)" %.2f)" \
        "$(tsv_errors "$tsv" "$row" nginx)" "$(tsv_errors "$tsv" "$row" zcnet)" \
        "$(tsv_ok "$tsv" "$row" nginx)" "$(tsv_ok "$tsv" "$row" zcnet)"
    done
    printf '\nNote: %s\n' "$HTTP_TAP_NOTE"
    busy_note http-runs.tsv
  } | publish http "$tsv" "$started"
}

# ------------------------------------------------------------------- all --

cmd_all() {
  local runs="" secs="" cmdline="scripts/bench.sh all${*:+ $*}"
  while [ $# -gt 0 ]; do
    case "$1" in
      --runs) [ $# -ge 2 ] || usage_error "--runs needs a value"; runs=$2; shift 2 ;;
      --secs) [ $# -ge 2 ] || usage_error "--secs needs a value"; secs=$2; shift 2 ;;
      -h|--help) usage; return 0 ;;
      *) usage_error "all: unknown option '$1'" ;;
    esac
  done
  check_runs_secs "${runs:-1}" "${secs:-1}"
  local started=$SECONDS date machine commit name total
  date=$(date -u '+%Y-%m-%d %H:%M UTC')
  build_release
  ensure_tmp
  cmd_fwd --runs "${runs:-3}" --secs "${secs:-3}"
  local opts=(--runs "${runs:-5}" --secs "${secs:-3}")
  cmd_rr "${opts[@]}"
  cmd_stream "${opts[@]}"
  cmd_crr "${opts[@]}"
  cmd_udp "${opts[@]}"
  cmd_udp_zc "${opts[@]}"
  cmd_http "${opts[@]}"
  total=$((SECONDS - started))
  machine="$(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
  commit="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo '+dirty')"
  {
    printf '# zcnet benchmarks\n\n'
    printf -- '- command: `%s`\n- date: %s\n- machine: %s\n- commit: %s\n' "$cmdline" "$date" "$machine" "$commit"
    printf -- '- total time: %d min %02d s\n\n' $((total / 60)) $((total % 60))
    for name in fwd rr stream crr udp udp-zc http; do
      cat "$OUT_DIR/$name.md"
      echo
    done
  } >"$OUT_DIR/all.md"
  log "all: done in $total s; the tables are in $OUT_DIR/all.md"
  echo
  echo "all: total time $((total / 60)) min $((total % 60)) s"
}

# ----------------------------------------------------------------- smoke --
# For the test suite (tests/bench_smoke.rs): every scenario of both programs
# runs once for 1 s and must print a well-formed result line.

cmd_smoke() {
  local debug=0
  while [ $# -gt 0 ]; do
    case "$1" in
      --debug) debug=1; shift ;;
      -h|--help) usage; return 0 ;;
      *) usage_error "smoke: unknown option '$1'" ;;
    esac
  done
  if [ "$debug" = 1 ]; then
    # Dev-profile binaries; build only what was not handed over, and only
    # that package, so binaries other tests run are never relinked.
    [ "$ZCNET_BENCH" = "$TARGET_DIR/release/zcnet-bench" ] && {
      ZCNET_BENCH=$TARGET_DIR/debug/zcnet-bench
      (cd "$ROOT" && cargo build --quiet --bin zcnet-bench) || die "cargo build failed"
    }
    [ "$TOKIO_BENCH" = "$TARGET_DIR/release/zcnet-tokio-bench" ] && {
      TOKIO_BENCH=$TARGET_DIR/debug/zcnet-tokio-bench
      (cd "$ROOT" && cargo build --quiet -p zcnet-tokio-bench) || die "cargo build failed"
    }
  else
    build_release
  fi
  ensure_tmp
  [ -x /usr/bin/time ] || die "/usr/bin/time not found (apt-get install time)"
  local scenario kind size failed=0 n=0
  for scenario in rr stream crr udp udp-zc; do
    size=64
    [ "$scenario" = stream ] && size=65536
    for kind in zcnet tokio; do
      n=$((n + 1))
      app_run "$kind" "$scenario" 4 "$size" 1 "smoke-$scenario-$kind"
      if [ "$R_OK" = 1 ]; then
        if [ "$R_STACK" != "$kind" ] || [ "$R_SCENARIO" != "${scenario//-/}" ]; then
          R_OK=0 R_WHY="stack=$R_STACK scenario=$R_SCENARIO, expected $kind and ${scenario//-/}"
        elif ! awk -v r="$R_RATE" 'BEGIN { exit !(r > 0) }'; then
          R_OK=0 R_WHY="rate is 0"
        elif [ "$R_ERRORS" != 0 ]; then
          R_OK=0 R_WHY="$R_ERRORS error(s)"
        fi
      fi
      if [ "$R_OK" = 1 ]; then
        echo "smoke ok:   $R_LINE"
      else
        echo "smoke FAIL: $kind $scenario: $R_WHY${R_LINE:+ ($R_LINE)}"
        failed=$((failed + 1))
      fi
    done
  done
  if [ "$failed" -gt 0 ]; then
    echo "smoke: $failed of $n run(s) failed" >&2
    return 1
  fi
  echo "smoke: all $n runs produced well-formed result lines"
}

# ------------------------------------------------------------- dispatcher --

main() {
  [ $# -ge 1 ] || { usage >&2; exit 2; }
  local sub=$1; shift
  case "$sub" in
    fwd) cmd_fwd "$@" ;;
    rr) cmd_rr "$@" ;;
    stream) cmd_stream "$@" ;;
    crr) cmd_crr "$@" ;;
    udp) cmd_udp "$@" ;;
    udp-zc) cmd_udp_zc "$@" ;;
    http) cmd_http "$@" ;;
    all) cmd_all "$@" ;;
    smoke) cmd_smoke "$@" ;;
    help|-h|--help) usage ;;
    *) echo "bench: unknown subcommand '$sub'" >&2; usage >&2; exit 2 ;;
  esac
}

main "$@"
