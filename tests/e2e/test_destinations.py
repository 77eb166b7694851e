"""Destinations and several providers (issue 10), in a real Envoy: a
provider's headers go only to requests routed to one of its `destinations`,
matched on the cluster the route chose (exact names, Istio's
`outbound|port|subset|host` by host, `*.domain` wildcards), never on the
Host the client sends; two providers in one plugin each poll once per
refresh per Envoy, fail on their own, and are counted on their own; their
policies combine (deny over hold over go); a header both give keeps the
first's value; every configuration mistake fails `envoy --mode validate`
with one line naming it. And the two scoped deployment examples in
configmap/ (enabled per virtual host by an EnvoyFilter; a WasmPlugin with
providers and destinations beside its ServiceEntries) run in Envoy.

Every route here goes to the same test upstream; the route (by path prefix)
decides the cluster, and Envoy's per-cluster counters confirm where each
request went."""

import copy
import json
import time

import pytest

from harness.envoy import WASM, Envoy, assert_configuration_refused, bootstrap, cluster, eventually, validate, wasm_filter
from harness.manifests import one, render, wasm_config_of
from harness.servers import Provider, free_ports

# Path prefix -> the cluster its route chooses. "/" goes to "upstream".
ROUTES = {
    "/legacy/": "legacy_api",
    "/api443/": "outbound|443||api.example.com",
    "/api8080v1/": "outbound|8080|v1|api.example.com",
    "/corp/": "outbound|80||x.corp.internal",
    "/billing/": "billing.corp.internal",
    "/corp-apex/": "outbound|80||corp.internal",
    "/lookalike/": "outbound|443||evil-api.example.com",
    "/other/": "other",
}


@pytest.fixture
def routed_envoy(tmp_path, upstream):
    """routed_envoy(configuration, providers, concurrency=1) -> a running
    Envoy whose one filter has `configuration` (a dict, sent as JSON text),
    routing each prefix of ROUTES to its cluster, all backed by the
    upstream; `providers` maps a cluster name to the port of its provider
    (a port nobody listens on: a provider that is down). Stopped after the test."""
    started = []

    def start(configuration, providers: dict, concurrency=1) -> Envoy:
        filter_ = wasm_filter(json.dumps(configuration))
        clusters = [cluster(n, port) for n, port in providers.items() if n != "sidecar"]
        clusters += [cluster(n, upstream.port) for n in ROUTES.values()]
        config = bootstrap(providers.get("sidecar", free_ports(1)[0]), upstream.port, [filter_], clusters=clusters)
        hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
        hcm["route_config"]["virtual_hosts"][0]["routes"] = [
            {"match": {"prefix": prefix}, "route": {"cluster": target}} for prefix, target in ROUTES.items()
        ] + [{"match": {"prefix": "/"}, "route": {"cluster": "upstream"}}]
        envoy = Envoy(tmp_path / f"envoy{len(started)}", config, concurrency=concurrency)
        started.append(envoy)
        return envoy.start()

    yield start
    for envoy in started:
        envoy.stop()


class Client:
    """Sends requests through Envoy and remembers which cluster each was
    routed to, for the counters."""

    def __init__(self, envoy: Envoy):
        self.envoy = envoy
        self.sent: list[str] = []

    def request(self, prefix: str, host: str | None = None):
        self.sent.append(ROUTES.get(prefix, "upstream"))
        return self.envoy.request(prefix + "x", {"host": host} if host else None)

    def headers(self, prefix: str, host: str | None = None) -> dict:
        status, _, body = self.request(prefix, host)
        assert status == 200, (prefix, status, body)
        return body["headers"]

    def count(self, clusters) -> int:
        return sum(1 for c in self.sent if c in clusters)


def upstream_requests(envoy: Envoy) -> dict[str, int]:
    """Envoy's count of requests sent to each cluster of ROUTES (and upstream)."""
    stats = envoy.stats("upstream_rq_total")
    names = [*ROUTES.values(), "upstream"]
    return {n: stats.get(f"cluster.{n}.upstream_rq_total", 0) for n in names}


