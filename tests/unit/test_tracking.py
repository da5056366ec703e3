"""Tracked training runs: `python -m training train` logs params, metrics, plots and the artifact
to the MLflow store at MLFLOW_TRACKING_URI (here a sqlite file in a temp dir, no server)."""

import json
from pathlib import Path

import pytest
from mlflow import MlflowClient

from schemas.tags import APPROVED_TAGS
from tests.support import synthetic
from training.cli import main
from training.tracking import flatten


@pytest.fixture(scope="module")
def data_csv(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(synthetic.write_csv(tmp_path_factory.mktemp("data") / "synthetic.csv"))


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("config") / "tiny.json"
    synthetic.TINY_CONFIG.write(path)
    return str(path)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh sqlite tracking store for this test."""
    uri = f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}"
    (tmp_path / "store").mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    return uri


@pytest.fixture(scope="module")
def tracked(data_csv: str, tiny_config: str, tmp_path_factory: pytest.TempPathFactory):
    """One `train` run logged to a store of its own: (client, run, artifact dir, summary)."""
    root = tmp_path_factory.mktemp("tracked")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    out = root / "model"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
        summary = _train(data_csv, tiny_config, out)
    mlflow_client = MlflowClient(tracking_uri=uri)
    return mlflow_client, mlflow_client.get_run(summary["mlflow"]["run_id"]), out, summary


def _train(data_csv: str, tiny_config: str, out: Path, *extra: str) -> dict:
    import contextlib
    import io

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(
            ["train", "--data", data_csv, "--config", tiny_config, "--out", str(out), *extra]
        )
    assert code == 0
    return json.loads(buffer.getvalue())


def test_a_training_run_is_logged_as_finished_and_tagged_with_the_artifact_version(tracked):
    _, run, out, summary = tracked
    assert run.info.status == "FINISHED"
    assert run.data.tags["artifact_version"] == summary["version"]
    metadata = json.loads((out / "metadata.json").read_text())
    assert run.data.tags["data_sha256"] == metadata["data_sha256"]


def test_the_run_logs_the_training_config_and_the_data(tracked):
    _, run, out, _ = tracked
    params = run.data.params
    metadata = json.loads((out / "metadata.json").read_text())
    assert params["models.0.epoch"] == str(synthetic.TINY_MEMBER.epoch)
    assert params["calibration_folds"] == str(synthetic.TINY_CONFIG.calibration_folds)
    assert params["data.sha256"] == metadata["data_sha256"]
    assert params["data.source"].endswith("synthetic.csv")


def test_the_run_logs_overall_per_class_per_slice_selective_and_calibration_metrics(tracked):
    _, run, out, _ = tracked
    metrics = run.data.metrics
    metadata = json.loads((out / "metadata.json").read_text())
    assert metrics["val.overall.f1"] == pytest.approx(
        metadata["validation_metrics"]["overall"]["f1"]
    )
    for tag in APPROVED_TAGS:
        assert f"val.per_class.{tag}.f1" in metrics
    assert "val.slices.short_text.f1" in metrics
    assert {"val.selective.precision", "val.selective.coverage", "val.selective.threshold"} <= set(
        metrics
    )
    assert metrics["calibration.threshold"] == pytest.approx(metadata["threshold"])


def test_the_run_holds_the_artifact_and_the_validation_plots(tracked):
    mlflow_client, run, out, _ = tracked
    logged = {a.path for a in mlflow_client.list_artifacts(run.info.run_id, "model")}
    assert logged == {f"model/{p.name}" for p in out.iterdir()}
    plots = {a.path for a in mlflow_client.list_artifacts(run.info.run_id, "plots")}
    assert plots == {"plots/confusion_matrix.png", "plots/precision_coverage.png"}


def test_the_summary_says_where_the_run_was_logged(tracked):
    _, run, _, summary = tracked
    assert summary["mlflow"]["run_id"] == run.info.run_id
    assert summary["mlflow"]["model_uri"].endswith("/model")


def test_a_sqlite_store_keeps_its_artifacts_beside_the_database(tracked):
    mlflow_client, run, _, _ = tracked
    db = Path(mlflow_client.tracking_uri.removeprefix("sqlite:///"))
    assert run.info.artifact_uri.startswith((db.parent / "mlartifacts").as_uri())


def test_the_experiment_is_named_by_the_environment(
    data_csv: str, tiny_config: str, store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "tagger-experiments")
    summary = _train(data_csv, tiny_config, tmp_path / "model")
    run = MlflowClient(tracking_uri=store).get_run(summary["mlflow"]["run_id"])
    experiment = MlflowClient(tracking_uri=store).get_experiment(run.info.experiment_id)
    assert experiment.name == "tagger-experiments"


def test_no_track_logs_nothing(data_csv: str, tiny_config: str, store: str, tmp_path: Path):
    summary = _train(data_csv, tiny_config, tmp_path / "model", "--no-track")
    assert "mlflow" not in summary
    assert not Path(store.removeprefix("sqlite:///")).exists()


def test_register_without_tracking_is_refused(
    data_csv: str, tiny_config: str, store: str, tmp_path: Path, capsys
):
    argv = ["train", "--data", data_csv, "--config", tiny_config, "--out", str(tmp_path / "m")]
    assert main([*argv, "--no-track", "--register", "content-tagger"]) == 2
    assert "--register needs the tracked run" in capsys.readouterr().err
    assert not (tmp_path / "m").exists()


def test_flatten_gives_dotted_keys_for_nested_dicts_and_lists():
    assert dict(flatten({"a": {"b": 1}, "c": [{"d": 2}, 3]})) == {"a.b": 1, "c.0.d": 2, "c.1": 3}
