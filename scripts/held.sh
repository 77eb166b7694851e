#!/usr/bin/env bash
# Thousands of held requests released at once (harness/held.py says how):
# the worker's stall, the time to release them and the VM's memory.
#
#   scripts/held.sh [--requests 4000]
set -euo pipefail
source "$(dirname "$0")/lib/tools.sh"
cd "$ROOT"
[ -f dist/header_augmenter.wasm ] || scripts/build.sh
ensure_venv
ensure_debian_packages nghttp2-client
"$VENV/bin/python" -u -m harness.held "$@"
