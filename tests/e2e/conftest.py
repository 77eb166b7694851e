import pytest

from harness.envoy import Envoy, bootstrap, wasm_filter
from harness.idp import IdentityProvider
from harness.servers import Answer, Provider, Upstream


def credential_like(value: str) -> bool:
    """Short values ("v", "acme") and plain words ("trailers", "chunked") are
    not credentials and occur in ordinary log text; the check skips them."""
    return len(value) >= 8 and not value.isalpha()


@pytest.fixture(scope="session", autouse=True)
def no_provider_value_in_any_envoy_log():
    """After the whole run: no header value any test provider offered appears
    in the log of any Envoy the run started, each at trace level (but for the
    router's and http codec's header dumps; see harness/envoy.py)."""
    yield
    if not Envoy.started:
        return  # a selection of tests that starts no Envoy (say -k artifact)
    # Every header value a provider offered, and every client secret and
    # token the test IdP saw or issued.
    secrets = {v for v in Answer.offered | set(IdentityProvider.offered) if credential_like(v)}
    leaks = []
    for envoy in Envoy.started:
        if not envoy.log_path.exists():
            continue
        log = envoy.log_path.read_text(errors="replace")
        leaks += [(str(envoy.log_path), value[:40]) for value in secrets if value in log]
    assert not leaks, f"provider header values in Envoy logs: {leaks[:10]}"
    assert secrets, "the check saw no provider value: it would pass whatever the logs held"


def serving_provider():
    """A provider double, stopped after the test (which may have stopped it already)."""
    p = Provider()
    yield p
    try:
        p.stop()
    except OSError:
        pass


@pytest.fixture
def provider():
    yield from serving_provider()


@pytest.fixture
def partner():
    """A second provider, for a plugin with two."""
    yield from serving_provider()


@pytest.fixture
def upstream():
    u = Upstream()
    yield u
    u.stop()


@pytest.fixture
def start_envoy(tmp_path, provider, upstream):
    """start_envoy(configuration_json_string, **Envoy kwargs) -> a running Envoy."""
    started = []

    def start(configuration, concurrency=1, wasm=None, clusters=(), **kwargs):
        filter_ = wasm_filter(configuration) if wasm is None else wasm_filter(configuration, wasm=wasm)
        config = bootstrap(provider.port, upstream.port, [filter_], clusters=clusters)
        envoy = Envoy(tmp_path / f"envoy{len(started)}", config, concurrency=concurrency, **kwargs).start()
        started.append(envoy)
        return envoy

    yield start
    for envoy in started:
        envoy.stop()
