"""The shapes a mesh gives the filter, in a real Envoy: a configuration
change in a live VM (file-based LDS, as Istio pushes a WasmPlugin edit),
several plugins of this module in one VM (two Istio WasmPlugins: no vm_id,
and the same or an empty root_id), on two listeners and in one chain."""

import json
import threading
import time

import pytest

from harness.envoy import Envoy, bootstrap, eventually, listener, wasm_filter, write_lds


REQUEST_COUNTERS = ("requests_augmented", "requests_without_headers", "requests_denied", "requests_held_cancelled")


def config(**fields):
    return json.dumps(fields)


@pytest.mark.matrix
def test_a_configuration_change_in_a_live_vm_applies_and_polling_goes_on(tmp_path, provider, upstream):
    provider.set(body={"Authorization": "Bearer t1"})
    lds = tmp_path / "lds.json"

    def plugin(generation, **fields):
        conf = config(static_headers={"x-generation": str(generation)}, **fields)
        # Istio's shape: the plugin's name, an empty root_id, one VM whatever the configuration.
        return listener([wasm_filter(conf, name="ns.auth", vm_id="", root_id="")])

    write_lds(lds, 1, [plugin(1, header_cache_expiry="1h")])
    cfg = bootstrap(provider.port, upstream.port, [], lds_path=lds)
    with Envoy(tmp_path / "envoy", cfg, concurrency=2, extra_args=["--drain-time-s", "1"]) as envoy:
        seen = []  # every request the test sends: (when, the headers the upstream got)

        def ask():
            seen.append((time.monotonic(), envoy.upstream_headers()))
            return seen[-1][1]

        eventually(lambda: ask().get("x-generation") == "1")
        stop = threading.Event()

        def keep_asking():
            while not stop.is_set():
                ask()

        asker = threading.Thread(target=keep_asking)
        asker.start()
        try:
            # Only the plugin configuration changes: same VM, a new root context beside the old.
            write_lds(lds, 2, [plugin(2, header_cache_expiry="1s")])
            eventually(lambda: envoy.admin("/stats?filter=listener_manager.lds.update_success")[1]
                       .strip().endswith(": 2"), what="Envoy to apply the new listener")
            applied = time.monotonic()
            time.sleep(1.5)
        finally:
            stop.set()
            asker.join()
        late = [h.get("x-generation") for t, h in seen if t > applied + 1.0]
        assert late and set(late) == {"2"}, f"old configuration 1s after the change: {late[:5]}"
        assert all(h.get("authorization") == "Bearer t1" for _, h in seen), "a request without headers"
        assert "reconfigured: new requests get this configuration" in envoy.log()
        # The old listener drains (1s) and its root context goes; the token rotates.
        provider.set(body={"Authorization": "Bearer t2"})
        eventually(lambda: ask().get("authorization") == "Bearer t2", timeout=3, what="the rotated token")
        start = time.monotonic()
        time.sleep(3.2)
        recent = [c for c in provider.calls if c[0] > start]
        assert 3 <= len(recent) <= 4, len(recent)  # polled at the new 1s interval, by one poller
        assert ask().get("x-generation") == "2"
        # Every request counted exactly once, in the plugin's counters across both configurations.
        envoy.settle()
        assert sum(envoy.stat(m, plugin="ns_auth") for m in REQUEST_COUNTERS) == len(seen)
        assert envoy.stat("requests_augmented", plugin="ns_auth") == len(seen)


@pytest.mark.parametrize("root_id", ["", "shared"])
def test_plugins_sharing_a_vm_and_a_root_id_on_two_listeners_get_their_own_headers(tmp_path, provider, upstream,
                                                                                   root_id):
    provider.set(body={"Authorization": "Bearer t1"})

    def plugin(name):
        conf = config(static_headers={"x-plugin": name}, on_missing="deny")
        return wasm_filter(conf, name=name, vm_id="", root_id=root_id)

    cfg = bootstrap(provider.port, upstream.port, [plugin("first")])
    cfg["static_resources"]["listeners"].append(listener([plugin("second")], name="second"))
    with Envoy(tmp_path / "envoy", cfg, concurrency=2) as envoy:
        ports = envoy.listener_ports()
        for _ in range(20):
            for name, port in (("first", ports["main"]), ("second", ports["second"])):
                headers = eventually(lambda: envoy.upstream_headers(port=port))
                assert headers.get("x-plugin") == name, (root_id, headers)
        envoy.settle()
        assert envoy.stat("requests_augmented", plugin="first") == 20
        assert envoy.stat("requests_augmented", plugin="second") == 20
        assert "matched no plugin of this VM" not in envoy.log()


