"""The deploy files, checked by real tools (scripts/check-deploy.sh runs the same tools):

- scripts/validate_k8s.py: kubernetes-validate's Kubernetes schemas for built-in kinds (strict),
  models generated from the KEDA and Prometheus Operator CRDs for the custom resources;
- kustomize build, pinned, and built by scripts/install-system.sh into .venv-tools/bin;
- checkov (settings in .checkov.yaml), in its own virtualenv .venv-tools, on deploy/Dockerfile,
  docker-compose.yml and deploy/k8s.

All are local programs: no server, no network. A missing one skips its tests, saying how to
install it, except under CI (CI=true), where it fails them: `make test` installs everything
(`make install` the Python packages, `make system` kustomize and checkov).
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support import ROOT

K8S = ROOT / "deploy" / "k8s"
MANIFESTS = sorted(K8S.glob("*.yaml"))
VALIDATE = ROOT / "scripts" / "validate_k8s.py"
CHECKOV_CONFIG = ROOT / ".checkov.yaml"
CHECKOV_TARGETS = [ROOT / "deploy" / "Dockerfile", ROOT / "docker-compose.yml", *MANIFESTS]

VALIDATE_PACKAGES = (
    "kubernetes-validate",
    "cloudcoil-models-keda",
    "cloudcoil-models-prometheus-operator",
)
CUSTOM_KINDS = {"ScaledObject", "TriggerAuthentication", "PodMonitor"}
# Findings accepted next to the resource, each with its reason (deploy/Dockerfile's comment,
# deploy/k8s/deployment.yaml's checkov.io/skip annotations), and in .checkov.yaml for all files.
ACCEPTED_INLINE = {"CKV_DOCKER_7", "CKV_K8S_15", "CKV_K8S_35", "CKV_K8S_43"}
ACCEPTED_EVERYWHERE = ["CKV_K8S_21"]


def tools_bin() -> Path:
    venv = Path(os.environ.get("TOOLS_VENV") or ".venv-tools")
    return (venv if venv.is_absolute() else ROOT / venv) / "bin"


def missing(message: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (CI=true: the deploy tools must be installed)")
    pytest.skip(message)


def tool(name: str) -> str:
    path = tools_bin() / name
    if not os.access(path, os.X_OK):
        missing(f"{name} not installed in {path.parent} (run scripts/install-system.sh)")
    return str(path)


def run(
    cmd: list[str], stdin: str | None = None, timeout: float = 180
) -> subprocess.CompletedProcess:
    return subprocess.run(
        cmd, input=stdin, capture_output=True, text=True, timeout=timeout, cwd=ROOT, check=False
    )


def validate(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    for package in VALIDATE_PACKAGES:
        try:
            importlib.metadata.distribution(package)
        except importlib.metadata.PackageNotFoundError:
            missing(f"{package} not installed (a dev dependency: run make install)")
    return run([sys.executable, str(VALIDATE), *args], stdin=stdin)


def checkov(*files: Path) -> list[dict]:
    """checkov's JSON reports (one per framework that found something to check)."""
    cmd = [tool("checkov"), "--config-file", str(CHECKOV_CONFIG), "--output", "json"]
    for path in files:
        cmd += ["--file", str(path)]
    result = run(cmd)
    assert result.returncode in (0, 1), result.stderr[-3000:]
    reports = json.loads(result.stdout)
    reports = reports if isinstance(reports, list) else [reports]
    return [r for r in reports if "check_type" in r]


def docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def failed_ids(reports: list[dict]) -> set[str]:
    return {c["check_id"] for r in reports for c in r["results"]["failed_checks"]}


# ------------------------------------------------------------------ schemas


def test_manifests_are_valid_against_their_schemas():
    result = validate(*(str(p) for p in MANIFESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1] == f"{sum(len(docs(p)) for p in MANIFESTS)} documents, 0 invalid"
    by_crd_model = {line.split()[2].split("/")[0] for line in lines if ": CRD model " in line}
    assert by_crd_model == CUSTOM_KINDS


BAD_MANIFESTS = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: typo}
spec:
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      containers: [{name: c, image: "x:1", imagePullPolcy: Always}]
---
apiVersion: apps/v2
kind: Deployment
metadata: {name: no-such-version}
---
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: crd-typo}
spec:
  scaleTargetRef: {name: x}
  maxReplicaCont: 6
  triggers: [{type: kafka, metadata: {topic: t}}]