def stat(envoy: Envoy, provider: str, metric: str) -> int:
    """A named provider's metric: header_augmenter.<plugin>.<provider>.<metric>."""
    return envoy.stat(f"{provider}.{metric}")


OUTCOMES = ("requests_augmented", "requests_without_headers", "requests_denied", "requests_held_cancelled",
            "requests_out_of_scope")


@pytest.mark.matrix
def test_headers_reach_only_the_scoped_clusters_whatever_host_the_client_sends(routed_envoy, provider):
    provider.set(body={"Authorization": "Bearer scoped-4f1c9a7e"})
    configuration = {"header_cache_expiry": "1h", "static_headers": {"x-static": "s"},
                     "destinations": ["legacy_api", "api.example.com", "*.corp.internal"]}
    envoy = routed_envoy(configuration, {"sidecar": provider.port})
    client = Client(envoy)
    scoped = {
        "/legacy/": "an exact cluster name",
        "/api443/": "an Istio cluster, by its host",
        "/api8080v1/": "an Istio cluster with a port and a subset, by its host",
        "/corp/": "an Istio cluster, by a wildcard on its host",
        "/billing/": "a cluster name, by a wildcard",
    }
    for prefix, why in scoped.items():
        headers = client.headers(prefix)
        assert (headers.get("authorization"), headers.get("x-static")) == ("Bearer scoped-4f1c9a7e", "s"), why
    unscoped = [
        ("/other/", None), ("/", None),
        ("/corp-apex/", None),  # *.corp.internal is not corp.internal itself
        ("/lookalike/", None),  # evil-api.example.com is not api.example.com
        # The route is chosen by path: a Host naming a scoped destination changes nothing.
        ("/other/", "api.example.com"), ("/other/", "legacy_api"), ("/other/", "x.corp.internal"),
        ("/", "api.example.com:443"), ("/lookalike/", "api.example.com"),
    ]
    for prefix, host in unscoped:
        headers = client.headers(prefix, host)
        # Out of scope, not even the static headers.
        assert "authorization" not in headers and "x-static" not in headers, (prefix, host)
    # Each request went to the cluster its path routes to, whatever its Host.
    assert upstream_requests(envoy) == {n: client.count([n]) for n in [*ROUTES.values(), "upstream"]}
    envoy.settle()
    assert envoy.stat("requests_augmented") == len(scoped)
    assert envoy.stat("requests_out_of_scope") == len(unscoped)
    assert envoy.stat("requests_without_headers") == 0
    assert provider.call_count() == 1


TOKENS = {"Authorization": "Bearer tokens-v1-8d2e61b0", "x-tokens": "t"}
PARTNER = {"Authorization": "Bearer partner-v1-53ac0f9d", "x-partner-key": "pk-77e1a4c2"}


def calls_in(provider: Provider, start: float, end: float) -> list[tuple[float, str, dict]]:
    return [c for c in provider.calls if start < c[0] <= end]


