"""Shared fixtures: the labelled data set and the model artifact under test.

Suites: tests/unit stands alone (a tiny model trained on synthetic rows, or a stub: see its
conftest); tests/data checks the labelled data set; tests/model checks a model's behaviour and
quality (`pytest tests/model --model-dir DIR` for any artifact); tests/integration runs the service
against a real broker and Redis.
"""

import os
from pathlib import Path

import pytest

from tests.support import ROOT

DEFAULT_DATASET = ROOT.parent / "shared" / "data" / "dataset.csv"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--model-dir",
        metavar="DIR",
        default=None,
        help="model artifact for tests/model and tests/integration (default: train one with the "
        "production config from the labelled data set into a temp dir)",
    )


@pytest.fixture(scope="session", autouse=True)
def _mlflow_store(tmp_path_factory: pytest.TempPathFactory):
    """Training runs log to MLflow (`training.tracking`): every test's runs go to a sqlite store in
    a temp dir, never to mlflow.db in the checkout nor to a server named by the environment."""
    store = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store}")
        patch.delenv("MLFLOW_REGISTRY_URI", raising=False)
        yield


@pytest.fixture(scope="session")
def dataset_path() -> str:
    """DATASET_LOC, else ../shared/data/dataset.csv beside the repository."""
    loc = os.environ.get("DATASET_LOC") or str(DEFAULT_DATASET)
    if not loc.startswith(("http://", "https://")) and not Path(loc).is_file():
        pytest.fail(f"labelled data set not found at {loc}; set DATASET_LOC")
    return loc


@pytest.fixture(scope="session")
def dataset(dataset_path: str):
    """The labelled data set, loaded and validated once."""
    from training.data import load

    return load(dataset_path)


@pytest.fixture(scope="session")
def model_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The artifact under test: `--model-dir`, else one real training run of the production
    config (`TrainConfig()`) on the data set, shared by every test that asks."""
    given = request.config.getoption("--model-dir")
    if given:
        path = Path(given).resolve()
        if not path.is_dir():
            pytest.fail(f"--model-dir {given}: no such directory", pytrace=False)
        return path
    from training.config import TrainConfig
    from training.train import train

    out = tmp_path_factory.mktemp("model") / "artifact"
    train(request.getfixturevalue("dataset"), TrainConfig(), out)
    return out


@pytest.fixture(scope="session")
def model_artifact(model_dir: Path):
    """That artifact loaded once, through the service's loader; tests read it, never change it."""
    from inference.artifact import load_artifact

    return load_artifact(model_dir)
