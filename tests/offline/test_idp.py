"""The OAuth 2.0 authorization server the end-to-end tests use (harness/idp.py,
oidc-provider) as a client meets it, with no Envoy: client_credentials with
either authentication method, scopes, resource indicators and their JWTs,
its refusals, its events, and the slow, HTML and down modes."""

import base64
import json
import time
import urllib.error

import pytest

from harness.idp import IdentityProvider, IdPError, basic_authorization, jwt_claims, jwt_header, token_request

TTL = 4
# Every character RFC 6749 §2.3.1's form-urlencoding changes, and ':' (Basic's separator).
RESERVED = "p+q/r=s%t u&v:w?x#y"
CLIENTS = [
    ("basic-svc", RESERVED, "basic", ["read", "write"]),
    ("post-svc", "post-secret", "body", ["read"]),
    ("billing svc:2", "plain", "basic", ["bill"]),
]


@pytest.fixture(scope="module")
def idp(tmp_path_factory):
    with IdentityProvider(clients=CLIENTS, ttl=TTL, log_path=tmp_path_factory.mktemp("idp") / "idp.log") as idp:
        yield idp


@pytest.fixture(autouse=True)
def normal(request):
    """Each test meets the shared IdP answering normally, with its TTL and no events."""
    if "idp" in request.fixturenames:
        idp = request.getfixturevalue("idp")
        idp.normal()
        idp.set_ttl(TTL)
        idp.clear_events()
    yield


