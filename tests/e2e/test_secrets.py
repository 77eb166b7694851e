"""Header values are credentials: none may appear in Envoy's log, whatever the
log level, however the provider behaves."""

import json

from harness.envoy import WASM_RESPONSE, eventually

CANARY = "canary-7f3a9c1e5b"
# static_headers are configuration: Envoy itself prints its configuration at
# debug level (and in /config_dump), so only the filter's own lines are held
# to never showing them.
STATIC_CANARY = "static-canary-94d2e0"


def test_no_provider_value_in_a_trace_level_log(start_envoy, provider):
    # Everything at trace except Envoy's router and http components, whose debug
    # lines print every request and response header (an application's own
    # Authorization included): Envoy's behaviour, not the filter's, and never
    # for production.
    envoy = start_envoy(json.dumps({"header_cache_expiry": "1s", "header_providing_service_timeout": "300ms",
                                    "static_headers": {"x-static-key": STATIC_CANARY}, "target": "both"}),
                        log_level="trace", component_log_level="router:info,http:info", wasm=WASM_RESPONSE)
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
    assert 'static 1 header (x-static-key)' in log
    assert CANARY not in log  # ...provider values never, anywhere
    assert not [line for line in log.splitlines() if "[wasm]" in line and STATIC_CANARY in line]


def test_the_query_string_of_the_provider_path_is_never_logged(start_envoy, provider):
    """`/token?api_key=...` is a common way to pass a key: the filter's lines
    name the path without it (Envoy's own config dump is another matter)."""
    provider.set(body={"Authorization": "Bearer q"})
    envoy = start_envoy(json.dumps({"header_providing_service_path": f"/token?api_key={CANARY}-query&aud=x"}),
                        log_level="trace", component_log_level="router:info,http:info")
    eventually(lambda: envoy.upstream_headers().get("authorization") == "Bearer q")
    assert provider.calls[0][1] == f"/token?api_key={CANARY}-query&aud=x"  # sent as configured
    wasm_lines = [line for line in envoy.log().splitlines() if "[wasm]" in line]
    assert any('path "/token" with a query string (not logged)' in line for line in wasm_lines)
    assert not [line for line in wasm_lines if CANARY in line]
