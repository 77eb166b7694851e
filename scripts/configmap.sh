#!/usr/bin/env bash
# Builds the ConfigMap that ships the filter and checks it against the limits
# of Kubernetes: the object under 1 MiB, and the last-applied annotation of a
# client-side `kubectl apply` under 256 KiB. Prints the figures; exits 1 if a
# limit is crossed.
#
#   scripts/configmap.sh [--response]   writes dist/header-augmenter-configmap.yaml
#
# --response ships the build that also adds headers to responses
# (dist/header_augmenter_response.wasm), under the same file name.
#
# It copies dist/header_augmenter.wasm into configmap/wasm/ (building it first
# if needed), so `kubectl kustomize configmap/envoyfilter` and
# `.../wasmplugin` render with it too.
set -euo pipefail
source "$(dirname "$0")/lib/tools.sh"
cd "$ROOT"
ensure_kubectl
artifact=dist/header_augmenter.wasm
[ "${1:-}" = --response ] && artifact=dist/header_augmenter_response.wasm
[ -f "$artifact" ] || scripts/build.sh
cp "$artifact" configmap/wasm/header_augmenter.wasm
out=dist/header-augmenter-configmap.yaml
kubectl kustomize configmap/ > "$out"
ensure_venv
printf '%s\n' "$out:"
"$VENV/bin/python" -m harness.configmap_limits "$out" "$artifact"
