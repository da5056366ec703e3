import json
from pathlib import Path

import pytest

from schemas.tags import APPROVED_TAGS
from tests.support import synthetic
from training.cli import main


@pytest.fixture(scope="module")
def data_csv(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The synthetic rows as a CSV file, as `--data` takes one."""
    return str(synthetic.write_csv(tmp_path_factory.mktemp("data") / "synthetic.csv"))


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory: pytest.TempPathFactory) -> str:
    """`TINY_CONFIG` as a `--config` file."""
    path = tmp_path_factory.mktemp("config") / "tiny.json"
    synthetic.TINY_CONFIG.write(path)
    return str(path)


def _metadata(artifact_dir: Path) -> dict:
    return json.loads((artifact_dir / "metadata.json").read_text())


def test_evaluate_prints_one_json_document(tiny_model_dir: Path, data_csv: str, capsys):
    assert main(["evaluate", "--model", str(tiny_model_dir), "--data", data_csv]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"overall", "per_class", "slices", "selective"}
    assert set(report["overall"]) == {"precision", "recall", "f1", "num_samples"}
    assert report["overall"]["num_samples"] == len(synthetic.ROWS)
    assert set(report["per_class"]) == set(APPROVED_TAGS)
    assert set(report["selective"]) == {"threshold", "coverage", "precision"}


def test_evaluate_writes_plots(tiny_model_dir: Path, data_csv: str, tmp_path: Path, capsys):
    argv = ["evaluate", "--model", str(tiny_model_dir), "--data", data_csv]
    assert main([*argv, "--report", str(tmp_path)]) == 0
    for name in ("confusion_matrix.png", "precision_coverage.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_predict_prints_tag_confidence_and_every_probability(tiny_artifact, capsys):
    title, description = "Object detection with YOLO", "bounding boxes in images"
    argv = ["predict", "--model", str(tiny_artifact.path), "--title", title]
    assert main([*argv, "--description", description]) == 0
    out = json.loads(capsys.readouterr().out)
    tag, confidence, probabilities = tiny_artifact.classifier.predict(title, description)
    assert (out["tag"], out["confidence"], out["probabilities"]) == (tag, confidence, probabilities)
    assert set(out["probabilities"]) == set(APPROVED_TAGS)
    assert out["needs_review"] == (confidence < tiny_artifact.threshold)
    assert out["model_version"] == tiny_artifact.version


def test_train_on_bad_data_exits_with_named_rows(tmp_path: Path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,created_on,title,description,tag\n1,2020,T,D,robotics\n")
    assert main(["train", "--data", str(bad), "--out", str(tmp_path / "m")]) == 2
    assert "unapproved tag 'robotics' in rows 1" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_train_writes_a_loadable_artifact_and_prints_its_summary(
    data_csv: str, tiny_config: str, tmp_path: Path, capsys
):
    out_dir = tmp_path / "model"
    argv = ["train", "--data", data_csv, "--config", tiny_config, "--out", str(out_dir)]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["version"] == _metadata(out_dir)["version"]
    assert summary["artifact"] == str(out_dir)
    assert main(["check", "--model", str(out_dir)]) == 0


def test_the_review_threshold_is_the_one_reported_for_the_validation_split(tiny_model_dir: Path):
    meta = _metadata(tiny_model_dir)
    assert meta["validation_metrics"]["selective"]["threshold"] == meta["threshold"]


def test_the_threshold_is_calibrated_on_out_of_fold_predictions_of_every_row(
    tiny_model_dir: Path,
):
    meta = _metadata(tiny_model_dir)
    calibration = meta["calibration"]
    assert calibration["source"].startswith("out-of-fold")
    assert calibration["num_samples"] == len(synthetic.ROWS)
    assert calibration["threshold"] == meta["threshold"]


def test_the_calibrated_threshold_reaches_the_target_precision_or_sends_all_to_review(
    tiny_model_dir: Path,
):
    meta = _metadata(tiny_model_dir)
    reached = meta["calibration"]["precision"] >= meta["target_precision"]
    assert reached or meta["threshold"] == 1.0


def test_tune_writes_the_best_config_and_a_loadable_artifact(
    data_csv: str, tiny_config: str, tmp_path: Path, capsys
):
    from inference.artifact import load_artifact
    from training.config import TrainConfig

    out_dir = tmp_path / "tuned"
    argv = ["tune", "--data", data_csv, "--config", tiny_config, "--out", str(out_dir)]
    assert main([*argv, "--budget", "1"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["trials"] >= 1
    config = TrainConfig.from_file(out_dir / "tuned_config.json")
    assert load_artifact(out_dir).version == summary["version"]
    assert len(config.models) == 2


def test_tuning_starts_from_the_base_config_then_varies_every_member():
    from itertools import islice

    from training.config import TrainConfig
    from training.tune import candidates

    base = TrainConfig()
    first, *others = islice(candidates(base, seed=1), 4)
    assert first == base
    for config in others:
        assert [m.maxn > 0 for m in config.models] == [m.maxn > 0 for m in base.models]
        assert len({(m.lr, m.dim, m.epoch) for m in config.models}) == 1


def test_check_accepts_a_loadable_artifact(tiny_model_dir: Path, capsys):
    assert main(["check", "--model", str(tiny_model_dir)]) == 0
    assert json.loads(capsys.readouterr().out)["version"]


def test_check_refuses_what_the_service_would_refuse(tmp_path: Path, capsys):
    assert main(["check", "--model", str(tmp_path)]) == 3
    assert "not a model artifact" in capsys.readouterr().err


def test_cv_reports_per_fold_scores_for_the_seeded_folds(data_csv: str, tiny_config: str, capsys):
    argv = ["cv", "--data", data_csv, "--config", tiny_config, "--folds", "2", "--repeats", "1"]
    assert main([*argv, "--seed", "7"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["seed"] == 7
    assert len(result["weighted_f1_per_fold"]) == 2
    assert 0.0 < result["weighted_f1_mean"] <= 1.0
