"""Shared fixtures: the labelled data set (from DATASET_LOC or ../shared) and a trained artifact."""

import os
from pathlib import Path

import pytest

from tests.support import ROOT

DEFAULT_DATASET = ROOT.parent / "shared" / "data" / "dataset.csv"


@pytest.fixture(scope="session")
def dataset_path() -> str:
    loc = os.environ.get("DATASET_LOC") or str(DEFAULT_DATASET)
    if not loc.startswith(("http://", "https://")) and not Path(loc).is_file():
        pytest.fail(f"labelled data set not found at {loc}; set DATASET_LOC")
    return loc


@pytest.fixture(scope="session")
def trained_artifact(tmp_path_factory: pytest.TempPathFactory, dataset_path: str) -> Path:
    """One real training run shared by every test that needs a model."""
    from training.config import TrainConfig
    from training.data import load
    from training.train import train

    out = tmp_path_factory.mktemp("model") / "artifact"
    train(load(dataset_path), TrainConfig(), out)
    return out


@pytest.fixture(scope="session")
def artifact(trained_artifact: Path):
    """That artifact loaded once, through the service's loader; tests read it, never change it."""
    from inference.artifact import load_artifact

    return load_artifact(trained_artifact)
