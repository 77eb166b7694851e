"""scripts/oci.sh's OCI image layout, read back with skopeo: Istio's Wasm
image format, holding the artifact byte for byte."""

import hashlib
import json

from harness.commands import run
from harness.envoy import WASM


def test_the_oci_layout_holds_the_artifact_byte_for_byte(tmp_path):
    out = run("scripts/oci.sh", "9.9.9")
    inspected = json.loads(run("skopeo", "inspect", "oci:dist/oci:9.9.9"))
    artifact = WASM.read_bytes()
    wasm_digest = "sha256:" + hashlib.sha256(artifact).hexdigest()
    assert inspected["Layers"][1] == wasm_digest
    manifest = json.loads(run("skopeo", "inspect", "--raw", "oci:dist/oci:9.9.9"))
    assert [layer["mediaType"] for layer in manifest["layers"]] == [
        "application/vnd.module.wasm.config.v1+json", "application/vnd.module.wasm.content.layer.v1+wasm"]
    run("skopeo", "copy", "-q", "oci:dist/oci:9.9.9", f"dir:{tmp_path / 'copy'}")
    assert (tmp_path / "copy" / wasm_digest.split(":")[1]).read_bytes() == artifact
    # What the script tells the user to put in the WasmPlugin is the manifest's digest.
    assert f"sha256: {inspected['Digest'].split(':')[1]}" in out
    assert "url: oci://REGISTRY/header-augmenter:9.9.9" in out
