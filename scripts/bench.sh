#!/usr/bin/env bash
# Per-request cost of the filter against no filter, the least any proxy-wasm
# module costs (a hand-written one that only sets the headers), Envoy's
# native header_mutation and a Lua filter, in the real Envoy. Writes a table
# and a PNG chart to target/bench/.
#
#   scripts/bench.sh [--rounds 7] [--seconds 5] [--connections 16] [--wasm FILE] [--compare FILE]
#
# --compare adds another build (say of the commit before a change) as one more
# variant, alternated with the others, so a before/after is one measurement.
#
# Method (this machine is shared and noisy: single runs differ by +-20%):
# each filter 10 times in the chain so its cost is amplified tenfold; Envoy
# (--concurrency 1) pinned to core 0 and wrk to core 1; Envoy's CPU time per
# request read from /proc (steadier than requests/s); the variants
# alternated in every round so drift hits all of them, each round starting
# one variant later so each takes every place in the order; medians over the
# rounds; the added microseconds per filter instance reported. Rounds where
# Envoy waited for its core more than 5% of the time are flagged. About
# rounds x 7 variants x (seconds + 1) seconds: 5 minutes.
set -euo pipefail
source "$(dirname "$0")/lib/tools.sh"
cd "$ROOT"
[ -f dist/header_augmenter.wasm ] || scripts/build.sh
ensure_venv
ensure_binaryen
export WASM_AS=$(dirname "$WASM_OPT")/wasm-as
ensure_debian_packages wrk
[ "$(nproc)" -ge 2 ] || die "needs 2 cores: Envoy and wrk each get one"
"$VENV/bin/python" -c "import matplotlib" 2>/dev/null ||
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "matplotlib==3.11.2" >&2
"$VENV/bin/python" -u -m harness.bench "$@"
