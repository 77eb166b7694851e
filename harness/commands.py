"""Running the project's scripts and tools from the tests."""

import subprocess

from harness.envoy import ROOT


def run(*args, **kwargs) -> str:
    """Runs a command in the repository's root; fails the test, with its output, unless it succeeds."""
    result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120, **kwargs)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout
