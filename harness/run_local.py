"""Runs the filter locally: a header provider that rotates a bearer token, an
echo upstream, and Envoy with dist/header_augmenter.wasm in front of it.
Started by scripts/run-local.sh; Ctrl-C stops everything."""

from __future__ import annotations

import argparse
import json
import signal
import threading
import time
from pathlib import Path

from harness.envoy import ROOT, Envoy, bootstrap, wasm_filter
from harness.servers import Provider, Upstream, _rotate


def follow(path: Path, stop: threading.Event):
    """Prints the filter's own log lines as Envoy writes them."""
    with open(path, errors="replace") as log:
        while not stop.is_set():
            line = log.readline()
            if not line:
                time.sleep(0.2)
            elif "wasm log" in line:
                stamp = line[12:20]
                print(f"  {stamp}  {line.split(': ', 1)[-1].rstrip()}", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=10000, help="Envoy listener")
    parser.add_argument("--admin-port", type=int, default=9901)
    parser.add_argument("--provider-port", type=int, default=18081)
    parser.add_argument("--upstream-port", type=int, default=18082)
    parser.add_argument("--rotate", type=float, default=10.0, help="seconds between new tokens")
    parser.add_argument("--configuration", default=json.dumps({"header_cache_expiry": "5s"}),
                        help="the plugin configuration (JSON)")
    args = parser.parse_args()
    # Ctrl-C, and a plain kill, stop everything cleanly, even when the shell
    # that started us ignores SIGINT (as non-interactive shells do for
    # background jobs, from whom Python would inherit it).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    provider = Provider(args.provider_port)
    upstream = Upstream(args.upstream_port)
    threading.Thread(target=_rotate, args=(provider, args.rotate), daemon=True).start()
    config = bootstrap(provider.port, upstream.port, [wasm_filter(args.configuration)],
                       listen_port=args.port, admin_port=args.admin_port)
    workdir = ROOT / "target" / "run-local"
    (workdir / "envoy.log").unlink(missing_ok=True)
    envoy = Envoy(workdir, config, log_level="info", component_log_level="wasm:debug")
    stop = threading.Event()
    try:
        envoy.start()
        print(f"""
header-augmenter is running:
  Envoy listener   http://127.0.0.1:{envoy.port}   requests pass through the filter
  Envoy admin      http://127.0.0.1:{envoy.admin_port}    e.g. /stats?filter=header_augmenter
  header provider  http://127.0.0.1:{provider.port}/headers   a new token every {args.rotate:g}s
  echo upstream    http://127.0.0.1:{upstream.port}   answers with the headers it received
  plugin config    {args.configuration}
  Envoy log        {envoy.log_path}

Try:  curl -s http://127.0.0.1:{envoy.port}/hello
""")
        time.sleep(0.5)
        status, _, body = envoy.request("/hello", {"user-agent": "run-local"})
        print(f"One request through Envoy (HTTP {status}); the upstream received:")
        for name, value in body["headers"].items():
            print(f"  {name}: {value}")
        print("\nThe filter's log (refreshes appear every few seconds). Ctrl-C stops everything.")
        threading.Thread(target=follow, args=(envoy.log_path, stop), daemon=True).start()
        # Not an endless Event().wait(): a signal the kernel hands to another
        # thread would never wake it. A sleeping main thread sees it within 0.5 s.
        while True:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not cut the cleanup short
            signal.signal(sig, signal.SIG_IGN)
        stop.set()
        envoy.stop()
        provider.stop()
        upstream.stop()
        print("\nstopped Envoy, the provider and the upstream.")


if __name__ == "__main__":
    main()
