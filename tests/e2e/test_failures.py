"""A provider that fails in any way keeps the last good headers in place, is
counted, and is retried sooner than the refresh interval."""

import pytest

from harness.envoy import eventually
from test_augmenting import config

GOOD = {"Authorization": "Bearer good"}

FAILURES = {
    "http-500": dict(status=500, body='{"Authorization": "Bearer from-an-error-page"}'),
    "http-404": dict(status=404, body="not found"),
    "garbage": dict(body="<html>surprise</html>"),
    "non-object": dict(body='["Authorization", "Bearer x"]'),
    "non-string-value": dict(body='{"Authorization": 42}'),
    "invalid-utf8": dict(body=b'{"Authorization": "Bearer \xff"}'),
    "all-refused": dict(body='{"host": "x", "connection": "close"}'),
    "reset": dict(reset=True),
}


# In each older Envoy too: an error status, and a reset (the host's statuses for a reset differ).
IN_MATRIX = ("http-500", "reset")


@pytest.mark.parametrize("failure", [pytest.param(f, marks=[pytest.mark.matrix] if f in IN_MATRIX else [])
                                     for f in list(FAILURES) + ["refused"]])
def test_last_good_headers_survive_a_failing_provider(start_envoy, provider, failure):
    provider.set(body=GOOD)
    envoy = start_envoy(config(header_cache_expiry="1s"))
    eventually(lambda: envoy.upstream_headers().get("authorization") == "Bearer good")
    if failure == "refused":
        provider.stop()
    else:
        provider.set(**FAILURES[failure])
    # Two failed calls: the refresh, then a retry within 0.5-1s.
    eventually(lambda: envoy.stat("fetches_failed") >= 2, timeout=6, what="failed fetches")
    for _ in range(5):
        assert envoy.upstream_headers().get("authorization") == "Bearer good"
    assert "; keeping the last good headers (1, fetched " in envoy.log()


def test_failures_are_retried_sooner_than_the_interval_and_recovery_is_picked_up(start_envoy, provider):
    provider.set(status=503, body="down")
    envoy = start_envoy(config(header_cache_expiry="1h"))
    # Backoff steps of 1s and 2s (each jittered to 50-100%): three calls within 3s,
    # where the refresh interval is an hour.
    eventually(lambda: envoy.stat("fetches_failed") >= 3, timeout=3.5, what="retries")
    provider.set(body=GOOD)
    eventually(lambda: envoy.upstream_headers().get("authorization") == "Bearer good", timeout=6,
               what="recovery")
    assert "the provider call returned HTTP 503; no headers to keep yet; retrying in " in envoy.log()


def test_a_slow_provider_times_out(start_envoy, provider):
    provider.set(body=GOOD)
    envoy = start_envoy(config(header_cache_expiry="1s", header_providing_service_timeout="250ms"))
    eventually(lambda: envoy.upstream_headers().get("authorization") == "Bearer good")
    provider.set(body={"Authorization": "Bearer late"}, delay=1.0)
    eventually(lambda: "no response within 250ms (header_providing_service_timeout)" in envoy.log(),
               timeout=5, what="the timeout to be logged")
    assert envoy.upstream_headers().get("authorization") == "Bearer good"
