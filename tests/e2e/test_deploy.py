"""The deployment kit in the real Envoy: the plugin configuration taken from
the rendered EnvoyFilter and WasmPlugin passes `envoy --mode validate` and
serves requests, and the plain Envoy examples run, the remote one fetching and
checking the module. (What needs no Envoy is in tests/offline.)"""

import copy
import hashlib
import json
import re
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from harness.envoy import WASM, Envoy, bootstrap, cluster, eventually, validate, wasm_filter
from harness.manifests import CONFIGMAP, one, render, wasm_config_of


def envoy_for(filter_value: dict, plugin_config: dict, provider, upstream, extra_clusters=()) -> dict:
    """A bootstrap that runs an HTTP filter taken from the manifests, with the
    cluster its configuration names pointed at the test provider."""
    value = copy.deepcopy(filter_value)
    value["typed_config"]["config"]["vm_config"]["code"]["local"]["filename"] = str(WASM)
    clusters = [cluster(plugin_config["header_providing_service_cluster"], provider.port), *extra_clusters]
    return bootstrap(provider.port, upstream.port, [value], clusters=clusters)


@pytest.mark.matrix
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


@pytest.mark.matrix
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