def raw_basic(client_id: str, secret: str) -> dict:
    """Basic credentials as a client that forgets to form-urlencode them sends them."""
    return {"authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def test_client_secret_basic_decodes_the_form_urlencoded_secret(idp):
    answer = token_request(idp.token_url, "basic-svc", RESERVED, scope="read write")
    assert answer.status == 200, answer.body
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.headers["cache-control"] == "no-store"
    token = answer.json
    assert token["token_type"] == "Bearer" and token["scope"] == "read write" and token["expires_in"] == TTL
    [grant] = idp.grants()
    assert grant["client_id"] == "basic-svc" and grant["auth"] == "basic" and grant["granted_scope"] == "read write"
    # a client id with a space and a colon, encoded the same way
    assert token_request(idp.token_url, "billing svc:2", "plain", scope="bill").status == 200


def test_a_secret_not_form_urlencoded_is_refused(idp):
    """The server decodes what it gets: '+' unencoded reads as a space (a wrong
    secret), '%' unencoded does not decode at all."""
    answer = token_request(idp.token_url, auth="none", headers=raw_basic("basic-svc", "p+q"))
    assert (answer.status, answer.json["error"]) == (401, "invalid_client")
    answer = token_request(idp.token_url, auth="none", headers=raw_basic("basic-svc", RESERVED))
    assert (answer.status, answer.json["error"]) == (400, "invalid_request")
    assert "not properly encoded" in answer.json["error_description"]


def test_a_secret_outside_printable_ascii_is_refused(idp):
    """oidc-provider keeps to RFC 6749 Appendix A (client_secret = *VSCHAR,
    %x20-7E): it refuses to register such a secret, and refuses one in a
    request once decoded (UTF-8, percent-encoded: decoded, then refused)."""
    with pytest.raises(IdPError, match="invalid client_secret value"):
        idp.add_client("unicode-svc", "pässwörd", scopes=["read"])
    assert "unicode-svc" not in idp.clients
    answer = token_request(idp.token_url, "basic-svc", "pässwörd")
    sent = base64.b64decode(basic_authorization("basic-svc", "pässwörd").removeprefix("Basic "))
    assert sent == b"basic-svc:p%C3%A4ssw%C3%B6rd"
    assert (answer.status, answer.json["error"]) == (400, "invalid_request")
    [error] = idp.errors()
    assert error["error"] == "invalid_request" and "client_id" not in error  # refused before the client was read


def test_client_secret_post(idp):
    answer = token_request(idp.token_url, "post-svc", "post-secret", auth="body", scope="read")
    assert answer.status == 200, answer.body
    assert answer.json["scope"] == "read"
    assert idp.grants()[0]["auth"] == "body"


def test_a_client_must_use_its_own_authentication_method(idp):
    for client_id, secret, auth in [("post-svc", "post-secret", "basic"), ("basic-svc", RESERVED, "body")]:
        answer = token_request(idp.token_url, client_id, secret, auth=auth)
        assert (answer.status, answer.json["error"]) == (401, "invalid_client")
        assert ("www-authenticate" in answer.headers) == (auth == "basic")
    assert [e["error_detail"] for e in idp.errors()] == [
        "client_secret_basic used, the client is registered for client_secret_post",
        "client_secret_post used, the client is registered for client_secret_basic"]


def test_a_wrong_secret_or_an_unknown_client_is_invalid_client(idp):
    answer = token_request(idp.token_url, "basic-svc", "wrong")
    assert answer.status == 401
    assert answer.json == {"error": "invalid_client", "error_description": "client authentication failed"}
    assert answer.headers["www-authenticate"].startswith('Basic realm="http://127.0.0.1:')
    answer = token_request(idp.token_url, "nobody", "x", auth="body")
    assert (answer.status, answer.json["error"]) == (401, "invalid_client")
    assert answer.headers.get("www-authenticate") is None  # no Basic credentials, no challenge
    assert [(e["status"], e["error"], e["error_detail"]) for e in idp.errors()] == [
        (401, "invalid_client", "invalid secret provided"), (401, "invalid_client", "client not found")]


def test_scopes(idp):
    assert token_request(idp.token_url, "basic-svc", RESERVED, scope="write").json["scope"] == "write"
    assert "scope" not in token_request(idp.token_url, "basic-svc", RESERVED).json  # none asked, none granted
    for scope in ["admin", "read admin", "bill"]:  # unknown, or another client's
        answer = token_request(idp.token_url, "basic-svc", RESERVED, scope=scope)
        assert answer.status == 400, scope
        assert answer.json["error"] == "invalid_scope"
    assert [e["error"] for e in idp.errors()] == ["invalid_scope"] * 3
    assert len(idp.grants()) == 2


def test_a_resource_gets_a_jwt_for_it(idp):
    answer = token_request(idp.token_url, "basic-svc", RESERVED, scope="read", resource="https://api.example/v1")
    assert answer.status == 200, answer.body
    token = answer.json["access_token"]
    assert jwt_header(token)["typ"] == "at+jwt" and jwt_header(token)["alg"] == "RS256"
    claims = jwt_claims(token)
    assert claims["aud"] == "https://api.example/v1"
    assert claims["scope"] == "read" and claims["client_id"] == claims["sub"] == "basic-svc"
    assert claims["iss"] == idp.issuer
    assert claims["exp"] - claims["iat"] == TTL == answer.json["expires_in"]
    assert idp.grants()[0]["resource"] == "https://api.example/v1"
    # without one, an opaque token
    assert token_request(idp.token_url, "basic-svc", RESERVED).json["access_token"].count(".") == 0


def test_an_audience_parameter_is_taken_for_the_resource(idp):
    for audience in ["https://api.example/", "my-api"]:
        answer = token_request(idp.token_url, "post-svc", "post-secret", auth="body", scope="read", audience=audience)
        assert answer.status == 200, answer.body
        assert jwt_claims(answer.json["access_token"])["aud"] == audience
    answer = token_request(idp.token_url, "post-svc", "post-secret", auth="body",
                           audience="my-api", resource="https://api.example/")
    assert (answer.status, answer.json["error"]) == (400, "invalid_target")


def test_the_ttl_is_expires_in(idp):
    idp.set_ttl(2)
    answer = token_request(idp.token_url, "basic-svc", RESERVED, resource="https://api.example/")
    assert answer.json["expires_in"] == 2
    claims = jwt_claims(answer.json["access_token"])
    assert claims["exp"] - claims["iat"] == 2
    assert idp.grants()[0]["expires_in"] == 2


def test_clients_added_replaced_and_removed_while_it_runs(idp):
    idp.add_client("late-svc", "one", auth="body", scopes=["late"])  # a scope no client had at start
    assert token_request(idp.token_url, "late-svc", "one", auth="body", scope="late").json["scope"] == "late"
    idp.add_client("late-svc", "two", auth="body", scopes=["late"])  # the secret rotated
    assert token_request(idp.token_url, "late-svc", "one", auth="body").status == 401
    assert token_request(idp.token_url, "late-svc", "two", auth="body").status == 200
    idp.remove_client("late-svc")
    assert token_request(idp.token_url, "late-svc", "two", auth="body").json["error"] == "invalid_client"


def test_events_count_the_token_requests(idp):
    issued = token_request(idp.token_url, "basic-svc", RESERVED).json["access_token"]
    token_request(idp.token_url, "basic-svc", "wrong")
    token_request(idp.token_url, "post-svc", "post-secret", auth="body", scope="nope")
    assert idp.token_requests() == 3
    assert len(idp.grants()) == 1
    assert [e["error"] for e in idp.errors()] == ["invalid_client", "invalid_scope"]
    [grant] = idp.grants()
    assert grant["access_token"] == issued
    assert issued in IdentityProvider.offered and RESERVED in IdentityProvider.offered


def test_the_host_header_does_not_matter(idp):
    """Envoy may send its cluster's name as the Host: the issuer stays the configured one."""
    answer = token_request(idp.token_url, "basic-svc", RESERVED, resource="https://api.example/",
                           headers={"host": "idp.example.internal"})
    assert answer.status == 200
    assert jwt_claims(answer.json["access_token"])["iss"] == idp.issuer


def test_slow(idp):
    idp.slow(1)
    started = time.monotonic()
    answer = token_request(idp.token_url, "basic-svc", RESERVED)
    assert answer.status == 200
    assert time.monotonic() - started >= 1
    with pytest.raises((TimeoutError, urllib.error.URLError)):  # a client that gives up first
        token_request(idp.token_url, "basic-svc", RESERVED, timeout=0.3)
    assert idp.token_requests() == 2


def test_html(idp):
    idp.html()
    answer = token_request(idp.token_url, "basic-svc", RESERVED)
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.body.startswith(b"<!doctype html>")
    with pytest.raises(ValueError):
        json.loads(answer.body)
    assert idp.token_requests() == 1 and idp.grants() == []
    idp.answer(503, '{"error": "temporarily_unavailable"}', "application/json")
    assert token_request(idp.token_url, "basic-svc", RESERVED).status == 503
    idp.normal()
    assert token_request(idp.token_url, "basic-svc", RESERVED).status == 200


def test_down_and_up_again_on_another_token_path(tmp_path):
    idp = IdentityProvider(clients=[("svc", "s", "basic", ["read"])], ttl=TTL, token_path="/oauth2/v1/token",
                           default_resource="https://default.example/", resources=["https://default.example/"],
                           log_path=tmp_path / "idp.log")
    with idp:
        assert idp.token_url.endswith("/oauth2/v1/token")
        answer = token_request(idp.token_url, "svc", "s", scope="read")
        # the default resource: a JWT for it without asking
        assert jwt_claims(answer.json["access_token"])["aud"] == "https://default.example/"
        answer = token_request(idp.token_url, "svc", "s", resource="https://other.example/")
        assert (answer.status, answer.json["error"]) == (400, "invalid_target")
        assert token_request(idp.token_url.replace("/oauth2/v1/token", "/token"), "svc", "s").status == 404
        port = idp.port
        idp.down()
        with pytest.raises(urllib.error.URLError, match="Connection refused"):
            token_request(idp.token_url, "svc", "s")
        idp.up()
        assert idp.port == port
        assert token_request(idp.token_url, "svc", "s", scope="read").status == 200
        assert len(idp.grants()) == 2  # the events of both runs
    assert not idp.running


def test_a_client_it_cannot_register_stops_it_at_start(tmp_path):
    idp = IdentityProvider(clients=[("svc", "pässwörd", "basic", [])], log_path=tmp_path / "idp.log")
    with pytest.raises(IdPError, match="invalid client_secret value"):
        idp.start()
    assert not idp.running
