"""Hot restart: shared data belongs to one Envoy process, so the child starts
with none and its poller fetches at once, while the parent, draining, still
polls until it exits. The child's first requests wait for that first fetch
(the start-up hold), so they carry the headers after one provider round trip."""

import json
import os
import socket
import time

from harness.envoy import Envoy, bootstrap, wasm_filter

ROUND_TRIP = 0.3  # the provider's answer takes this long


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_childs_first_requests_get_headers_within_one_provider_round_trip(tmp_path, provider, upstream):
    provider.set(body={"Authorization": "Bearer parent-0123"})
    port = free_port()  # hot restart hands the parent's listening socket to the child by its address
    cfg = bootstrap(provider.port, upstream.port, [wasm_filter(json.dumps({"header_cache_expiry": "1h"}))],
                    listen_port=port)
    base_id = 1000 + os.getpid() % 50000
    args = ["--drain-time-s", "1", "--parent-shutdown-time-s", "3"]
    with Envoy(tmp_path / "parent", cfg, hot_restart=(base_id, 0), extra_args=args) as parent:
        assert parent.upstream_headers().get("authorization") == "Bearer parent-0123"
        provider.set(body={"Authorization": "Bearer child-0123"}, delay=ROUND_TRIP)
        calls = provider.call_count()
        with Envoy(tmp_path / "child", cfg, hot_restart=(base_id, 1), extra_args=args) as child:
            sent = time.monotonic()
            status, _, body = child.request("/")
            took = time.monotonic() - sent
            assert status == 200
            assert body["headers"].get("authorization") == "Bearer child-0123"
            assert took < ROUND_TRIP + 0.5, took
            assert provider.call_count() == calls + 1  # the child's own first fetch
            assert parent.proc.poll() is None  # the parent, draining, is still there (and polls)
