#!/usr/bin/env bash
# Runs the cargo-fuzz (libFuzzer) targets in fuzz/, each for a bounded time.
#
#   scripts/fuzz.sh                 # 300 s per target
#   scripts/fuzz.sh --seconds 30    # the smoke scripts/test.sh runs
#   scripts/fuzz.sh --seconds 60 ingress
#
# The corpus grows in fuzz/corpus/TARGET (not committed), seeded from
# fuzz/seeds/TARGET (real frames: fuzz/make_seeds.py). A crash leaves its
# input in fuzz/artifacts/TARGET and makes this script fail.
#
# cargo-fuzz needs unstable compiler flags; RUSTC_BOOTSTRAP=1 lets the
# stable toolchain accept them. No sanitizer: DPDK's memory (EAL under
# --no-huge) and ASan do not mix; libFuzzer still catches every panic, and
# the harness asserts that nothing grows without bound.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=300
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds=$2; shift 2 ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    -*) echo "fuzz: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(ingress)

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: cargo-fuzz is missing: run scripts/setup.sh" >&2
  exit 1
fi

for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  echo "== fuzz $t for ${seconds}s"
  log="fuzz/corpus/$t.log"
  status=0
  RUSTC_BOOTSTRAP=1 cargo fuzz run --sanitizer none "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
    -max_total_time="$seconds" -rss_limit_mb=4096 -print_final_stats=1 >"$log" 2>&1 || status=$?
  grep -E "^(Done|stat::number_of_executed_units|stat::peak_rss_mb)|panicked|SUMMARY|deadly signal" "$log" || true
  if [ "$status" -ne 0 ]; then
    tail -40 "$log" >&2
    echo "fuzz: $t FAILED (exit $status); the input is in fuzz/artifacts/$t" >&2
    exit 1
  fi
done
echo "fuzz: no crash"
