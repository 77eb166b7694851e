"""configmap/, as kustomize renders it, and the objects the tests look at."""

from functools import lru_cache

import yaml

from harness.commands import run
from harness.envoy import ROOT

CONFIGMAP = ROOT / "configmap"
# "" is the base; each of the others is one way to deploy, applied instead of
# the others (envoyfilter/per-route: enabled on one virtual host;
# wasmplugin/destinations: two providers, each scoped to its destinations).
OVERLAYS = ("", "envoyfilter", "wasmplugin", "envoyfilter/per-route", "wasmplugin/destinations", "wasmplugin/oauth2")
MOUNTED = "/var/local/lib/wasm-filters/header_augmenter.wasm"


@lru_cache(maxsize=None)
def configmap_report() -> str:
    """scripts/configmap.sh's output; it also puts the artifact into configmap/wasm/."""
    return run("scripts/configmap.sh")


def render(overlay: str) -> list[dict]:
    configmap_report()
    return [o for o in yaml.safe_load_all(run("kubectl", "kustomize", str(CONFIGMAP / overlay))) if o]


def one(objects, kind) -> dict:
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, [o["kind"] for o in objects]
    return found[0]


def wasm_config_of(envoyfilter) -> dict:
    """The Wasm filter's `config` in the EnvoyFilter's HTTP_FILTER patch."""
    patch = envoyfilter["spec"]["configPatches"][0]
    assert (patch["applyTo"], patch["patch"]["operation"]) == ("HTTP_FILTER", "INSERT_BEFORE")
    assert patch["match"]["listener"]["filterChain"]["filter"]["subFilter"]["name"] == "envoy.filters.http.router"
    return patch["patch"]["value"]["typed_config"]["config"]
