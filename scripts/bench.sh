#!/usr/bin/env bash
# zcnet benchmarks. Every figure is a ratio against what a user would pick
# instead, measured in the same invocation on the same cores; baseline and
# zcnet runs alternate. Tables and charts go to stdout and target/bench/.
#
#   scripts/bench.sh --help
#   scripts/bench.sh fwd [--runs N] [--secs S] [--only LIST] [--callgrind | --callgrind-only]
#   scripts/bench.sh rr|stream|crr|udp|udp-zc|http|scale [--runs N] [--secs S]
#   scripts/bench.sh all [--runs N] [--secs S]
#   scripts/bench.sh smoke [--debug]      (the test suite's one-second check)
#
# This script starts, alternates and times the programs (namespaces,
# processes, CPU accounting); every run becomes one line of a runs log
# holding the run's `result ...` line. zcnet-bench-report (apps/bench_report.rs)
# parses those lines and writes every table, chart and per-run TSV.
# One function per subcommand (cmd_<name>), plus shared helpers; the
# dispatcher is at the bottom. Benchmarks never run inside scripts/test.sh.
#
# Safety: every DPDK process gets --no-pci and its own --file-prefix (testpmd
# with --in-memory; zcnet keeps shared files for dpdk-dumpcap, removed by the
# cleanup below if a program was killed), uses only
# net_ring / net_null / net_tap virtual devices or the in-memory wire, runs
# under `timeout`, and is ended by PID only. Kernel traffic (http) stays
# inside two namespaces this script creates and deletes, on 198.18.0.0/15.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT_DIR=${BENCH_OUT_DIR:-$ROOT/target/bench}
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
process's CPU time; zcnet-bench-report then writes the markdown table
target/bench/NAME.md, an SVG chart beside it (NAME.svg), every run in
NAME-runs.tsv and the raw runs log NAME-runs.log):
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
          Writes target/bench/fwd.md (and fwd.svg, fwd-runs.tsv, fwd-callgrind-runs.log).
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
  http    wrk -t1 -c32 and -c256 from a namespace against nginx (one worker,
          same 13-byte body) in a second namespace over a veth pair, against
          zcnet-httpd over AF_XDP on a veth pair (config/xdp.toml; AF_PACKET,
          config/af_packet.toml, where the kernel lacks AF_XDP) and against
          zcnet-httpd behind net_tap (config/tap.toml); zcnet with its
          configurations' idle policy (backoff) unless --idle; servers on
          CPU 1, wrk on CPU 0 (taskset); req/s, latency, and CPU per request
          from the whole machine's /proc/stat over each run. Extra option:
          --idle busy|backoff.
  hyper   issue 13: the same hyper HTTP/1.1 server and client code (GET /,
          13-byte body, keep-alive, one request in flight per connection),
          32 and 256 connections: zcnet-bench --scenario hyper on the wire
          against zcnet-tokio-bench --scenario hyper over the loopback
          (hyper.md); then the cost of hyper on zcnet: wrk -t1 -c32 and -c256
          against zcnet-httpd and zcnet-hyper behind the same net_tap, as
          http runs them (hyper-tap.md; root). Options as rr's.
  scale   connection scale (issue 10): rr at 32, 1024, 4096 and 8192
          connections and crr at 32 and 4096, zcnet-bench on the wire against
          zcnet-tokio-bench, alternating; req/s, p50/p99/p99.9, CPU, zcnet's
          pools-full flag, resident KiB per connection (peak minus idle RSS,
          from /proc); the issue's targets marked, the 8192/32 ratio last.
          Raises `ulimit -n` to the hard limit (tokio holds both ends: 8192
          connections are 16k descriptors). Every run is bounded in time; a
          run that fails or hangs is listed under the table, never waited for.
          Options of rr, stream, crr, udp, udp-zc, http, hyper and scale:
            --runs N          runs per program and row (default 5)
            --secs S          measured seconds per run, whole seconds (default 5)
          rr, stream, crr, udp and scale also take:
            --wire FILE       zcnet-bench's wire configuration (default
                              config/wire.toml: one server core, one client
                              core); config/wire-rss.toml has two of each
                              (RSS-spread), e.g. --wire config/wire-rss.toml
  all     fwd, rr, stream, crr, udp, udp-zc and http (fwd with 3 runs of 3 s;
          the others with --runs 5 --secs 3 unless given), then
          target/bench/all.md with the command line, date, machine and commit,
          and all.svg, every zcnet/baseline ratio; prints the total time.
          (scale is not part of it: run it on its own.)
  smoke   each scenario (rr, stream, crr, udp, udp-zc, hyper) of zcnet-bench and
          zcnet-tokio-bench for 1 s, 4 connections, one run, no quiet check;
          zcnet-bench-report fails it unless every run printed a well-formed
          result line with rate > 0 and errors = 0 (every field present),
          and writes smoke.md and smoke.svg. --debug uses dev-profile
          binaries (what tests/bench_smoke.rs runs); ZCNET_BENCH /
          TOKIO_BENCH / BENCH_REPORT name the binaries to use instead.
  help    this text (also -h, --help)

