"""A real OAuth 2.0 authorization server on 127.0.0.1 for the tests: panva's
oidc-provider, started as harness/idp.mjs (which says how it is configured),
from the install of ensure_oidc_provider (scripts/lib/tools.sh).

    with IdentityProvider(ttl=3) as idp:
        idp.add_client("svc", "s3cr+t/=", auth="basic", scopes=["read"])
        answer = token_request(idp.token_url, "svc", "s3cr+t/=", scope="read",
                               resource="https://api.example/")
        assert jwt_claims(answer.json["access_token"])["aud"] == "https://api.example/"
        assert [e["client_id"] for e in idp.grants()] == ["svc"]

Its events (harness/idp.mjs prints them, one JSON object a line) are read as
they come: `events()` first makes sure every one printed so far has been read.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import subprocess
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from harness.envoy import ROOT, terminate

IDP_JS = Path(__file__).with_name("idp.mjs")


def oidc_provider_modules() -> str:
    """The node_modules directory that holds oidc-provider: OIDC_PROVIDER, as
    scripts/test.sh exports it, or else ensure_oidc_provider's (quick once installed)."""
    modules = os.environ.get("OIDC_PROVIDER")
    if not modules:
        script = f'source "{ROOT}/scripts/lib/tools.sh" && ensure_oidc_provider && printf "%s\\n" "$OIDC_PROVIDER"'
        result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"ensure_oidc_provider failed: {result.stderr}"
        modules = os.environ["OIDC_PROVIDER"] = result.stdout.strip()
    return modules


class IdPError(Exception):
    """The IdP refused an admin request (e.g. a client's metadata), or stopped."""


# --- the client side, as RFC 6749 has it ---------------------------------------

def form_encode(value: str) -> str:
    """application/x-www-form-urlencoded, of the UTF-8 bytes (RFC 6749 Appendix B)."""
    return urllib.parse.quote_plus(value, safe="")


def basic_authorization(client_id: str, secret: str) -> str:
    """client_secret_basic: the id and the secret each form-urlencoded first (RFC 6749 §2.3.1)."""
    pair = f"{form_encode(client_id)}:{form_encode(secret)}"
    return "Basic " + base64.b64encode(pair.encode("ascii")).decode("ascii")


@dataclass
class TokenResponse:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