@pytest.mark.matrix
def test_two_providers_each_serve_their_own_destinations_poll_and_fail_on_their_own(routed_envoy, provider, partner):
    provider.set(body=TOKENS)
    partner.set(body=PARTNER)
    configuration = {"providers": [
        {"name": "tokens", "header_cache_expiry": "1s", "destinations": ["legacy_api"]},
        {"name": "partner", "header_providing_service_cluster": "partner_idp",
         "header_providing_service_authority": "idp.example.com", "header_cache_expiry": "1s",
         "destinations": ["api.example.com"]},
    ]}
    envoy = routed_envoy(configuration,
                         {"sidecar": provider.port, "partner_idp": partner.port}, concurrency=2)
    client = Client(envoy)

    def only(prefix, values: dict):
        headers = client.headers(prefix)
        given = {k: headers.get(k) for k in ("authorization", "x-tokens", "x-partner-key")}
        expected = {k: values.get(k) for k in given}
        assert given == expected, prefix

    tokens = {k.lower(): v for k, v in TOKENS.items()}
    partner_headers = {k.lower(): v for k, v in PARTNER.items()}
    for _ in range(2):
        only("/legacy/", tokens)
        only("/api443/", partner_headers)
        only("/api8080v1/", partner_headers)
        only("/other/", {})
        only("/", {})

    # Each provider polled once per refresh (1s less 0-20%) by this Envoy of two workers.
    start = time.monotonic()
    time.sleep(3.0)
    for p, authority in ((provider, "sidecar"), (partner, "idp.example.com")):
        calls = calls_in(p, start, start + 3.0)
        assert len(calls) in (3, 4), [round(t - start, 2) for t, _, _ in calls]
        assert {c[2].get("host") for c in calls} == {authority}

    # The partner fails (500): the tokens provider's requests are untouched and
    # its refreshes go on; the partner's destination keeps its last good headers.
    partner.set(status=500, body="down")
    provider.set(body={**TOKENS, "Authorization": "Bearer tokens-v2-c40b9e15"})
    eventually(lambda: client.headers("/legacy/").get("authorization") == "Bearer tokens-v2-c40b9e15",
               timeout=3, what="the tokens provider's refresh during the partner's outage")
    eventually(lambda: stat(envoy, "partner", "fetches_failed") >= 2, timeout=5)
    for _ in range(3):
        only("/legacy/", {**tokens, "authorization": "Bearer tokens-v2-c40b9e15"})
        only("/api443/", partner_headers)
    assert stat(envoy, "tokens", "fetches_failed") == 0

    envoy.settle()
    legacy = client.count(["legacy_api"])
    api = client.count(["outbound|443||api.example.com", "outbound|8080|v1|api.example.com"])
    everything = len(client.sent)
    assert stat(envoy, "tokens", "requests_augmented") == legacy
    assert stat(envoy, "tokens", "requests_out_of_scope") == everything - legacy
    assert stat(envoy, "partner", "requests_augmented") == api
    assert stat(envoy, "partner", "requests_out_of_scope") == everything - api
    for name in ("tokens", "partner"):
        assert stat(envoy, name, "requests_without_headers") == 0
        assert stat(envoy, name, "provider_calls") >= 4
    # Named providers have only their own counters; the memory gauge stays the plugin's.
    stats = envoy.stats()
    assert "wasmcustom.header_augmenter.header_augmenter.requests_augmented" not in stats
    assert stats.get("wasmcustom.header_augmenter.header_augmenter.wasm_memory_bytes", 0) > 0
    assert "wasmcustom.header_augmenter.header_augmenter.tokens.wasm_memory_bytes" not in stats


@pytest.mark.matrix
def test_policies_combine_deny_over_hold_over_headers(routed_envoy, provider, upstream):
    """Four providers, three down from the start: tokens (up, continue);
    strict (deny 403), partner (deny 401) and patient (wait 600ms, then 429).
    Destinations overlap so each combination is met once."""
    provider.set(body={"Authorization": "Bearer policy-a-91be03d7"})
    strict, partner, patient = free_ports(3)
    configuration = {"providers": [
        {"name": "tokens", "header_cache_expiry": "1h",
         "destinations": ["legacy_api", "outbound|443||api.example.com", "other"]},
        {"name": "strict", "header_providing_service_cluster": "strict_idp", "on_missing": "deny",
         "deny_status": 403, "destinations": ["x.corp.internal"]},
        {"name": "partner", "header_providing_service_cluster": "partner_idp", "on_missing": "deny",
         "deny_status": 401, "destinations": ["api.example.com", "x.corp.internal"]},
        {"name": "patient", "header_providing_service_cluster": "patient_idp", "on_missing": "wait",
         "wait_timeout": "600ms", "deny_status": 429, "destinations": ["*.corp.internal", "other"]},
    ]}
    envoy = routed_envoy(configuration, {
        "sidecar": provider.port, "strict_idp": strict, "partner_idp": partner, "patient_idp": patient})
    client = Client(envoy)
    # Until each down provider's first call has failed, its requests wait for it.
    for name in ("strict", "partner", "patient"):
        eventually(lambda: stat(envoy, name, "fetches_failed") >= 1, what=f"{name}'s first failure")

    def denied(prefix, status, code, held):
        started = time.monotonic()
        got, headers, body = client.request(prefix)
        took = time.monotonic() - started
        assert (got, headers.get("x-header-augmenter-denied")) == (status, code), (prefix, got, body)
        assert took >= 0.55 if held else took < 0.4, (prefix, took)

    # Only tokens: its headers.
    assert client.headers("/legacy/").get("authorization") == "Bearer policy-a-91be03d7"
    # Only partner, down with deny: 401, and the upstream never sees it.
    reached = len(upstream.requests)
    denied("/api8080v1/", 401, "not-fetched", held=False)
    # tokens has headers, partner denies: denied.
    denied("/api443/", 401, "not-fetched", held=False)
    # strict, partner deny, patient would hold: denied at once, by the first denying provider's status.
    denied("/corp/", 403, "not-fetched", held=False)
    # tokens has headers, patient holds: held for patient's wait_timeout, then its status.
    denied("/other/", 429, "wait-timeout", held=True)
    # Only patient: the same.
    denied("/billing/", 429, "wait-timeout", held=True)
    assert len(upstream.requests) == reached
    # No provider in scope: untouched.
    assert "authorization" not in client.headers("/")

    envoy.settle()
    assert stat(envoy, "partner", "requests_denied") == 3
    assert stat(envoy, "strict", "requests_denied") == 1
    assert stat(envoy, "patient", "requests_held") == 2
    assert stat(envoy, "patient", "requests_held_denied") == 2
    assert stat(envoy, "tokens", "requests_augmented") == 1
    # Each request ends in exactly one outcome for each provider.
    for name in ("tokens", "strict", "partner", "patient"):
        assert sum(stat(envoy, name, m) for m in OUTCOMES) == len(client.sent), name