Environment: QUIET_BUSY_PCT (default 10), QUIET_MAX_WAIT (default 10 s per
run) and QUIET_BUDGET (default 20 s per invocation) tune the quiet-machine
check made before every run; TESTPMD overrides the testpmd binary;
ZCNET_BENCH, TOKIO_BENCH, HTTPD, HYPER and BENCH_REPORT override the
zcnet-bench, zcnet-tokio-bench, zcnet-httpd, zcnet-hyper and
zcnet-bench-report binaries;
BENCH_OUT_DIR the output directory (default target/bench).
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
  # EAL's files of this run's prefixes (zcbench*-<our pid>-*), which a
  # program killed on overrun leaves behind; its hugepages stay taken until then.
  rm -rf /var/run/dpdk/zcbench*-"$$"-* /dev/hugepages/zcbench*-"$$"-*map_* 2>/dev/null || true
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
# The benchmark programs; ZCNET_BENCH, TOKIO_BENCH, HTTPD and BENCH_REPORT override them.
ZCNET_BENCH=${ZCNET_BENCH:-$TARGET_DIR/release/zcnet-bench}
TOKIO_BENCH=${TOKIO_BENCH:-$TARGET_DIR/release/zcnet-tokio-bench}
HTTPD=${HTTPD:-$TARGET_DIR/release/zcnet-httpd}
HYPER=${HYPER:-$TARGET_DIR/release/zcnet-hyper}
BENCH_REPORT=${BENCH_REPORT:-$TARGET_DIR/release/zcnet-bench-report}

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


# -------------------------------------------------------------- runs logs --
# Every run is one line of a runs log (apps/report/runs.rs): row, program,
# run, cpu_s, busy_pct, status (ok, stopped, or why it failed), result line.

# Starts an empty runs log. Args: file.
new_log() { printf 'row\tprogram\trun\tcpu_s\tbusy_pct\tstatus\tresult\n' >"$1"; }

