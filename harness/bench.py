"""Per-request cost of the filter against the alternatives a user would weigh,
in the real Envoy. Run by scripts/bench.sh; see its header for the method.

Variants: no filter; this filter adding 2 headers from the provider, also
with its provider scoped by `destinations` to the route's cluster; the
least any proxy-wasm module can cost here (floor_module); Envoy's native
header_mutation filter adding the same 2 headers; a Lua filter adding them. Each filter variant has 10 instances in the chain (distinct names), so
its cost is amplified tenfold; the route is a direct_response, so no upstream
is involved.

This filter runs twice: each instance in a VM of its own, which is how each
instance runs in a deployment (one plugin per VM: Istio's outbound listeners
share one root id, so one plugin); and all ten in one VM (distinct names), where a stream must
ask the host which plugin it belongs to (src/filter/vm.rs), to show that cost too.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from harness.envoy import ROOT, WASM, Envoy, cluster, eventually, listener, wasm_filter
from harness.servers import Provider

INSTANCES = 10
TOKEN = "Bearer " + "x" * 40
HEADERS = {"authorization": TOKEN, "x-tenant": "acme"}
CLK_TCK = os.sysconf("SC_CLK_TCK")


# The module under test; --wasm replaces it.
MODULE = [WASM]


def augmenter(i: int, module: Path = None) -> dict:
    return wasm_filter(json.dumps({"header_cache_expiry": "1h"}), name=f"header_augmenter_{i}",
                       vm_id=f"header_augmenter_{i}", wasm=module or MODULE[0])


def augmenter_scoped(i: int) -> dict:
    """The same, its provider scoped to the route's cluster: each request
    reads its cluster's name and matches it (src/filter/destination.rs)."""
    config = {"header_cache_expiry": "1h", "destinations": ["*.example.com", "outbound|80||bench.local"]}
    return wasm_filter(json.dumps(config), name=f"header_augmenter_{i}", vm_id=f"header_augmenter_{i}",
                       wasm=MODULE[0])


def augmenter_one_vm(i: int) -> dict:
    return wasm_filter(json.dumps({"header_cache_expiry": "1h"}), name=f"header_augmenter_{i}", wasm=MODULE[0])


def header_mutation(i: int) -> dict:
    return {"name": f"header_mutation_{i}", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation",
        "mutations": {"request_mutations": [
            {"append": {"header": {"key": k, "value": v}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}}
            for k, v in HEADERS.items()]}}}


def lua(i: int) -> dict:
    code = "function envoy_on_request(handle)\n" + "".join(
        f'  handle:headers():replace("{k}", "{v}")\n' for k, v in HEADERS.items()) + "end\n"
    return {"name": f"lua_{i}", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
        "default_source_code": {"inline_string": code}}}


def floor_module(out: Path, writes: bool) -> Path:
    """The least a proxy-wasm filter can do here, written in wat: one exported
    request callback that returns at once or, with `writes`, sets HEADERS with
    one host call each. What header-augmenter costs above the second is its
    own work; the rest is the ABI's, which no module can avoid."""
    data, calls, at = [], [], 1024
    for name, value in HEADERS.items() if writes else ():
        data.append(f'(data (i32.const {at}) "{name}{value}")')
        calls.append(f"(drop (call $replace (i32.const 0) (i32.const {at}) (i32.const {len(name)}) "
                     f"(i32.const {at + len(name)}) (i32.const {len(value)})))")
        at += len(name) + len(value)
    wat = "\n".join([
        "(module",
        '  (import "env" "proxy_replace_header_map_value" (func $replace (param i32 i32 i32 i32 i32) (result i32)))',
        '  (memory (export "memory") 1)', *data,
        '  (func (export "proxy_abi_version_0_2_1"))',
        '  (func (export "malloc") (param i32) (result i32) (i32.const 8192))',
        '  (func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1))',
        '  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32)', *calls,
        "    (i32.const 0)))"])
    path = out / ("floor-writes.wasm" if writes else "floor-call.wasm")
    path.with_suffix(".wat").write_text(wat + "\n")
    subprocess.run([os.environ.get("WASM_AS", "wasm-as"), str(path.with_suffix(".wat")), "-o", str(path)], check=True)
    return path


def floor(module: Path):
    return lambda i: wasm_filter("{}", name=f"floor_{i}", vm_id=f"floor_{i}", wasm=module)


VARIANTS = {
    "no filter": None,
    "header-augmenter": augmenter,
    "header-augmenter, 10 in one VM": augmenter_one_vm,
    "header-augmenter, with destinations": augmenter_scoped,
    # Filled in by main(), which builds the modules.
    "proxy-wasm floor: the call alone": None,
    "proxy-wasm floor: call + 2 header writes": None,
    "header_mutation (native)": header_mutation,
    "Lua": lua,
}


