"""The size of the header-augmenter ConfigMap against what Kubernetes accepts.

    python3 -m harness.configmap_limits RENDERED.yaml ARTIFACT.wasm

- An object the API server accepts: 1 MiB. (A ConfigMap's data is limited to
  1 MiB; etcd's own request limit, 1.5 MiB by default, is higher.)
- Client-side `kubectl apply` also stores the whole object, compact JSON, in
  the `kubectl.kubernetes.io/last-applied-configuration` annotation, and all of
  an object's annotations together may not exceed 256 KiB. The object then
  holds the .wasm twice. `kubectl create`/`replace` and server-side apply
  (`kubectl apply --server-side`) store no such annotation.

binaryData is base64, so the .wasm counts 4/3 of its size. Exits 1 when a
limit is crossed.
"""

import base64
import json
import sys

import yaml

OBJECT_LIMIT = 1024 * 1024
ANNOTATIONS_LIMIT = 256 * 1024
WARN_AT = 0.8


def main(rendered_path, wasm_path):
    objects = [o for o in yaml.safe_load_all(open(rendered_path)) if o]
    configmaps = [o for o in objects if o.get("kind") == "ConfigMap"]
    if len(configmaps) != 1:
        sys.exit(f"error: expected one ConfigMap in {rendered_path}, found {len(configmaps)}")
    cm = configmaps[0]
    wasm = open(wasm_path, "rb").read()
    encoded = cm.get("binaryData", {}).get("header_augmenter.wasm", "").replace("\n", "")
    if base64.b64decode(encoded) != wasm:
        sys.exit(f"error: the ConfigMap's header_augmenter.wasm is not {wasm_path}")

    # Stored: binaryData decoded and re-encoded by the API server, no line breaks.
    stored = json.loads(json.dumps(cm))
    stored["binaryData"]["header_augmenter.wasm"] = encoded
    obj = len(json.dumps(stored, separators=(",", ":")).encode())
    # The annotation's value: the object as kubectl read it from the file, in
    # compact JSON, the base64's line breaks kept (as JSON escapes).
    annotation = len(json.dumps(cm, separators=(",", ":")).encode())
    with_annotation = obj + annotation + len('"kubectl.kubernetes.io/last-applied-configuration":')
    # The largest .wasm that still fits the tightest limit (the annotation).
    per_wasm_byte = (annotation - (obj - len(encoded))) / len(wasm)
    overhead = annotation - per_wasm_byte * len(wasm)
    max_wasm = int((ANNOTATIONS_LIMIT - overhead) / per_wasm_byte)

    rows = [
        ("object (kubectl create/replace, server-side apply)", obj, OBJECT_LIMIT),
        ("last-applied annotation (client-side kubectl apply)", annotation, ANNOTATIONS_LIMIT),
        ("object with that annotation", with_annotation, OBJECT_LIMIT),
    ]
    print(f"  {'artifact':<52} {len(wasm):>9,} bytes")
    print(f"  {'binaryData, base64':<52} {len(encoded):>9,} bytes")
    failed = False
    for name, size, limit in rows:
        share = size / limit
        verdict = "ok" if share <= WARN_AT else ("CLOSE" if share <= 1 else "OVER")
        failed |= share > 1
        print(f"  {name:<52} {size:>9,} of {limit:>9,} ({share:4.0%}) {verdict}")
    print(f"  the artifact can grow to {max_wasm:,} bytes before client-side apply fails")
    if any(size / limit > WARN_AT for _, size, limit in rows):
        print("  near a limit: apply with `kubectl create`/`kubectl replace` or `kubectl apply --server-side`")
    if failed:
        sys.exit("error: the ConfigMap crosses a Kubernetes limit (see above)")


if __name__ == "__main__":
    main(*sys.argv[1:])