# Appends the run just made. Args: log row program run. Uses R_CPU,
# R_STATUS, R_LINE and LAST_BUSY. Tabs and newlines in a reason become spaces.
log_run() {
  local status=${R_STATUS//$'\t'/ }
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$2" "$3" "$4" "$R_CPU" "$LAST_BUSY" "${status//$'\n'/ }" "$R_LINE" >>"$1"
}

# The run just made, for the progress log.
run_summary() {
  if [ -n "$R_LINE" ]; then printf '%s' "${R_LINE#result }"; else printf 'FAILED: %s' "$R_STATUS"; fi
  printf ' (cpu %ss, busy before %s%%)' "$R_CPU" "$LAST_BUSY"
}

# A result line made by zcnet-bench-report from another tool's output
# (ARGS: its subcommand and arguments). Sets R_LINE, or R_STATUS to why not.
tool_result() {
  local out
  if out=$("$BENCH_REPORT" "$@" 2>&1); then
    R_LINE=$out
  else
    R_LINE="" R_STATUS=${out#error: }
  fi
}

# zcnet-bench-report's page for NAME from LOG, printed and written to
# target/bench (NAME.md, NAME.svg, NAME-runs.tsv, NAME-runs.log).
# Args: name log started [extra zcnet-bench-report flags].
publish() {
  local name=$1 tsv=$2 started=$3; shift 3
  log "$name: done in $((SECONDS - started)) s (quiet-machine waits so far: ${QUIET_WAITED} s)"
  echo
  "$BENCH_REPORT" table "$name" --log "$tsv" --out-dir "$OUT_DIR" --machine "$(machine_line)" \
    --runs "$RUNS" --secs "$SECS" --quiet-pct "$QUIET_BUSY_PCT" "$@" || die "zcnet-bench-report table $name failed"
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
# Sets R_STATUS, R_LINE and R_CPU. Like every run function it runs in the
# main shell (never in a command substitution), so the cleanup trap knows
# every child PID.
# The window: WARMUP s after `start` returns, send `show fwd stats all` (t0),
# sleep S, send it again (t1); each send is confirmed by the next prompt.
# zcnet-bench-report turns the two accumulated TX-packets (summed over both
# ports) into packets/s over t1 - t0.
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
  R_STATUS=ok R_LINE="" R_CPU=nan
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
    R_STATUS="testpmd did not answer its commands or failed"
    log "testpmd run failed; its output:"; tail -20 "$out" >&2
    return 0
  fi
  tool_result testpmd "$out" --t0 "$t0" --t1 "$t1"
  [ "$R_STATUS" = ok ] && R_CPU=$(cpu_secs "$time")
  return 0
}

# One zcnet-fwd run, same arguments. zcnet-fwd prints a cumulative stats line
# every second, timed from when its workers start (priming included, like
# testpmd's `start tx_first`); zcnet-bench-report takes the window from line
# WARMUP to line WARMUP+S.
fwd_run_zcnet() {
  local mode=$1 txf=$2 secs=$3 tag=$4; shift 4
  local vdev_args=() v
  for v in "$@"; do vdev_args+=(--vdev "$v"); done
  local dir=$TMP/$tag; mkdir -p "$dir"
  local out=$dir/out time=$dir/time
  R_STATUS=ok R_LINE="" R_CPU=nan
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
  if [ "$hung" = 0 ] && [ "$rc" != 0 ]; then
    R_STATUS="exit code $rc"
    log "zcnet-fwd run failed (exit $rc); its output:"; grep -v '^ ' "$out" | tail -8 >&2
    return 0
  fi
  tool_result fwd-stats "$out" --warmup "$WARMUP" --secs "$secs"
  [ "$R_STATUS" = ok ] || return 0
  if [ "$hung" = 1 ]; then
    # It forwarded through the whole window: use the window, say so, and
    # leave its CPU time out (it includes the hang).
    log "warning: zcnet-fwd did not exit within 1 s of --duration; stopped it"
    R_STATUS=stopped
  else
    R_CPU=$(cpu_secs "$time")
  fi
}

# Runs one program under callgrind (--no-huge) for a short while and sets
# R_STATUS and R_LINE: zcnet-bench-report counts the packets and the
# instructions of the forwarding thread (--separate-threads=yes).
fwd_callgrind_one() {
  local prog=$1 mode=$2 txf=$3 tag=$4; shift 4
  local vdev_args=() v
  for v in "$@"; do vdev_args+=(--vdev "$v"); done
  local dir=$TMP/cg-$tag; mkdir -p "$dir"
  local out=$dir/out ok=1 pid
  R_STATUS=ok R_LINE="" R_CPU=nan
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
  else
    spawn "$out" "$dir/time" 25 "${vg[@]}" \
      "$FWD_BIN" -l "$CORES" --no-huge --file-prefix "zcbench-cgzc-$$-$tag" \
      "${vdev_args[@]}" --mode "$mode" --tx-first "$txf" --burst "$BURST" \
      --stats-interval 0 --duration 2
    reap "$CHILD_PID" || ok=0
  fi
  if [ "$ok" = 0 ]; then
    R_STATUS="$prog under callgrind failed"
    log "callgrind run of $prog failed; its output:"; grep -v '^ ' "$out" | tail -8 >&2
    return 0
  fi
  tool_result callgrind --program "$prog" --output "$out" "$dir"/cg.out-*
}

# Fills the callgrind runs log. Args: log only.
fwd_callgrind() {
  local cglog=$1 only=$2 spec name label mode txf vdevs prog
  command -v valgrind >/dev/null || {
    log "valgrind missing; installing it (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends valgrind >&2 ||
      die "could not install valgrind (scripts/setup.sh installs it)"
  }
  for spec in "${FWD_SCENARIOS[@]}"; do
    IFS='|' read -r name label mode txf vdevs <<<"$spec"
    [[ ",$only," == *",$name,"* || -z "$only" ]] || continue
    for prog in testpmd zcnet; do
      # shellcheck disable=SC2086  # vdevs is a space-separated list
      fwd_callgrind_one "$prog" "$mode" "$txf" "$name" $vdevs
      log "callgrind $label: $prog $(run_summary)"
      LAST_BUSY=nan log_run "$cglog" "$label" "$prog" 1
    done
  done
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
  local tsv=$TMP/fwd-runs.log spec name label mode txf vdevs i extra=()
  new_log "$tsv"
  if [ "$mpps" = 1 ]; then
    if [ "$(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo)" -lt 64 ]; then
      die "fewer than 64 free hugepages (scripts/setup.sh reserves them)"
    fi
    for spec in "${FWD_SCENARIOS[@]}"; do
      IFS='|' read -r name label mode txf vdevs <<<"$spec"
      [[ ",$only," == *",$name,"* || -z "$only" ]] || continue
      for ((i = 1; i <= runs; i++)); do
        wait_quiet
        # shellcheck disable=SC2086  # vdevs is a space-separated list
        fwd_run_testpmd "$mode" "$txf" "$secs" "$name-tp-$i" $vdevs
        log "$label run $i/$runs: testpmd $(run_summary)"
        log_run "$tsv" "$label" testpmd "$i"
        wait_quiet
        # shellcheck disable=SC2086
        fwd_run_zcnet "$mode" "$txf" "$secs" "$name-zc-$i" $vdevs
        log "$label run $i/$runs: zcnet   $(run_summary)"
        log_run "$tsv" "$label" zcnet "$i"
      done
    done
  fi
  if [ "$callgrind" = 1 ]; then
    new_log "$TMP/fwd-callgrind-runs.log"
    fwd_callgrind "$TMP/fwd-callgrind-runs.log" "$only"
    cp "$TMP/fwd-callgrind-runs.log" "$OUT_DIR/fwd-callgrind-runs.log"
    extra=(--callgrind-log "$TMP/fwd-callgrind-runs.log")
  fi
  RUNS=$runs SECS=$secs publish fwd "$tsv" "$started" --warmup "$WARMUP" --cores "$CORES" --burst "$BURST" \
    "${extra[@]+"${extra[@]}"}"
}

# ------------------------------------------------------------------ apps --
# rr, stream, crr, udp, udp-zc and scale: zcnet-bench on the in-memory wire
# against zcnet-tokio-bench over the kernel's loopback, one process each.
# Both put the server on CPU 0 and the client on CPU 1: config/wire.toml
# runs the server on lcore 1 (CPU 0, beside the idle main lcore) and the
# client on lcore 2 (CPU 1); zcnet-tokio-bench gets --server-cpu 0 --client-cpu 1.

SERVER_CPU=0
CLIENT_CPU=1
WIRE_CONFIG=$ROOT/config/wire.toml

# One run of zcnet-bench (KIND zcnet) or zcnet-tokio-bench (KIND tokio).
# Args: kind scenario conns size secs tag. Sets R_STATUS (ok, or why not),
# R_LINE (its result line) and R_CPU.
app_run() {
  local kind=$1 scenario=$2 conns=$3 size=$4 secs=$5 tag=$6
  local dir=$TMP/$tag rc=0 limit
  mkdir -p "$dir"
  local out=$dir/out time=$dir/time
  limit=$((secs * 11 / 10 + 30))
  R_STATUS=ok R_LINE="" R_CPU=nan
  local flags=(--scenario "$scenario" --conns "$conns" --size "$size" --secs "$secs")
  if [ "$kind" = zcnet ]; then
    spawn "$out" "$time" "$limit" "$ZCNET_BENCH" --config "$WIRE_CONFIG" \
      --file-prefix "zcbench-$$-$tag" "${flags[@]}"
  elif [ "$kind" = hyper-alone ]; then
    spawn "$out" "$time" "$limit" taskset -c "$CLIENT_CPU" "$TOKIO_BENCH" "${flags[@]}" --hyper-in-memory \
      --server-cpu "$CLIENT_CPU" --client-cpu "$CLIENT_CPU"
  else
    spawn "$out" "$time" "$limit" "$TOKIO_BENCH" "${flags[@]}" \
      --server-cpu "$SERVER_CPU" --client-cpu "$CLIENT_CPU"
  fi
  reap "$CHILD_PID" || rc=$?
  if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
    R_STATUS="did not finish within ${limit} s; stopped"
  elif [ "$rc" != 0 ]; then
    R_STATUS="exit code $rc"
  else
    R_LINE=$(grep '^result ' "$out" | tail -1 || true)
    [ -n "$R_LINE" ] || R_STATUS="no result line"
  fi
  if [ "$R_STATUS" = ok ]; then
    R_CPU=$(cpu_secs "$time")
    return 0
  fi
  log "$kind $scenario conns=$conns run failed ($R_STATUS); its output:"
  grep -v '^ ' "$out" | tail -8 >&2
}

# Runs the zcnet/tokio comparison of SCENARIO for each connection count,
# alternating tokio and zcnet RUNS times per count, into LOG; each row is
# PREFIX followed by the count. Args: log scenario size runs secs prefix conns...
pair_runs() {
  local tsv=$1 scenario=$2 size=$3 runs=$4 secs=$5 prefix=$6; shift 6
  local conns i kind
  for conns in "$@"; do
    for ((i = 1; i <= runs; i++)); do
      for kind in tokio zcnet; do
        wait_quiet
        app_run "$kind" "$scenario" "$conns" "$size" "$secs" "$scenario-$conns-$kind-$i"
        log "$scenario conns=$conns run $i/$runs: $(printf '%-5s' "$kind") $(run_summary)"
        log_run "$tsv" "$prefix$conns" "$kind" "$i"
      done
    done
  done
}

# Options shared by rr, stream, crr, udp, udp-zc, http and scale: sets RUNS,
# SECS (and IDLE for http). Args: subcommand args...
parse_app_opts() {
  local sub=$1; shift
  RUNS=5 SECS=5 IDLE=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --runs) [ $# -ge 2 ] || usage_error "--runs needs a value"; RUNS=$2; shift 2 ;;
      --secs) [ $# -ge 2 ] || usage_error "--secs needs a value"; SECS=$2; shift 2 ;;
      --wire)
        case "$sub" in rr|stream|crr|udp|scale) ;; *) usage_error "$sub: --wire is an option of rr, stream, crr, udp and scale" ;; esac
        [ $# -ge 2 ] || usage_error "--wire needs a configuration file"
        [ -f "$2" ] || usage_error "--wire: no such file '$2'"
        WIRE_CONFIG=$(cd "$(dirname "$2")" && pwd)/$(basename "$2"); shift 2 ;;
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
}

# A zcnet/tokio subcommand. Args: name scenario size conns-list -- options...
pair_cmd() {
  local name=$1 scenario=$2 size=$3 conns_list=$4
  shift 4
  parse_app_opts "$name" "$@"
  local started=$SECONDS
  app_prepare
  local tsv=$TMP/$name-runs.log
  new_log "$tsv"
  # shellcheck disable=SC2086  # conns_list is a space-separated list
  pair_runs "$tsv" "$scenario" "$size" "$RUNS" "$SECS" "" $conns_list
  publish "$name" "$tsv" "$started" --server-cpu "$SERVER_CPU" --client-cpu "$CLIENT_CPU" \
    --wire "${WIRE_CONFIG#"$ROOT"/}"
}

cmd_rr() { pair_cmd rr rr 64 "1 32 256" "$@"; }
cmd_stream() { pair_cmd stream stream 65536 "1 4" "$@"; }
cmd_crr() { pair_cmd crr crr 64 "32" "$@"; }
cmd_udp() { pair_cmd udp udp 64 "32" "$@"; }

# ----------------------------------------------------------------- scale --
# Issue 10's benchmark: rr and crr from 32 to 8k connections. zcnet-bench
# and zcnet-tokio-bench each report their resident memory before the first
# connection and at its peak (from /proc/self/status); the report turns that
# into KiB per connection.

SCALE_RR_CONNS="32 1024 4096 8192"
SCALE_CRR_CONNS="32 4096"

cmd_scale() {
  parse_app_opts scale "$@"
  local started=$SECONDS
  app_prepare
  # zcnet-tokio-bench holds both ends of every connection: 8192 of them are
  # 16,384 descriptors. Take what the hard limit allows (20,000 here).
  local hard
  hard=$(ulimit -Hn)
  ulimit -n "$hard" || die "scale: cannot raise the descriptor limit to $hard"
  [ "$hard" = unlimited ] || [ "$hard" -ge 16500 ] ||
    log "warning: the hard descriptor limit is $hard; tokio at 8192 connections needs about 16,400"
  local tsv=$TMP/scale-runs.log
  new_log "$tsv"
  # shellcheck disable=SC2086  # space-separated lists
  pair_runs "$tsv" rr 64 "$RUNS" "$SECS" "rr " $SCALE_RR_CONNS
  # shellcheck disable=SC2086
  pair_runs "$tsv" crr 64 "$RUNS" "$SECS" "crr " $SCALE_CRR_CONNS
  publish scale "$tsv" "$started" --server-cpu "$SERVER_CPU" --client-cpu "$CLIENT_CPU" \
    --wire "${WIRE_CONFIG#"$ROOT"/}"
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
  local tsv=$TMP/udp-zc-runs.log i prog
  new_log "$tsv"
  for ((i = 1; i <= RUNS; i++)); do
    for prog in testpmd smoltcp fast; do
      wait_quiet
      case "$prog" in
        testpmd) fwd_run_testpmd macswap 16 "$SECS" "udpzc-tp-$i" net_ring0 net_ring1 ;;
        smoltcp) app_run zcnet udp "$UDPZC_CONNS" 64 "$SECS" "udpzc-smoltcp-$i" ;;
        fast) app_run zcnet udp-zc "$UDPZC_CONNS" 64 "$SECS" "udpzc-fast-$i" ;;
      esac
      log "udp-zc run $i/$RUNS: $(printf '%-7s' "$prog") $(run_summary)"
      log_run "$tsv" 64 "$prog" "$i"
    done
  done
  publish udp-zc "$tsv" "$started" --server-cpu "$SERVER_CPU" --client-cpu "$CLIENT_CPU" \
    --sockets "$UDPZC_CONNS" --warmup "$WARMUP" --cores "$CORES" --burst "$BURST"
}