def test_a_header_both_providers_give_keeps_the_first_providers_value(routed_envoy, provider, partner):
    provider.set(body={"Authorization": "Bearer first-0b7d2c55", "x-first": "1"})
    partner.set(body={"Authorization": "Bearer second-e6a1f390", "x-second": "2"})
    configuration = {"providers": [
        {"name": "first", "header_cache_expiry": "1h", "destinations": ["legacy_api"]},
        # Its static x-first clashes too: an earlier provider's name is its to give.
        {"name": "second", "header_providing_service_cluster": "second_idp", "header_cache_expiry": "1h",
         "static_headers": {"x-first": "static"}, "destinations": ["legacy_api", "api.example.com"]},
    ]}
    envoy = routed_envoy(configuration, {"sidecar": provider.port, "second_idp": partner.port})
    client = Client(envoy)
    for _ in range(3):
        headers = client.headers("/legacy/")
        given = (headers.get("authorization"), headers.get("x-first"), headers.get("x-second"))
        assert given == ("Bearer first-0b7d2c55", "1", "2")
    # Where only the second is in scope, its own values.
    headers = client.headers("/api443/")
    assert (headers.get("authorization"), headers.get("x-first")) == ("Bearer second-e6a1f390", "static")
    envoy.settle()
    assert stat(envoy, "second", "header_clashes") == 3 * 2  # authorization and x-first, per request
    assert stat(envoy, "first", "header_clashes") == 0
    assert stat(envoy, "second", "requests_augmented") == 4


# --- configuration errors ---

FIELDS_IN_A_PROVIDER = (
    "header_providing_service_cluster, header_providing_service_authority, header_providing_service_path, "
    "header_cache_expiry, header_providing_service_timeout, overwrite, retry_initial, retry_max, max_stale, "
    "on_missing, deny_status, wait_timeout, static_headers, static_headers_env, oauth2, destinations, name")
FIELDS_AT_THE_TOP = FIELDS_IN_A_PROVIDER.removesuffix(", name") + ", target, providers"
NOT_A_DESTINATION = 'is not a cluster name, a host or "*." and a domain'
NEVER_MATCHES = "never matches; name a ServiceEntry host instead"
NAME_RULE = "must be 1 to 64 of a-z, 0-9, '_' and '-'"


def providers(*entries, **top):
    return json.dumps({**top, "providers": list(entries)})


