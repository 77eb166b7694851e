"""The deployment kit's manifests (configmap/, scripts/configmap.sh), checked
offline: what kustomize renders carries the built artifact, within the API
server's limits, mounted where the EnvoyFilter and the WasmPlugin load it."""

import base64
import json

from harness.envoy import ROOT, WASM
from harness.manifests import MOUNTED, OVERLAYS, configmap_report, one, render, wasm_config_of


def test_every_rendering_carries_the_built_artifact():
    for overlay in OVERLAYS:
        cm = one(render(overlay), "ConfigMap")
        assert cm["metadata"]["name"] == "header-augmenter-wasm"
        assert base64.b64decode(cm["binaryData"]["header_augmenter.wasm"]) == WASM.read_bytes(), overlay


def test_configmap_limits_are_checked_and_the_figures_are_in_the_readme():
    report = configmap_report()
    figures = [line.strip() for line in report.splitlines()[1:]]
    assert any(line.startswith("last-applied annotation") and line.endswith(" ok") for line in figures), report
    readme = (ROOT / "README.md").read_text()
    stale = [line for line in figures if line not in readme]
    assert not stale, f"README.md lacks scripts/configmap.sh's current figures: {stale}"


def test_the_pods_mount_the_configmap_directory_where_istio_looks():
    for overlay in ("envoyfilter", "wasmplugin"):
        objects = render(overlay)
        pod = one(objects, "Deployment")["spec"]["template"]["metadata"]["annotations"]
        volumes = json.loads(pod["sidecar.istio.io/userVolume"])
        mounts = json.loads(pod["sidecar.istio.io/userVolumeMount"])
        assert volumes == [{"name": "header-augmenter-wasm", "configMap": {"name": "header-augmenter-wasm"}}]
        assert [m["name"] for m in mounts] == ["header-augmenter-wasm"]
        assert "subPath" not in mounts[0]  # a subPath mount never sees ConfigMap updates
        assert mounts[0]["mountPath"] + "/header_augmenter.wasm" == MOUNTED
    envoyfilter = one(render("envoyfilter"), "EnvoyFilter")
    assert wasm_config_of(envoyfilter)["vm_config"]["code"]["local"]["filename"] == MOUNTED
    assert one(render("wasmplugin"), "WasmPlugin")["spec"]["url"] == "file://" + MOUNTED


def test_both_ways_carry_the_same_configuration():
    source = one(render("envoyfilter"), "EnvoyFilter")
    assert wasm_config_of(source)["configuration"]["value"] == one(render("wasmplugin"), "WasmPlugin")["spec"]["pluginConfig"]
    assert not [o for o in render("wasmplugin") if o["kind"] == "PluginConfig"]  # local-config: never applied
