"""Hostile provider responses, end to end in the real Envoy. Each leaves Envoy
running, the VM alive (no error, panic or trap from the Wasm VM in Envoy's
log), the last good headers in place, and the right metric counted; the log
says what was wrong."""

import json
import subprocess
import threading
import time

import pytest

from harness.envoy import STAT_PREFIX, Envoy, bootstrap, eventually, wasm_filter
from harness.servers import Answer, Provider, Upstream

GOOD = {"Authorization": "Bearer good", "x-tenant": "acme"}
TIMEOUT = "500ms"

# (id, answer, outcome, what the warning says). Outcomes: "fail" (a failed fetch:
# the last good headers stay), "refuse N" (every entry refused: a failed fetch
# and N refusals), or a dict (the response is good: these headers are the new set).
CASES = [
    ("non-object array", Answer(body='["Authorization", "Bearer x"]'), "fail", "the body is an array, not a JSON object"),
    ("non-object string", Answer(body='"Bearer x"'), "fail", "the body is a string, not a JSON object"),
    ("non-object number", Answer(body="42"), "fail", "the body is a number, not a JSON object"),
    ("non-object null", Answer(body="null"), "fail", "the body is null, not a JSON object"),
    ("nested object", Answer(body='{"authorization": {"scheme": "Bearer"}}'), "fail",
     'the value of "authorization" is an object, not a string'),
    ("array value", Answer(body='{"authorization": ["Bearer", "x"]}'), "fail",
     'the value of "authorization" is an array, not a string'),
    ("number value", Answer(body='{"x-n": 1}'), "fail", 'the value of "x-n" is a number, not a string'),
    ("bool value", Answer(body='{"x-b": true}'), "fail", 'the value of "x-b" is a boolean, not a string'),
    ("null value", Answer(body='{"x-z": null}'), "fail", 'the value of "x-z" is null, not a string'),
    ("invalid UTF-8", Answer(body=b'{"authorization": "Bearer \xc3\x28"}'), "fail", "is not valid UTF-8 at byte 26"),
    ("bad escape", Answer(body='{"authorization": "Bearer \\q"}'), "fail", "invalid escape at byte 27"),
    ("lone surrogate", Answer(body='{"authorization": "\\ud800x"}'), "fail", "lone surrogate in \\u escape at byte 21"),
    ("UTF-8 byte order mark", Answer(body=b'\xef\xbb\xbf{"authorization": "Bearer x"}'), "fail",
     "starts with a byte order mark at byte 0"),
    ("trailing garbage", Answer(body='{"authorization": "Bearer x"} {"more": "1"}'), "fail",
     "unexpected data after the JSON value at byte 30"),
    ("1 MB body", Answer(body=json.dumps({"authorization": "x" * 1_000_000})), "fail",
     "the body is 1000021 bytes, over the 65536-byte limit"),
    ("10,000 headers", Answer(body=json.dumps({f"x-h{i}": "v" for i in range(10_000)})), "fail",
     "the body is 158890 bytes, over the 65536-byte limit"),
    ("nesting 100,000 deep", Answer(body='{"a":' + "[" * 100_000 + "]" * 100_000 + "}"), "fail",
     "the body is 200006 bytes, over the 65536-byte limit"),
    ("nesting 30,000 deep, under the size limit", Answer(body='{"a":' + "[" * 30_000 + "]" * 30_000 + "}"), "fail",
     'the value of "a" is an array, not a string'),
    ("CR in a value", Answer(body={"authorization": "Bearer x\rInjected: 1"}), "refuse 1",
     '"authorization" (value has a control character such as CR, LF or NUL)'),
    ("LF in a value", Answer(body={"authorization": "Bearer x\nInjected: 1"}), "refuse 1",
     '"authorization" (value has a control character such as CR, LF or NUL)'),
    ("NUL in a value", Answer(body={"authorization": "Bearer x\u0000"}), "refuse 1",
     '"authorization" (value has a control character such as CR, LF or NUL)'),
    ("empty name and empty value", Answer(body={"": "v", "x-empty": ""}), "refuse 2",
     '"" (empty name), "x-empty" (empty value)'),
    ("names with a space or a colon", Answer(body={"x bad": "v", "x:bad": "v"}), "refuse 2",
     '"x bad" (name is not an RFC 9110 token), "x:bad" (name is not an RFC 9110 token)'),
    ("pseudo-headers", Answer(body={":path": "/admin", ":authority": "evil"}), "refuse 2", '":path" (pseudo-header)'),
    ("host, x-envoy-*, hop-by-hop", Answer(body={"Host": "evil", "x-envoy-original-path": "/", "Connection": "close",
                                                "Transfer-Encoding": "chunked", "TE": "trailers"}), "refuse 5",
     '"Host" (reserved name: host, content-length, hop-by-hop and x-envoy-* headers belong to Envoy)'),
    ("upper-case names", Answer(body={"AUTHORIZATION": "Bearer upper"}), {"authorization": "Bearer upper"},
     "fetched 1 header (authorization)"),
    ("duplicate keys: the later wins", Answer(body='{"x-dup": "first", "X-Dup": "second"}'), {"x-dup": "second"},
     '"X-Dup" (given again later; the later value is used)'),
    ("65 headers: the first 64 are kept", Answer(body={f"x-h{i:02}": "v" for i in range(65)}),
     {"x-h00": "v", "x-h63": "v"}, '"x-h64" (over the limit of 64 headers)'),
    ("204 with no body", Answer(status=204, body=b""), "fail", "the body is empty"),
    ("302", Answer(status=302, body="", headers={"location": "http://elsewhere/"}), "fail",
     "the provider call returned HTTP 302"),
    ("401", Answer(status=401, body='{"Authorization": "Bearer from-an-error"}'), "fail",
     "the provider call returned HTTP 401"),
    ("503", Answer(status=503, body="unavailable"), "fail", "the provider call returned HTTP 503"),
    ("a slow body past the timeout", Answer(body=json.dumps(GOOD), cut_at=10, stall=1.5), "fail",
     f"no response within {TIMEOUT} (header_providing_service_timeout)"),
    ("a connection reset mid-body", Answer(body=json.dumps(GOOD), cut_at=10, reset=True), "fail",
     "the call ended without a response"),
]


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    provider, upstream = Provider(), Upstream()
    provider.set(body=GOOD)
    conf = json.dumps({"header_cache_expiry": "300ms", "retry_initial": "100ms", "retry_max": "300ms",
                       "header_providing_service_timeout": TIMEOUT})
    envoy = Envoy(tmp_path_factory.mktemp("hostile"), bootstrap(provider.port, upstream.port, [wasm_filter(conf)]))
    envoy.start()
    yield envoy, provider
    envoy.stop()
    provider.stop()
    upstream.stop()