# (configuration, the line after "invalid configuration: "). A str is JSON
# text (a StringValue), a dict a google.protobuf.Struct.
BAD = [
    # A provider's own fields, named with its index.
    (providers({"name": "a"}, {"name": "b", "header_cache_expiry": "5x"}),
     'providers[1].header_cache_expiry: "5x" has an unknown unit "x"; use ms, s, m or h'),
    (providers({"name": "a", "on_missing": "block"}),
     'providers[0].on_missing: "block" is not one of "continue", "deny", "wait"'),
    (providers({"name": "a", "retry_initial": "2m"}), "providers[0].retry_initial: 2m is longer than retry_max (1m)"),
    (providers({"name": "a", "static_headers": {"Host": "h"}}),
     'providers[0].static_headers: "Host" is refused: reserved name: host, content-length, hop-by-hop and '
     "x-envoy-* headers belong to Envoy"),
    (providers({"name": "a", "destination": ["legacy_api"]}),
     'providers[0]: unknown field "destination"; did you mean "destinations"?'),
    (providers({"name": "a", "target": "both"}), f'providers[0]: unknown field "target"; the fields are {FIELDS_IN_A_PROVIDER}'),
    (providers({"name": "a", "providers": []}),
     f'providers[0]: unknown field "providers"; the fields are {FIELDS_IN_A_PROVIDER}'),
    ('{"providers": [{"name": "a", "name": "b"}]}', "providers[0].name: is given more than once"),
    # Names.
    (providers({"name": "a"}, {"name": "a", "header_providing_service_cluster": "other"}),
     'providers[1].name: "a" is the name of an earlier provider'),
    (providers({"header_cache_expiry": "5s"}), "providers[0].name: is missing"),
    (providers({"name": "Tokens"}), f'providers[0].name: "Tokens" {NAME_RULE}'),
    (providers({"name": "a.b"}), f'providers[0].name: "a.b" {NAME_RULE}'),
    (providers({"name": ""}), f'providers[0].name: "" {NAME_RULE}'),
    # A long value is quoted to its first 64 characters.
    (providers({"name": "n" * 65}), f'providers[0].name: "{"n" * 64}..." {NAME_RULE}'),
    (providers({"name": 1}), "providers[0].name: must be a string, found a number"),
    # providers itself.
    (providers({"name": "a"}, header_cache_expiry="5s"),
     "providers: cannot be given with top-level provider fields, as header_cache_expiry"),
    ('{"providers": [{"name": "a"}], "destinations": ["legacy_api"]}',
     "providers: cannot be given with top-level provider fields, as destinations"),
    ('{"providers": []}', "providers: is empty"),
    ('{"providers": {"name": "a"}}', "providers: must be an array of objects, found an object"),
    ('{"providers": ["a"]}', "providers[0]: must be an object, found a string"),
    (providers(*({"name": f"p{i}"} for i in range(17))), "providers: has more than 16 providers"),
    ('{"providers": [{"name": "a"}], "providers": [{"name": "b"}]}', "providers: is given more than once"),
    ('{"name": "a"}', f'unknown field "name"; the fields are {FIELDS_AT_THE_TOP}'),
    # destinations, at the top level and in a provider.
    ('{"destinations": ["api.*.com"]}', f'destinations: "api.*.com" {NOT_A_DESTINATION}'),
    ('{"destinations": ["*"]}', f'destinations: "*" {NOT_A_DESTINATION}'),
    ('{"destinations": ["*example.com"]}', f'destinations: "*example.com" {NOT_A_DESTINATION}'),
    ('{"destinations": ["legacy api"]}', f'destinations: "legacy api" {NOT_A_DESTINATION}'),
    ('{"destinations": ["PassthroughCluster"]}', f'destinations: "PassthroughCluster" {NEVER_MATCHES}'),
    (providers({"name": "a", "destinations": ["legacy_api", "BlackHoleCluster"]}),
     f'providers[0].destinations: "BlackHoleCluster" {NEVER_MATCHES}'),
    (providers({"name": "a"}, {"name": "b", "destinations": ["api.*.com"]}),
     f'providers[1].destinations: "api.*.com" {NOT_A_DESTINATION}'),
    ('{"destinations": []}', "destinations: is empty; leave it out for every destination"),
    ('{"destinations": "legacy_api"}', "destinations: must be an array of strings, found a string"),
    ('{"destinations": [443]}', "destinations: must be an array of strings, found a number"),
    ('{"destinations": ["' + "d" * 1025 + '"]}', "destinations: is longer than 1024 bytes"),
    # The same rules for a configuration given as a google.protobuf.Struct.
    ({"providers": [{"name": "a"}, {"name": "a"}]},
     'providers[1].name: "a" is the name of an earlier provider'),
    ({"providers": [{"name": "a", "destinations": ["PassthroughCluster"]}]},
     f'providers[0].destinations: "PassthroughCluster" {NEVER_MATCHES}'),
]