---
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: crd-type}
spec:
  scaleTargetRef: {name: x}
  pollingInterval: "15"
  triggers: [{type: kafka, metadata: {topic: t}}]
---
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: crd-missing-required}
spec:
  podMetricsEndpoints: [{port: metrics}]
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: unknown-kind}
"""


def test_validation_rejects_what_the_schemas_reject(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_MANIFESTS)
    result = validate("--quiet", str(bad))
    assert result.returncode == 1
    errors = result.stdout
    assert "Deployment/typo: Kubernetes 1.29: " in errors and "'imagePullPolcy'" in errors
    assert "Deployment/no-such-version: Couldn't find schema" in errors
    assert "ScaledObject/crd-typo: spec.maxReplicaCont: not a field" in errors
    assert "ScaledObject/crd-type: spec.pollingInterval: '15' is read as 15" in errors
    assert "PodMonitor/crd-missing-required: spec.selector" in errors
    assert "Widget/unknown-kind: Couldn't find schema" in errors
    assert errors.splitlines()[-1] == "6 documents, 6 invalid"


# ------------------------------------------------------------------ kustomize


def test_kustomize_builds_the_manifests_and_the_output_is_valid():
    result = run([tool("kustomize"), "build", str(K8S)], timeout=60)
    assert result.returncode == 0, result.stderr
    rendered = [d for d in yaml.safe_load_all(result.stdout) if d]
    kinds = {d["kind"] for d in rendered}
    assert {"Deployment", "NetworkPolicy", "PodDisruptionBudget"} | CUSTOM_KINDS <= kinds
    assert all(
        d["metadata"]["labels"]["app.kubernetes.io/part-of"] == "content-tagger" for d in rendered
    )
    validated = validate("--quiet", "-", stdin=result.stdout)
    assert validated.returncode == 0, validated.stdout + validated.stderr


# ------------------------------------------------------------------ checkov


def test_checkov_passes_with_only_the_accepted_findings_skipped():
    reports = checkov(*CHECKOV_TARGETS)
    by_type = {r["check_type"]: r for r in reports}
    assert {"dockerfile", "kubernetes"} <= by_type.keys()
    assert all(r["summary"]["resource_count"] > 0 for r in by_type.values())
    assert failed_ids(reports) == set()
    skipped = [c for r in reports for c in r["results"]["skipped_checks"]]
    assert {c["check_id"] for c in skipped} == ACCEPTED_INLINE
    assert all(c["check_result"].get("suppress_comment", "").strip() for c in skipped)
    config = yaml.safe_load(CHECKOV_CONFIG.read_text())
    assert config["skip-check"] == ACCEPTED_EVERYWHERE


def test_checkov_flags_insecure_files(tmp_path):
    """The scans are live: a privileged pod, an unpinned root image, a key in a compose file."""
    (tmp_path / "pod.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: ns}\n"
        "spec:\n  containers: [{name: c, image: x, securityContext: {privileged: true}}]\n"
    )
    (tmp_path / "Dockerfile").write_text("FROM python:latest\nRUN pip install x\n")
    key = "AKIA" + "IOSFODNN7EXAMPLE"  # AWS's documentation example, split so no scanner trips
    (tmp_path / "docker-compose.yml").write_text(
        f"services:\n  app:\n    image: x:1\n    environment:\n      AWS_ACCESS_KEY_ID: {key}\n"
    )
    failed = failed_ids(checkov(*sorted(tmp_path.iterdir())))
    # privileged container; `latest` base image and no USER; a hard-coded AWS key
    assert {"CKV_K8S_16", "CKV_DOCKER_7", "CKV_DOCKER_3", "CKV_SECRET_2"} <= failed
