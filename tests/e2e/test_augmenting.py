"""The filter in a real Envoy: the provider's headers reach the upstream, the
merge policy, validation of what the provider sends, and the metrics."""

import json
import socket

import pytest

from harness.envoy import STAT_PREFIX, WASM_RESPONSE, Envoy, bootstrap, cluster, eventually, validate, wasm_filter
from harness.servers import Provider

TOKEN = {"Authorization": "Bearer t1", "X-Tenant": "acme"}


def config(**fields):
    return json.dumps(fields)


@pytest.mark.matrix
def test_provider_headers_reach_the_upstream(start_envoy, provider, upstream):
    provider.set(body=TOKEN)
    envoy = start_envoy(config(header_cache_expiry="60s"))
    seen = eventually(lambda: envoy.upstream_headers().get("authorization") == "Bearer t1" and upstream.requests[-1])
    assert seen["x-tenant"] == "acme"
    # The call to the provider: the configured cluster, authority and path.
    _, path, headers = provider.calls[0]
    assert path == "/headers"
    assert headers["host"] == "sidecar"
    envoy.settle()
    assert envoy.stat("fetches_succeeded") >= 1
    assert envoy.stat("requests_augmented") >= 1
    assert envoy.stat("headers_current") == 2


def test_provider_path_and_authority_are_configurable(start_envoy, provider):
    provider.set(body=TOKEN)
    start_envoy(config(header_providing_service_path="/v1/token?aud=orders",
                       header_providing_service_authority="idp.example:8443"))
    eventually(lambda: provider.calls, what="a provider call")
    _, path, headers = provider.calls[0]
    assert (path, headers["host"]) == ("/v1/token?aud=orders", "idp.example:8443")


@pytest.mark.matrix
def test_a_change_at_the_provider_is_seen_within_one_interval(start_envoy, provider):
    provider.set(body={"Authorization": "Bearer t1"})
    envoy = start_envoy(config(header_cache_expiry="1s"))
    eventually(lambda: envoy.upstream_headers().get("authorization") == "Bearer t1")
    provider.set(body={"Authorization": "Bearer t2"})
    calls = provider.call_count()
    # One interval (1s) plus scheduling slack.
    eventually(lambda: envoy.upstream_headers().get("authorization") == "Bearer t2", timeout=2.0,
               what="the new token within one interval")
    assert provider.call_count() > calls


def test_overwrite_replaces_the_clients_value_whatever_its_case(start_envoy, provider):
    provider.set(body=TOKEN)
    envoy = start_envoy(config())
    eventually(lambda: envoy.stat("fetches_succeeded"))
    status, _, body = envoy.request("/", {"AUTHORIZATION": "Bearer forged", "x-tenant": "other"})
    assert status == 200
    assert [v for k, v in body["header_list"] if k == "authorization"] == ["Bearer t1"]
    assert [v for k, v in body["header_list"] if k == "x-tenant"] == ["acme"]


def raw_request(envoy, header_lines: bytes) -> list[tuple[str, str]]:
    """One HTTP/1.1 request written byte for byte (so a header can come twice,
    in two cases, or empty); the headers the upstream received, in order."""
    with socket.create_connection(("127.0.0.1", envoy.port)) as client:
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n" + header_lines + b"Connection: close\r\n\r\n")
        raw = b""
        while chunk := client.recv(65536):
            raw += chunk
    return [tuple(pair) for pair in json.loads(raw.split(b"\r\n\r\n", 1)[1])["header_list"]]


def values(header_list, name):
    return [v for k, v in header_list if k == name]


def test_a_client_cannot_smuggle_its_own_value_past_overwrite(start_envoy, provider):
    provider.set(body=TOKEN)
    envoy = start_envoy(config())
    eventually(lambda: envoy.stat("fetches_succeeded"))
    seen = raw_request(envoy, b"Authorization: Bearer forged-1\r\nauthorization: Bearer forged-2\r\n"
                              b"X-TENANT: other\r\nx-tenant:\r\n")
    assert values(seen, "authorization") == ["Bearer t1"]
    assert values(seen, "x-tenant") == ["acme"]


