"""Every object configmap/ renders against the schema the API server holds it
to, strictly, as `kubectl apply` (strict field validation) would: Istio's
kinds against Istio's CRD schemas, Kubernetes' own against Kubernetes'. And a
mistake of each kind in each fails, so a typo is found here, not in a cluster."""

import copy

import pytest

from harness.manifests import OVERLAYS, one, render
from harness.schemas import schema_problems

RENDERINGS = OVERLAYS + ("provider",)


@pytest.mark.parametrize("overlay", RENDERINGS, ids=lambda o: o or "base")
def test_every_rendered_object_passes_its_schema(overlay):
    assert schema_problems(render(overlay)) == []


def test_every_kind_that_ships_is_checked():
    kinds = {o["kind"] for overlay in RENDERINGS for o in render(overlay)}
    assert kinds == {"ConfigMap", "Deployment", "Secret", "EnvoyFilter", "WasmPlugin", "ServiceEntry", "DestinationRule"}


def pop(obj: dict, key: str):
    obj.pop(key)


def rename(obj: dict, old: str, new: str):
    obj[new] = obj.pop(old)


def patch_match(envoyfilter: dict) -> dict:
    return envoyfilter["spec"]["configPatches"][0]["match"]["listener"]["filterChain"]


# (overlay, kind, the mistake, the problem reported)
MISTAKES = {
    "a misspelt field (pluginConfg)": ("wasmplugin", "WasmPlugin", lambda o: rename(o["spec"], "pluginConfig", "pluginConfg"),
                                       "WasmPlugin/header-augmenter /spec/pluginConfg: unknown field"),
    "a misspelt nested field": ("wasmplugin", "WasmPlugin", lambda o: rename(o["spec"]["match"][0], "mode", "mod"),
                                "WasmPlugin/header-augmenter /spec/match/0/mod: unknown field"),
    "a bad enum": ("wasmplugin", "WasmPlugin", lambda o: o["spec"].update(failStrategy="FAIL_SOMETIMES"),
                   "WasmPlugin/header-augmenter /spec/failStrategy: enum"),
    "no url": ("wasmplugin", "WasmPlugin", lambda o: pop(o["spec"], "url"),
               'WasmPlugin/header-augmenter /spec: required {"missingProperty":"url"}'),
    "a bad sha256": ("wasmplugin", "WasmPlugin", lambda o: o["spec"].update(sha256="sha256:abc"),
                     "WasmPlugin/header-augmenter /spec/sha256: pattern"),
    "an EnvoyFilter's misspelt field": ("envoyfilter", "EnvoyFilter", lambda o: rename(patch_match(o), "filter", "filtr"),
                                        "EnvoyFilter/header-augmenter /spec/configPatches/0/match/listener/filterChain/filtr: unknown field"),
    "an EnvoyFilter's bad enum": ("envoyfilter", "EnvoyFilter", lambda o: o["spec"]["configPatches"][0].update(applyTo="HTTP_FILTR"),
                                  "EnvoyFilter/header-augmenter /spec/configPatches/0/applyTo: enum"),
    "a ServiceEntry's bad enum": ("provider", "ServiceEntry", lambda o: o["spec"].update(resolution="DNSS"),
                                  "ServiceEntry/idp /spec/resolution: enum"),
    "a DestinationRule's misspelt field": ("provider", "DestinationRule", lambda o: rename(o["spec"]["trafficPolicy"]["tls"], "mode", "mod"),
                                           "DestinationRule/idp /spec/trafficPolicy/tls/mod: unknown field"),
    "a ConfigMap's misspelt field": ("", "ConfigMap", lambda o: rename(o, "binaryData", "binarydata"),
                                     "ConfigMap/header-augmenter-wasm  (Kubernetes 1.30.0): Additional properties are not allowed ('binarydata' was unexpected)"),
    "a Deployment's misspelt field": ("wasmplugin", "Deployment", lambda o: o["spec"]["template"]["spec"].update(restartPolcy="Always"),
                                      "Deployment/orders spec/template/spec (Kubernetes 1.30.0): Additional properties are not allowed ('restartPolcy' was unexpected)"),
}


@pytest.mark.parametrize("mistake", MISTAKES)
def test_a_mistake_fails_naming_the_field(mistake):
    overlay, kind, make, problem = MISTAKES[mistake]
    obj = copy.deepcopy(one(render(overlay), kind))
    make(obj)
    problems = schema_problems([obj])
    assert any(p.startswith(problem) for p in problems), problems
