#!/usr/bin/env bash
# The provider's load at mesh scale: examples/herd.rs drives the filter's own
# refresh schedule (src/filter/schedule.rs) for 10,000 pods started together
# by a rollout, a provider handing out one shared token with max-age = its
# remaining lifetime, an outage and a recovery. No Envoy; simulated time.
#
#   scripts/herd.sh [--base REV] [PODS]
#
# --base REV also runs the same simulation against the schedule at REV (in a
# temporary worktree), to compare before and after a change.
set -euo pipefail
source "$(dirname "$0")/lib/tools.sh"
cd "$ROOT"
base=
if [ "${1:-}" = --base ]; then base=${2:?}; shift 2; fi
pods=${1:-10000}

if [ -n "$base" ]; then
  work=$(mktemp -d)
  trap 'git worktree remove --force "$work" >/dev/null 2>&1; rm -rf "$work"' EXIT
  git worktree add --detach "$work" "$base" >/dev/null 2>&1
  mkdir -p "$work/examples"
  cp examples/herd.rs "$work/examples/"
  say "the schedule at $base"
  (cd "$work" && CARGO_TARGET_DIR="$ROOT/target/herd-base" cargo run --quiet --release --example herd -- "$pods")
  say "the schedule now"
fi
cargo run --quiet --release --example herd -- "$pods"
