"""The model registry on a local sqlite MLflow store: register, gated promote, rollback.

The model tests that gate a promotion run pytest on tests/model in a subprocess; here they are a
runner passed in (passing or failing on purpose), so these tests do not run pytest inside pytest.
"""

import json
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from tests.support import synthetic
from training.cli import EXIT_REFUSED, EXIT_REGISTRY, main
from training.data import Dataset, Example
from training.registry import (
    CHALLENGER,
    CHAMPION,
    ModelTestResult,
    RegistryError,
    describe,
    model_test_command,
    promote,
    register,
    rollback,
    run_model_tests,
)
from training.tracking import client, log_training_run
from training.train import train

NAME = "content-tagger"


def _passing(model_dir: Path) -> ModelTestResult:
    return ModelTestResult(passed=True, command=["model-tests", str(model_dir)], returncode=0)


def _failing(model_dir: Path) -> ModelTestResult:
    return ModelTestResult(passed=False, command=["model-tests", str(model_dir)], returncode=1)


@pytest.fixture(scope="module")
def good_dir(tiny_model_dir: Path) -> Path:
    return tiny_model_dir


@pytest.fixture(scope="module")
def bad_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model trained on the synthetic rows with every tag swapped for another: it answers the
    wrong tag for nearly everything, so it scores far below the good one."""
    tags = ["natural-language-processing", "computer-vision", "mlops", "other"]
    swap = dict(zip(tags, tags[1:] + tags[:1], strict=True))
    good = synthetic.dataset()
    wrong = [
        Example(e.id, e.created_on, e.title, e.description, swap[e.tag]) for e in good.examples
    ]
    out = tmp_path_factory.mktemp("bad-model") / "artifact"
    train(Dataset(wrong, "swapped tags", good.sha256), synthetic.TINY_CONFIG, out)
    return out


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MlflowClient:
    """A fresh sqlite tracking store and registry, also what the CLI sees."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    return client(uri)


def _register(mlflow_client: MlflowClient, artifact_dir: Path) -> int:
    metadata = json.loads((artifact_dir / "metadata.json").read_text())
    run = log_training_run(
        metadata, synthetic.TINY_CONFIG, artifact_dir, uri=mlflow_client.tracking_uri
    )
    return register(mlflow_client, NAME, run, metadata).version


def _champion(mlflow_client: MlflowClient) -> int:
    return int(mlflow_client.get_model_version_by_alias(NAME, CHAMPION).version)


def _promote(mlflow_client: MlflowClient, version: int, **kwargs):
    kwargs.setdefault("model_tests", _passing)
    return promote(
        mlflow_client,
        NAME,
        version,
        eval_examples=synthetic.examples(),
        eval_data="tests.support.synthetic",
        **kwargs,
    )


def test_the_first_registered_version_becomes_champion_and_the_next_does_not(
    store: MlflowClient, good_dir: Path
):
    assert [_register(store, good_dir), _register(store, good_dir)] == [1, 2]
    assert _champion(store) == 1


def test_a_version_is_tagged_with_its_artifact_version_and_data_checksum(
    store: MlflowClient, good_dir: Path
):
    version = _register(store, good_dir)
    metadata = json.loads((good_dir / "metadata.json").read_text())
    tags = store.get_model_version(NAME, str(version)).tags
    assert tags["artifact_version"] == metadata["version"]
    assert tags["data_sha256"] == metadata["data_sha256"]


def test_promote_then_rollback_returns_the_champion_to_the_previous_version(
    store: MlflowClient, good_dir: Path
):
    _register(store, good_dir), _register(store, good_dir)
    report = _promote(store, 2)
    assert (report.promoted, report.previous, _champion(store)) == (True, 1, 2)
    assert rollback(store, NAME)["to"] == 1
    assert _champion(store) == 1


def test_repeated_rollbacks_walk_back_through_the_champions(store: MlflowClient, good_dir: Path):
    for _ in range(3):
        _register(store, good_dir)
    _promote(store, 2), _promote(store, 3)
    rollback(store, NAME)
    assert _champion(store) == 2
    rollback(store, NAME)
    assert _champion(store) == 1


def test_rollback_without_a_previous_champion_is_refused(store: MlflowClient, good_dir: Path):
    _register(store, good_dir)
    with pytest.raises(RegistryError, match="no previous champion"):
        rollback(store, NAME)
    assert _champion(store) == 1


def test_a_candidate_worse_than_the_champion_by_more_than_the_margin_is_refused(
    store: MlflowClient, good_dir: Path, bad_dir: Path
):
    _register(store, good_dir), _register(store, bad_dir)
    report = _promote(store, 2, max_f1_drop=0.02)
    assert report.candidate is not None and report.champion is not None
    assert report.candidate.f1 < report.champion.f1 - 0.02
    assert not report.promoted and "below the champion's" in report.refusals[0]
    assert _champion(store) == 1


def test_force_promotes_a_refused_candidate_and_still_reports_why(
    store: MlflowClient, good_dir: Path, bad_dir: Path
):
    _register(store, good_dir), _register(store, bad_dir)
    report = _promote(store, 2, force=True)
    assert report.promoted and report.forced and report.refusals
    assert _champion(store) == 2


def test_a_candidate_failing_the_model_tests_is_refused(store: MlflowClient, good_dir: Path):
    _register(store, good_dir), _register(store, good_dir)
    report = _promote(store, 2, model_tests=_failing)
    assert not report.promoted and report.refusals == ["the model tests did not pass"]
    assert _champion(store) == 1


