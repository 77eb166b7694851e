#!/usr/bin/env bash
# Packs dist/header_augmenter.wasm as an OCI image in Istio's Wasm image format
# into a local OCI layout, dist/oci/, ready for `skopeo copy` or `oras cp` to
# any registry. Prints the digest and the WasmPlugin url/sha256 to use.
#
#   scripts/oci.sh [--response] [TAG]   TAG defaults to the crate's version
#
# --response packs the build that also adds headers to responses
# (dist/header_augmenter_response.wasm).
set -euo pipefail
source "$(dirname "$0")/lib/tools.sh"
cd "$ROOT"
artifact=dist/header_augmenter.wasm
if [ "${1:-}" = --response ]; then artifact=dist/header_augmenter_response.wasm; shift; fi
[ -f "$artifact" ] || scripts/build.sh
tag=${1:-$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)}
rm -rf dist/oci
python3 -m harness.oci_layout "$artifact" dist/oci "$tag"
