#!/usr/bin/env bash
# Builds the filter and runs it locally: Envoy on 127.0.0.1:10000 with the
# filter, a header provider that rotates a token, and an echo upstream that
# shows the headers it received. Ctrl-C stops everything.
#
#   scripts/run-local.sh [--port 10000] [--admin-port 9901] [--provider-port 18081]
#                        [--upstream-port 18082] [--rotate 10] [--configuration JSON]
set -euo pipefail
source "$(dirname "$0")/lib/tools.sh"
"$ROOT/scripts/build.sh"
ensure_venv
exec env ENVOY="$ENVOY" "$VENV/bin/python" -u -m harness.run_local "$@"