# In each older Envoy too: a provider's field, a repeated name, providers
# beside top-level fields, and an entry that never matches.
IN_MATRIX = {
    'providers[1].header_cache_expiry: "5x" has an unknown unit "x"; use ms, s, m or h',
    'providers[1].name: "a" is the name of an earlier provider',
    "providers: cannot be given with top-level provider fields, as header_cache_expiry",
    f'destinations: "PassthroughCluster" {NEVER_MATCHES}',
}


def label(configuration) -> str:
    text = configuration if isinstance(configuration, str) else "Struct " + json.dumps(configuration)
    return text[:70]


@pytest.mark.parametrize("configuration,message", [
    pytest.param(c, m, id=label(c), marks=[pytest.mark.matrix] if m in IN_MATRIX else [])
    for c, m in BAD])
def test_a_bad_providers_or_destinations_configuration_fails_validation_naming_it(tmp_path, configuration, message):
    assert_configuration_refused(tmp_path, configuration, message)


EVERY_FIELD = {
    "header_providing_service_cluster": "outbound|8080||tokens.idp.svc.cluster.local",
    "header_providing_service_authority": "tokens.idp",
    "header_providing_service_path": "/v1/headers",
    "header_cache_expiry": "1h30m",
    "header_providing_service_timeout": "250ms",
    "overwrite": False,
    "retry_initial": "500ms",
    "retry_max": "30s",
    "max_stale": None,
    "on_missing": "wait",
    "deny_status": 401,
    "wait_timeout": "1500ms",
    "static_headers": {"x-cluster": "eu-1"},
    "destinations": ["legacy_api", "api.example.com", "outbound|443||api.example.com", "*.corp.internal"],
}
GOOD = {"target": "request", "providers": [
    {"name": "tokens", **EVERY_FIELD},
    {"name": "partner-2_x", "destinations": ["*.example.com"]},
    {"name": "n" * 64},  # no destinations: every destination
]}


@pytest.mark.parametrize("configuration", [json.dumps(GOOD), GOOD, json.dumps(EVERY_FIELD)],
                         ids=["providers", "providers as a Struct", "destinations at the top level"])
def test_a_good_providers_configuration_validates(tmp_path, configuration):
    result = validate(tmp_path, bootstrap(1, 2, [wasm_filter(configuration)]))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "invalid configuration" not in result.stdout + result.stderr


# --- the deployment examples in configmap/ ---

LEGACY_VHOST = "legacy-api.legacy.svc.cluster.local:8080"


