import json
import shutil
from pathlib import Path

import pytest

from inference.artifact import (
    ArtifactError,
    content_version,
    file_sha256,
    load_artifact,
)
from schemas.tags import APPROVED_TAGS
from tests.support.synthetic import TINY_CONFIG
from training.write import write_artifact


@pytest.fixture
def artifact_copy(tiny_model_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "artifact"))


def test_metadata_records_what_is_needed_to_reproduce_and_serve(tiny_model_dir: Path):
    meta = json.loads((tiny_model_dir / "metadata.json").read_text())
    for key in (
        "version",
        "created_at",
        "labels",
        "threshold",
        "validation_metrics",
        "models",
        "data_sha256",
        "library_versions",
        "prediction",
        "calibration",
    ):
        assert key in meta
    assert sorted(meta["labels"]) == sorted(APPROVED_TAGS)
    for member in meta["models"]:
        assert set(member) == {"file", "sha256", "fasttext_params"}
        assert (tiny_model_dir / member["file"]).is_file()


def test_version_is_a_hash_of_the_models_and_the_prediction_settings(tiny_model_dir: Path):
    import hashlib

    meta = json.loads((tiny_model_dir / "metadata.json").read_text())
    content = "".join(m["sha256"] for m in meta["models"])
    content += json.dumps(meta["prediction"], sort_keys=True) + meta["created_at"]
    assert meta["version"] == hashlib.sha256(content.encode()).hexdigest()[:16]
    other = {"description_view_weight": meta["prediction"]["description_view_weight"] + 1}
    assert content_version(meta["models"], other, meta["created_at"]) != meta["version"]


def test_the_same_models_written_at_another_time_have_another_version(tiny_model_dir: Path):
    meta = json.loads((tiny_model_dir / "metadata.json").read_text())
    later = content_version(meta["models"], meta["prediction"], meta["created_at"] + "Z")
    assert later != meta["version"]


def test_the_artifact_carries_the_view_blend_the_classifier_uses(tiny_model_dir: Path):
    meta = json.loads((tiny_model_dir / "metadata.json").read_text())
    weight = meta["prediction"]["description_view_weight"]
    assert weight == TINY_CONFIG.description_view_weight > 0
    assert load_artifact(tiny_model_dir).classifier.description_weight == weight


def test_changed_prediction_settings_without_a_new_version_are_refused(artifact_copy: Path):
    meta_path = artifact_copy / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["prediction"]["description_view_weight"] = 0.0
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="does not match"):
        load_artifact(artifact_copy)


def test_an_older_artifact_format_is_refused_with_a_retrain_hint(artifact_copy: Path):
    meta_path = artifact_copy / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["format_version"] = 2
    del meta["prediction"]  # format 2 had no prediction settings
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="retrain"):
        load_artifact(artifact_copy)


def test_loads_a_valid_artifact(tiny_model_dir: Path):
    artifact = load_artifact(tiny_model_dir)
    assert set(artifact.classifier.labels) == set(APPROVED_TAGS)
    assert 0.0 <= artifact.threshold <= 1.0


def test_tampered_model_file_is_refused(artifact_copy: Path):
    with (artifact_copy / "model-1.bin").open("r+b") as f:
        f.seek(-16, 2)
        f.write(b"\x00" * 16)
    with pytest.raises(ArtifactError, match="checksum mismatch"):
        load_artifact(artifact_copy)


def test_unapproved_label_in_metadata_is_refused(artifact_copy: Path):
    meta_path = artifact_copy / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["labels"] = [*meta["labels"][:-1], "reinforcement-learning"]
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="not the approved set"):
        load_artifact(artifact_copy)


@pytest.fixture(scope="module")
def robotics_model():
    from training.config import FastTextParams
    from training.data import Example
    from training.fit import fit

    examples = [
        Example(str(i), "2020", f"robot arm grasping {i}", "manipulation", "robotics")
        for i in range(30)
    ] + [Example(str(100 + i), "2020", f"misc topic {i}", "things", "other") for i in range(30)]
    return fit(examples, FastTextParams(dim=20, epoch=5))


def test_writing_a_model_with_unapproved_labels_fails_and_keeps_the_old_artifact(
    robotics_model, artifact_copy: Path
):
    before = (artifact_copy / "metadata.json").read_bytes()
    with pytest.raises(ArtifactError, match="not the approved set"):
        write_artifact(
            artifact_copy,
            [robotics_model],
            description_view_weight=0.25,
            threshold=0.5,
            target_precision=0.95,
            validation_metrics={},
            fasttext_params=[{}],
            data_sha256="x",
            data_source="test",
        )
    assert (artifact_copy / "metadata.json").read_bytes() == before
    load_artifact(artifact_copy)


def test_model_file_with_unapproved_labels_is_refused_even_if_metadata_lies(
    robotics_model, artifact_copy: Path
):

    robotics_model.save_model(str(artifact_copy / "model-0.bin"))
    meta_path = artifact_copy / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["models"][0]["sha256"] = file_sha256(artifact_copy / "model-0.bin")
    meta["version"] = content_version(meta["models"], meta["prediction"], meta["created_at"])
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match=r"disagree|model labels"):
        load_artifact(artifact_copy)


def test_version_that_does_not_match_the_models_is_refused(artifact_copy: Path):
    meta_path = artifact_copy / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["version"] = "0" * 16
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="does not match"):
        load_artifact(artifact_copy)


def test_malformed_metadata_is_refused_with_an_artifact_error(artifact_copy: Path):
    (artifact_copy / "metadata.json").write_text("[1, 2]")
    with pytest.raises(ArtifactError, match="not a JSON object"):
        load_artifact(artifact_copy)


def test_missing_files_are_refused(tmp_path: Path):
    with pytest.raises(ArtifactError, match="not a model artifact"):
        load_artifact(tmp_path)


@pytest.mark.parametrize("weight", [-1.0, "0.25", None])
def test_a_malformed_view_weight_is_refused(artifact_copy: Path, weight):
    meta_path = artifact_copy / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["prediction"]["description_view_weight"] = weight
    meta["version"] = content_version(meta["models"], meta["prediction"], meta["created_at"])
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="description_view_weight"):
        load_artifact(artifact_copy)
