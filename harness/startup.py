"""Start-up cost of the filter: the time from starting Envoy to /ready with
and without the filter, and the latency of the first request after ready
(and whether it already carries the provider's headers, and whether it had
to wait for the first provider answer to get them). Runs alternate
between the two variants; medians and worst cases are reported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
from pathlib import Path

from harness.envoy import ENVOY, ROOT, WASM, bootstrap, http_get, wasm_filter
from harness.servers import Provider, Upstream


def run_once(config: dict, workdir: Path, with_filter: bool) -> dict:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "envoy.json").write_text(json.dumps(config))
    admin_path = workdir / "admin.txt"
    admin_path.unlink(missing_ok=True)
    started = time.monotonic()
    proc = subprocess.Popen([str(ENVOY), "-c", str(workdir / "envoy.json"), "--concurrency", "2",
                             "--disable-hot-restart", "--admin-address-path", str(admin_path), "-l", "error"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        while not (admin_path.exists() and admin_path.read_text().strip()):
            time.sleep(0.002)
        admin = int(admin_path.read_text().strip().rsplit(":", 1)[1])
        while True:
            try:
                if http_get(admin, "/ready", timeout=1)[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.002)
        ready = time.monotonic() - started
        listeners = json.loads(http_get(admin, "/listeners?format=json")[1])
        port = listeners["listener_statuses"][0]["local_address"]["socket_address"]["port_value"]
        sent = time.monotonic()
        status, body = http_get(port, "/")
        first = time.monotonic() - sent
        headers = json.loads(body)["headers"] if status == 200 else {}
        return {"ready_ms": ready * 1000, "first_request_ms": first * 1000, "status": status,
                "had_headers": headers.get("authorization") == "Bearer startup",
                "held": was_held(admin) if with_filter else None}
    finally:
        proc.terminate()
        proc.wait(10)


def was_held(admin: int) -> bool:
    """Whether the first request waited for the first provider answer (the
    filter's start-up hold), from its counters, which reach Envoy's stats on
    the next 200 ms tick: the request is counted augmented either way."""
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        stats = {s["name"].rsplit(".", 1)[-1]: s.get("value", 0)
                 for s in json.loads(http_get(admin, "/stats?format=json&filter=wasmcustom")[1])["stats"]}
        if stats.get("requests_augmented", 0) >= 1:
            return stats.get("requests_held", 0) >= 1
        time.sleep(0.05)
    raise RuntimeError("the first request was never counted in Envoy's stats")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    out = ROOT / "target" / "startup"
    provider, upstream = Provider(), Upstream()
    provider.set(body={"Authorization": "Bearer startup"})
    variants = {
        "no filter": bootstrap(provider.port, upstream.port, []),
        "header-augmenter": bootstrap(provider.port, upstream.port, [wasm_filter("{}", wasm=WASM)]),
    }
    results = {name: [] for name in variants}
    try:
        for i in range(args.runs):
            for name, config in variants.items():
                results[name].append(run_once(config, out / name.replace(" ", "_"), name != "no filter"))
    finally:
        provider.stop()
        upstream.stop()
    lines = [f"Envoy 1.40, --concurrency 2, {args.runs} starts of each, alternated; provider on loopback.", "",
             "| variant | start to /ready, median | worst | first request after ready, median | worst | first request had the headers | ... after waiting for the first fetch |",
             "|---|---|---|---|---|---|---|"]
    for name, rows in results.items():
        ready = [r["ready_ms"] for r in rows]
        first = [r["first_request_ms"] for r in rows]
        had = held = "-"
        if name != "no filter":
            had = f"{sum(r['had_headers'] for r in rows)} of {len(rows)}"
            waits = [f"{r['first_request_ms']:.0f} ms" for r in rows if r["held"]]
            held = f"{len(waits)} of {len(rows)}" + (f" ({', '.join(waits)})" if waits else "")
        lines.append(f"| {name} | {statistics.median(ready):.0f} ms | {max(ready):.0f} ms | "
                     f"{statistics.median(first):.1f} ms | {max(first):.1f} ms | {had} | {held} |")
    table = "\n".join(lines)
    print(table)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.md").write_text(table + "\n")
    (out / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
