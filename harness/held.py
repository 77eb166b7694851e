"""Thousands of held requests, released at once: what the worker pays.

Envoy (one worker) runs the filter with `on_missing: wait` on a route that
answers directly, with a provider that fails; h2load opens N concurrent streams over a few HTTP/2
connections, and the filter holds each (the VM's queue takes up to 4,096).
Then the provider recovers, and the next fetch releases them all in one pass.

Measured: the held count and the filter's `wasm_memory_bytes` before and
while holding; the time from the provider's good answer to the last response
(h2load); and the worker's stall: a probe on another listener of the same
worker (no filter, a direct response) asks every millisecond through the
release, and its slowest answer is how long the worker could serve nothing.

    python3 -m harness.held [--requests 4000]
"""

from __future__ import annotations

import argparse
import http.client
import json
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from harness.envoy import Envoy, bootstrap, eventually, listener, wasm_filter
from harness.servers import Provider, Upstream

TOKEN = {"Authorization": "Bearer held-run-0123"}


def probe(port: int, stop: threading.Event, slowest: list[float]):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    while not stop.is_set():
        sent = time.monotonic()
        conn.request("GET", "/")
        conn.getresponse().read()
        slowest.append(time.monotonic() - sent)
        time.sleep(0.001)
    conn.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000)
    args = parser.parse_args()
    provider, upstream = Provider(), Upstream()
    provider.set(status=503, body="down")
    conf = json.dumps({"on_missing": "wait", "wait_timeout": "5m", "retry_initial": "1s", "retry_max": "1s"})
    # Both listeners answer directly: what is measured is the filter and
    # Envoy's own work, not an upstream taking thousands of requests at once.
    answer = {"direct_response": {"status": 200, "body": {"inline_string": "ok"}}}
    cfg = bootstrap(provider.port, upstream.port, [])
    cfg["static_resources"]["listeners"] = [listener([wasm_filter(conf)], route=answer),
                                            listener([], name="probe", route=answer)]
    workdir = Path(tempfile.mkdtemp(prefix="held-"))
    with Envoy(workdir, cfg, concurrency=1, log_level="warning", component_log_level="") as envoy:
        ports = envoy.listener_ports()
        eventually(lambda: envoy.stat("fetches_failed") >= 1, what="the first failed fetch")
        envoy.settle()
        memory_before = envoy.stat("wasm_memory_bytes")
        connections = max(1, args.requests // 100)
        load = subprocess.Popen(["h2load", "-n", str(args.requests), "-c", str(connections), "-m", "100",
                                 f"http://127.0.0.1:{ports['main']}/"], stdout=subprocess.PIPE, text=True)
        eventually(lambda: envoy.stat("requests_held") >= args.requests, timeout=60, interval=0.2,
                   what=f"{args.requests} held requests")
        envoy.settle()
        memory_held = envoy.stat("wasm_memory_bytes")
        slowest: list[float] = []
        stop = threading.Event()
        prober = threading.Thread(target=probe, args=(ports["probe"], stop, slowest))
        prober.start()
        time.sleep(0.3)
        baseline = max(slowest)
        provider.set(body=TOKEN)
        output, _ = load.communicate(timeout=60)
        done = time.monotonic()
        stop.set()
        prober.join()
        answered = [c[0] for c in provider.calls if c[0] and c[0] <= done][-1]
        envoy.settle()
        resumed = envoy.stat("requests_held_resumed")
        memory_after = envoy.stat("wasm_memory_bytes")
    provider.stop()
    upstream.stop()
    succeeded = next((line for line in output.splitlines() if line.startswith("requests:")), "?")
    print(f"held requests                     {args.requests} over {connections} HTTP/2 connections, one worker")
    print(f"h2load                            {succeeded.strip()}")
    print(f"released with headers             {resumed}")
    print(f"provider's answer to last response {1000 * (done - answered):.0f} ms (includes h2load reading them)")
    print(f"worker stall (slowest probe)      {1000 * max(slowest):.1f} ms (before the release: {1000 * baseline:.1f} ms)")
    print(f"wasm_memory_bytes                 {memory_before} before, {memory_held} holding, {memory_after} after")


if __name__ == "__main__":
    main()
