#!/usr/bin/env bash
# The whole test suite, on a fresh machine or a used one:
#   formatting and lints, unit tests on the host, the shipped artifact (built by
#   scripts/build.sh, checked against the 100,000-byte budget, and the
#   deployment kit, offline: tests/offline), and the end-to-end tests that run
#   it in a real Envoy on 127.0.0.1 (tests/e2e).
#
#   scripts/test.sh [extra pytest arguments, e.g. -k failures]
set -euo pipefail
source "$(dirname "$0")/lib/tools.sh"
cd "$ROOT"
started=$SECONDS

step() { say "$1 ($((SECONDS - started))s)"; }

ensure_wasm_target
for component in rustfmt clippy; do
  rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component" >&2
done

step "cargo fmt --check"
cargo fmt --check

step "cargo clippy (host and wasm32)"
cargo clippy --quiet --locked --all-targets -- -D warnings
cargo clippy --quiet --locked --release --target wasm32-unknown-unknown -- -D warnings
cargo clippy --quiet --locked --release --target wasm32-unknown-unknown --features response-target -- -D warnings

step "unit tests"
cargo test --quiet --locked

step "build the artifact"
scripts/build.sh

step "offline tests (tests/offline) and end-to-end tests in Envoy $ENVOY_VERSION (tests/e2e)"
ensure_venv
ensure_kubectl
ensure_debian_packages skopeo wrk   # wrk: the flapping-provider load test (test_hostile.py)
"$VENV/bin/pytest" tests/offline tests/e2e -p no:cacheprovider -q "$@"

say "all passed in $((SECONDS - started))s"
