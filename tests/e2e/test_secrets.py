"""Header values are credentials: none may appear in Envoy's log, whatever the
log level, however the provider behaves."""

import json

from envoy import eventually

CANARY = "canary-7f3a9c1e5b"


def test_no_provider_value_in_a_trace_level_log(start_envoy, provider):
    # Everything at trace except Envoy's router, whose debug lines print every
    # upstream request header (an application's own Authorization included):
    # that is Envoy's behaviour, not the filter's, and never for production.
    envoy = start_envoy(json.dumps({"header_cache_expiry": "1s", "header_providing_service_timeout": "300ms"}),
                        log_level="trace", component_log_level="router:info")
    provider.set(body={"Authorization": f"Bearer {CANARY}-1", "X-Key": f"{CANARY}-key",
                       "host": f"{CANARY}-refused", "x-bad": f"{CANARY}\r\n"})
    eventually(lambda: envoy.upstream_headers().get("x-key") == f"{CANARY}-key")
    provider.set(body={"Authorization": 7, "x": f"{CANARY}-in-a-bad-body"})
    eventually(lambda: envoy.stat("fetches_failed") >= 1, timeout=5)
    provider.set(body={"Authorization": f"Bearer {CANARY}-slow"}, delay=1.0)
    eventually(lambda: "no response within 300ms" in envoy.log(), timeout=5)
    provider.set(body={"Authorization": f"Bearer {CANARY}-2"})
    eventually(lambda: envoy.upstream_headers().get("authorization") == f"Bearer {CANARY}-2", timeout=6)
    envoy.stop()
    log = envoy.log()
    assert "[trace][wasm]" in log and "[debug][wasm]" in log  # the levels were on
    assert "fetched 2 headers (authorization, x-key)" in log  # names are logged...
    assert CANARY not in log  # ...values never