def test_two_plugins_in_one_chain_each_add_their_own(tmp_path, provider, upstream):
    provider.set(body={"X-Token": "tok-shared-123"})
    first = wasm_filter(config(static_headers={"x-first": "1"}, overwrite=False), name="first", vm_id="", root_id="")
    second = wasm_filter(config(static_headers={"x-second": "2"}), name="second", vm_id="", root_id="")
    cfg = bootstrap(provider.port, upstream.port, [first, second])
    with Envoy(tmp_path / "envoy", cfg, concurrency=1) as envoy:
        headers = eventually(lambda: (h := envoy.upstream_headers()).get("x-token") and h)
        assert (headers.get("x-first"), headers.get("x-second")) == ("1", "2")
        envoy.settle()
        assert envoy.stat("requests_augmented", plugin="first") >= 1
        assert envoy.stat("requests_augmented", plugin="second") >= 1
        # Two plugins, two pollers, each once per refresh per Envoy.
        assert envoy.stat("provider_calls", plugin="first") == 1
        assert envoy.stat("provider_calls", plugin="second") == 1


def test_a_removed_plugin_is_forgotten_and_the_other_keeps_working(tmp_path, provider, upstream):
    provider.set(body={"Authorization": "Bearer t1"})
    lds = tmp_path / "lds.json"

    def plugin(name):
        return listener([wasm_filter(config(header_cache_expiry="1s"), name=name, vm_id="", root_id="")], name=name)

    write_lds(lds, 1, [plugin("kept"), plugin("removed")])
    cfg = bootstrap(provider.port, upstream.port, [], lds_path=lds)
    with Envoy(tmp_path / "envoy", cfg, concurrency=1, extra_args=["--drain-time-s", "1"]) as envoy:
        ports = eventually(lambda: len(envoy.listener_ports()) == 2 and envoy.listener_ports())
        eventually(lambda: envoy.upstream_headers(port=ports["kept"]).get("authorization"))
        write_lds(lds, 2, [plugin("kept")])
        eventually(lambda: 'plugin "removed" was removed from this VM' in envoy.log(), timeout=8,
                   what="the removed plugin to be forgotten")
        calls = provider.call_count()
        time.sleep(2.2)
        assert provider.call_count() - calls in (2, 3)  # only the kept plugin polls now
        assert envoy.upstream_headers(port=ports["kept"]).get("authorization") == "Bearer t1"


def test_when_the_newest_of_two_same_named_filters_goes_the_older_serves_its_own_configuration(
        tmp_path, provider, upstream):
    """Two listeners carry a filter of one name and root id with different
    configurations: a stream cannot tell them apart, so both get the newest.
    When the newest listener goes, the older one's own configuration serves
    again, and polling goes on."""
    provider.set(body={"Authorization": "Bearer t1"})
    lds = tmp_path / "lds.json"

    def plugin(listener_name, generation):
        conf = config(static_headers={"x-generation": generation}, header_cache_expiry="1s")
        return listener([wasm_filter(conf, name="p", vm_id="", root_id="")], name=listener_name)

    write_lds(lds, 1, [plugin("older", "1")])
    cfg = bootstrap(provider.port, upstream.port, [], lds_path=lds)
    with Envoy(tmp_path / "envoy", cfg, concurrency=1, extra_args=["--drain-time-s", "1"]) as envoy:
        port = eventually(lambda: envoy.listener_ports().get("older"))
        eventually(lambda: envoy.upstream_headers(port=port).get("x-generation") == "1")
        write_lds(lds, 2, [plugin("older", "1"), plugin("newer", "2")])
        eventually(lambda: envoy.upstream_headers(port=port).get("x-generation") == "2", what="the newest configuration")
        write_lds(lds, 3, [plugin("older", "1")])
        eventually(lambda: "the one before it serves again" in envoy.log(), timeout=10, what="the older one to drive")
        assert envoy.upstream_headers(port=port).get("x-generation") == "1"
        calls = provider.call_count()
        time.sleep(2.2)
        assert provider.call_count() - calls >= 2, "polling goes on"
        provider.set(body={"Authorization": "Bearer t2"})
        eventually(lambda: envoy.upstream_headers(port=port).get("authorization") == "Bearer t2", timeout=3)
