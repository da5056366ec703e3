import json
from pathlib import Path

from schemas.tags import APPROVED_TAGS
from training.cli import main


def test_evaluate_prints_one_json_document(trained_artifact: Path, dataset_path: str, capsys):
    assert main(["evaluate", "--model", str(trained_artifact), "--data", dataset_path]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {"overall", "per_class", "slices", "selective"}
    assert set(report["overall"]) == {"precision", "recall", "f1", "num_samples"}
    assert report["overall"]["num_samples"] == 764
    assert set(report["per_class"]) == set(APPROVED_TAGS)
    assert set(report["selective"]) == {"threshold", "coverage", "precision"}


def test_evaluate_writes_plots(trained_artifact: Path, dataset_path: str, tmp_path: Path, capsys):
    main(
        [
            "evaluate",
            "--model",
            str(trained_artifact),
            "--data",
            dataset_path,
            "--report",
            str(tmp_path),
        ]
    )
    for name in ("confusion_matrix.png", "precision_coverage.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_predict_prints_tag_confidence_and_every_probability(trained_artifact: Path, capsys):
    main(
        [
            "predict",
            "--model",
            str(trained_artifact),
            "--title",
            "Object detection with YOLO",
            "--description",
            "bounding boxes in images",
        ]
    )
    out = json.loads(capsys.readouterr().out)
    assert out["tag"] == "computer-vision"
    assert set(out["probabilities"]) == set(APPROVED_TAGS)
    assert 0.0 <= out["confidence"] <= 1.0


def test_train_on_bad_data_exits_with_named_rows(tmp_path: Path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("id,created_on,title,description,tag\n1,2020,T,D,robotics\n")
    assert main(["train", "--data", str(bad), "--out", str(tmp_path / "m")]) == 2
    assert "unapproved tag 'robotics' in rows 1" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_train_meets_quality_bar_on_validation_split(trained_artifact: Path):
    meta = json.loads((trained_artifact / "metadata.json").read_text())
    assert meta["validation_metrics"]["overall"]["f1"] >= 0.80


def test_calibrated_threshold_roughly_holds_on_the_validation_split(trained_artifact: Path):
    meta = json.loads((trained_artifact / "metadata.json").read_text())
    selective = meta["validation_metrics"]["selective"]
    assert selective["threshold"] == meta["threshold"]
    assert selective["precision"] >= meta["target_precision"] - 0.05
    assert selective["coverage"] >= 0.5


def test_threshold_reaches_target_precision_on_out_of_fold_predictions_of_every_row(
    trained_artifact: Path, dataset_path: str
):
    from training.data import load

    meta = json.loads((trained_artifact / "metadata.json").read_text())
    calibration = meta["calibration"]
    assert calibration["source"].startswith("out-of-fold")
    assert calibration["num_samples"] == len(load(dataset_path).examples)
    assert calibration["precision"] >= meta["target_precision"]
    assert calibration["threshold"] == meta["threshold"]


def test_tune_writes_the_best_config_and_a_loadable_artifact(
    dataset_path: str, tmp_path: Path, capsys
):
    from inference.artifact import load_artifact
    from training.config import TrainConfig

    out_dir = tmp_path / "tuned"
    assert main(["tune", "--data", dataset_path, "--out", str(out_dir), "--budget", "1"]) == 0
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


def test_check_accepts_a_loadable_artifact(trained_artifact: Path, capsys):
    assert main(["check", "--model", str(trained_artifact)]) == 0
    assert json.loads(capsys.readouterr().out)["version"]


def test_check_refuses_what_the_service_would_refuse(tmp_path: Path, capsys):
    assert main(["check", "--model", str(tmp_path)]) == 3
    assert "not a model artifact" in capsys.readouterr().err


def test_cv_reports_per_fold_scores_for_the_seeded_folds(dataset_path: str, capsys):
    argv = ["cv", "--data", dataset_path, "--folds", "2", "--repeats", "1", "--seed", "7"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["seed"] == 7
    assert len(result["weighted_f1_per_fold"]) == 2
    assert 0.0 < result["weighted_f1_mean"] <= 1.0