# ------------------------------------------------------------------ http --
# wrk in namespace A against zcnet-httpd behind net_tap (also in A: the tap
# is born where the process runs), against zcnet-httpd on the end zcv0 of a
# veth pair in A (AF_XDP; 198.18.2.0/24, so its route does not clash with
# the tap's) and against nginx in namespace B over a veth pair. Every
# server runs under `taskset -c 1` (zcnet-httpd with its main lcore and
# worker mapped to CPU 1 too, so EAL stays inside the mask), wrk under
# `taskset -c 0`. /proc/stat is copied before and after each wrk run: the
# report charges each server with the whole machine's busy time but wrk's.

HTTP_SERVER_CPU=1
HTTP_CLIENT_CPU=0
NS_CLIENT=""
NS_SERVER=""
VETH_CONFIG=""
VETH_DRIVER=""

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
  zc_ns_veth_up "$NS_CLIENT" zcv0 zck0 198.18.2.1/24
  VETH_CONFIG=$(zc_veth_config "$NS_CLIENT")
  case "$VETH_CONFIG" in *xdp.toml) VETH_DRIVER=net_af_xdp ;; *) VETH_DRIVER=net_af_packet ;; esac
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

# One wrk run from the client namespace. Args: server conns secs url tag.
# Sets R_STATUS and R_LINE (zcnet-bench-report reads wrk's output: req/s,
# p50 and p99 of --latency, socket errors and non-2xx responses).
http_wrk() {
  local server=$1 conns=$2 secs=$3 url=$4 tag=$5 dir=$TMP/$5 rc=0
  mkdir -p "$dir"
  cat /proc/stat >"$dir/stat.before"
  spawn "$dir/wrk.out" "$dir/wrk.time" $((secs + 20)) ip netns exec "$NS_CLIENT" \
    taskset -c "$HTTP_CLIENT_CPU" wrk -t1 -c"$conns" -d"${secs}s" --latency "$url"
  reap "$CHILD_PID" || rc=$?
  cat /proc/stat >"$dir/stat.after"
  if [ "$rc" != 0 ]; then
    R_STATUS="wrk exit code $rc"
    log "wrk failed (exit $rc):"; tail -5 "$dir/wrk.out" >&2
    return 0
  fi
  tool_result wrk "$dir/wrk.out" --conns "$conns" --stack "$server" \
    --stat-before "$dir/stat.before" --stat-after "$dir/stat.after" --client-time "$dir/wrk.time"
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

# One run against one server. Args: server(nginx|zcnet|zcnet-xdp|hyper) conns
# secs tag (zcnet is zcnet-httpd, hyper zcnet-hyper, both behind net_tap;
# zcnet-xdp is zcnet-httpd on the veth end zcv0).
# Sets R_STATUS, R_LINE (from wrk's output) and R_CPU (the server's, whole process).
http_run() {
  local server=$1 conns=$2 secs=$3 tag=$4 dir=$TMP/$4 url pid tpid rc=0 ok=1
  mkdir -p "$dir"
  local out=$dir/server.out time=$dir/server.time
  if [ "$server" = nginx ]; then
    url=http://198.18.1.2/
    spawn "$out" "$time" $((secs + 60)) ip netns exec "$NS_SERVER" taskset -c "$HTTP_SERVER_CPU" \
      nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log"
    pid=$CHILD_PID tpid=$TIMEOUT_PID
  elif [ "$server" = zcnet-xdp ]; then
    url=http://198.18.2.2/
    local idle_args=()
    [ -n "$IDLE" ] && idle_args=(--idle "$IDLE")
    # libxdp wants bpffs: ZC_BPFFS_PREFIX (scripts/netns.sh) mounts it in the
    # server's own mount namespace.
    spawn "$out" "$time" $((secs + 60)) ip netns exec "$NS_CLIENT" "${ZC_BPFFS_PREFIX[@]}" \
      taskset -c "$HTTP_SERVER_CPU" "$HTTPD" --config "$VETH_CONFIG" --lcores "0@$HTTP_SERVER_CPU,1@$HTTP_SERVER_CPU" \
      --file-prefix "zcbench-httpd-$$-$tag" --port 80 --ip 198.18.2.2/24 "${idle_args[@]+"${idle_args[@]}"}"
    pid=$CHILD_PID tpid=$TIMEOUT_PID
    ZC_APP_PID=$pid ZC_APP_LOG=$out
    zc_ns_wait_listening >&2 || ok=0
    ZC_APP_PID="" ZC_APP_LOG=""
  else
    url=http://198.18.0.2/
    local idle_args=() bin=$HTTPD
    [ "$server" = hyper ] && bin=$HYPER
    [ -n "$IDLE" ] && idle_args=(--idle "$IDLE")
    spawn "$out" "$time" $((secs + 60)) ip netns exec "$NS_CLIENT" taskset -c "$HTTP_SERVER_CPU" \
      "$bin" --config "$ROOT/config/tap.toml" --lcores "0@$HTTP_SERVER_CPU,1@$HTTP_SERVER_CPU" \
      --file-prefix "zcbench-httpd-$$-$tag" --port 80 "${idle_args[@]+"${idle_args[@]}"}"
    pid=$CHILD_PID tpid=$TIMEOUT_PID
    ZC_APP_PID=$pid ZC_APP_LOG=$out
    zc_ns_tap_up "$NS_CLIENT" zc0 198.18.0.1/24 >&2 || ok=0
    ZC_APP_PID="" ZC_APP_LOG=""
  fi
  R_STATUS=ok R_LINE="" R_CPU=nan
  if [ "$ok" = 1 ] && http_wait_ready "$url" "$pid"; then
    http_wrk "$server" "$conns" "$secs" "$url" "$tag"
  else
    R_STATUS="$server did not answer $url"
  fi
  http_stop "$pid" "$tpid" || rc=$?
  [ "$rc" = 0 ] || [ "$R_STATUS" != ok ] || R_STATUS="server exit code $rc"
  if [ "$R_STATUS" != ok ]; then
    R_LINE=""
    log "$server run failed ($R_STATUS); its output:"; grep -v '^ ' "$out" | tail -8 >&2
    [ "$server" = nginx ] && tail -3 "$TMP/nginx/error.log" >&2 2>/dev/null
    return 0
  fi
  R_CPU=$(cpu_secs "$time")
}

cmd_http() {
  parse_app_opts http "$@"
  http_bench http "nginx zcnet-xdp zcnet" --nginx-version "$(nginx -v 2>&1 | sed 's/.*nginx\///')"
}

# wrk -c32 and -c256 against SERVERS (http_run's names), alternating, into
# NAME's table. Args: name servers report-args...
http_bench() {
  local name=$1 servers=$2; shift 2
  local started=$SECONDS
  build_release
  ensure_tmp
  [ "$(id -u)" = 0 ] || die "http: run as root (it creates network namespaces and a tap device)"
  local t
  for t in wrk nginx curl taskset ethtool; do command -v "$t" >/dev/null || die "$t not found (scripts/setup.sh installs it)"; done
  [ -x /usr/bin/time ] || die "/usr/bin/time not found (apt-get install time)"
  [ -x "$HTTPD" ] || die "$HTTPD not found"
  [ -x "$HYPER" ] || die "$HYPER not found"
  http_setup
  local tsv=$TMP/$name-runs.log conns i server idle_args=()
  new_log "$tsv"
  for conns in 32 256; do
    for ((i = 1; i <= RUNS; i++)); do
      for server in $servers; do
        wait_quiet
        http_run "$server" "$conns" "$SECS" "$name-$conns-$server-$i"
        log "$name -c$conns run $i/$RUNS: $(printf '%-5s' "$server") $(run_summary)"
        log_run "$tsv" "-c$conns" "$server" "$i"
      done
    done
  done
  http_teardown
  [ -n "$IDLE" ] && idle_args=(--idle "$IDLE")
  publish "$name" "$tsv" "$started" --server-cpu "$HTTP_SERVER_CPU" --client-cpu "$HTTP_CLIENT_CPU" \
    --veth-driver "$VETH_DRIVER" "$@" "${idle_args[@]+"${idle_args[@]}"}"
}

# ----------------------------------------------------------------- hyper --
# Issue 13: hyper on zcnet against hyper on tokio (the same server and
# client code, apps/shared/hyper_http.rs), then zcnet-hyper against
# zcnet-httpd behind one net_tap (what hyper costs on zcnet).

cmd_hyper() {
  parse_app_opts hyper "$@"
  local started=$SECONDS
  app_prepare
  local tsv=$TMP/hyper-runs.log
  new_log "$tsv"
  pair_runs "$tsv" hyper 64 "$RUNS" "$SECS" "" 32 256
  # hyper's own cost, the floor under both programs: its client and server
  # on one thread over an in-memory pipe (the report's "hyper alone" line).
  local i
  for ((i = 1; i <= RUNS; i++)); do
    wait_quiet
    app_run hyper-alone hyper 32 64 "$SECS" "hyper-alone-32-$i"
    log "hyper alone conns=32 run $i/$RUNS: $(run_summary)"
    log_run "$tsv" 32 hyper-alone "$i"
  done
  publish hyper "$tsv" "$started" --server-cpu "$SERVER_CPU" --client-cpu "$CLIENT_CPU"
  if [ "$(id -u)" = 0 ] && command -v wrk >/dev/null; then
    http_bench hyper-tap "zcnet hyper"
  else
    log "hyper: skipping zcnet-hyper vs zcnet-httpd behind net_tap (needs root and wrk)"
  fi
}

# ------------------------------------------------------------------- all --

ALL_BENCHES="fwd rr stream crr udp udp-zc http"

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
  local started=$SECONDS date total
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
  # shellcheck disable=SC2086  # ALL_BENCHES is a space-separated list
  "$BENCH_REPORT" all --out-dir "$OUT_DIR" --command "$cmdline" --date "$date" \
    --machine "$(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
    --commit "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo '+dirty')" \
    --total-secs "$total" $ALL_BENCHES || die "zcnet-bench-report all failed"
  log "all: done in $total s; the tables are in $OUT_DIR/all.md, every ratio in $OUT_DIR/all.svg"
  echo
  echo "all: total time $((total / 60)) min $((total % 60)) s"
}

