"""While there are no headers: continue, deny or wait, and the staleness bound."""

import json
import re
import socket
import threading
import time

import pytest

from harness.envoy import eventually

TOKEN = {"Authorization": "Bearer t1"}


def config(**fields):
    return json.dumps(fields)


def test_first_requests_wait_for_a_slow_first_fetch_even_with_continue(start_envoy, provider):
    provider.set(body=TOKEN, delay=0.4)
    envoy = start_envoy(config())  # on_missing: continue
    started = time.monotonic()
    assert envoy.upstream_headers().get("authorization") == "Bearer t1"
    assert time.monotonic() - started < 1.0
    envoy.settle()
    assert envoy.stat("requests_held_resumed") == 1


def test_continue_forwards_without_headers_once_the_first_fetch_failed(start_envoy, provider):
    provider.set(status=503, body="down")
    envoy = start_envoy(config(static_headers={"x-static": "s"}))
    eventually(lambda: envoy.stat("fetches_failed") >= 1)
    headers = envoy.upstream_headers()
    assert "authorization" not in headers
    assert headers["x-static"] == "s"  # static headers are added regardless
    envoy.settle()
    assert envoy.stat("requests_without_headers") == 1


def test_deny_answers_locally_and_the_upstream_sees_nothing(start_envoy, provider, upstream):
    provider.set(status=503, body="down")
    envoy = start_envoy(config(on_missing="deny", deny_status=401))
    eventually(lambda: envoy.stat("fetches_failed") >= 1)
    status, headers, body = envoy.request("/")
    assert status == 401
    assert headers["x-header-augmenter-denied"] == "not-fetched"
    assert body == "header-augmenter: no headers from the provider yet\n"
    assert upstream.requests == []
    envoy.settle()
    assert envoy.stat("requests_denied") == 1


def test_max_stale_drops_expired_headers_then_deny_applies(start_envoy, provider, upstream):
    provider.set(body=TOKEN, headers={"content-type": "application/json", "cache-control": "max-age=1"})
    envoy = start_envoy(config(header_cache_expiry="1h", max_stale="1s", on_missing="deny"))
    eventually(lambda: envoy.upstream_headers().get("authorization") == "Bearer t1")
    provider.set(status=500, body="down")
    fetched = provider.calls[-1][0]
    # Expired at 1s, still served until 2s (max_stale), then dropped.
    time.sleep(max(0.0, fetched + 1.5 - time.monotonic()))
    assert envoy.upstream_headers().get("authorization") == "Bearer t1"
    time.sleep(max(0.0, fetched + 2.3 - time.monotonic()))
    served = len(upstream.requests)
    status, headers, _ = envoy.request("/")
    assert (status, headers["x-header-augmenter-denied"]) == (503, "expired")
    assert len(upstream.requests) == served
    # The retry that finds them expired may come a little later, and say 1s
    # or 2s: since a refresh comes a second before max-age ends, the first
    # failed call is at 0.4-0.5s, and the backoff's equal jitter spreads the
    # next ones.
    expired = re.compile(r"keeping the last good headers \(1, fetched [12]s ago, expired\)")
    eventually(lambda: expired.search(envoy.log()), timeout=4)


@pytest.mark.matrix
def test_wait_holds_requests_until_the_provider_answers(start_envoy, provider):
    provider.set(status=503, body="down")
    envoy = start_envoy(config(on_missing="wait", wait_timeout="5s", retry_initial="500ms"))
    eventually(lambda: envoy.stat("fetches_failed") >= 1)
    results = []
    threads = [threading.Thread(target=lambda: results.append(envoy.request("/"))) for _ in range(3)]
    for t in threads:
        t.start()
    eventually(lambda: envoy.stat("requests_held") == 3, what="three held requests")
    provider.set(body=TOKEN)
    released = time.monotonic()
    for t in threads:
        t.join()
    # Released at the next retry (at most 1s away), not at the 5s timeout.
    assert time.monotonic() - released < 2.0
    assert [r[0] for r in results] == [200, 200, 200]
    assert all(r[2]["headers"]["authorization"] == "Bearer t1" for r in results)
    envoy.settle()
    assert envoy.stat("requests_held_resumed") == 3


def test_wait_denies_after_wait_timeout(start_envoy, provider, upstream):
    provider.set(status=503, body="down")
    envoy = start_envoy(config(on_missing="wait", wait_timeout="400ms", deny_status=504))
    eventually(lambda: envoy.stat("fetches_failed") >= 1)
    started = time.monotonic()
    status, headers, body = envoy.request("/")
    waited = time.monotonic() - started
    assert (status, headers["x-header-augmenter-denied"]) == (504, "wait-timeout")
    assert 0.35 <= waited < 1.0, waited
    assert upstream.requests == []
    envoy.settle()
    assert (envoy.stat("requests_held"), envoy.stat("requests_held_denied"), envoy.stat("requests_denied")) == (1, 1, 1)


def test_a_client_that_leaves_while_held_leaves_nothing_behind(start_envoy, provider):
    provider.set(status=503, body="down")
    envoy = start_envoy(config(on_missing="wait", wait_timeout="1s"))
    eventually(lambda: envoy.stat("fetches_failed") >= 1)
    client = socket.create_connection(("127.0.0.1", envoy.port))
    client.sendall(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
    eventually(lambda: envoy.stat("requests_held") == 1)
    client.close()
    # Noticed when the request's turn comes (here its wait_timeout): the stream is gone.
    eventually(lambda: envoy.stat("requests_held_cancelled") == 1, timeout=3,
               what="the held request to be cancelled")
    provider.set(body=TOKEN)
    eventually(lambda: envoy.stat("fetches_succeeded") == 1, timeout=5)
    assert envoy.upstream_headers().get("authorization") == "Bearer t1"
    envoy.settle()
    assert (envoy.stat("requests_held"), envoy.stat("requests_held_resumed")) == (1, 0)
    assert "error" not in [line.split("][")[2] for line in envoy.log().splitlines() if "[wasm]" in line]