def test_the_per_route_envoyfilter_enables_the_filter_on_its_virtual_host_only(tmp_path, provider, upstream):
    """configmap/envoyfilter/per-route as Istio applies it: the disabled filter
    before the router, and the virtual host of its match merged with the
    patch. Other virtual hosts never enter the VM, whatever the client sends."""
    envoyfilter = one(render("envoyfilter/per-route"), "EnvoyFilter")
    filter_patch, vhost_patch = envoyfilter["spec"]["configPatches"]
    filter_ = copy.deepcopy(filter_patch["patch"]["value"])
    wasm = wasm_config_of(envoyfilter)
    filter_["typed_config"]["config"]["vm_config"]["code"]["local"]["filename"] = str(WASM)
    assert filter_["disabled"] is True
    match = vhost_patch["match"]["routeConfiguration"]
    assert match["vhost"]["name"] == LEGACY_VHOST
    host, port = LEGACY_VHOST.rsplit(":", 1)
    legacy_cluster = f"outbound|{port}||{host}"
    legacy = {"name": LEGACY_VHOST, "domains": [host, LEGACY_VHOST],
              "routes": [{"match": {"prefix": "/"}, "route": {"cluster": legacy_cluster}}],
              **vhost_patch["patch"]["value"]}  # MERGE
    other = {"name": "allow_any", "domains": ["*"], "routes": [{"match": {"prefix": "/"}, "route": {"cluster": "upstream"}}]}
    provider_cluster = wasm["configuration"]["value"]["header_providing_service_cluster"]
    config = bootstrap(provider.port, upstream.port, [filter_],
                       clusters=[cluster(provider_cluster, provider.port), cluster(legacy_cluster, upstream.port)])
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    hcm["route_config"] = {"name": port, "virtual_hosts": [legacy, other]}
    result = validate(tmp_path, config)
    assert result.returncode == 0, result.stdout + result.stderr
    provider.set(body={"Authorization": "Bearer per-vhost-2a6c81f4"})
    with Envoy(tmp_path / "run", config) as envoy:
        assert eventually(lambda: envoy.upstream_headers("/x", {"host": host}).get("authorization")) == \
            "Bearer per-vhost-2a6c81f4"
        envoy.settle()
        entered = sum(v for k, v in envoy.stats().items() if ".requests_" in k and "_held" not in k)
        for path, sent_host in [("/x", "api.example.com"), ("/x", "legacy-api"), ("/legacy/", None)]:
            assert "authorization" not in envoy.upstream_headers(path, {"host": sent_host} if sent_host else None)
        envoy.settle()
        assert sum(v for k, v in envoy.stats().items() if ".requests_" in k and "_held" not in k) == entered


def test_the_destinations_wasmplugin_runs_in_envoy_with_istios_cluster_names(tmp_path, provider, partner, upstream):
    """configmap/wasmplugin/destinations: its pluginConfig (as Istio hands it
    to Envoy, JSON text) validates and runs with the clusters Istio makes
    of its ServiceEntries, each destination getting its own provider's
    headers only."""
    objects = render("wasmplugin/destinations")
    plugin = one(objects, "WasmPlugin")["spec"]["pluginConfig"]
    tokens, partner_config = plugin["providers"]
    entry = next(o for o in objects if o["kind"] == "ServiceEntry" and "api.example.com" in o["spec"]["hosts"])
    partner_api = f"outbound|{entry['spec']['ports'][0]['number']}||api.example.com"
    legacy = f"outbound|8080||{tokens['destinations'][0]}"
    config = bootstrap(provider.port, upstream.port, [wasm_filter(json.dumps(plugin))], clusters=[
        cluster(tokens["header_providing_service_cluster"], provider.port),
        cluster(partner_config["header_providing_service_cluster"], partner.port),
        cluster(partner_api, upstream.port), cluster(legacy, upstream.port)])
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    hcm["route_config"]["virtual_hosts"][0]["routes"] = [
        {"match": {"prefix": "/legacy/"}, "route": {"cluster": legacy}},
        {"match": {"prefix": "/partner/"}, "route": {"cluster": partner_api}},
        {"match": {"prefix": "/"}, "route": {"cluster": "upstream"}}]
    result = validate(tmp_path, config)
    assert result.returncode == 0, result.stdout + result.stderr
    provider.set(body={"Authorization": "Bearer mesh-token-5e0d7b21"})
    partner.set(body={"Authorization": "Bearer partner-token-c9f2a6e8"})
    with Envoy(tmp_path / "run", config) as envoy:
        assert envoy.upstream_headers("/legacy/x").get("authorization") == "Bearer mesh-token-5e0d7b21"
        assert envoy.upstream_headers("/partner/x").get("authorization") == "Bearer partner-token-c9f2a6e8"
        assert "authorization" not in envoy.upstream_headers("/x", {"host": "api.example.com"})
        assert 'provider "partner" at cluster "outbound|443||idp.example.com"' in envoy.log()