# ----------------------------------------------------------------- smoke --
# For the test suite (tests/bench_smoke.rs): every scenario of both programs
# runs once for 1 s; zcnet-bench-report checks each result line and writes
# the smoke table and chart, so the suite exercises the report too.

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
    [ "$BENCH_REPORT" = "$TARGET_DIR/release/zcnet-bench-report" ] && {
      BENCH_REPORT=$TARGET_DIR/debug/zcnet-bench-report
      (cd "$ROOT" && cargo build --quiet --bin zcnet-bench-report) || die "cargo build failed"
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
  local scenario kind size tsv=$TMP/smoke-runs.log rc=0 started=$SECONDS
  new_log "$tsv"
  LAST_BUSY=nan
  for scenario in rr stream crr udp udp-zc hyper; do
    size=64
    [ "$scenario" = stream ] && size=65536
    for kind in zcnet tokio; do
      app_run "$kind" "$scenario" 4 "$size" 1 "smoke-$scenario-$kind"
      log_run "$tsv" "$scenario" "$kind" 1
    done
  done
  "$BENCH_REPORT" smoke --log "$tsv" || rc=$?
  RUNS=1 SECS=1 publish smoke "$tsv" "$started" --server-cpu "$SERVER_CPU" --client-cpu "$CLIENT_CPU" >/dev/null
  return "$rc"
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
    hyper) cmd_hyper "$@" ;;
    scale) cmd_scale "$@" ;;
    all) cmd_all "$@" ;;
    smoke) cmd_smoke "$@" ;;
    help|-h|--help) usage ;;
    *) echo "bench: unknown subcommand '$sub'" >&2; usage >&2; exit 2 ;;
  esac
}

main "$@"
