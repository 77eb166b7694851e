import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "support"))

from envoy import Envoy, bootstrap, wasm_filter  # noqa: E402
from servers import Provider, Upstream  # noqa: E402


@pytest.fixture
def provider():
    p = Provider()
    yield p
    try:
        p.stop()
    except OSError:
        pass


@pytest.fixture
def upstream():
    u = Upstream()
    yield u
    u.stop()


@pytest.fixture
def start_envoy(tmp_path, provider, upstream):
    """start_envoy(configuration_json_string, **Envoy kwargs) -> a running Envoy."""
    started = []

    def start(configuration, concurrency=1, wasm=None, **kwargs):
        filter_ = wasm_filter(configuration) if wasm is None else wasm_filter(configuration, wasm=wasm)
        config = bootstrap(provider.port, upstream.port, [filter_])
        envoy = Envoy(tmp_path / f"envoy{len(started)}", config, concurrency=concurrency, **kwargs).start()
        started.append(envoy)
        return envoy

    yield start
    for envoy in started:
        envoy.stop()
