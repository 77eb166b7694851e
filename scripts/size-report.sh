#!/usr/bin/env bash
# Explains the size of dist/header_augmenter.wasm: the size after each build
# step, the largest functions and data (twiggy), and the bytes per crate.
#
#   scripts/size-report.sh [--allocators]   (also compare the four allocators)
set -euo pipefail
source "$(dirname "$0")/lib/tools.sh"
cd "$ROOT"

stages=target/size-report
rm -rf "$stages"
scripts/build.sh --stages "$stages" >/dev/null
ensure_binaryen
TWIGGY=$(cargo_tool twiggy "$TWIGGY_VERSION")
features=("${WASM_FEATURES[@]}")
strip=(--strip-debug --strip-producers --strip-target-features)

# Each step measured as it would ship: custom sections (names, DWARF) removed.
"$WASM_OPT" "${features[@]}" "${strip[@]}" "$stages/1-cargo.wasm" -o "$stages/a.wasm"
"$WASM_OPT" "${features[@]}" "${strip[@]}" -Oz "$stages/1-cargo.wasm" -o "$stages/b.wasm"
"$WASM_OPT" "${features[@]}" "${strip[@]}" -Oz "$stages/2-snipped.wasm" -o "$stages/c.wasm"
"$WASM_OPT" "${features[@]}" "${strip[@]}" -Oz --converge --low-memory-unused "$stages/3-trimmed.wasm" -o "$stages/d.wasm"
"$WASM_OPT" "${features[@]}" "${strip[@]}" "${WASM_OPT_PASSES[@]}" "$stages/3-trimmed.wasm" -o "$stages/e.wasm"
size() { stat -c %s "$1"; }
printf '\n%-62s %8s\n' "step" "bytes"
printf '%-62s %8d\n' "cargo build --release (custom sections stripped)" "$(size "$stages/a.wasm")"
printf '%-62s %8d\n' "+ wasm-opt -Oz" "$(size "$stages/b.wasm")"
printf '%-62s %8d\n' "+ wasm-snip (fmt, panics, SDK trait defaults)" "$(size "$stages/c.wasm")"
printf '%-62s %8d\n' "+ wasm-metadce (unused exports), -Oz --converge" "$(size "$stages/d.wasm")"
printf '%-62s %8d\n' "+ a second -Oz after --flatten --rereloop, locals merged" "$(size "$stages/e.wasm")"
printf '%-62s %8d\n' "+ data only snipped code used = dist/header_augmenter.wasm" "$(size dist/header_augmenter.wasm)"

printf '\nLargest items (twiggy top):\n'
"$TWIGGY" top -n 25 "$stages/4-final-with-names.wasm"

printf '\nBytes per crate (functions by name prefix; "names" is not shipped):\n'
"$TWIGGY" top -n 100000 "$stages/4-final-with-names.wasm" | python3 -c '
import collections, re, sys
sizes = collections.Counter()
for line in sys.stdin:
    cells = line.split("\u250a")
    if len(cells) < 3 or not cells[0].strip().isdigit() or "\u03a3" in cells[2] or "more." in cells[2]:
        continue
    name = cells[2].strip()
    if name.startswith("data["): key = "(data segments)"
    elif "names" in name and "subsection" in name: key = "(names, not shipped)"
    else:
        m = re.match(r"<?([A-Za-z_][A-Za-z0-9_]*)", name)
        key = m.group(1) if m else "(other)"
    sizes[key] += int(cells[0])
for key, n in sizes.most_common(14):
    print(f"{n:8d}  {key}")
'

if [ "${1:-}" = --allocators ]; then
  printf '\nAllocator (cargo feature) -> shipped size:\n'
  for allocator in talc lol_alloc wee_alloc dlmalloc; do
    scripts/build.sh --allocator "$allocator" --out "$stages/alloc-$allocator.wasm" >/dev/null 2>&1
    printf '  %-10s %8d\n' "$allocator" "$(size "$stages/alloc-$allocator.wasm")"
  done
  scripts/build.sh >/dev/null 2>&1  # leave dist/ as the default build
fi
