"""The README's first command, as a user runs it: scripts/run-local.sh builds
the filter, starts Envoy with a token-rotating provider and an echo upstream,
shows one request with the headers the filter injected, and stops everything
on Ctrl-C."""

import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time

from harness.envoy import ROOT
from harness.servers import free_ports


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def read_until(lines: queue.Queue, marker: str, timeout: float) -> str:
    """The output up to the line holding `marker`."""
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        if line is None:
            break
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError(f"no {marker!r} from scripts/run-local.sh:\n{''.join(seen)}")


def test_run_local_shows_the_injected_headers_and_stops_on_ctrl_c():
    ports = free_ports(4)
    names = ["--port", "--admin-port", "--provider-port", "--upstream-port"]
    args = [str(ROOT / "scripts" / "run-local.sh")] + [x for pair in zip(names, map(str, ports)) for x in pair]
    # A terminal's Ctrl-C reaches the whole foreground process group: so here.
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout] + [lines.put(None)],
                     daemon=True).start()
    try:
        shown = read_until(lines, "Ctrl-C stops everything", timeout=300)
        assert f"Envoy listener   http://127.0.0.1:{ports[0]}" in shown
        assert "One request through Envoy (HTTP 200); the upstream received:" in shown
        token = re.search(r"^  authorization: (Bearer \S+)$", shown, re.M)
        assert token, shown
        assert all(listening(p) for p in ports), shown
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)
    rest = "".join(iter(lambda: lines.get(timeout=5), None))
    assert "stopped Envoy, the provider and the upstream." in rest
    assert proc.returncode == 0
    assert not any(listening(p) for p in ports)
    # The demo logs the filter at debug: the token it showed is not in Envoy's log.
    assert token.group(1) not in (ROOT / "target" / "run-local" / "envoy.log").read_text(errors="replace")
