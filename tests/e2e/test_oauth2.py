"""An `oauth2` provider in the real Envoy against a real OAuth 2.0
authorization server (oidc-provider, harness/idp.py) on 127.0.0.1: the
client-credentials grant with Basic and body credentials, scopes and
resource honoured, the next token before expiry, a wrong secret, the IdP
down, slow or answering HTML, and the secret from the environment.

The session's leak check (conftest.py) also looks for every client secret
and every token the IdP issued in every Envoy log.
"""

from __future__ import annotations

import copy
import json
import time

import pytest
import yaml

from harness.envoy import WASM, Envoy, bootstrap, cluster, eventually, validate, wasm_filter
from harness.idp import IdentityProvider, jwt_claims
from harness.manifests import CONFIGMAP

SECRET = "p+q/=% x~!"  # reserved characters: the Basic and form encodings must escape them
API = "https://api.example/"


@pytest.fixture
def idp(tmp_path):
    with IdentityProvider(clients=[("orders", SECRET, "basic", ["orders.read", "orders.write"]),
                                   ("batch", SECRET, "body", ["orders.read"])],
                          ttl=300, log_path=tmp_path / "idp.log") as server:
        yield server


def oauth_config(idp, client_id="orders", client_auth="basic", **extra) -> dict:
    oauth2 = {"client_id": client_id, "client_secret_env": "IDP_CLIENT_SECRET", "client_auth": client_auth,
              "scopes": ["orders.read"], "resource": API}
    oauth2.update(extra.pop("oauth2", {}))
    return {"header_providing_service_cluster": "idp", "header_providing_service_authority": f"127.0.0.1:{idp.port}",
            "header_providing_service_path": idp.token_path, "header_cache_expiry": "1h",
            "header_providing_service_timeout": "1s", "retry_initial": "200ms", "retry_max": "1s",
            "on_missing": "wait", "wait_timeout": "3s", "oauth2": oauth2, **extra}


def envoy_config(idp, provider, upstream, configuration: dict, monkeypatch, env: dict | None = None) -> dict:
    """The filter with `configuration`, the VM given the variables `env` from
    Envoy's own environment (host_env_keys): the way to keep a secret out of
    Envoy's configuration, whose debug log shows `key_values` in full."""
    env = {"IDP_CLIENT_SECRET": SECRET} if env is None else env
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    filter_ = wasm_filter(json.dumps(configuration))
    vm = filter_["typed_config"]["config"]["vm_config"]
    vm["environment_variables"] = {"host_env_keys": ["IDP_CLIENT_SECRET", "API_KEY"]}
    return bootstrap(provider.port, upstream.port, [filter_], clusters=[cluster("idp", idp.port)])


def token_of(headers: dict) -> str:
    value = headers.get("authorization", "")
    assert value.startswith("Bearer "), headers
    return value.removeprefix("Bearer ")


@pytest.mark.matrix
@pytest.mark.parametrize("client_id, client_auth", [("orders", "basic"), ("batch", "body")])
def test_a_token_from_the_idp_reaches_the_upstream(tmp_path, idp, provider, upstream, monkeypatch, client_id, client_auth):
    config = envoy_config(idp, provider, upstream, oauth_config(idp, client_id, client_auth),
                          monkeypatch)
    with Envoy(tmp_path, config) as envoy:
        token = token_of(envoy.upstream_headers())
        claims = jwt_claims(token)
        # The server honoured the scope and the resource it was sent.
        assert (claims["sub"], claims["aud"], claims["scope"]) == (client_id, API, "orders.read")
        [grant] = idp.grants()
        assert (grant["client_id"], grant["auth"], grant["access_token"]) == (client_id, client_auth, token)
        envoy.settle()
        assert envoy.stat("fetches_succeeded") == 1
        assert f'oauth2 client "{client_id}"' in envoy.log()
        assert "fetched 1 header (authorization), expires_in 300s; next refresh in" in envoy.log()


def test_audience_and_params_are_sent(tmp_path, idp, provider, upstream, monkeypatch):
    """`audience` (which oidc-provider takes as the resource) and a scope list."""
    configuration = oauth_config(idp, oauth2={"scopes": ["orders.read", "orders.write"], "resource": None,
                                              "audience": "https://audience.example/"})
    del configuration["oauth2"]["resource"]
    config = envoy_config(idp, provider, upstream, configuration, monkeypatch)
    with Envoy(tmp_path, config) as envoy:
        claims = jwt_claims(token_of(envoy.upstream_headers()))
        assert claims["aud"] == "https://audience.example/"
        assert sorted(claims["scope"].split()) == ["orders.read", "orders.write"]


