"""Validate Kubernetes manifests against their schemas, offline.

    python scripts/validate_k8s.py deploy/k8s/*.yaml
    kustomize build deploy/k8s | python scripts/validate_k8s.py -

Built-in kinds (Deployment, Service, ...) are checked by kubernetes-validate against the
Kubernetes JSON schemas it ships, in strict mode (an unknown field is an error), for every
Kubernetes version given with -k (default: DEFAULT_VERSIONS).

kubernetes-validate has no schema for custom resources: its own CLI only warns about them and
passes. So every custom kind must be listed in CRD_MODELS, whose models the cloudcoil-models-*
packages generate from the operators' CRDs (KEDA, Prometheus Operator). A document is parsed by
its model and must dump back to exactly the same document: the models ignore unknown fields, so
the round trip is what rejects a misspelt or unknown field, or a value the schema would coerce.

A kind in neither is an error: nothing is skipped silently. The only documents not validated
are kustomize's own Kustomization files (NOT_CLUSTER_OBJECTS), which `kustomize build` checks.
Exit status: 0 when every document is valid, 1 otherwise.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from kubernetes_validate import utils as kv

# The oldest Kubernetes the manifests are meant for, and the newest kubernetes-validate ships.
DEFAULT_VERSIONS = ("1.29.0", "1.37.0")

# (apiVersion, kind) of a custom resource -> "module:Model" generated from its CRD.
CRD_MODELS = {
    ("keda.sh/v1alpha1", "ScaledObject"): "cloudcoil.models.keda.v1alpha1:ScaledObject",
    ("keda.sh/v1alpha1", "TriggerAuthentication"): (
        "cloudcoil.models.keda.v1alpha1:TriggerAuthentication"
    ),
    (
        "monitoring.coreos.com/v1",
        "PodMonitor",
    ): "cloudcoil.models.prometheus_operator.v1:PodMonitor",
}

# Configuration files of kustomize, not objects for a cluster.
NOT_CLUSTER_OBJECTS = {("kustomize.config.k8s.io/v1beta1", "Kustomization")}


def documents(source: str) -> Iterator[dict[str, Any]]:
    text = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8")
    for doc in yaml.safe_load_all(text):
        if doc:
            yield doc


def differences(expected: Any, actual: Any, path: str = "") -> Iterator[str]:
    """Where `actual` (the model's dump) differs from `expected` (the manifest)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in expected:
            where = f"{path}.{key}" if path else str(key)
            if key not in actual:
                yield f"{where}: not a field of the CRD's schema"
            else:
                yield from differences(expected[key], actual[key], where)
        for key in actual.keys() - expected.keys():
            yield f"{path}.{key}: added by the model (defaulted)"
    elif isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
            yield from differences(e, a, f"{path}[{i}]")
    elif expected != actual or type(expected) is not type(actual):
        yield f"{path}: {expected!r} is read as {actual!r}"


def validate_custom(doc: dict[str, Any], model_path: str) -> list[str]:
    import pydantic  # cloudcoil's models are pydantic models

    module, _, name = model_path.partition(":")
    model = getattr(importlib.import_module(module), name)
    try:
        parsed = model.model_validate(doc)
    except pydantic.ValidationError as exc:
        return [f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()]
    dumped = parsed.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return list(differences(doc, dumped))


def validate_builtin(doc: dict[str, Any], versions: list[str]) -> list[str]:
    errors = []
    for version in versions:
        try:
            kv.validate(doc, version, strict=True)
        except kv.ValidationError as exc:
            where = ".".join(str(p) for p in exc.path)
            errors.append(f"Kubernetes {exc.version}: {where}: {exc.message}")
        except kv.SchemaNotFoundError as exc:
            errors.append(
                f"{exc.message}: neither a built-in kind nor a custom resource listed in "
                "CRD_MODELS (scripts/validate_k8s.py)"
            )
            break
    return errors


def validate_document(doc: dict[str, Any], versions: list[str]) -> tuple[str, list[str]]:
    """(what was checked, errors) for one document."""
    api_version, kind = doc.get("apiVersion"), doc.get("kind")
    if not isinstance(api_version, str) or not isinstance(kind, str):
        return "document", ["no apiVersion or kind"]
    key = (api_version, kind)
    if key in NOT_CLUSTER_OBJECTS:
        return "skipped (kustomize's own file)", []
    if key in CRD_MODELS:
        return f"CRD model {CRD_MODELS[key]}", validate_custom(doc, CRD_MODELS[key])
    return f"kubernetes {', '.join(versions)} strict", validate_builtin(doc, versions)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", help="manifest files, or - for standard input")
    parser.add_argument(
        "-k",
        "--kubernetes-version",
        action="append",
        dest="versions",
        help=f"Kubernetes version to validate against (repeatable; default {DEFAULT_VERSIONS})",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="print only errors")
    args = parser.parse_args(argv)
    versions = args.versions or list(DEFAULT_VERSIONS)

    failed = checked = 0
    for source in args.files:
        name = "<stdin>" if source == "-" else source
        for doc in documents(source):
            what, errors = validate_document(doc, versions)
            name_of = (doc.get("metadata") or {}).get("name")
            resource = f"{doc.get('kind')}/{name_of}" if name_of else str(doc.get("kind"))
            checked += 1
            if errors:
                failed += 1
                for error in errors:
                    print(f"ERROR {name} {resource}: {error}")
            elif not args.quiet:
                print(f"OK    {name} {resource}: {what}")
    print(f"{checked} documents, {failed} invalid")
    return 1 if failed or not checked else 0


if __name__ == "__main__":
    sys.exit(main())
