#!/usr/bin/env bash
# Memory soak, once per allocator build: Envoy with the filter under load
# (at least 1,000,000 requests) while the provider's header set grows and
# shrinks at every refresh (at least 100 refreshes of 1-64 headers, 10 B-4 KB
# values). Reports the filter's linear memory (its wasm_memory_bytes gauge) and
# Envoy's RSS after a warm-up and at the end; the linear memory must not grow.
# Writes target/soak/results.md. About a minute per allocator.
#
#   scripts/soak.sh [talc lol_alloc wee_alloc dlmalloc] [--requests N] [--refreshes N]
set -euo pipefail
source "$(dirname "$0")/lib/tools.sh"
cd "$ROOT"
ensure_venv
ensure_debian_packages wrk
[ "$(nproc)" -ge 2 ] || die "needs 2 cores: Envoy and wrk each get one"
"$VENV/bin/python" -u -m harness.soak "$@"
