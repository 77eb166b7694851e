#!/usr/bin/env bash
# The whole test suite, on a fresh machine or a used one:
#   formatting and lints, unit tests on the host, the shipped artifact (built by
#   scripts/build.sh), the offline tests (tests/offline: the artifact's budget
#   and exports, the manifests against Kubernetes' and Istio's schemas, the OCI
#   layout), all the end-to-end tests (tests/e2e) in Envoy 1.40 on 127.0.0.1,
#   and their core subset (marked `matrix`) in the Envoy of each older
#   supported Istio release (ENVOY_MATRIX in scripts/lib/tools.sh). Ends with
#   the seconds each part took.
#
#   scripts/test.sh [extra pytest arguments, e.g. -k failures]
set -euo pipefail
source "$(dirname "$0")/lib/tools.sh"
cd "$ROOT"
started=$SECONDS
parts=()

# Starts a part of the run, closing the one before and noting its time.
part_started=$SECONDS part_name=
step() {
  [ -z "$part_name" ] || parts+=("$(printf '%5ss  %s' $((SECONDS - part_started)) "$part_name")")
  part_name=$1 part_started=$SECONDS
  [ "$1" = end ] || say "$1 ($((SECONDS - started))s)"
}

# pytest, with the extra arguments. Those (say -k) may select no test in a
# part (exit 5), which is then no failure; without them it is.
run_pytest() {
  local rc=0
  "$VENV/bin/pytest" -p no:cacheprovider -q "$@" "${extra[@]}" || rc=$?
  [ "$rc" = 0 ] || { [ "$rc" = 5 ] && [ ${#extra[@]} -gt 0 ]; }
}
extra=("$@")

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

step "install the test tools"
ensure_venv
ensure_kubectl
ensure_istio_models
ensure_oidc_provider  # harness/idp.mjs: the OAuth 2.0 server (tests/offline/test_idp.py)
# skopeo: the OCI image; wrk: the flapping-provider load test; iproute2: ss, to see where the registry listens
ensure_debian_packages skopeo wrk iproute2
ensure_registry
for version in "${ENVOY_MATRIX[@]}"; do envoy_binary "$version" >/dev/null; done

step "offline tests (tests/offline)"
run_pytest tests/offline

step "end-to-end tests in Envoy $ENVOY_VERSION, all (tests/e2e)"
run_pytest tests/e2e

for version in "${ENVOY_MATRIX[@]}"; do
  step "end-to-end core subset in Envoy $version (tests/e2e -m matrix)"
  envoy=$(envoy_binary "$version")
  built=$("$envoy" --version)  # not piped into grep -q: with pipefail, Envoy's SIGPIPE would fail the check
  [[ $built == */$version/* ]] || die "$envoy is not Envoy $version: $built"
  ENVOY=$envoy run_pytest tests/e2e -m matrix
done

step end
say "all passed in $((SECONDS - started))s:"
printf '%s\n' "${parts[@]}" >&2
