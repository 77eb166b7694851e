"""The two ways to scope the headers to destinations, as shipped in
configmap/: the EnvoyFilter that enables the disabled filter on one virtual
host (envoyfilter/per-route), and the WasmPlugin whose providers each name
their destinations, beside the ServiceEntries those need
(wasmplugin/destinations). Each passes Istio's CRD schema strictly with the
other overlays (test_schemas.py); here, that a mistake in the parts only
they have is caught too, and that their pieces fit together.
(tests/e2e/test_destinations.py runs both in Envoy.)"""

import copy
import re

import pytest

from harness.manifests import one, render, wasm_config_of
from harness.schemas import schema_problems

PER_ROUTE = "envoyfilter/per-route"
DESTINATIONS = "wasmplugin/destinations"


def vhost_patch(envoyfilter: dict) -> dict:
    return envoyfilter["spec"]["configPatches"][1]


def test_the_per_route_filter_is_disabled_and_enabled_on_one_virtual_host_by_its_name():
    envoyfilter = one(render(PER_ROUTE), "EnvoyFilter")
    wasm_config_of(envoyfilter)  # the filter patch: before the router, as in ../envoyfilter.yaml
    filter_ = envoyfilter["spec"]["configPatches"][0]["patch"]["value"]
    assert filter_["disabled"] is True
    patch = vhost_patch(envoyfilter)
    assert (patch["applyTo"], patch["patch"]["operation"]) == ("VIRTUAL_HOST", "MERGE")
    match = patch["match"]
    assert match["context"] == "SIDECAR_OUTBOUND"
    # Istio's outbound virtual hosts are "<host>:<port>", in the route configuration of that port.
    host, port = match["routeConfiguration"]["vhost"]["name"].rsplit(":", 1)
    assert int(port) == match["routeConfiguration"]["portNumber"]
    assert host.endswith(".svc.cluster.local")
    per_filter = patch["patch"]["value"]["typed_per_filter_config"]
    assert per_filter == {filter_["name"]: {"@type": "type.googleapis.com/envoy.config.route.v3.FilterConfig",
                                            "config": {}}}
    # The same plugin configuration as the other overlays.
    configuration = wasm_config_of(envoyfilter)["configuration"]["value"]
    assert configuration == wasm_config_of(one(render("envoyfilter"), "EnvoyFilter"))["configuration"]["value"]


def istio_host(cluster: str) -> str:
    """The host of an Istio cluster name, outbound|port|subset|host."""
    match = re.fullmatch(r"outbound\|\d+\|[^|]*\|(.+)", cluster)
    assert match, cluster
    return match.group(1)


def test_every_provider_and_destination_outside_the_cluster_has_a_service_entry():
    objects = render(DESTINATIONS)
    declared = {host for o in objects if o["kind"] == "ServiceEntry" for host in o["spec"]["hosts"]}
    tls = {o["spec"]["host"] for o in objects if o["kind"] == "DestinationRule"}
    providers = one(objects, "WasmPlugin")["spec"]["pluginConfig"]["providers"]
    assert [p["name"] for p in providers] == ["tokens", "partner"]
    for provider in providers:
        hosts = [istio_host(provider["header_providing_service_cluster"]), *provider["destinations"]]
        for host in hosts:
            # A Service of the cluster is known to the mesh; any other host needs a ServiceEntry
            # (or its traffic is PassthroughCluster's, which destinations never match).
            assert host.endswith(".svc.cluster.local") or (host in declared and host in tls), host
    assert "api.example.com" in providers[1]["destinations"]


# (overlay, kind, the mistake, the problem reported)
MISTAKES = {
    "a misspelt routeConfiguration": (
        PER_ROUTE, "EnvoyFilter", lambda o: vhost_patch(o)["match"].update(routeConfig=vhost_patch(o)["match"].pop("routeConfiguration")),
        "EnvoyFilter/header-augmenter /spec/configPatches/1/match/routeConfig: unknown field"),
    "a misspelt vhost field": (
        PER_ROUTE, "EnvoyFilter", lambda o: vhost_patch(o)["match"]["routeConfiguration"]["vhost"].update(
            nmae=vhost_patch(o)["match"]["routeConfiguration"]["vhost"].pop("name")),
        "EnvoyFilter/header-augmenter /spec/configPatches/1/match/routeConfiguration/vhost/nmae: unknown field"),
    "a bad applyTo": (
        PER_ROUTE, "EnvoyFilter", lambda o: vhost_patch(o).update(applyTo="VIRTUAL_HOSTS"),
        "EnvoyFilter/header-augmenter /spec/configPatches/1/applyTo: enum"),
    "a bad operation": (
        PER_ROUTE, "EnvoyFilter", lambda o: vhost_patch(o)["patch"].update(operation="MERGED"),
        "EnvoyFilter/header-augmenter /spec/configPatches/1/patch/operation: enum"),
    "a port number as a string": (
        PER_ROUTE, "EnvoyFilter", lambda o: vhost_patch(o)["match"]["routeConfiguration"].update(portNumber="8080"),
        "EnvoyFilter/header-augmenter /spec/configPatches/1/match/routeConfiguration/portNumber: type"),
    "a WasmPlugin's bad failStrategy": (
        DESTINATIONS, "WasmPlugin", lambda o: o["spec"].update(failStrategy="FAIL_CLOSED"),
        "WasmPlugin/header-augmenter /spec/failStrategy: enum"),
    "a ServiceEntry's misspelt field": (
        DESTINATIONS, "ServiceEntry", lambda o: o["spec"].update(host=o["spec"].pop("hosts")),
        "ServiceEntry/partner-api /spec/host: unknown field"),
    "a ServiceEntry port without a number": (
        DESTINATIONS, "ServiceEntry", lambda o: o["spec"]["ports"][0].pop("number"),
        'ServiceEntry/partner-api /spec/ports/0: required {"missingProperty":"number"}'),
}


@pytest.mark.parametrize("mistake", MISTAKES)
def test_a_mistake_in_the_scoped_examples_fails_naming_the_field(mistake):
    overlay, kind, make, problem = MISTAKES[mistake]
    objects = [o for o in render(overlay) if o["kind"] == kind]
    if kind == "ServiceEntry":  # the partner API's, not the IdP's
        objects = [o for o in objects if o["metadata"]["name"] == "partner-api"]
    obj = copy.deepcopy(one(objects, kind))
    make(obj)
    problems = schema_problems([obj])
    assert any(p.startswith(problem) for p in problems), problems
