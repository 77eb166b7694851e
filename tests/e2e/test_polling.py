"""One poller per Envoy: provider calls counted at the provider, whatever the
concurrency, through outages, `max-age`, and reloads."""

import json
import re
import threading
import time

import pytest

from harness.envoy import Envoy, bootstrap, eventually, listener, wasm_filter, write_lds

TOKEN = {"Authorization": "Bearer t1"}


def config(**fields):
    return json.dumps(fields)


def gaps(calls):
    times = [t for t, _, _ in calls]
    return [b - a for a, b in zip(times, times[1:])]


@pytest.mark.parametrize("concurrency", [1, pytest.param(2, marks=pytest.mark.matrix), 4])
def test_one_provider_call_per_refresh_at_any_concurrency(start_envoy, provider, concurrency):
    provider.set(body=TOKEN)
    envoy = start_envoy(config(header_cache_expiry="1s"), concurrency=concurrency)
    # The very first request after Envoy reports ready already carries the headers.
    assert envoy.upstream_headers().get("authorization") == "Bearer t1"
    first = eventually(lambda: provider.calls and provider.calls[0][0], what="the first call")
    time.sleep(first + 4.5 - time.monotonic())
    # Calls at 0s and then every 0.8-1s (20% jitter): five or six in 4.5s, at 1, 2 or 4 workers.
    calls = [c for c in provider.calls if c[0] <= first + 4.5]
    assert len(calls) in (5, 6), gaps(calls)
    assert all(0.75 <= g <= 1.1 for g in gaps(calls)), gaps(calls)
    # Envoy's own count agrees with the provider's.
    eventually(lambda: envoy.stat("provider_calls") == provider.call_count(), timeout=2)


def test_an_outage_backs_off_and_recovery_is_picked_up(start_envoy, provider):
    provider.set(body=TOKEN)
    envoy = start_envoy(config(header_cache_expiry="2s", retry_initial="100ms", retry_max="2s"))
    eventually(lambda: envoy.upstream_headers().get("authorization") == "Bearer t1")
    provider.set(status=503, body="down")
    outage = time.monotonic()
    time.sleep(7)
    failed = [c for c in provider.calls if c[0] > outage]
    # Retries after 50-100ms, 100-200ms, ... up to 1-2s: the calls thin out.
    steps = gaps(failed)
    assert len(failed) >= 6, steps
    assert steps[-1] > 4 * steps[0], steps
    assert all(g <= 2.1 for g in steps), steps
    assert envoy.upstream_headers().get("authorization") == "Bearer t1"  # the last good headers stay
    provider.set(body={"Authorization": "Bearer t2"})
    recovered = time.monotonic()
    eventually(lambda: envoy.upstream_headers().get("authorization") == "Bearer t2", timeout=3,
               what="recovery within one backoff step")
    # Back to the refresh interval: one call per ~2s again.
    time.sleep(4.5)
    after = [c for c in provider.calls if c[0] > recovered]
    assert 2 <= len(after) <= 4, gaps(after)


def test_max_age_shortens_the_refresh(start_envoy, provider):
    provider.set(body=TOKEN, headers={"content-type": "application/json", "cache-control": "max-age=2"})
    envoy = start_envoy(config(header_cache_expiry="1h"))
    first = eventually(lambda: provider.calls and provider.calls[0][0])
    time.sleep(first + 5 - time.monotonic())
    # Refreshed a second before max-age ends (sooner than at 90% of it) less up
    # to 20%: every 0.8-1s, though the interval is an hour.
    calls = [c for c in provider.calls if c[0] <= first + 5]
    assert len(calls) in (5, 6, 7), gaps(calls)
    assert all(0.75 <= g <= 1.1 for g in gaps(calls)), gaps(calls)
    assert re.search(r"fetched 1 header \(authorization\), max-age 2s; next refresh in (\d+ms|1s)\b", envoy.log())


def test_without_max_age_the_interval_holds_and_the_cache_ages(start_envoy, provider):
    provider.set(body=TOKEN)
    envoy = start_envoy(config(header_cache_expiry="1h"))
    time.sleep(3.2)
    assert provider.call_count() == 1
    assert envoy.stat("cache_age_seconds") in (2, 3)  # kept by the poller on its tick (200 ms at most)


@pytest.mark.matrix
def test_a_reload_keeps_serving_and_polling_continues(tmp_path, provider, upstream):
    """New filter configuration and new VMs (another vm_configuration): the cached
    headers are served at once, even with the provider down, and the lease passes
    to a new VM when the old ones are gone."""
    provider.set(body=TOKEN)
    lds = tmp_path / "lds.json"
    conf = config(header_cache_expiry="1s", retry_initial="1s", static_headers={"x-generation": "1"})
    write_lds(lds, 1, [listener([wasm_filter(conf)])])
    cfg = bootstrap(provider.port, upstream.port, [], lds_path=lds)
    with Envoy(tmp_path / "envoy", cfg, concurrency=2, extra_args=["--drain-time-s", "1"]) as envoy:
        eventually(lambda: envoy.upstream_headers().get("authorization") == "Bearer t1")
        provider.set(status=500, body="down")  # from now on only the cache can serve
        seen, stop = [], threading.Event()

        def keep_asking():
            while not stop.is_set():
                seen.append(envoy.upstream_headers())

        asker = threading.Thread(target=keep_asking)
        asker.start()
        try:
            conf2 = config(header_cache_expiry="1s", retry_initial="1s", static_headers={"x-generation": "2"})
            write_lds(lds, 2, [listener([wasm_filter(conf2, vm_configuration="restart")])])
            eventually(lambda: seen and seen[-1].get("x-generation") == "2", what="the new configuration")
            time.sleep(0.5)
        finally:
            stop.set()
            asker.join()
        assert len(seen) >= 10  # requests before, during and after the swap
        assert all(h.get("authorization") == "Bearer t1" for h in seen), "a request without headers"
        # The old VMs go after the drain (1s) without a word to the module; their
        # lease lapses (3s) and a new VM takes over, while the cache keeps serving.
        provider.set(body={"Authorization": "Bearer t2"})
        eventually(lambda: "took over polling the provider: the previous poller's lease lapsed" in envoy.log(),
                   timeout=8, what="a new poller")
        eventually(lambda: envoy.upstream_headers().get("authorization") == "Bearer t2", timeout=3)
        start = time.monotonic()
        time.sleep(3.2)
        recent = [c for c in provider.calls if c[0] > start]
        assert 3 <= len(recent) <= 4, gaps(recent)  # one call a second again
        # Never two pollers: no two calls closer than a refresh, before, during or after the reload.
        assert all(g >= 0.75 for g in gaps(provider.calls)), gaps(provider.calls)  # 1s less up to 20%
