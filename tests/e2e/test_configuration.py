"""A bad configuration fails `envoy --mode validate` (and so any deployment)
with one line naming the field and the problem. The table below is every
kind of mistake for every field, with the exact line the filter writes."""

import json

import pytest

from harness.envoy import assert_configuration_refused, bootstrap, validate, wasm_filter

CLUSTER = "header_providing_service_cluster"
AUTHORITY = "header_providing_service_authority"
PATH = "header_providing_service_path"
DURATION_TYPE = 'must be a duration string such as "5s", "5m" or "1h30m"'
ON_MISSING = '"continue", "deny", "wait"'
TARGETS = '"request", "response", "both"'
REFUSED_HOST = "reserved name: host, content-length, hop-by-hop and x-envoy-* headers belong to Envoy"

# (configuration, the line after "invalid configuration: "). A str is JSON
# text (a StringValue), bytes a BytesValue, a dict a google.protobuf.Struct.
BAD = [
    # The document as a whole.
    ("[]", "the configuration must be a JSON object, found an array"),
    ('"header_cache_expiry"', "the configuration must be a JSON object, found a string"),
    ("42", "the configuration must be a JSON object, found a number"),
    ("null", "the configuration must be a JSON object, found null"),
    ("{", "the configuration is not valid JSON: ended inside an object at byte 1"),
    ('{"overwrite": true,}', "the configuration is not valid JSON: expected a string key at byte 19"),
    ('{"overwrite": true} {}', "the configuration is not valid JSON: unexpected data after the JSON value at byte 20"),
    (b'{"header_providing_service_path": "/\xff"}', "the configuration is not valid JSON: is not valid UTF-8 at byte 36"),
    (b'\xef\xbb\xbf{}', "the configuration is not valid JSON: starts with a byte order mark at byte 0"),
    ('{"header_providing_service_path": "/' + "a" * 70_000 + '"}',
     "the configuration is 70038 bytes, over the 65536-byte limit"),
    ('{"header_cache_expiri": "5s"}', 'unknown field "header_cache_expiri"; did you mean "header_cache_expiry"?'),
    ('{"Overwrite": false}', 'unknown field "Overwrite"; did you mean "overwrite"?'),
    ('{"cluster": "x"}', 'unknown field "cluster"; the fields are header_providing_service_cluster, '
     "header_providing_service_authority, header_providing_service_path, header_cache_expiry, "
     "header_providing_service_timeout, overwrite, retry_initial, retry_max, max_stale, on_missing, "
     "deny_status, wait_timeout, static_headers, static_headers_env, oauth2, destinations, target, providers"),
    ('{"overwrite": true, "overwrite": false}', "overwrite: is given more than once"),
    # header_providing_service_cluster
    (f'{{"{CLUSTER}": 8080}}', f"{CLUSTER}: must be a string naming an Envoy cluster, found a number"),
    (f'{{"{CLUSTER}": ""}}', f"{CLUSTER}: is empty; name the Envoy cluster of the header provider"),
    (f'{{"{CLUSTER}": "a\\u0001b"}}', f"{CLUSTER}: has a control character"),
    (f'{{"{CLUSTER}": "{"c" * 1025}"}}', f"{CLUSTER}: is longer than 1024 bytes"),
    # header_providing_service_authority
    (f'{{"{AUTHORITY}": true}}', f"{AUTHORITY}: must be a string, a host name with an optional port, found a boolean"),
    (f'{{"{AUTHORITY}": ""}}', f"{AUTHORITY}: is empty; give the host name the provider expects"),
    (f'{{"{AUTHORITY}": "idp.example/x"}}',
     f"{AUTHORITY}: \"idp.example/x\" must be a host name with an optional port, without white space or '/'"),
    # header_providing_service_path
    (f'{{"{PATH}": 5}}', f'{PATH}: must be a string starting with "/", found a number'),
    (f'{{"{PATH}": ""}}', f'{PATH}: "" must start with "/"'),
    (f'{{"{PATH}": "headers"}}', f'{PATH}: "headers" must start with "/"'),
    (f'{{"{PATH}": "/a b"}}', f"{PATH}: \"/a b\" must not contain white space, control characters or '#'"),
    (f'{{"{PATH}": "/a#b"}}', f"{PATH}: \"/a#b\" must not contain white space, control characters or '#'"),
    # header_cache_expiry (every duration field shares these rules)
    ('{"header_cache_expiry": 360}', f"header_cache_expiry: {DURATION_TYPE}, found a number"),
    ('{"header_cache_expiry": ""}', 'header_cache_expiry: "" is empty; give a duration such as "5s"'),
    ('{"header_cache_expiry": "360"}', 'header_cache_expiry: "360" has no unit; add one of ms, s, m, h (as in "360s")'),
    ('{"header_cache_expiry": "5x"}', 'header_cache_expiry: "5x" has an unknown unit "x"; use ms, s, m or h'),
    ('{"header_cache_expiry": "0s"}', 'header_cache_expiry: "0s" is zero; a duration must be greater than zero'),
    ('{"header_cache_expiry": "-5s"}', 'header_cache_expiry: "-5s" is negative; a duration must be greater than zero'),
    ('{"header_cache_expiry": "1194h"}', 'header_cache_expiry: "1194h" is too long; the most is 1193h'),
    ('{"header_cache_expiry": "1.5ms"}', 'header_cache_expiry: "1.5ms" is finer than a millisecond'),
    ('{"header_cache_expiry": "5 s"}',
     'header_cache_expiry: "5 s" is not a duration; write a number and a unit, as in "250ms", "5s" or "1h30m"'),
    # header_providing_service_timeout
    ('{"header_providing_service_timeout": {}}', f"header_providing_service_timeout: {DURATION_TYPE}, found an object"),
    ('{"header_providing_service_timeout": "0ms"}',
     'header_providing_service_timeout: "0ms" is zero; a duration must be greater than zero'),
    # overwrite
    ('{"overwrite": "false"}', "overwrite: must be true or false, found a string"),
    ('{"overwrite": 1}', "overwrite: must be true or false, found a number"),
    ('{"overwrite": null}', "overwrite: must be true or false, found null"),
    # retry_initial, retry_max
    ('{"retry_initial": "2m"}', "retry_initial: 2m is longer than retry_max (1m)"),
    ('{"retry_max": "500ms"}', "retry_initial: 1s is longer than retry_max (500ms)"),
    ('{"retry_initial": "soon"}',
     'retry_initial: "soon" is not a duration; write a number and a unit, as in "250ms", "5s" or "1h30m"'),
    ('{"retry_max": false}', f"retry_max: {DURATION_TYPE}, found a boolean"),
    # max_stale
    ('{"max_stale": 60}', f"max_stale: {DURATION_TYPE}, found a number"),
    ('{"max_stale": "0s"}', 'max_stale: "0s" is zero; a duration must be greater than zero'),
    # on_missing
    ('{"on_missing": "block"}', f'on_missing: "block" is not one of {ON_MISSING}'),
    ('{"on_missing": ""}', f'on_missing: "" is not one of {ON_MISSING}'),
    ('{"on_missing": 1}', f"on_missing: must be one of {ON_MISSING}, found a number"),
    # deny_status
    ('{"deny_status": 200}', "deny_status: must be an HTTP status from 400 to 599, found 200"),
    ('{"deny_status": 600}', "deny_status: must be an HTTP status from 400 to 599, found 600"),
    ('{"deny_status": -1}', "deny_status: must be an HTTP status from 400 to 599, found -1"),
    ('{"deny_status": 503.5}', "deny_status: expected a whole number at byte 19"),
    ('{"deny_status": "503"}', "deny_status: must be an HTTP status from 400 to 599, found a string"),
    # wait_timeout
    ('{"wait_timeout": []}', f"wait_timeout: {DURATION_TYPE}, found an array"),
    ('{"wait_timeout": "0s"}', 'wait_timeout: "0s" is zero; a duration must be greater than zero'),
    # static_headers
    ('{"static_headers": ["x-a"]}', "static_headers: must be an object of header names to string values, found an array"),
    ('{"static_headers": {"x-a": 1}}', 'static_headers: the value of "x-a" must be a string, found a number'),
    ('{"static_headers": {"Host": "h"}}', f'static_headers: "Host" is refused: {REFUSED_HOST}'),
    ('{"static_headers": {"": "v"}}', 'static_headers: "" is refused: empty name'),
    ('{"static_headers": {"x-a": ""}}', 'static_headers: "x-a" is refused: empty value'),
    ('{"static_headers": {"x-a": "v\\r\\nInjected: 1"}}',
     'static_headers: "x-a" is refused: value has a control character such as CR, LF or NUL'),
    # target
    ('{"target": "upstream"}', f'target: "upstream" is not one of {TARGETS}'),
    ('{"target": null}', f"target: must be one of {TARGETS}, found null"),
    # The same rules for a configuration given as a google.protobuf.Struct.
    ({"deny_status": 503.5}, "deny_status: expected a whole number at byte 18"),
    ({"header_cache_expiri": "5s"}, 'unknown field "header_cache_expiri"; did you mean "header_cache_expiry"?'),
    ({"static_headers": {"x-a": ["v"]}}, 'static_headers: the value of "x-a" must be a string, found an array'),
]


