"""The deployment kit (configmap/, scripts/configmap.sh, scripts/oci.sh and the
plain Envoy examples), checked offline: what kustomize renders carries the
built artifact, the plugin configuration in the manifests runs in the real
Envoy, and the OCI layout holds the artifact byte for byte."""

import base64
import copy
import hashlib
import json
import re
import subprocess
import threading
from functools import lru_cache
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import yaml

from envoy import ROOT, WASM, Envoy, bootstrap, cluster, eventually, validate, wasm_filter

CONFIGMAP = ROOT / "configmap"
MOUNTED = "/var/local/lib/wasm-filters/header_augmenter.wasm"


def run(*args, **kwargs) -> str:
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120, **kwargs)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@lru_cache(maxsize=None)
def configmap_report() -> str:
    """scripts/configmap.sh's output; it also puts the artifact into configmap/wasm/."""
    return run("scripts/configmap.sh")


def render(overlay: str) -> list[dict]:
    configmap_report()
    return [o for o in yaml.safe_load_all(run("kubectl", "kustomize", str(CONFIGMAP / overlay))) if o]


def one(objects, kind) -> dict:
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, [o["kind"] for o in objects]
    return found[0]


def test_every_rendering_carries_the_built_artifact():
    for overlay in ("", "envoyfilter", "wasmplugin"):
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


def wasm_config_of(envoyfilter) -> dict:
    patch = envoyfilter["spec"]["configPatches"][0]
    assert (patch["applyTo"], patch["patch"]["operation"]) == ("HTTP_FILTER", "INSERT_BEFORE")
    assert patch["match"]["listener"]["filterChain"]["filter"]["subFilter"]["name"] == "envoy.filters.http.router"
    return patch["patch"]["value"]["typed_config"]["config"]


def envoy_for(filter_value: dict, plugin_config: dict, provider, upstream, extra_clusters=()) -> dict:
    """A bootstrap that runs an HTTP filter taken from the manifests, with the
    cluster its configuration names pointed at the test provider."""
    value = copy.deepcopy(filter_value)
    value["typed_config"]["config"]["vm_config"]["code"]["local"]["filename"] = str(WASM)
    clusters = [cluster(plugin_config["header_providing_service_cluster"], provider.port), *extra_clusters]
    return bootstrap(provider.port, upstream.port, [value], clusters=clusters)


def test_the_envoyfilter_configuration_runs_in_envoy(tmp_path, provider, upstream):
    envoyfilter = one(render("envoyfilter"), "EnvoyFilter")
    plugin_config = wasm_config_of(envoyfilter)["configuration"]["value"]
    loopback = envoyfilter["spec"]["configPatches"][1]["patch"]["value"]
    config = envoy_for(envoyfilter["spec"]["configPatches"][0]["patch"]["value"], plugin_config, provider,
                       upstream, [loopback])
    result = validate(tmp_path, config)
    assert result.returncode == 0, result.stdout + result.stderr
    provider.set(body={"Authorization": "Bearer from-the-envoyfilter"})
    with Envoy(tmp_path / "run", config) as envoy:
        assert eventually(lambda: envoy.upstream_headers().get("authorization")) == "Bearer from-the-envoyfilter"
        assert 'refresh every 5m, timeout 2s' in envoy.log()  # the manifests' values, not defaults


def test_the_wasmplugin_configuration_runs_in_envoy(tmp_path, provider, upstream):
    plugin = one(render("wasmplugin"), "WasmPlugin")["spec"]
    assert (plugin["failStrategy"], plugin["match"], plugin["priority"]) == ("FAIL_OPEN", [{"mode": "CLIENT"}], 10)
    assert "phase" not in plugin  # last, just before the router
    # Istio hands pluginConfig to Envoy as a JSON string.
    config = bootstrap(provider.port, upstream.port, [wasm_filter(json.dumps(plugin["pluginConfig"]))],
                       clusters=[cluster(plugin["pluginConfig"]["header_providing_service_cluster"], provider.port)])
    result = validate(tmp_path, config)
    assert result.returncode == 0, result.stdout + result.stderr
    provider.set(body={"Authorization": "Bearer from-the-wasmplugin"})
    with Envoy(tmp_path / "run", config) as envoy:
        assert eventually(lambda: envoy.upstream_headers().get("authorization")) == "Bearer from-the-wasmplugin"


def test_both_ways_carry_the_same_configuration():
    source = one(render("envoyfilter"), "EnvoyFilter")
    assert wasm_config_of(source)["configuration"]["value"] == one(render("wasmplugin"), "WasmPlugin")["spec"]["pluginConfig"]
    assert not [o for o in render("wasmplugin") if o["kind"] == "PluginConfig"]  # local-config: never applied


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


def example(name: str, provider, upstream) -> dict:
    """A plain-Envoy example with its addresses pointed at the test's servers."""
    config = yaml.safe_load((CONFIGMAP / "envoy" / name).read_text())
    config["admin"]["address"]["socket_address"]["port_value"] = 0
    listener = config["static_resources"]["listeners"][0]
    listener["address"]["socket_address"]["port_value"] = 0
    listener["name"] = "main"
    ports = {"app": upstream.port, "token_service": provider.port}
    clusters = config["static_resources"]["clusters"]
    config["static_resources"]["clusters"] = [cluster(c["name"], ports[c["name"]]) if c["name"] in ports else c
                                              for c in clusters]
    return config


def wasm_of(config: dict) -> dict:
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    return hcm["http_filters"][0]["typed_config"]["config"]


def test_the_plain_envoy_example_runs(tmp_path, provider, upstream):
    config = example("envoy-local.yaml", provider, upstream)
    wasm_of(config)["vm_config"]["code"]["local"]["filename"] = str(WASM)
    provider.set(body={"Authorization": "Bearer plain"})
    with Envoy(tmp_path, config) as envoy:
        assert envoy.upstream_headers().get("authorization") == "Bearer plain"


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_the_remote_module_example_fetches_and_checks_the_module(tmp_path, provider, upstream):
    server = ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: _Quiet(*a, directory=str(WASM.parent)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        config = example("envoy-remote.yaml", provider, upstream)
        remote = wasm_of(config)["vm_config"]["code"]["remote"]
        assert re.fullmatch(r"https://.+/header_augmenter\.wasm", remote["http_uri"]["uri"])
        remote["http_uri"]["uri"] = f"http://127.0.0.1:{server.server_address[1]}/{WASM.name}"
        remote["sha256"] = hashlib.sha256(WASM.read_bytes()).hexdigest()
        clusters = config["static_resources"]["clusters"]
        config["static_resources"]["clusters"] = [c for c in clusters if c["name"] != "artifacts"] + [
            cluster("artifacts", server.server_address[1])]
        provider.set(body={"Authorization": "Bearer remote"})
        with Envoy(tmp_path, config) as envoy:
            assert envoy.upstream_headers().get("authorization") == "Bearer remote"
    finally:
        server.shutdown()
        server.server_close()
