"""The test doubles Envoy talks to, on 127.0.0.1: a header provider whose
answers a test controls, and an upstream that echoes the request headers it
received. `run-local.sh` runs the same two, with a provider that rotates a token.

    python3 -m harness.servers --provider-port 8081 --upstream-port 8082 --rotate 10
"""

from __future__ import annotations

import argparse
import json
import secrets
import signal
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def free_ports(n: int) -> list[int]:
    """Ports free on 127.0.0.1 just now, for a program that must be told its port."""
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


class Answer:
    """One way for the provider to answer."""

    # The header values every answer made so far offers: credentials, as far as
    # the tests are concerned, which must never reach a log.
    offered: set[str] = set()

    def __init__(self, status=200, body: bytes | str | dict = b"{}", headers=None,
                 delay=0.0, reset=False, cut_at=None, stall=0.0):
        """`delay`: before answering; `reset`: drop the connection (RST), at
        once or, with `cut_at`, after that many bytes of the body; `stall`:
        with `cut_at`, wait that long after those bytes before the rest."""
        if isinstance(body, dict):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        try:
            values = json.loads(body)
            if isinstance(values, dict):
                Answer.offered.update(v for v in values.values() if isinstance(v, str))
        except (ValueError, RecursionError):  # not JSON, or nested deeper than Python reads
            pass
        self.status = status
        self.body = body
        self.headers = headers or {"content-type": "application/json"}
        self.delay = delay
        self.reset = reset
        self.cut_at = cut_at
        self.stall = stall


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, *args):
        super().__init__(*args)
        self.connections: set[socket.socket] = set()

    def process_request(self, request, client_address):
        self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address):
        """A client that hangs up mid-answer is part of the tests, not an error to print."""

    def stop(self):
        """Stops listening and drops kept-alive connections, as a dead process would."""
        self.shutdown()
        self.server_close()
        for conn in list(self.connections):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Quiet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # the tests read state, not access logs
        pass

    def _reply(self, status, body: bytes, headers: dict):
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Provider:
    """A header provider. Set `answer` (or call `set`) to change what it says;
    `calls` records the time and headers of every request it received."""

    def __init__(self, port=0, answer: Answer | None = None):
        self.answer = answer or Answer(body={})
        self.calls: list[tuple[float, str, dict]] = []
        self._lock = threading.Lock()
        provider = self

        class Handler(_Quiet):
            def do_GET(self):
                with provider._lock:
                    provider.calls.append((time.monotonic(), self.path,
                                           {k.lower(): v for k, v in self.headers.items()}))
                    answer = provider.answer
                if answer.delay:
                    time.sleep(answer.delay)
                if answer.cut_at is not None:
                    # Headers and the start of the body, then a stall or a reset.
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("content-length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body[:answer.cut_at])
                    self.wfile.flush()
                    if not answer.reset:
                        time.sleep(answer.stall)
                        self.wfile.write(answer.body[answer.cut_at:])
                        return
                if answer.reset:
                    # RST instead of FIN: the connection dies mid-exchange.
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                               struct.pack("ii", 1, 0))
                    self.close_connection = True
                    return
                self._reply(answer.status, answer.body, answer.headers)

        self._server = _Server(("127.0.0.1", port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def set(self, **kwargs):
        self.answer = Answer(**kwargs)

    def call_count(self) -> int:
        with self._lock:
            return len(self.calls)

    def stop(self):
        """Stops listening and drops open connections: Envoy's next call is refused."""
        self._server.stop()


class Upstream:
    """Answers every request with a JSON object of the request headers it got,
    and keeps them in `requests`."""

    def __init__(self, port=0):
        self.requests: list[dict] = []
        upstream = self

        class Handler(_Quiet):
            def _echo(self):
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                upstream.requests.append(headers)
                # header_list keeps repeated names that the dict would merge.
                body = json.dumps({"path": self.path, "headers": headers,
                                   "header_list": [[k.lower(), v] for k, v in self.headers.items()]},
                                  indent=2).encode()
                self._reply(200, body, {"content-type": "application/json"})

            do_GET = do_POST = do_PUT = do_DELETE = _echo

        self._server = _Server(("127.0.0.1", port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self):
        self._server.stop()


def _rotate(provider: Provider, every: float):
    """Like the original demo sidecar: a fresh bearer token every `every` seconds."""
    while True:
        token = secrets.token_urlsafe(24)
        provider.set(body={"Authorization": f"Bearer {token}", "X-Tenant": "demo"})
        time.sleep(every)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--provider-port", type=int, default=0)
    parser.add_argument("--upstream-port", type=int, default=0)
    parser.add_argument("--rotate", type=float, default=10.0, help="seconds between tokens")
    args = parser.parse_args()
    provider = Provider(args.provider_port)
    upstream = Upstream(args.upstream_port)
    threading.Thread(target=_rotate, args=(provider, args.rotate), daemon=True).start()
    print(f"provider on 127.0.0.1:{provider.port}, upstream on 127.0.0.1:{upstream.port}", flush=True)
    signal.sigwait({signal.SIGINT, signal.SIGTERM})


if __name__ == "__main__":
    main()