def test_the_model_tests_run_on_the_candidate_loaded_from_the_registry(
    store: MlflowClient, good_dir: Path
):
    _register(store, good_dir), _register(store, good_dir)
    seen: list[Path] = []

    def record(model_dir: Path) -> ModelTestResult:
        seen.append(model_dir)
        assert sorted(p.name for p in model_dir.iterdir()) == sorted(
            p.name for p in good_dir.iterdir()
        )
        return _passing(model_dir)

    _promote(store, 2, model_tests=record)
    assert len(seen) == 1


def test_promoting_a_challenger_leaves_the_champion_alone(store: MlflowClient, good_dir: Path):
    _register(store, good_dir), _register(store, good_dir)
    _promote(store, 2, alias=CHALLENGER)
    assert _champion(store) == 1
    assert int(store.get_model_version_by_alias(NAME, CHALLENGER).version) == 2


def test_a_challenger_promoted_to_champion_is_no_longer_challenger(
    store: MlflowClient, good_dir: Path
):
    _register(store, good_dir), _register(store, good_dir)
    _promote(store, 2, alias=CHALLENGER)
    _promote(store, 2)
    assert describe(store, NAME)["aliases"] == {CHAMPION: 2}


def test_promoting_an_unknown_version_is_refused(store: MlflowClient, good_dir: Path):
    _register(store, good_dir)
    with pytest.raises(RegistryError, match="no version 7"):
        _promote(store, 7)


def test_models_lists_versions_with_aliases_and_artifact_versions(
    store: MlflowClient, good_dir: Path
):
    _register(store, good_dir), _register(store, good_dir)
    listing = describe(store, NAME)
    assert [v["version"] for v in listing["versions"]] == [2, 1]
    assert listing["versions"][1]["aliases"] == [CHAMPION]
    metadata = json.loads((good_dir / "metadata.json").read_text())
    assert {v["artifact_version"] for v in listing["versions"]} == {metadata["version"]}


def test_the_model_tests_are_pytest_on_tests_model_with_the_candidate(tmp_path: Path):
    assert model_test_command(tmp_path) == [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "tests/model",
        "--model-dir",
        str(tmp_path),
    ]


def test_without_tests_model_the_model_tests_fail_without_running(tmp_path: Path):
    result = run_model_tests(tmp_path / "candidate", root=tmp_path)
    assert (result.passed, result.returncode, result.command) == (False, None, [])
    assert "not found" in result.output


def test_train_register_prints_the_registered_version(store: MlflowClient, tmp_path: Path, capsys):
    data = str(synthetic.write_csv(tmp_path / "data.csv"))
    config = tmp_path / "tiny.json"
    synthetic.TINY_CONFIG.write(config)
    argv = ["train", "--data", data, "--config", str(config), "--out", str(tmp_path / "model")]
    assert main([*argv, "--register", NAME]) == 0
    registered = json.loads(capsys.readouterr().out)["registered"]
    assert (registered["name"], registered["version"], registered["champion"]) == (NAME, 1, True)


def test_cli_promote_exits_refused_with_a_json_report(
    store: MlflowClient,
    good_dir: Path,
    bad_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys,
):
    monkeypatch.setattr("training.registry.run_model_tests", _passing)
    _register(store, good_dir), _register(store, bad_dir)
    held_out = tmp_path / "eval.csv"  # the same rows in other bytes: not a version's training file
    held_out.write_bytes(synthetic.csv_bytes().replace(b"\n", b"\r\n"))
    argv = ["promote", "--name", NAME, "--version", "2", "--eval-data", str(held_out)]
    assert main(argv) == EXIT_REFUSED
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["decision"] == "refused" and report["champion"]["version"] == 1
    assert "promotion refused" in captured.err


def test_cli_rollback_without_a_previous_champion_exits_with_a_message(
    store: MlflowClient, good_dir: Path, capsys
):
    _register(store, good_dir)
    assert main(["rollback", "--name", NAME]) == EXIT_REGISTRY
    assert "no previous champion" in capsys.readouterr().err


def test_scoring_on_the_versions_training_data_is_noted_in_the_report(
    store: MlflowClient, good_dir: Path
):
    _register(store, good_dir), _register(store, good_dir)
    report = _promote(store, 2, eval_sha256=synthetic.dataset().sha256)
    assert report.notes[0].startswith("version(s) 1, 2 were trained on the evaluation set")
    assert report.gate_measure == "held-out validation F1"


def test_on_training_data_the_gate_compares_the_recorded_validation_f1(
    store: MlflowClient, good_dir: Path, bad_dir: Path
):
    """Both models fit their own training rows; only the recorded held-out F1 tells them apart."""
    _register(store, good_dir), _register(store, bad_dir)
    report = _promote(store, 2, eval_sha256=synthetic.dataset().sha256)
    candidate, champion = report.candidate, report.champion
    assert candidate is not None and champion is not None
    assert candidate.validation_f1 is not None and champion.validation_f1 is not None
    assert report.promoted == (candidate.validation_f1 >= champion.validation_f1 - 0.02)


def test_a_held_out_evaluation_set_adds_no_note(store: MlflowClient, good_dir: Path):
    _register(store, good_dir), _register(store, good_dir)
    assert _promote(store, 2, eval_sha256="0" * 64).notes == []
