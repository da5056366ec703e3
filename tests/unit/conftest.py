"""Unit tests stand alone: no labelled data set, no model from outside, no servers.

A test that needs a model gets a real one trained here through the real training code on the
synthetic rows of `tests.support.synthetic` (`tiny_model_dir`, `tiny_artifact`), or, when it is
about routing rather than the model, a keyword `Predictor` (`stub_artifact`). The root conftest's
data set and trained-model fixtures are shadowed here by ones that refuse.
"""

from pathlib import Path

import pytest
from hypothesis import settings

from inference.artifact import Artifact, load_artifact
from tests.support import stub, synthetic

# Property tests: a modest number of examples, no per-example deadline (the first call of a
# compiled path can be slow on a shared machine), and no example database written into the tree.
settings.register_profile("unit", max_examples=100, deadline=None, database=None)
settings.load_profile("unit")

_STANDALONE = (
    "unit tests stand alone: use tests.support.synthetic, tiny_artifact or stub_artifact; tests "
    "of the labelled data set go in tests/data, of the production model in tests/model"
)


@pytest.fixture(scope="session")
def dataset_path() -> str:
    pytest.fail(f"dataset_path: {_STANDALONE}", pytrace=False)


@pytest.fixture(scope="session")
def dataset() -> None:
    pytest.fail(f"dataset: {_STANDALONE}", pytrace=False)


@pytest.fixture(scope="session")
def model_dir() -> Path:
    pytest.fail(f"model_dir: {_STANDALONE}", pytrace=False)


@pytest.fixture(scope="session")
def model_artifact() -> Artifact:
    pytest.fail(f"model_artifact: {_STANDALONE}", pytrace=False)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An artifact trained by `training.train.train` on the synthetic rows with `TINY_CONFIG`:
    the production pipeline (split, out-of-fold calibration, refit, write) in about a second."""
    from training.train import train

    out = tmp_path_factory.mktemp("tiny-model") / "artifact"
    train(synthetic.dataset(), synthetic.TINY_CONFIG, out)
    return out


@pytest.fixture(scope="session")
def tiny_artifact(tiny_model_dir: Path) -> Artifact:
    """That artifact loaded once, through the service's loader; tests read it, never change it."""
    return load_artifact(tiny_model_dir)


@pytest.fixture
def stub_artifact() -> Artifact:
    """An artifact whose model is `tests.support.stub.KeywordPredictor` (threshold 0.5)."""
    return stub.stub_artifact()
