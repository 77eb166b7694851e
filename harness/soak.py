"""A memory soak of the filter in the real Envoy, once per allocator.

For each allocator build: Envoy (--concurrency 1, pinned to core 0) with the
filter, refreshing every 250 ms from a provider whose header set grows and
shrinks at every call (1 to 64 headers, values 10 B to 4 KB, new random
values each time); a warm-up; then at least 1,000,000 requests (wrk on core 1)
and 100 refreshes. The filter's own gauge `wasm_memory_bytes` (the linear
memory of its VMs) and Envoy's RSS are read after the warm-up (two cycles of
the provider's set sizes) and at the end; the linear memory must not grow.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import threading
import time
from pathlib import Path

from harness.bench import bootstrap, wrk
from harness.envoy import ROOT, Envoy, eventually, wasm_filter
from harness.servers import Answer, Provider

PAGE = 65536
ALLOCATORS = ["talc", "lol_alloc", "wee_alloc", "dlmalloc"]
STAT = "wasmcustom.header_augmenter.header_augmenter."


CYCLE = 64  # refreshes after which the pattern of set sizes repeats


class ChangingProvider(Provider):
    """A provider whose answer changes at every call: n headers of s bytes each,
    n going through 1..64 and s through 10 B..4 KB (as the filter's 32 KiB cap
    on a set allows), new random values every time. The sizes repeat every
    CYCLE calls, so a warm-up of two cycles has met every size twice."""

    def __init__(self):
        super().__init__()
        self.k = 0

    def next_answer(self) -> Answer:
        self.k += 1
        step = self.k % CYCLE
        n = 1 + (step * 17) % 64
        largest = min(4096, 30000 // n - 16)
        size = 10 + ((step * 37) % CYCLE) * (largest - 10) // (CYCLE - 1)
        body = {f"x-soak-{i}": os.urandom(size // 2 + 1).hex()[:size] for i in range(n)}
        return Answer(body=body)


def rss_bytes(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) * 1024


def soak(allocator: str, wasm: Path, args, workdir: Path) -> dict:
    provider = ChangingProvider()
    # Swap the answer after every call, so each refresh brings a different set.
    provider.answer = provider.next_answer()

    def rotate():
        last = 0
        while not rotate.stop:
            if provider.call_count() != last:
                last = provider.call_count()
                provider.answer = provider.next_answer()
            time.sleep(0.01)

    rotate.stop = False
    rotator = threading.Thread(target=rotate, daemon=True)
    rotator.start()
    config = bootstrap([wasm_filter(json.dumps({"header_cache_expiry": "250ms"}), wasm=wasm)], provider.port)
    envoy = Envoy(workdir / allocator, config, log_level="warning", component_log_level="",
                  wrapper=["taskset", "-c", "0"])
    envoy.start()
    try:
        def stat(name):
            return envoy.stats().get(STAT + name, 0)

        def requests():
            return envoy.stats("bench.downstream_rq_total").get("http.bench.downstream_rq_total", 0)

        # Warm-up, under load: two cycles of the provider's sizes, so the heap has
        # met every set size twice and reached its high-water mark.
        while stat("fetches_succeeded") < 2 * CYCLE:
            wrk(envoy.port, args.warmup_seconds, 16)
        time.sleep(0.5)
        start = {"memory": stat("wasm_memory_bytes"), "rss": rss_bytes(envoy.proc.pid),
                 "requests": requests(), "refreshes": stat("fetches_succeeded")}
        samples = [start["memory"]]
        began = time.monotonic()
        while True:
            wrk(envoy.port, args.chunk_seconds, 16)
            samples.append(stat("wasm_memory_bytes"))
            done_requests = requests() - start["requests"]
            done_refreshes = stat("fetches_succeeded") - start["refreshes"]
            if done_requests >= args.requests and done_refreshes >= args.refreshes:
                break
            if time.monotonic() - began > args.max_seconds:
                raise SystemExit(f"{allocator}: only {done_requests} requests and {done_refreshes} "
                                 f"refreshes in {args.max_seconds}s")
        time.sleep(0.5)
        end = {"memory": stat("wasm_memory_bytes"), "rss": rss_bytes(envoy.proc.pid),
               "requests": requests(), "refreshes": stat("fetches_succeeded")}
        failed = stat("fetches_failed")
        refused = stat("headers_refused")
    finally:
        rotate.stop = True
        envoy.stop()
        provider.stop()
    return {
        "allocator": allocator, "size": wasm.stat().st_size,
        "requests": end["requests"] - start["requests"], "refreshes": end["refreshes"] - start["refreshes"],
        "fetches_failed": failed, "headers_refused": refused,
        "memory_start": start["memory"], "memory_end": end["memory"], "memory_max": max(samples),
        "growth_pages": (end["memory"] - start["memory"]) // PAGE,
        "rss_start": start["rss"], "rss_end": end["rss"], "seconds": round(time.monotonic() - began),
        "memory_samples_pages": [m // PAGE for m in samples],
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("allocators", nargs="*", default=ALLOCATORS)
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--refreshes", type=int, default=100)
    parser.add_argument("--warmup-seconds", type=int, default=5)
    parser.add_argument("--chunk-seconds", type=int, default=10)
    parser.add_argument("--max-seconds", type=int, default=240)
    args = parser.parse_args()
    out = ROOT / "target" / "soak"
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for allocator in args.allocators:
        wasm = out / f"{allocator}.wasm"
        subprocess.run([str(ROOT / "scripts" / "build.sh"), "--allocator", allocator, "--flavor", "request",
                        "--out", str(wasm)], check=True, capture_output=True)
        print(f"soaking {allocator} ({wasm.stat().st_size:,} bytes)...", flush=True)
        result = soak(allocator, wasm, args, out)
        results.append(result)
        print(f"  {result['requests']:,} requests, {result['refreshes']} refreshes in {result['seconds']}s: "
              f"linear memory {result['memory_start'] // PAGE} -> {result['memory_end'] // PAGE} pages "
              f"({result['growth_pages']:+d}), RSS {result['rss_start'] / 2**20:.1f} -> "
              f"{result['rss_end'] / 2**20:.1f} MiB; pages every {args.chunk_seconds}s: "
              f"{result['memory_samples_pages']}", flush=True)
    lines = [
        f"Envoy 1.40, --concurrency 1 (2 VMs); refresh every 250 ms, the set changing each time (1-64 headers, "
        f"10 B-4 KB values, the sizes repeating every {CYCLE} refreshes); after a warm-up of {2 * CYCLE} refreshes "
        f"under load, at least {args.requests:,} requests and {args.refreshes} refreshes.",
        "",
        "| allocator | .wasm bytes | requests | refreshes | linear memory after warm-up | at the end | growth | Envoy RSS after warm-up | at the end |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(f"| {r['allocator']} | {r['size']:,} | {r['requests']:,} | {r['refreshes']} | "
                     f"{r['memory_start'] // PAGE} pages ({r['memory_start'] / 2**20:.2f} MiB) | "
                     f"{r['memory_end'] // PAGE} pages | {r['growth_pages']:+d} pages | "
                     f"{r['rss_start'] / 2**20:.1f} MiB | {r['rss_end'] / 2**20:.1f} MiB |")
    table = "\n".join(lines)
    print("\n" + table)
    (out / "results.md").write_text(table + "\n")
    (out / "results.json").write_text(json.dumps(results, indent=1))
    steady = [r for r in results if r["growth_pages"] <= 0]
    if steady:
        best = min(steady, key=lambda r: r["size"])
        print(f"\nno growth: {', '.join(r['allocator'] for r in steady)}; the smallest of them: {best['allocator']}")
    grew = [r["allocator"] for r in results if r["growth_pages"] > 0]
    if grew:
        print(f"grew after warm-up: {', '.join(grew)}")


if __name__ == "__main__":
    main()
