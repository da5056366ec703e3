"""Write a model artifact (the format and its loader are `inference.artifact`'s)."""

import json
import platform
import shutil
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from inference.artifact import (
    FORMAT_VERSION,
    METADATA_FILE,
    MODEL_FILE_PATTERN,
    content_version,
    file_sha256,
    load_artifact,
)
from inference.classifier import LABEL_PREFIX
from schemas.artifact import ArtifactMetadata, ModelFile, PredictionSettings

_LIBRARIES = ("fasttext", "numpy", "pydantic", "scikit-learn")


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return versions


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
    """Write atomically: a reader never sees a model without its metadata or vice versa, and a
    model the service would refuse never replaces a good one."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        members = []
        for i, (model, params) in enumerate(zip(models, fasttext_params, strict=True)):
            name = MODEL_FILE_PATTERN.format(i)
            model.save_model(str(staging / name))
            members.append(
                ModelFile(file=name, sha256=file_sha256(staging / name), fasttext_params=params)
            )
        prediction = PredictionSettings(description_view_weight=description_view_weight)
        labels = sorted(label.removeprefix(LABEL_PREFIX) for label in models[0].get_labels())
        created_at = datetime.now(UTC).isoformat()
        meta = ArtifactMetadata(
            format_version=FORMAT_VERSION,
            version=content_version(members, prediction, created_at),
            created_at=created_at,
            labels=labels,
            prediction=prediction,
            threshold=threshold,
            target_precision=target_precision,
            validation_metrics=validation_metrics,
            models=members,
            data_sha256=data_sha256,
            data_source=data_source,
            library_versions=library_versions(),
            **(extra or {}),
        )
        document = meta.model_dump(mode="json", exclude_unset=True)
        (staging / METADATA_FILE).write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
        staging.chmod(0o755)
        load_artifact(staging)
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