def test_overwrite_false_keeps_the_requests_own_value(start_envoy, provider):
    provider.set(body=TOKEN)
    envoy = start_envoy(config(overwrite=False))
    eventually(lambda: envoy.stat("fetches_succeeded"))
    status, _, body = envoy.request("/", {"Authorization": "Bearer own"})
    assert [v for k, v in body["header_list"] if k == "authorization"] == ["Bearer own"]
    assert body["headers"]["x-tenant"] == "acme"  # absent from the request: added


def test_overwrite_false_lets_any_client_value_stand_even_repeated_or_empty(start_envoy, provider):
    """What README "Header security" promises: with overwrite false the
    client decides. Any value under the name, in any case, even an empty one,
    keeps the provider's value off the request, and what the client sent goes
    upstream (Envoy's HTTP/1 codec joins repeated values with a comma)."""
    provider.set(body=TOKEN)
    envoy = start_envoy(config(overwrite=False))
    eventually(lambda: envoy.stat("fetches_succeeded"))
    seen = raw_request(envoy, b"AUTHORIZATION: Bearer own-1\r\nauthorization: Bearer own-2\r\nX-Tenant:\r\n")
    assert values(seen, "authorization") == ["Bearer own-1,Bearer own-2"]
    assert values(seen, "x-tenant") == [""]


def test_refused_entries_are_dropped_and_the_valid_ones_applied(start_envoy, provider, upstream):
    provider.set(body={
        "X-Good": "yes",
        "host": "evil.example",
        "x-envoy-upstream-rq-timeout-ms": "1",
        "bad name": "x",
        "x-crlf": "a\r\nInjected: 1",
        "transfer-encoding": "chunked",
        ":path": "/admin",
        "x-empty": "",
    })
    envoy = start_envoy(config())
    headers = eventually(lambda: (h := envoy.upstream_headers()).get("x-good") == "yes" and h)
    assert headers["host"] == f"127.0.0.1:{envoy.port}"
    assert upstream.requests and envoy.request("/")[2]["path"] == "/"
    for name in ("x-crlf", "injected", "x-empty", "bad name", "transfer-encoding"):
        assert name not in headers, name
    assert "x-envoy-upstream-rq-timeout-ms" not in headers
    # Every VM that fetched counted 7 refusals per response.
    envoy.settle()
    assert envoy.stat("headers_refused") == 7 * envoy.stat("fetches_succeeded") > 0
    log = envoy.log()
    assert 'refused 7 provider headers: "host" (reserved name' in log
    assert '"x-crlf" (value has a control character such as CR, LF or NUL)' in log


def test_requests_pass_without_headers_until_the_first_good_fetch(start_envoy, provider):
    provider.set(status=500, body="oops")
    envoy = start_envoy(config())
    status, _, body = envoy.request("/")
    assert status == 200
    assert "authorization" not in body["headers"]
    envoy.settle()
    assert envoy.stat("requests_without_headers") == 1
    assert envoy.stat("requests_augmented") == 0


def test_an_unknown_cluster_is_reported_and_retried(start_envoy):
    envoy = start_envoy(config(header_providing_service_cluster="no-such-cluster"))
    eventually(lambda: envoy.stat("fetches_failed") >= 2, timeout=5)
    assert envoy.request("/")[0] == 200
    assert ('Envoy has no cluster "no-such-cluster" (header_providing_service_cluster): define it, or correct '
            'the name; no headers to keep yet; retrying in') in envoy.log()
    envoy.settle()
    assert envoy.stat("provider_unknown_cluster") == envoy.stat("fetches_failed") >= 2
    assert envoy.stat("provider_not_sent") == 0


def test_a_cluster_without_a_healthy_upstream_is_told_apart_from_an_unknown_one(start_envoy, tmp_path):
    """A cluster that exists but has no endpoint: Envoy cannot send the call."""
    empty = {"name": "empty", "type": "STATIC", "connect_timeout": "0.5s",
             "load_assignment": {"cluster_name": "empty", "endpoints": []}}
    envoy = start_envoy(config(header_providing_service_cluster="empty"), clusters=[empty])
    eventually(lambda: envoy.stat("fetches_failed") >= 1, timeout=5)
    envoy.settle()
    assert envoy.stat("provider_not_sent") == envoy.stat("fetches_failed") >= 1
    assert envoy.stat("provider_unknown_cluster") == 0
    assert ('header fetch failed: Envoy has no healthy upstream, or an open circuit breaker, in cluster "empty"; '
            'the call was not sent; no headers to keep yet; retrying in') in envoy.log()


