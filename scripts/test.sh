#!/usr/bin/env bash
# The one test command (CI runs it through .ci/run). From a fresh Debian 12
# or Ubuntu 22.04+, as root:
#
#   scripts/test.sh
#
# 1. scripts/setup.sh: packages, cargo-nextest, hugepages (skipped, with a
#    note, when not root; set ZCNET_SKIP_SETUP=1 to skip it explicitly);
# 2. formatting (cargo fmt --check);
# 3. lints (cargo clippy --all-targets -D warnings);
# 4. the test suite under cargo-nextest: one process per test, which the
#    data-plane tests need (DPDK's EAL initialises once per process);
# 5. doc tests (nextest does not run them; the compile_fail tests that prove
#    the thread rules live there);
# 6. the documentation builds without warnings.
#
# Every DPDK process in the suite runs with --no-pci on virtual devices
# (net_null, net_ring): nothing touches the machine's NIC.
set -euo pipefail

cd "$(dirname "$0")/.."

started=$(date +%s)
step_started=$started
timings=()

step() {
  finish_step
  current="$1"
  step_started=$(date +%s)
  printf '\n==== [%s] %s ====\n' "$(date +%H:%M:%S)" "$current"
}

finish_step() {
  if [ -n "${current:-}" ]; then
    timings+=("$(printf '%5ss  %s' "$(($(date +%s) - step_started))" "$current")")
  fi
}

on_exit() {
  local rc=$?
  finish_step
  current=""
  printf '\n==== summary ====\n'
  printf '%s\n' "${timings[@]}"
  if [ "$rc" -eq 0 ]; then
    printf 'scripts/test.sh: all steps passed in %ss\n' "$(($(date +%s) - started))"
  else
    printf 'scripts/test.sh: FAILED (exit %s) in the step above, after %ss\n' "$rc" "$(($(date +%s) - started))" >&2
  fi
}
trap on_exit EXIT

if [ "${ZCNET_SKIP_SETUP:-0}" = 1 ]; then
  step "setup (skipped: ZCNET_SKIP_SETUP=1)"
elif [ "$(id -u)" -ne 0 ]; then
  step "setup (skipped: not root; run scripts/setup.sh once as root)"
else
  step "setup: scripts/setup.sh"
  scripts/setup.sh
fi

# rustfmt and clippy are rustup components; add them if this toolchain lacks them.
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    if command -v rustup >/dev/null; then
      echo "test.sh: adding rustup component $component"
      rustup component add "$component"
    else
      echo "test.sh: cargo $component is missing and rustup is not available to add it" >&2
      exit 1
    fi
  fi
done
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "test.sh: cargo-nextest is missing; scripts/setup.sh installs it (run it as root)" >&2
  exit 1
fi

step "disk: room for the build"
# A cold build of the workspace, its tests, the fuzz targets and the docs
# takes about 3 GB (2.5 GB of target/, 0.5 GB of fuzz/target); a full disk otherwise surfaces as a linker "Bus error"
# half-way through the suite. Say so before building.
need_mb=3500
target_dir="${CARGO_TARGET_DIR:-target}"
mkdir -p "$target_dir"
free_mb=$(df -Pm "$target_dir" | awk 'NR == 2 {print $4}')
have_mb=$(du -sm "$target_dir" 2>/dev/null | awk '{print $1}') || have_mb=0
# A warm target/ still grows (cargo keeps old artifacts): some room always.
if [ "$((free_mb + ${have_mb:-0}))" -lt "$need_mb" ] || [ "$free_mb" -lt 500 ]; then
  echo "test.sh: $free_mb MB free on the disk holding $target_dir (which already holds ${have_mb:-0} MB); the build needs about $need_mb MB in all and 500 MB free: free some space or point CARGO_TARGET_DIR at a larger disk" >&2
  exit 1
fi

step "format: cargo fmt --all -- --check"
cargo fmt --all -- --check

step "lint: cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "facade: cargo tree -e normal -p zcnet has none of the apps' or the optional features' dependencies"
# A user's `cargo tree` of zcnet without features: no HTTP parsing,
# histograms, tokio, futures-io or hyper (the apps and the features pull those).
if facade_extra=$(cargo tree -e normal -p zcnet --prefix none | grep -E '^(httparse|hdrhistogram|tokio|futures-io|hyper) '); then
  echo "test.sh: the zcnet facade depends on: $facade_extra" >&2
  exit 1
fi

step "tests: cargo nextest run --workspace --no-fail-fast"
cargo nextest run --workspace --no-fail-fast

step "doc tests: cargo test --workspace --doc"
cargo test --workspace --doc

step "fuzz smoke: scripts/fuzz.sh --seconds 30"
scripts/fuzz.sh --seconds 30

step "docs: RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --no-deps"
RUSTDOCFLAGS=-Dwarnings cargo doc --workspace --no-deps
