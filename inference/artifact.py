"""The model artifact format and its only loader.

An artifact is a directory holding the fastText model files of the ensemble (`model-0.bin`, ...)
and `metadata.json` (`schemas.artifact.ArtifactMetadata`). The version is a hash of the model
files' hashes, the prediction settings and the creation time, so two artifacts with the same
version serve identical answers and each training run has a version of its own; loading
re-hashes every file, so a corrupted or tampered model is refused, not served.
Training writes artifacts with `training.write.write_artifact`.
"""

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from inference.classifier import Classifier
from schemas.artifact import FORMAT_VERSION, ArtifactMetadata, ModelFile, PredictionSettings
from schemas.tags import APPROVED_TAGS

MODEL_FILE_PATTERN = "model-{}.bin"
METADATA_FILE = "metadata.json"

__all__ = [
    "FORMAT_VERSION",
    "METADATA_FILE",
    "MODEL_FILE_PATTERN",
    "Artifact",
    "ArtifactError",
    "content_version",
    "file_sha256",
    "load_artifact",
    "read_metadata",
]


class ArtifactError(RuntimeError):
    """The artifact is missing, corrupted, or not one this service may serve."""


@dataclass(frozen=True, slots=True)
class Artifact:
    path: Path
    meta: ArtifactMetadata
    classifier: Classifier

    @property
    def version(self) -> str:
        return self.meta.version

    @property
    def threshold(self) -> float:
        return self.meta.threshold

    @property
    def metadata(self) -> dict[str, Any]:
        """The metadata as the JSON file holds it (reports, the CLI's summaries)."""
        return self.meta.model_dump(mode="json")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def content_version(
    members: Sequence[ModelFile | dict[str, Any]],
    prediction: PredictionSettings | dict[str, Any],
    created_at: str,
) -> str:
    """What the artifact answers depends on its model files and on how their outputs are blended;
    `created_at` makes each training run its own version, so two runs that happen to produce the
    same models are still told apart in the registry, in outputs and in feedback."""
    hashes = [m.sha256 if isinstance(m, ModelFile) else m["sha256"] for m in members]
    settings = prediction.model_dump() if isinstance(prediction, PredictionSettings) else prediction
    content = "".join(hashes) + json.dumps(settings, sort_keys=True) + created_at
    return hashlib.sha256(content.encode()).hexdigest()[:16]


def read_metadata(path: Path | str) -> ArtifactMetadata:
    """An artifact's metadata, validated against the format; its model files are not read."""
    meta_path = Path(path) / METADATA_FILE
    if not meta_path.is_file():
        raise ArtifactError(f"{path} is not a model artifact: no {METADATA_FILE}")
    try:
        raw = json.loads(meta_path.read_text())
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{meta_path} is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ArtifactError(f"{meta_path} is not a JSON object")
    if raw.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            f"unsupported artifact format {raw.get('format_version')!r} (this code reads "
            f"{FORMAT_VERSION}); retrain with `python -m training train`"
        )
    try:
        return ArtifactMetadata.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '(root)'}: {e['msg']}" for e in exc.errors()
        )
        raise ArtifactError(f"{meta_path} does not match the artifact format: {problems}") from exc


def load_artifact(path: Path | str) -> Artifact:
    """The only way to load a model for serving: verifies format, checksums and labels first."""
    path = Path(path)
    meta = read_metadata(path)
    if meta.version != content_version(meta.models, meta.prediction, meta.created_at):
        raise ArtifactError(
            f"{path / METADATA_FILE}: version {meta.version!r} does not match the models' hashes, "
            "prediction settings and created_at"
        )
    if sorted(meta.labels) != sorted(APPROVED_TAGS):
        raise ArtifactError(
            f"artifact labels {sorted(meta.labels)} are not the approved set "
            f"{sorted(APPROVED_TAGS)}"
        )
    files = []
    for member in meta.models:
        model_path = path / Path(member.file).name
        if not model_path.is_file():
            raise ArtifactError(f"{path} is not a model artifact: {model_path.name} is missing")
        actual = file_sha256(model_path)
        if actual != member.sha256:
            raise ArtifactError(
                f"checksum mismatch for {model_path}: metadata says {member.sha256}, "
                f"file hashes to {actual}; refusing a corrupted or tampered model"
            )
        files.append(model_path)
    try:
        classifier = Classifier.from_files(files, meta.prediction.description_view_weight)
    except ValueError as exc:
        raise ArtifactError(f"{path}: {exc}") from exc
    if sorted(classifier.labels) != sorted(APPROVED_TAGS):
        raise ArtifactError(
            f"model labels {sorted(classifier.labels)} are not the approved set "
            f"{sorted(APPROVED_TAGS)}"
        )
    return Artifact(path=path, meta=meta, classifier=classifier)
