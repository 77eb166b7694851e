#!/usr/bin/env bash
# Builds the artifacts that ship and that every test runs:
#   dist/header_augmenter.wasm           adds headers to requests (target: request)
#   dist/header_augmenter_response.wasm  also to responses (target: response or both);
#                                        Envoy calls into it once more per request
# each with its .sha256 beside it.
#
#   scripts/build.sh [--allocator talc|lol_alloc|wee_alloc|dlmalloc]
#                    [--flavor request|response --out FILE] [--stages DIR]
#
# --flavor/--out build one flavor to FILE instead (the default flavor is request).
# --stages DIR keeps each step's output of the request flavor in DIR
# (scripts/size-report.sh reads them).
#
# Steps: cargo (release: opt-level z, LTO, one codegen unit, panic=abort),
# wasm-snip, wasm-metadce (drops exports Envoy never needs), wasm-opt (-Oz and more),
# the stream callbacks' exports renamed (harness/rename_exports.py), and the
# data only snipped code used dropped (harness/strip_dead_data.py).
set -euo pipefail
source "$(dirname "$0")/lib/tools.sh"

allocator=talc
flavor=
out=
stages=
while [ $# -gt 0 ]; do
  case $1 in
    --allocator) allocator=${2:?}; shift 2 ;;
    --flavor) flavor=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    --stages) stages=${2:?}; shift 2 ;;
    *) die "unknown argument $1 (see the header of $0)" ;;
  esac
done
case $allocator in lol_alloc|talc|wee_alloc|dlmalloc) ;; *) die "unknown allocator $allocator" ;; esac
case ${flavor:-request} in request|response) ;; *) die "unknown flavor $flavor (request or response)" ;; esac
[ -z "$flavor" ] || [ -n "$out" ] || die "--flavor needs --out"

ensure_wasm_target
ensure_binaryen
WASM_SNIP=$(cargo_tool wasm-snip "$WASM_SNIP_VERSION")
cd "$ROOT"

features=("${WASM_FEATURES[@]}")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# build FLAVOR OUT [STAGES]
build() {
  local flavor=$1 out=$2 stages=${3:-} cargo_features=$allocator
  [ "$flavor" = response ] && cargo_features+=,response-target
  say "cargo build ($flavor flavor, allocator $allocator)"
  cargo build --quiet --locked --release --target wasm32-unknown-unknown \
    --no-default-features --features "$cargo_features"
  local cargo_out=target/wasm32-unknown-unknown/release/header_augmenter.wasm

  # wasm-snip replaces bodies with `unreachable`, so wasm-opt can drop all they call:
  # - formatting and panicking code: the filter never panics (clippy enforces it),
  #   so those paths are dead; if one ran anyway the VM would trap, as a panic does;
  # - the proxy-wasm SDK's dispatcher, trait default methods and hostcall
  #   wrappers, and the hash maps only the dispatcher uses: the filter has its
  #   own callbacks (src/shim/exports.rs) and host calls (src/shim/abi.rs) and no HashMap.
  #   The SDK's exports are removed below, but the functions their vtables and
  #   lazy statics point at stay in the module's function table, which binaryen
  #   keeps whole, so they must be cut here: among them the initializer of the
  #   SDK's lazy thread-local dispatcher (`LazyStorage::initialize`; the
  #   filter's own thread-local is `const`, so it has none). Every end-to-end test runs the
  #   result, so a snipped function the filter did call would show as a trap.
  say "wasm-snip"
  "$WASM_SNIP" --snip-rust-fmt-code --snip-rust-panicking-code \
    --pattern '^_ZN10proxy_wasm(6traits|9hostcalls|10dispatcher)' --pattern 'hashbrown|foldhash' \
    --pattern 'LazyStorage.*initialize' \
    -o "$work/snipped.wasm" "$cargo_out"

  # Exports Envoy looks up and may call (scripts/lib/exports.txt): the
  # module's memory, the SDK's `malloc` and ABI version, and the filter's own
  # callbacks, renamed below to the names Envoy looks up, in place of the
  # SDK's, which are removed with all the SDK code only they reach.
  local keep=() renames=() name as only
  while read -r name as only; do
    case $name in ''|'#'*) continue ;; esac
    [ -z "$only" ] || [ "$only" = "$flavor" ] || continue
    keep+=("$name")
    [ -z "$as" ] || renames+=("$name=$as")
  done < "$ROOT/scripts/lib/exports.txt"
  say "wasm-metadce"
  python3 - "$work/graph.json" "${keep[@]}" <<'PY'
import json, sys
keep = sys.argv[2:]
graph = [{"name": "root", "root": True, "reaches": ["export:" + e for e in keep]}]
graph += [{"name": "export:" + e, "export": e} for e in keep]
json.dump(graph, open(sys.argv[1], "w"))
PY
  "$WASM_METADCE" "${features[@]}" --debuginfo "$work/snipped.wasm" -f "$work/graph.json" \
    -o "$work/trimmed.wasm" >/dev/null

  say "wasm-opt -Oz (WASM_OPT_PASSES in scripts/lib/tools.sh)"
  mkdir -p "$(dirname "$out")"
  "$WASM_OPT" "${features[@]}" "${WASM_OPT_PASSES[@]}" \
    --strip-debug --strip-producers --strip-target-features "$work/trimmed.wasm" -o "$out"
  python3 -m harness.rename_exports "$out" "${renames[@]}"
  # The data only snipped code used (harness/strip_dead_data.py says how).
  say "$(python3 -m harness.strip_dead_data "$out" "$ROOT/src")"

  if [ -n "$stages" ]; then
    mkdir -p "$stages"
    cp "$cargo_out" "$stages/1-cargo.wasm"
    cp "$work/snipped.wasm" "$stages/2-snipped.wasm"
    cp "$work/trimmed.wasm" "$stages/3-trimmed.wasm"
    # The final module with its names kept, for twiggy.
    "$WASM_OPT" "${features[@]}" "${WASM_OPT_PASSES[@]}" --debuginfo "$work/trimmed.wasm" \
      -o "$stages/4-final-with-names.wasm"
    python3 -m harness.strip_dead_data "$stages/4-final-with-names.wasm" "$ROOT/src" >/dev/null
  fi
  (cd "$(dirname "$out")" && sha256sum "$(basename "$out")" > "$(basename "$out").sha256")
  say "$out: $(stat -c %s "$out") bytes ($(cut -d' ' -f1 "$out.sha256"))"
}

if [ -n "$out" ]; then
  build "${flavor:-request}" "$out" "$stages"
else
  build response "$ROOT/dist/header_augmenter_response.wasm"
  # Last, so target/ holds the request flavor's build.
  build request "$ROOT/dist/header_augmenter.wasm" "$stages"
fi
