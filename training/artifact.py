"""The model artifact format: one definition, written by training and loaded by the consumer.

An artifact is a directory holding the fastText model files of the ensemble (`model-0.bin`, ...)
and `metadata.json`. The version is a hash of the model files' hashes, so two artifacts with the
same version serve byte-identical models, and loading re-hashes every file so a corrupted or
tampered model is refused rather than served.
"""

import hashlib
import json
import platform
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from math import inf
from pathlib import Path
from typing import Any

from schemas.tags import APPROVED_TAGS
from training.classifier import LABEL_PREFIX, Classifier

MODEL_FILE_PATTERN = "model-{}.bin"
METADATA_FILE = "metadata.json"
FORMAT_VERSION = 3
_LIBRARIES = ("fasttext", "numpy", "pydantic", "scikit-learn")


class ArtifactError(RuntimeError):
    """The artifact is missing, corrupted, or not one this service may serve."""


@dataclass(frozen=True, slots=True)
class Artifact:
    path: Path
    metadata: dict[str, Any]
    classifier: Classifier

    @property
    def version(self) -> str:
        return str(self.metadata["version"])

    @property
    def threshold(self) -> float:
        return float(self.metadata["threshold"])


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return versions


def content_version(members: Sequence[dict[str, Any]], prediction: dict[str, Any]) -> str:
    """What the artifact answers depends on its model files and on how their outputs are blended."""
    content = "".join(m["sha256"] for m in members) + json.dumps(prediction, sort_keys=True)
    return hashlib.sha256(content.encode()).hexdigest()[:16]


def write_artifact(
    out_dir: Path,
    models: Sequence[Any],
    *,
    description_view_weight: float,
    threshold: float,
    target_precision: float,
    validation_metrics: dict[str, Any],
    fasttext_params: Sequence[dict[str, Any]],
    data_sha256: str,
    data_source: str,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write atomically: a reader never sees a model without its metadata or vice versa."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        members = []
        for i, (model, params) in enumerate(zip(models, fasttext_params, strict=True)):
            name = MODEL_FILE_PATTERN.format(i)
            model.save_model(str(staging / name))
            members.append(
                {"file": name, "sha256": file_sha256(staging / name), "fasttext_params": params}
            )
        prediction = {"description_view_weight": description_view_weight}
        labels = sorted(label.removeprefix(LABEL_PREFIX) for label in models[0].get_labels())
        meta = {
            "format_version": FORMAT_VERSION,
            "version": content_version(members, prediction),
            "created_at": datetime.now(UTC).isoformat(),
            "labels": labels,
            "prediction": prediction,
            "threshold": threshold,
            "target_precision": target_precision,
            "validation_metrics": validation_metrics,
            "models": members,
            "data_sha256": data_sha256,
            "data_source": data_source,
            "library_versions": library_versions(),
            **(extra or {}),
        }
        (staging / METADATA_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
        staging.chmod(0o755)
        load_artifact(staging)  # a model the consumer would refuse never replaces a good one
        old = out_dir.with_name(f".{out_dir.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if out_dir.exists():
            out_dir.rename(old)
        staging.rename(out_dir)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir


def load_artifact(path: Path | str) -> Artifact:
    """The only way to load a model for serving: verifies checksums and label set first."""
    path = Path(path)
    meta_path = path / METADATA_FILE
    if not meta_path.is_file():
        raise ArtifactError(f"{path} is not a model artifact: no {METADATA_FILE}")
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{meta_path} is not valid JSON: {exc}") from exc
    if not isinstance(meta, dict):
        raise ArtifactError(f"{meta_path} is not a JSON object")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            f"unsupported artifact format {meta.get('format_version')!r} (this code reads "
            f"{FORMAT_VERSION}); retrain with `python -m training train`"
        )
    for key in ("version", "models", "labels", "threshold", "prediction"):
        if key not in meta:
            raise ArtifactError(f"{meta_path} lacks {key!r}")
    members = meta["models"]
    if not (
        isinstance(members, list)
        and members
        and all(
            isinstance(m, dict)
            and isinstance(m.get("file"), str)
            and isinstance(m.get("sha256"), str)
            for m in members
        )
    ):
        raise ArtifactError(f"{meta_path}: 'models' must list objects with 'file' and 'sha256'")
    prediction = meta["prediction"]
    weight = prediction.get("description_view_weight") if isinstance(prediction, dict) else None
    if not isinstance(weight, int | float) or isinstance(weight, bool) or not 0 <= weight < inf:
        raise ArtifactError(
            f"{meta_path}: 'prediction.description_view_weight' must be a finite number >= 0"
        )
    if meta["version"] != content_version(members, prediction):
        raise ArtifactError(
            f"{meta_path}: version {meta['version']!r} does not match the models' hashes and "
            "prediction settings"
        )
    if sorted(meta["labels"]) != sorted(APPROVED_TAGS):
        raise ArtifactError(
            f"artifact labels {sorted(meta['labels'])} are not the approved set "
            f"{sorted(APPROVED_TAGS)}"
        )
    files = []
    for member in members:
        model_path = path / Path(member["file"]).name
        if not model_path.is_file():
            raise ArtifactError(f"{path} is not a model artifact: {model_path.name} is missing")
        actual = file_sha256(model_path)
        if actual != member["sha256"]:
            raise ArtifactError(
                f"checksum mismatch for {model_path}: metadata says {member['sha256']}, "
                f"file hashes to {actual}; refusing a corrupted or tampered model"
            )
        files.append(model_path)
    try:
        classifier = Classifier.from_files(files, float(weight))
    except ValueError as exc:
        raise ArtifactError(f"{path}: {exc}") from exc
    if sorted(classifier.labels) != sorted(APPROVED_TAGS):
        raise ArtifactError(
            f"model labels {sorted(classifier.labels)} are not the approved set "
            f"{sorted(APPROVED_TAGS)}"
        )
    threshold = float(meta["threshold"])
    if not 0.0 <= threshold <= 1.0:
        raise ArtifactError(f"threshold {threshold} is outside [0, 1]")
    return Artifact(path=path, metadata=meta, classifier=classifier)