def vm_errors(log: str) -> list[str]:
    """Error lines from the Wasm VM or about it: a panic, a trap, a failed VM."""
    return [line for line in log.splitlines()
            if "[wasm]" in line and ("][error][" in line or "][critical][" in line)]


@pytest.mark.parametrize("answer,outcome,warning", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_hostile_response(setup, answer, outcome, warning):
    envoy, provider = setup
    # Start from the good set, fetched again.
    provider.set(body=GOOD)
    calls = provider.call_count()
    eventually(lambda: provider.call_count() > calls + 1, what="a good refresh")
    assert eventually(lambda: envoy.upstream_headers().get("authorization") == "Bearer good")
    envoy.settle()
    before = envoy.stats()
    log_start = len(envoy.log())

    provider.answer = answer
    calls = provider.call_count()
    # Two calls with this answer: the first is judged by the time the second starts.
    eventually(lambda: provider.call_count() >= calls + 2, timeout=10, what="two calls with the answer")
    envoy.settle()
    after = envoy.stats()

    def grew(metric):
        return after.get(STAT_PREFIX + metric, 0) - before.get(STAT_PREFIX + metric, 0)

    headers = envoy.upstream_headers()
    if isinstance(outcome, dict):
        assert grew("fetches_succeeded") >= 1
        for name, value in outcome.items():
            assert headers.get(name) == value, name
    else:
        assert grew("fetches_failed") >= 1
        assert headers.get("authorization") == "Bearer good"  # the last good headers stay
        assert headers.get("x-tenant") == "acme"
        if outcome.startswith("refuse"):
            assert grew("headers_refused") >= int(outcome.split()[1])
    new_log = envoy.log()[log_start:]
    assert warning in new_log
    assert vm_errors(new_log) == []
    assert envoy.proc.poll() is None and envoy.admin("/ready")[0] == 200


def test_the_vm_never_failed(setup):
    envoy, provider = setup
    assert vm_errors(envoy.log()) == []
    assert "wasm.envoy.wasm.runtime.v8" not in json.dumps(envoy.stats("vm_reload_failure"))


def test_a_flapping_provider_never_leaves_a_request_without_headers(tmp_path):
    """The provider alternates between good and bad at every call while wrk
    loads Envoy: once the first good response arrived, no request goes out
    without the headers (the last good ones stay, within max_stale)."""
    provider, upstream = Provider(), Upstream()
    answers = [Answer(body=GOOD), Answer(status=503, body="down"), Answer(body="<html>"), Answer(reset=True)]

    def flap():
        seen = 0
        while not flap.stop:
            if provider.call_count() != seen:
                seen = provider.call_count()
                provider.answer = answers[seen % len(answers)]
            time.sleep(0.005)

    flap.stop = False
    provider.answer = answers[0]
    conf = json.dumps({"header_cache_expiry": "200ms", "retry_initial": "100ms", "retry_max": "200ms",
                       "max_stale": "5s"})
    try:
        with Envoy(tmp_path, bootstrap(provider.port, upstream.port, [wasm_filter(conf)])) as envoy:
            eventually(lambda: envoy.upstream_headers().get("authorization") == "Bearer good")
            threading.Thread(target=flap, daemon=True).start()
            upstream.requests.clear()
            out = subprocess.run(["wrk", "-t1", "-c8", "-d5s", f"http://127.0.0.1:{envoy.port}/"],
                                 capture_output=True, text=True, timeout=30).stdout
            flap.stop = True
            envoy.settle()
            served = len(upstream.requests)
            without = [r for r in upstream.requests if r.get("authorization") != "Bearer good"]
            assert served > 300, out  # the Python upstream serves about 200 a second
            assert without == []
            assert envoy.stat("requests_without_headers") == 0
            assert envoy.stat("fetches_failed") >= 5 and envoy.stat("fetches_succeeded") >= 5
            assert vm_errors(envoy.log()) == []
    finally:
        flap.stop = True
        provider.stop()
        upstream.stop()