def token_request(url: str, client_id: str | None = None, secret: str | None = None, auth: str = "basic", *,
                  scope: str | None = None, resource: str | None = None, audience: str | None = None,
                  form: dict | None = None, headers: dict | None = None, timeout: float = 10.0) -> TokenResponse:
    """A client_credentials token request. `auth`: "basic" (client_secret_basic),
    "body" (client_secret_post) or "none" (no credentials but what `form` and
    `headers` hold). `form` adds or replaces parameters (None drops one)."""
    fields = {"grant_type": "client_credentials", "scope": scope, "resource": resource, "audience": audience}
    sent = {"content-type": "application/x-www-form-urlencoded", "accept": "application/json"}
    if auth == "basic":
        sent["authorization"] = basic_authorization(client_id, secret)
    elif auth == "body":
        fields.update(client_id=client_id, client_secret=secret)
    elif auth != "none":
        raise ValueError(f"auth is basic, body or none, not {auth!r}")
    fields.update(form or {})
    sent.update(headers or {})
    body = urllib.parse.urlencode({k: v for k, v in fields.items() if v is not None}).encode()
    request = urllib.request.Request(url, data=body, headers=sent, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return TokenResponse(response.status, {k.lower(): v for k, v in response.headers.items()}, response.read())
    except urllib.error.HTTPError as error:
        return TokenResponse(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read())


def _b64url_json(part: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def jwt_claims(token: str) -> dict:
    """A JWT's claims, decoded, not verified."""
    return _b64url_json(token.split(".")[1])


def jwt_header(token: str) -> dict:
    return _b64url_json(token.split(".")[0])


# --- the server ----------------------------------------------------------------

class IdentityProvider:
    """harness/idp.mjs in a process of its own. Clients given here or added
    with add_client (before or after start); `ttl`: the access tokens' lifetime
    in seconds; `strict` (the default): a client must use the authentication
    method it is registered with and may ask only for its own scopes, else
    invalid_client / invalid_scope (oidc-provider alone accepts either method
    and drops unknown scopes); `resources`: the only resource indicators (or
    audiences) allowed, else any absolute URI; `default_resource`: the one a
    request without `resource` gets (a JWT then, not an opaque token)."""

    # Every client secret given to an IdP and every access token one issued so
    # far: credentials, which no log may show (as servers.Answer.offered).
    offered: set[str] = set()

    def __init__(self, clients=(), ttl: int = 300, token_path: str = "/token", port: int = 0, strict: bool = True,
                 resources: list[str] | None = None, default_resource: str | None = None,
                 log_path: Path | str | None = None):
        self.proc: subprocess.Popen | None = None
        self._reader: threading.Thread | None = None
        self.clients: dict[str, dict] = {}
        for client in clients:  # (client_id, secret, auth, scopes) or a dict of those
            if isinstance(client, dict):
                self.add_client(**client)
            else:
                self.add_client(*client)
        self.ttl = ttl
        self.token_path = token_path
        self.port = port
        self.strict = strict
        self.resources = resources
        self.default_resource = default_resource
        self.log_path = Path(log_path) if log_path else Path(tempfile.mkstemp(prefix="idp-", suffix=".log")[1])
        self.issuer: str | None = None
        self._events: list[dict] = []
        self._changed = threading.Condition()
        self._listening: dict | None = None
        self._ended = False
        self._seq = 0
        self._synced = 0

    # life
    def start(self, timeout: float = 20.0) -> IdentityProvider:
        assert not self.running, "the IdP is running already"
        config = {"port": self.port, "ttl": self.ttl, "token_path": self.token_path, "strict": self.strict,
                  "resources": self.resources, "default_resource": self.default_resource,
                  "clients": list(self.clients.values())}
        with tempfile.TemporaryDirectory(prefix="idp-") as directory:  # it holds the secrets: gone once read
            path = Path(directory) / "config.json"
            path.write_text(json.dumps(config))
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(
                    ["node", str(IDP_JS), oidc_provider_modules(), "--config", str(path), "--exit-with-stdin"],
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)
            self._listening, self._ended = None, False
            self._reader = threading.Thread(target=self._read, args=(self.proc,), daemon=True)
            self._reader.start()
            with self._changed:
                # (the end of its stdout, not poll(): the exit may come a moment after)
                ended = self._changed.wait_for(lambda: self._listening or self._ended, timeout)
            if not self._listening:
                self.stop()
                raise IdPError(f"the IdP {'stopped at start' if ended else f'did not start in {timeout}s'}: {self.log()}")
        self.port = self._listening["port"]  # kept: up() comes back on it
        self.issuer = self._listening["issuer"]
        return self

    def stop(self):
        """Stops it: the port closes, and a request to it is refused (the IdP "down")."""
        if self.proc:
            if self.proc.stdin:
                self.proc.stdin.close()
            terminate(self.proc)
            self._reader.join(5)  # it reads to the end: every event printed is in events()
            self.proc = None

    down = stop

    def up(self) -> IdentityProvider:
        """Starts it again after down(), on the same port, with the same clients
        and TTL (and a new signing key), answering normally."""
        return self.start()

    def __enter__(self) -> IdentityProvider:
        return self if self.running else self.start()

    def __exit__(self, *_):
        self.stop()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def token_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.token_path}"

    def log(self) -> str:
        """What the IdP wrote on stderr (oidc-provider's warnings, a crash)."""
        return self.log_path.read_text(errors="replace")

    # clients and modes
    def add_client(self, client_id: str, secret: str, auth: str = "basic", scopes=()):
        """Adds a client for the client_credentials grant (or replaces the one of
        that id: a new secret, say). `auth`: "basic" (client_secret_basic) or
        "body" (client_secret_post). oidc-provider refuses a secret or id with a
        character outside %x20-7E (RFC 6749 Appendix A): IdPError, if running."""
        client = {"client_id": client_id, "client_secret": secret, "auth": auth, "scopes": list(scopes)}
        IdentityProvider.offered.add(secret)
        if self.running:
            self._admin("POST", "/_idp/clients", client)
        self.clients[client_id] = client

    def remove_client(self, client_id: str):
        if self.running:
            self._admin("DELETE", "/_idp/clients/" + urllib.parse.quote(client_id, safe=""))
        self.clients.pop(client_id, None)

    def set_ttl(self, seconds: int):
        """The lifetime of the access tokens issued from now on (expires_in, and the JWT's exp)."""
        self.ttl = seconds
        if self.running:
            self._admin("POST", "/_idp/state", {"ttl": seconds})

    def slow(self, seconds: float):
        """Holds every request that long before handling it (0: not at all)."""
        self._admin("POST", "/_idp/state", {"delay": seconds})

    def answer(self, status: int = 200, body: str = "", content_type: str = "text/html"):
        """Answers every request with this, instead of what oidc-provider would."""
        self._admin("POST", "/_idp/state", {"answer": {"status": status, "type": content_type, "body": body}})

    def html(self, status: int = 200):
        """Answers every request with an HTML page (a login page, a captive portal)."""
        self.answer(status, "<!doctype html><html><head><title>Sign in</title></head>"
                            "<body><form method=post><input name=user></form></body></html>")

    def normal(self):
        """No delay and oidc-provider's own answers again."""
        self._admin("POST", "/_idp/state", {"delay": 0, "answer": None})

    # events
    def events(self, kind: str | None = None) -> list[dict]:
        """The events so far (all of them, or those of one kind: "request",
        "grant.success", "grant.error", "server_error"), each printed before its
        answer was sent; while it runs, every one printed so far."""
        if self.running:
            self._sync()
        with self._changed:
            return [e for e in self._events if kind is None or e["event"] == kind]

    def grants(self) -> list[dict]:
        """The tokens issued: client_id, auth ("basic" or "body"), scope (asked),
        granted_scope, resource, audience, expires_in, token_type, access_token."""
        return self.events("grant.success")

    def errors(self) -> list[dict]:
        """The token requests refused: status, error (invalid_client,
        invalid_scope, ...), error_description, error_detail (why, not sent), client_id."""
        return self.events("grant.error")

    def token_requests(self) -> int:
        """The requests the token endpoint received (answered or not yet, in any mode)."""
        return sum(e["path"] == self.token_path for e in self.events("request"))

    def wait_for(self, kind: str, count: int = 1, timeout: float = 10.0) -> list[dict]:
        """Waits until there are `count` events of `kind`; returns them."""
        def enough():
            return len([e for e in self._events if e["event"] == kind]) >= count
        with self._changed:
            if not self._changed.wait_for(enough, timeout):
                raise AssertionError(f"timed out after {timeout}s waiting for {count} {kind} events: {self._events}")
            return [e for e in self._events if e["event"] == kind]

    def clear_events(self):
        self.events()
        with self._changed:
            self._events.clear()

    # inside
    def _read(self, proc: subprocess.Popen):
        for raw in proc.stdout:  # to the end, when the process has gone
            try:
                event = json.loads(raw)
            except ValueError:
                event = {"event": "stdout", "line": raw.decode(errors="replace").rstrip("\n")}
            with self._changed:
                if event.get("event") == "listening":
                    self._listening = event
                elif event.get("event") == "sync":
                    self._synced = max(self._synced, event["seq"])
                else:
                    if event.get("event") == "grant.success":
                        IdentityProvider.offered.add(event["access_token"])
                    self._events.append(event)
                self._changed.notify_all()
        proc.stdout.close()
        with self._changed:
            self._ended = True
            self._changed.notify_all()

    def _sync(self, timeout: float = 5.0):
        self._seq += 1
        self._admin("POST", "/_idp/sync", {"seq": self._seq})
        with self._changed:
            if not self._changed.wait_for(lambda: self._synced >= self._seq, timeout):
                raise IdPError(f"the IdP's events stopped: {self.log()}")

    def _admin(self, method: str, path: str, body: dict | None = None) -> dict:
        if not self.running:
            raise IdPError(f"the IdP is not running: {self.log() if self.proc else ''}")
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request(method, path, body=json.dumps(body or {}), headers={"content-type": "application/json"})
            response = conn.getresponse()
            answer = json.loads(response.read() or b"{}")
        finally:
            conn.close()
        if response.status != 200:
            raise IdPError(f"{method} {path}: {response.status} {answer}")
        return answer