def label(configuration) -> str:
    text = configuration if isinstance(configuration, str) else repr(configuration)
    return text[:60]


# In each older Envoy too: an unknown field, as JSON text and as a Struct.
IN_MATRIX = ('{"header_cache_expiri": "5s"}', {"header_cache_expiri": "5s"})


@pytest.mark.parametrize("configuration,message", [
    pytest.param(c, m, id=label(c), marks=[pytest.mark.matrix] if c in IN_MATRIX else []) for c, m in BAD])
def test_a_bad_configuration_fails_validation_naming_the_field(tmp_path, configuration, message):
    assert_configuration_refused(tmp_path, configuration, message)


GOOD = {
    "header_providing_service_cluster": "outbound|8080||tokens.idp.svc.cluster.local",
    "header_providing_service_authority": "tokens.idp",
    "header_providing_service_path": "/v1/headers",
    "header_cache_expiry": "1h30m",
    "header_providing_service_timeout": "250ms",
    "overwrite": False,
    "retry_initial": "500ms",
    "retry_max": "30s",
    "max_stale": None,
    "on_missing": "wait",
    "deny_status": 401,
    "wait_timeout": "1500ms",
    "static_headers": {"x-cluster": "eu-1"},
    "target": "request",
}


@pytest.mark.matrix
@pytest.mark.parametrize("configuration", [None, "", "{}", json.dumps(GOOD), GOOD],
                         ids=["absent", "empty", "{}", "every field", "every field as a Struct"])
def test_a_good_configuration_validates(tmp_path, configuration):
    result = validate(tmp_path, bootstrap(1, 2, [wasm_filter(configuration)]))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "invalid configuration" not in result.stdout + result.stderr
