"""A bad configuration fails `envoy --mode validate` (and so any deployment)
with one line naming the field and the problem."""

import json

import pytest

from envoy import bootstrap, validate, wasm_filter

BAD = [
    ('{"header_cache_expiry": "5x"}',
     'header_cache_expiry: "5x" has an unknown unit "x"; use ms, s, m or h'),
    ('{"header_cache_expiry": "0s"}',
     'header_cache_expiry: "0s" is zero; a duration must be greater than zero'),
    ('{"header_providing_service_timeout": 5}',
     'header_providing_service_timeout: must be a duration string such as "5s", "5m" or "1h30m", found a number'),
    ('{"header_providing_service_path": "headers"}',
     'header_providing_service_path: "headers" must start with "/"'),
    ('{"overwrite": "false"}', "overwrite: must be true or false, found a string"),
    ('{"header_providing_service_cluster": ""}',
     "header_providing_service_cluster: is empty; name the Envoy cluster of the header provider"),
    ('{"header_cache_expiri": "5s"}', 'unknown field "header_cache_expiri"; did you mean "header_cache_expiry"?'),
    ('["header_cache_expiry"]', "the configuration must be a JSON object, found an array"),
    ('{"overwrite": true,}', "the configuration is not valid JSON: expected a string key at byte 19"),
]


@pytest.mark.parametrize("configuration,message", BAD, ids=[m.split(":")[0] for _, m in BAD])
def test_a_bad_configuration_fails_validation_naming_the_field(tmp_path, configuration, message):
    result = validate(tmp_path, bootstrap(1, 2, [wasm_filter(configuration)]))
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"wasm log header_augmenter header_augmenter: invalid configuration: {message}\n" in output
    assert "Unable to create Wasm plugin header_augmenter" in output


@pytest.mark.parametrize("configuration", [None, "", "{}", json.dumps({
    "header_providing_service_cluster": "outbound|8080||tokens.idp.svc.cluster.local",
    "header_providing_service_authority": "tokens.idp",
    "header_providing_service_path": "/v1/headers",
    "header_cache_expiry": "1h30m",
    "header_providing_service_timeout": "250ms",
    "overwrite": False,
})])
def test_a_good_configuration_validates(tmp_path, configuration):
    result = validate(tmp_path, bootstrap(1, 2, [wasm_filter(configuration)]))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "invalid configuration" not in result.stdout + result.stderr