def test_every_metric_is_defined_at_start(start_envoy, provider):
    envoy = start_envoy(config())
    names = {name.removeprefix(STAT_PREFIX) for name in envoy.stats() if name.startswith(STAT_PREFIX)}
    assert names == {"provider_calls", "fetches_succeeded", "fetches_failed", "provider_unknown_cluster",
                     "provider_not_sent", "requests_held_over_limit", "headers_refused",
                     "requests_out_of_scope", "header_clashes",
                     "requests_augmented", "requests_without_headers", "requests_denied", "requests_held",
                     "requests_held_resumed", "requests_held_continued", "requests_held_denied",
                     "requests_held_cancelled", "headers_current", "cache_age_seconds", "wasm_memory_bytes"}


def test_the_vms_linear_memory_is_reported(start_envoy, provider):
    envoy = start_envoy(config(), concurrency=2)
    # Three VMs (the main thread's and two workers'), each a whole number of 64 KiB pages.
    memory = eventually(lambda: envoy.stat("wasm_memory_bytes"), what="the memory gauge")
    envoy.settle()
    memory = envoy.stat("wasm_memory_bytes")
    assert memory % 65536 == 0
    assert 3 * 65536 <= memory <= 3 * 2 * 1024 * 1024, memory


def test_two_plugins_in_one_vm_keep_their_own_headers(tmp_path, provider, upstream):
    second = Provider()
    try:
        provider.set(body={"X-From-First": "1"})
        second.set(body={"X-From-Second": "2"})
        filters = [
            wasm_filter(config(), name="first"),
            wasm_filter(config(header_providing_service_cluster="second"), name="second"),
        ]
        cfg = bootstrap(provider.port, upstream.port, filters, clusters=[cluster("second", second.port)])
        with Envoy(tmp_path, cfg) as envoy:
            headers = eventually(lambda: (h := envoy.upstream_headers()).get("x-from-second") and h)
            assert headers.get("x-from-first") == "1"
            envoy.settle()
            stats = envoy.stats()
            assert stats["wasmcustom.header_augmenter.first.requests_augmented"] >= 1
            assert stats["wasmcustom.header_augmenter.second.requests_augmented"] >= 1
    finally:
        second.stop()


def test_static_headers_are_added_and_the_provider_wins_a_clash(start_envoy, provider):
    provider.set(body={"X-Shared": "from-provider", "Authorization": "Bearer t1"})
    envoy = start_envoy(config(static_headers={"X-Shared": "static", "X-Static": "s"}))
    headers = eventually(lambda: (h := envoy.upstream_headers()).get("authorization") and h)
    assert (headers["x-shared"], headers["x-static"]) == ("from-provider", "s")


def test_target_response_adds_to_the_response_only(start_envoy, provider, upstream):
    provider.set(body=TOKEN)
    envoy = start_envoy(config(target="response"), wasm=WASM_RESPONSE)
    eventually(lambda: envoy.stat("fetches_succeeded"))
    status, headers, body = envoy.request("/")
    assert headers["authorization"] == "Bearer t1"
    assert "authorization" not in body["headers"]


def test_target_both(start_envoy, provider):
    provider.set(body=TOKEN)
    envoy = start_envoy(config(target="both"), wasm=WASM_RESPONSE)
    eventually(lambda: envoy.stat("fetches_succeeded"))
    status, headers, body = envoy.request("/")
    assert headers["authorization"] == body["headers"]["authorization"] == "Bearer t1"


def test_the_request_build_says_which_build_does_responses(tmp_path):
    result = validate(tmp_path, bootstrap(1, 2, [wasm_filter(config(target="both"))]))
    assert result.returncode != 0
    assert ("invalid configuration: target: responses need the build with the response target, "
            "header_augmenter_response.wasm; this one adds headers to requests only") in result.stdout + result.stderr


def test_the_response_build_does_requests_too(start_envoy, provider):
    provider.set(body=TOKEN)
    envoy = start_envoy(config(), wasm=WASM_RESPONSE)
    assert eventually(lambda: envoy.upstream_headers().get("authorization")) == "Bearer t1"