def bootstrap(filters: list[dict], provider_port: int) -> dict:
    """Envoy answering every request itself after `filters`: no upstream.
    The route names a cluster, in Istio's style, so that a filter can read
    the cluster it goes to; a fault filter after them answers 200 before the
    router, which so never calls it. Every variant has both."""
    answer = {"name": "envoy.filters.http.fault", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault",
        "abort": {"http_status": 200, "percentage": {"numerator": 100}}}}
    route = {"route": {"cluster": "outbound|80||bench.local"}}
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": 0}}},
        "static_resources": {
            "listeners": [listener(filters + [answer], route=route, stat_prefix="bench")],
            "clusters": [cluster("sidecar", provider_port), cluster("outbound|80||bench.local", provider_port)],
        },
    }


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime, all threads


def waited_seconds(pid: int) -> float:
    """Time Envoy's threads spent runnable but waiting for a CPU."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[1])
        except (OSError, IndexError):
            pass
    return total / 1e9


def wrk(port: int, seconds: float, connections: int) -> dict:
    out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency",
                          f"http://127.0.0.1:{port}/"], capture_output=True, text=True, timeout=seconds + 30).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def latency(p):
        value, unit = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 1, "ms": 1e3, "s": 1e6}[unit]

    return {"rps": rps, "p50_us": latency(50), "p99_us": latency(99)}


def measure(envoy: Envoy, seconds: float, connections: int) -> dict:
    pid = envoy.proc.pid
    stats_before = envoy.stats("bench.downstream_rq_total")
    cpu0, wait0, wall0 = cpu_seconds(pid), waited_seconds(pid), time.monotonic()
    load = wrk(envoy.port, seconds, connections)
    cpu1, wait1, wall1 = cpu_seconds(pid), waited_seconds(pid), time.monotonic()
    stats_after = envoy.stats("bench.downstream_rq_total")
    requests = stats_after["http.bench.downstream_rq_total"] - stats_before["http.bench.downstream_rq_total"]
    return {**load, "requests": requests, "cpu_us_per_request": (cpu1 - cpu0) / requests * 1e6,
            "waited_share": (wait1 - wait0) / (wall1 - wall0)}


def start(name, filters, provider, workdir) -> Envoy:
    envoy = Envoy(workdir / re.sub(r"\W+", "_", name), bootstrap(filters, provider.port),
                  component_log_level="", log_level="warning", wrapper=["taskset", "-c", "0"])
    envoy.start()
    if filters and name.startswith("header-augmenter"):
        eventually(lambda: envoy.stats().get(
            "wasmcustom.header_augmenter.header_augmenter_9.fetches_succeeded", 0) >= 1, what="the headers")
        # Each instance really adds its headers: none is out of its scope.
        wrk(envoy.port, 1, 1)
        stats = eventually(lambda: (s := envoy.stats()).get(
            "wasmcustom.header_augmenter.header_augmenter_9.requests_augmented", 0) > 0 and s, what="augmented")
        assert stats.get("wasmcustom.header_augmenter.header_augmenter_9.requests_out_of_scope", 0) == 0, name
    return envoy


def rechart(out: Path):
    """Draws the chart again from a results.json."""
    chart(json.loads((out / "results.json").read_text())["summary"], out / "per-request-cost.png")


def main():
    if sys.argv[1:2] == ["--rechart"]:
        return rechart(Path(sys.argv[2]))
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--out", default=str(ROOT / "target" / "bench"))
    parser.add_argument("--wasm", default=str(WASM))
    parser.add_argument("--compare", metavar="FILE",
                        help="another build (say of an earlier commit), run as a fifth variant in the same rounds")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    MODULE[0] = Path(args.wasm).resolve()
    VARIANTS["proxy-wasm floor: the call alone"] = floor(floor_module(out, writes=False))
    VARIANTS["proxy-wasm floor: call + 2 header writes"] = floor(floor_module(out, writes=True))
    print(f"module: {MODULE[0]} ({MODULE[0].stat().st_size:,} bytes)", flush=True)
    if args.compare:
        other = Path(args.compare).resolve()
        print(f"compared with: {other} ({other.stat().st_size:,} bytes)", flush=True)
        VARIANTS[f"header-augmenter, {args.compare}"] = lambda i: augmenter(i, other)

    provider = Provider()
    provider.set(body=HEADERS)
    envoys = {}
    try:
        for name, make in VARIANTS.items():
            envoys[name] = start(name, [make(i) for i in range(INSTANCES)] if make else [], provider, out)
        # Headers really applied: a request through the augmenter chain must carry them.
        results = {name: [] for name in VARIANTS}
        names = list(envoys)
        for r in range(args.rounds):
            # Each round starts one variant later: a variant's place in the
            # round shifted its figure by up to 0.4 us per instance here.
            for name in names[r % len(names):] + names[:r % len(names)]:
                envoy = envoys[name]
                wrk(envoy.port, 1, args.connections)  # warm-up
                m = measure(envoy, args.seconds, args.connections)
                results[name].append(m)
                flag = "  <- Envoy waited for its core" if m["waited_share"] > 0.05 else ""
                print(f"  round {r + 1}/{args.rounds}  {name:<26} {m['cpu_us_per_request']:7.2f} us/request"
                      f"  {m['rps']:9.0f} req/s{flag}", flush=True)
    finally:
        for envoy in envoys.values():
            envoy.stop()
        provider.stop()
    report(results, args, out)


def report(results: dict, args, out: Path):
    med = {name: statistics.median(m["cpu_us_per_request"] for m in rows) for name, rows in results.items()}
    base = med["no filter"]
    lines = [
        f"Envoy 1.40, --concurrency 1, a cluster route answered by a fault filter; {INSTANCES} instances of each filter; "
        f"wrk -t1 -c{args.connections}, {args.seconds:g}s x {args.rounds} rounds, alternated; medians.",
        "",
        "| variant | Envoy CPU per request (10 instances) | added per instance | one instance vs no filter | requests/s | p50 | p99 | rounds flagged |",
        "|---|---|---|---|---|---|---|---|",
    ]
    summary = {}
    for name, rows in results.items():
        added = (med[name] - base) / INSTANCES
        flagged = sum(m["waited_share"] > 0.05 for m in rows)
        rps = statistics.median(m["rps"] for m in rows)
        p50 = statistics.median(m["p50_us"] for m in rows)
        p99 = statistics.median(m["p99_us"] for m in rows)
        summary[name] = {"cpu_us": med[name], "added_us": added, "ratio": (base + added) / base, "rps": rps,
                         "p50_us": p50, "p99_us": p99, "flagged": flagged,
                         "added_per_round": [(m["cpu_us_per_request"] - base) / INSTANCES for m in rows]}
        added_text = "-" if name == "no filter" else f"{added:.2f} us"
        ratio_text = "1.00x" if name == "no filter" else f"{(base + added) / base:.2f}x"
        lines.append(f"| {name} | {med[name]:.2f} us | {added_text} | {ratio_text} | {rps:,.0f} | "
                     f"{p50:.0f} us | {p99:.0f} us | {flagged} of {len(rows)} |")
    table = "\n".join(lines)
    print("\n" + table)
    (out / "results.md").write_text(table + "\n")
    (out / "results.json").write_text(json.dumps({"summary": summary, "rounds": results}, indent=1))
    chart(summary, out / "per-request-cost.png")
    print(f"\nwrote {out / 'results.md'}, {out / 'results.json'} and {out / 'per-request-cost.png'}")


def chart(summary: dict, path: Path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [n for n in summary if n != "no filter"]
    added = [summary[n]["added_us"] for n in names]
    lows = [a - min(summary[n]["added_per_round"]) for n, a in zip(names, added)]
    highs = [max(summary[n]["added_per_round"]) - a for n, a in zip(names, added)]
    fig, ax = plt.subplots(figsize=(10, 4.4), dpi=120)
    colors = ["#2b6cb0", "#90cdf4", "#cbd5e0", "#a0aec0", "#718096", "#c05621", "#805ad5"][:len(names)]
    labels = ["\n".join(textwrap.wrap(n, 20)) for n in names]
    bars = ax.bar(labels, added, yerr=[lows, highs], capsize=6, color=colors)
    ax.axhline(3.0, color="#2f855a", linestyle="--", linewidth=1)
    ax.text(-0.45, 3.05, "goal: 3 us", color="#2f855a", ha="left", va="bottom", fontsize=8)
    for bar, value in zip(bars, added):
        ax.text(bar.get_x() + bar.get_width() * 0.97, value, f"{value:.2f} us", ha="right", va="bottom",
                fontsize=9, fontweight="bold")
    ax.set_ylabel("added Envoy CPU per request (us)")
    ax.tick_params(axis="x", labelsize=8)
    ax.set_title(f"Cost of one filter instance (no filter: {summary['no filter']['cpu_us']:.1f} us/request)",
                 fontsize=10)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    fig.savefig(path)


if __name__ == "__main__":
    main()
