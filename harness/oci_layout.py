"""Writes the filter as an OCI image, in the Wasm image format Istio pulls,
into a local OCI image layout (a directory; no registry, no Docker).

    python3 -m harness.oci_layout ARTIFACT.wasm LAYOUT_DIR TAG

The format is the "oci" variant of the Wasm image specification
(github.com/solo-io/wasm, spec/spec.md), which Istio's image fetcher reads:
two layers, the runtime configuration (application/vnd.module.wasm.config.v1+json)
and the module itself, unchanged (application/vnd.module.wasm.content.layer.v1+wasm).
The manifest and its config are otherwise a plain OCI image, so registries
and skopeo handle it. Nothing time-dependent goes in: the same artifact always
gives the same digests.
"""

import hashlib
import json
import os
import sys

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
IMAGE_CONFIG = "application/vnd.oci.image.config.v1+json"
WASM_RUNTIME_CONFIG = "application/vnd.module.wasm.config.v1+json"
WASM_LAYER = "application/vnd.module.wasm.content.layer.v1+wasm"


def blob(layout, data: bytes, media_type: str, annotations=None) -> dict:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = os.path.join(layout, "blobs", "sha256", digest.split(":")[1])
    with open(path, "wb") as f:
        f.write(data)
    descriptor = {"mediaType": media_type, "digest": digest, "size": len(data)}
    if annotations:
        descriptor["annotations"] = annotations
    return descriptor


def canonical(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


def main(wasm_path, layout, tag):
    wasm = open(wasm_path, "rb").read()
    os.makedirs(os.path.join(layout, "blobs", "sha256"), exist_ok=True)
    runtime = canonical({"type": "envoy_proxy", "abiVersions": ["proxy_abi_version_0_2_1"],
                         "config": {"rootIds": ["header_augmenter"]}})
    layers = [
        blob(layout, runtime, WASM_RUNTIME_CONFIG, {"org.opencontainers.image.title": "runtime-config.json"}),
        blob(layout, wasm, WASM_LAYER, {"org.opencontainers.image.title": "plugin.wasm"}),
    ]
    config = blob(layout, canonical({
        "architecture": "wasm", "os": "proxy-wasm",
        "rootfs": {"type": "layers", "diff_ids": [layer["digest"] for layer in layers]},
    }), IMAGE_CONFIG)
    manifest = blob(layout, canonical({
        "schemaVersion": 2, "mediaType": MANIFEST, "config": config, "layers": layers,
        "annotations": {"org.opencontainers.image.title": "header-augmenter",
                        "org.opencontainers.image.version": tag},
    }), MANIFEST, {"org.opencontainers.image.ref.name": tag})

    index_path = os.path.join(layout, "index.json")
    index = json.load(open(index_path)) if os.path.exists(index_path) else {"schemaVersion": 2, "manifests": []}
    index["manifests"] = [m for m in index["manifests"]
                          if m.get("annotations", {}).get("org.opencontainers.image.ref.name") != tag]
    index["manifests"].append(manifest)
    with open(index_path, "w") as f:
        json.dump(index, f, indent=2)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)

    digest = manifest["digest"]
    print(f"""  layout        {layout}  (tag {tag})
  manifest      {digest}
  wasm layer    {layers[1]["digest"]} ({len(wasm):,} bytes, the artifact unchanged)

Push it to a registry, keeping the digest:
  skopeo copy --preserve-digests oci:{layout}:{tag} docker://REGISTRY/header-augmenter:{tag}
  (or: oras cp --from-oci-layout {layout}:{tag} REGISTRY/header-augmenter:{tag})

Then, in a WasmPlugin:
  url: oci://REGISTRY/header-augmenter:{tag}
  sha256: {digest.split(":")[1]}
  imagePullPolicy: IfNotPresent""")


if __name__ == "__main__":
    main(*sys.argv[1:])
