#!/usr/bin/env bash
# zcnet benchmarks. Every figure is a ratio against what a user would pick
# instead, measured in the same invocation on the same cores; baseline and
# zcnet runs alternate. Tables go to stdout and to target/bench/.
#
#   scripts/bench.sh --help
#   scripts/bench.sh fwd [--runs N] [--secs S] [--only LIST] [--callgrind | --callgrind-only]
#
# One function per subcommand (cmd_<name>), plus shared helpers; the
# dispatcher is at the bottom. Benchmarks never run inside scripts/test.sh.
#
# Safety: every DPDK process gets --no-pci and its own --file-prefix, with
# --in-memory (or --no-shconf where --no-huge forbids --in-memory), uses only
# net_ring / net_null virtual devices, runs under `timeout`, and is ended
# by PID only.
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

Subcommands:
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
  help    this text (also -h, --help)

Environment: QUIET_BUSY_PCT (default 10), QUIET_MAX_WAIT (default 10 s per
run) and QUIET_BUDGET (default 20 s per invocation) tune the quiet-machine
check made before every run; TESTPMD overrides the testpmd binary.
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
          print m, v[1], v[NR] }'
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
  [[ "$runs" =~ ^[1-9][0-9]*$ ]] || usage_error "--runs must be a positive integer"
  [[ "$secs" =~ ^[1-9][0-9]*$ ]] || usage_error "--secs must be a positive whole number of seconds"
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
  log "building zcnet-fwd (release)"
  (cd "$ROOT" && cargo build --release --quiet --bin zcnet-fwd) || die "cargo build failed"
  TMP=$(mktemp -d /tmp/zcnet-bench.XXXXXX)
  mkdir -p "$OUT_DIR"

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
    table+="$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)),"
    table+=" commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo '+dirty');"
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

# ------------------------------------------------------------- dispatcher --

main() {
  [ $# -ge 1 ] || { usage >&2; exit 2; }
  local sub=$1; shift
  case "$sub" in
    fwd) cmd_fwd "$@" ;;
    help|-h|--help) usage ;;
    *) echo "bench: unknown subcommand '$sub'" >&2; usage >&2; exit 2 ;;
  esac
}

main "$@"
