"""Manifests against the schemas the API server holds them to, strictly (no
field the schema does not name, as `kubectl apply`'s strict field validation
rejects): Istio's kinds against Istio's CRD schemas (istio_schemas.mjs, with
@kubernetes-models/istio from ISTIO_MODELS, which scripts/test.sh sets),
Kubernetes' own against Kubernetes' (kubernetes-validate)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import kubernetes_validate

ISTIO_SCHEMAS = Path(__file__).with_name("istio_schemas.mjs")
# The oldest Kubernetes the supported Istio releases run on (Istio 1.28: 1.30
# to 1.34), and the newest kubernetes-validate knows.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")


def is_istio(obj: dict) -> bool:
    return obj["apiVersion"].split("/")[0].endswith(".istio.io")


def label(obj: dict) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


def istio_problems(objects: list[dict]) -> list[str]:
    """One line per problem in the Istio objects, naming the object and the field."""
    modules = os.environ.get("ISTIO_MODELS")
    assert modules, "ISTIO_MODELS is not set: scripts/test.sh sets it (ensure_istio_models in scripts/lib/tools.sh)"
    result = subprocess.run(["node", str(ISTIO_SCHEMAS), modules], input=json.dumps(objects),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [f"{p['object']} {p['path']}: {p['message']}" for p in json.loads(result.stdout)]


def kubernetes_problems(objects: list[dict]) -> list[str]:
    problems = []
    for obj in objects:
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                problems.append(f"{label(obj)} {'/'.join(map(str, error.path))} (Kubernetes {version}): {error.message}")
    return problems


def schema_problems(objects: list[dict]) -> list[str]:
    """Every problem in the objects, each against its own kind's schema; [] if none."""
    istio = [o for o in objects if is_istio(o)]
    kubernetes = [o for o in objects if not is_istio(o)]
    return (istio_problems(istio) if istio else []) + kubernetes_problems(kubernetes)
