#!/usr/bin/env bash
# Fuzzes the parsers with cargo fuzz (libFuzzer, the nightly toolchain): each
# target until it has made RUNS executions or spent SECONDS, whichever comes
# first. Any panic (a violated invariant included; see src/invariants.rs), an
# allocation over 128 MB or an input taking over 5 s is a crash: the input is
# kept under target/fuzz/artifacts/ and the script fails. Prints executions
# and crashes per target.
#
#   scripts/fuzz.sh [--runs 10000000] [--seconds 600] [target ...]
#
# Targets: provider_body configuration duration header_entries shared_data token_response.
set -euo pipefail
source "$(dirname "$0")/lib/tools.sh"
cd "$ROOT"

runs=10000000
seconds=600
targets=()
while [ $# -gt 0 ]; do
  case $1 in
    --runs) runs=${2:?}; shift 2 ;;
    --seconds) seconds=${2:?}; shift 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(provider_body configuration duration header_entries shared_data token_response)

rustup toolchain list | grep -q '^nightly' || die "cargo fuzz needs the nightly toolchain (rustup toolchain install nightly)"
CARGO_FUZZ=$(cargo_tool cargo-fuzz "$CARGO_FUZZ_VERSION")
fuzz=(cargo +nightly fuzz)
export PATH="$(dirname "$CARGO_FUZZ"):$PATH"

declare -A max_len=([provider_body]=65536 [token_response]=65536 [configuration]=8192 [duration]=64 [header_entries]=16384 [shared_data]=4096)
# AddressSanitizer (cargo fuzz's default) also enforces -malloc_limit_mb. The
# parsers are safe Rust, so it finds nothing else there; header_entries
# allocates a few strings per entry for thousands of entries, which ASan
# halves (3,400 against 7,500 executions a second over a 10M campaign), so
# it runs without; its memory is bounded by -rss_limit_mb and tests/bounds.rs.
declare -A sanitizer=([header_entries]=none)
failed=0
report=()
for target in "${targets[@]}"; do
  corpus=target/fuzz/corpus/$target
  artifacts=target/fuzz/artifacts/$target/
  mkdir -p "$corpus" "$artifacts"
  say "fuzzing $target (at most $runs executions or ${seconds}s)"
  log=target/fuzz/$target.log
  if "${fuzz[@]}" run --fuzz-dir tests/fuzz -O -s "${sanitizer[$target]:-address}" "$target" "$corpus" "tests/fuzz/seeds/$target" -- \
      -runs="$runs" -max_total_time="$seconds" -max_len="${max_len[$target]}" \
      -malloc_limit_mb=128 -rss_limit_mb=2048 -timeout=5 -dict=tests/fuzz/json.dict \
      -artifact_prefix="$artifacts" -print_final_stats=1 >"$log" 2>&1; then
    crashes=0
  else
    crashes=1
    failed=1
  fi
  done_runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$log" | tail -n1)
  [ -n "$secs" ] || secs=$(sed -n 's/^stat::slowest_unit_time_sec.*//p' "$log" | tail -n1)
  report+=("$(printf '| %s | %s | %s | %s |' "$target" "${done_runs:-?}" "${secs:-?}" "$crashes")")
  if [ "$crashes" = 1 ]; then
    grep -E "panicked at|ERROR|Test unit written" "$log" | head -n 5 >&2 || true
  fi
done

printf '\n| target | executions | seconds | crashes |\n|---|---|---|---|\n'
printf '%s\n' "${report[@]}"
[ "$failed" = 0 ] || die "a fuzz target crashed: see target/fuzz/*.log and the inputs in target/fuzz/artifacts/"
