"""The deployment kit in the real Envoy: the plugin configuration taken from
the rendered EnvoyFilter and WasmPlugin passes `envoy --mode validate` and
serves requests; the plain Envoy examples run, the remote one fetching and
checking the module; and the OCI image goes through a real registry, whose
module layer Envoy fetches and runs. (What needs no Envoy is in tests/offline.)"""

import copy
import hashlib
import json
import re
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest
import yaml

from harness.commands import run
from harness.envoy import WASM, Envoy, bootstrap, cluster, eventually, validate, wasm_filter
from harness.manifests import CONFIGMAP, one, render, wasm_config_of
from harness.registry import Registry


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
    ports = {"app": upstream.port, "legacy_api": upstream.port, "token_service": provider.port}
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


def test_the_per_route_example_adds_headers_on_its_route_only(tmp_path, provider, upstream):
    """The filter is disabled in the chain and enabled on one route: the others
    never enter the VM, also when the client names the legacy host."""
    config = example("envoy-per-route.yaml", provider, upstream)
    wasm_of(config)["vm_config"]["code"]["local"]["filename"] = str(WASM)
    assert validate(tmp_path, config).returncode == 0
    provider.set(body={"Authorization": "Bearer legacy-only"})
    with Envoy(tmp_path / "run", config) as envoy:
        assert eventually(lambda: envoy.upstream_headers("/legacy/x").get("authorization")) == "Bearer legacy-only"
        envoy.settle()
        entered = sum(v for k, v in envoy.stats().items() if ".requests_" in k and "_held" not in k)
        for path, host in [("/", None), ("/other", "legacy.internal.example"), ("/legacyx", None)]:
            assert "authorization" not in envoy.upstream_headers(path, {"host": host} if host else None), path
        envoy.settle()
        assert sum(v for k, v in envoy.stats().items() if ".requests_" in k and "_held" not in k) == entered


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def fetching_example(provider, upstream, port: int, path: str, sha256: str) -> dict:
    """envoy-remote.yaml, its module fetched from 127.0.0.1:port/path and checked against sha256."""
    config = example("envoy-remote.yaml", provider, upstream)
    remote = wasm_of(config)["vm_config"]["code"]["remote"]
    assert re.fullmatch(r"https://.+/header_augmenter\.wasm", remote["http_uri"]["uri"])
    remote["http_uri"]["uri"] = f"http://127.0.0.1:{port}{path}"
    remote["sha256"] = sha256
    clusters = config["static_resources"]["clusters"]
    config["static_resources"]["clusters"] = [c for c in clusters if c["name"] != "artifacts"] + [
        cluster("artifacts", port)]
    return config


def test_the_remote_module_example_fetches_and_checks_the_module(tmp_path, provider, upstream):
    server = ThreadingHTTPServer(("127.0.0.1", 0), lambda *a: _Quiet(*a, directory=str(WASM.parent)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        config = fetching_example(provider, upstream, server.server_address[1], f"/{WASM.name}",
                                  hashlib.sha256(WASM.read_bytes()).hexdigest())
        provider.set(body={"Authorization": "Bearer remote"})
        with Envoy(tmp_path, config) as envoy:
            assert envoy.upstream_headers().get("authorization") == "Bearer remote"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def registry(tmp_path):
    r = Registry(tmp_path / "registry").start()
    yield r
    r.stop()


def registry_listeners() -> list[str]:
    """The local addresses the machine's docker-registry processes listen on."""
    lines = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout.splitlines()
    return [line.split()[3] for line in lines if '"docker-registry"' in line]


@pytest.mark.matrix
def test_the_image_goes_through_a_registry_and_envoy_runs_its_module_layer(tmp_path, provider, upstream, registry):
    """What Istio does with `oci://`: the image scripts/oci.sh builds, pushed to
    a real registry and pulled back unchanged; its module layer fetched from
    the registry's blob URL, checked against the layer's sha256, and run."""
    run("scripts/oci.sh", "7.7.7")
    image = f"docker://127.0.0.1:{registry.port}/header-augmenter:7.7.7"
    run("skopeo", "copy", "-q", "--preserve-digests", "--dest-tls-verify=false", "oci:dist/oci:7.7.7", image)
    built = json.loads(run("skopeo", "inspect", "oci:dist/oci:7.7.7"))
    pushed = json.loads(run("skopeo", "inspect", "--tls-verify=false", image))
    assert (pushed["Digest"], pushed["Layers"]) == (built["Digest"], built["Layers"])
    assert run("skopeo", "inspect", "--raw", "--tls-verify=false", image) == run(
        "skopeo", "inspect", "--raw", "oci:dist/oci:7.7.7")
    run("skopeo", "copy", "-q", "--src-tls-verify=false", image, f"dir:{tmp_path / 'pulled'}")
    layer = built["Layers"][1]
    assert (tmp_path / "pulled" / layer.split(":")[1]).read_bytes() == WASM.read_bytes()

    config = fetching_example(provider, upstream, registry.port, f"/v2/header-augmenter/blobs/{layer}",
                              layer.split(":")[1])
    provider.set(body={"Authorization": "Bearer from-the-registry"})
    with Envoy(tmp_path / "envoy", config) as envoy:
        assert envoy.upstream_headers().get("authorization") == "Bearer from-the-registry"
    # Ours, on loopback; and no other (such as the Debian package's service) on every interface.
    listening = registry_listeners()
    assert listening == [f"127.0.0.1:{registry.port}"], listening