def test_the_next_token_arrives_before_the_last_expires(tmp_path, idp, provider, upstream, monkeypatch):
    idp.set_ttl(3)
    config = envoy_config(idp, provider, upstream, oauth_config(idp), monkeypatch)
    with Envoy(tmp_path, config) as envoy:
        seen = []
        deadline = time.time() + 7
        while time.time() < deadline:
            token = token_of(envoy.upstream_headers())
            # Every request carried a token that had not expired yet.
            assert jwt_claims(token)["exp"] > time.time(), "an expired token was sent"
            seen.append(token)
            time.sleep(0.2)
        # At a 3s lifetime, refreshed a second before it ends less up to 20%:
        # every 1.6-2s, so 4 or 5 tokens in 7s (and none more often).
        assert len(set(seen)) >= 3, f"{len(set(seen))} tokens in 7s at a 3s lifetime"
        assert len(idp.grants()) <= 5, "refreshed more often than the lifetime needs"


def test_a_wrong_secret_keeps_the_last_token_and_logs_the_error_code(tmp_path, idp, provider, upstream, monkeypatch):
    idp.set_ttl(2)
    config = envoy_config(idp, provider, upstream, oauth_config(idp), monkeypatch)
    with Envoy(tmp_path, config) as envoy:
        first = token_of(envoy.upstream_headers())
        idp.add_client("orders", "another-secret", "basic", ["orders.read"])  # rotated at the IdP only
        eventually(lambda: envoy.stat("fetches_failed") >= 2, timeout=6)
        assert token_of(envoy.upstream_headers()) == first, "the last good token is kept"
        assert [e["error"] for e in idp.errors()][:1] == ["invalid_client"]
        assert ('header fetch failed: the provider call returned HTTP 401, error "invalid_client"; '
                "keeping the last good headers (1, fetched") in envoy.log()
        assert "retrying in" in envoy.log()


@pytest.mark.parametrize("fault, logged", [
    ("down", "the provider call returned HTTP 503"),  # Envoy answers for a refused connection
    ("slow", "no response within 1s (header_providing_service_timeout)"),
    ("html", "the body is not valid JSON: expected a JSON value at byte 0"),
])
def test_an_idp_fault_is_survived_like_any_provider_fault(tmp_path, idp, provider, upstream, monkeypatch, fault, logged):
    idp.set_ttl(2)
    config = envoy_config(idp, provider, upstream, oauth_config(idp), monkeypatch)
    with Envoy(tmp_path, config) as envoy:
        first = token_of(envoy.upstream_headers())
        {"down": idp.down, "slow": lambda: idp.slow(3), "html": idp.html}[fault]()
        eventually(lambda: envoy.stat("fetches_failed") >= 1, timeout=8)
        assert token_of(envoy.upstream_headers()) == first
        assert logged in envoy.log()
        if fault == "down":
            idp.up()
        else:
            idp.normal()
        eventually(lambda: token_of(envoy.upstream_headers()) != first, timeout=8)


@pytest.mark.matrix
def test_a_missing_secret_fails_validation_naming_the_variable(tmp_path, idp, provider, upstream, monkeypatch):
    config = envoy_config(idp, provider, upstream, oauth_config(idp), monkeypatch, env={})
    monkeypatch.delenv("IDP_CLIENT_SECRET", raising=False)
    result = validate(tmp_path, config)
    assert result.returncode != 0
    assert ("invalid configuration: oauth2.client_secret_env: the environment variable "
            '"IDP_CLIENT_SECRET" is not set, or empty') in result.stdout + result.stderr


def test_static_headers_come_from_the_environment(tmp_path, idp, provider, upstream, monkeypatch):
    configuration = oauth_config(idp, static_headers_env={"x-api-key": "API_KEY"})
    config = envoy_config(idp, provider, upstream, configuration, monkeypatch,
                          env={"IDP_CLIENT_SECRET": SECRET, "API_KEY": "k-1234-abcd"})
    with Envoy(tmp_path, config) as envoy:
        headers = envoy.upstream_headers()
        assert headers.get("x-api-key") == "k-1234-abcd"
        token_of(headers)
        dump = envoy.admin("/config_dump")[1]
        assert "IDP_CLIENT_SECRET" in dump and SECRET not in dump and "k-1234-abcd" not in dump


def test_the_plain_envoy_oauth2_example_runs(tmp_path, idp, upstream, monkeypatch):
    config = yaml.safe_load((CONFIGMAP / "envoy" / "envoy-oauth2.yaml").read_text())
    config["admin"]["address"]["socket_address"]["port_value"] = 0
    listener = config["static_resources"]["listeners"][0]
    listener["address"]["socket_address"]["port_value"] = 0
    listener["name"] = "main"
    ports = {"api": upstream.port, "idp": idp.port}
    config["static_resources"]["clusters"] = [cluster(c["name"], ports[c["name"]])
                                              for c in config["static_resources"]["clusters"]]
    hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
    wasm = hcm["http_filters"][0]["typed_config"]["config"]
    wasm["vm_config"]["code"]["local"]["filename"] = str(WASM)
    plugin = wasm["configuration"]["value"]
    plugin["header_providing_service_path"] = idp.token_path
    idp.add_client("orders", SECRET, "basic", ["orders.read"])
    monkeypatch.setenv("IDP_CLIENT_SECRET", SECRET)
    with Envoy(tmp_path, copy.deepcopy(config)) as envoy:
        claims = jwt_claims(token_of(envoy.upstream_headers()))
        assert (claims["sub"], claims["scope"]) == ("orders", "orders.read")
