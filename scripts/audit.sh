#!/usr/bin/env bash
# Audits the dependencies (the filter's and the fuzz targets' Cargo.lock)
# against the RustSec advisory database, offline: the copy in
# ../shared/advisory-db, or the one given. Fails on a vulnerability; an
# advisory that is only a warning (unmaintained, say) is printed. The README's
# "Dependency audit" says what is done about each finding.
#
#   scripts/audit.sh [--db DIR]
#
# The first run builds cargo-audit (about 8 minutes), so this is not part of
# scripts/test.sh.
set -euo pipefail
source "$(dirname "$0")/lib/tools.sh"
db=$ROOT/../shared/advisory-db
[ "${1:-}" = --db ] && db=${2:?}
[ -d "$db" ] || die "no advisory database at $db (a copy of github.com/rustsec/advisory-db)"
CARGO_AUDIT=$(cargo_tool cargo-audit "$CARGO_AUDIT_VERSION")
for lock in "$ROOT/Cargo.lock" "$ROOT/tests/fuzz/Cargo.lock"; do
  say "auditing ${lock#"$ROOT"/}"
  "$CARGO_AUDIT" audit --no-fetch --db "$db" --file "$lock"
done
