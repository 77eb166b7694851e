"""A real OCI registry on 127.0.0.1: the CNCF distribution registry (Debian's
docker-registry, installed by scripts/lib/tools.sh's ensure_registry), with a
configuration of its own, listening on loopback only (the package's default
listens on every interface), storing under the test's directory."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from harness.envoy import eventually, http_get, terminate
from harness.servers import free_ports


class Registry:
    def __init__(self, workdir: Path):
        self.workdir = Path(workdir)
        self.port = free_ports(1)[0]
        self.proc = None

    def start(self):
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": str(self.workdir / "storage")}},
            "http": {"addr": f"127.0.0.1:{self.port}"},
        }
        path = self.workdir / "config.yml"
        path.write_text(yaml.safe_dump(config))
        self.log_path = self.workdir / "registry.log"
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(["docker-registry", "serve", str(path)], stdout=log, stderr=subprocess.STDOUT)
        try:
            eventually(self._serving, timeout=20, what="the registry")
        except BaseException:
            self.stop()
            raise
        return self

    def _serving(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"the registry exited with {self.proc.returncode}:\n{self.log_path.read_text()[-2000:]}")
        try:
            return http_get(self.port, "/v2/")[0] == 200
        except OSError:
            return False

    def stop(self):
        terminate(self.proc)
