#!/usr/bin/env bash
# Start-up cost of the filter: time from starting Envoy to /ready with and
# without it, and the first request's latency (and whether it already has the
# provider's headers). Writes target/startup/results.md.
#
#   scripts/startup.sh [--runs 10]
set -euo pipefail
source "$(dirname "$0")/lib/tools.sh"
cd "$ROOT"
[ -f dist/header_augmenter.wasm ] || scripts/build.sh
ensure_venv
"$VENV/bin/python" -u -m harness.startup "$@"
