"""Model sources: what version is there now, and fetching it; a directory and a local MLflow
registry (sqlite, no server) holding tiny synthetic artifacts."""

import json
import os
import shutil
from pathlib import Path

import pytest

from consumer.config import Settings
from consumer.model_source import (
    DirectorySource,
    RegistrySource,
    SourceUnavailable,
    model_source,
)
from inference.artifact import METADATA_FILE, ArtifactError, content_version, read_metadata

NAME = "content-tagger"


def restamped(src: Path, dst: Path, created_at: str) -> Path:
    """A copy of the artifact at `src` written at another time: the same models, its own
    version, valid checksums (as a second training run would be)."""
    shutil.copytree(src, dst)
    meta = read_metadata(dst)
    raw = json.loads((dst / METADATA_FILE).read_text())
    raw["created_at"] = created_at
    raw["version"] = content_version(meta.models, meta.prediction, created_at)
    (dst / METADATA_FILE).write_text(json.dumps(raw))
    return dst


@pytest.fixture
def artifacts(tiny_model_dir: Path, tmp_path: Path) -> list[Path]:
    return [
        restamped(tiny_model_dir, tmp_path / f"artifact-{i}", f"2026-0{i}-01T00:00:00+00:00")
        for i in (1, 2)
    ]


# -- a directory ------------------------------------------------------------------------------
def test_a_directory_replaced_by_another_artifact_shows_a_new_revision(artifacts, tmp_path):
    served = tmp_path / "model"
    shutil.copytree(artifacts[0], served)
    source = DirectorySource(served)
    before = source.revision()
    shutil.rmtree(served)
    shutil.copytree(artifacts[1], served)
    after = source.revision()
    assert after != before
    assert source.fetch(after).version == read_metadata(artifacts[1]).version


def test_model_files_landing_after_the_metadata_show_a_new_revision(artifacts):
    """A copy over the old files that wrote metadata.json first is seen again once the models
    land, so a refusal of the half-copied directory is not final."""
    source = DirectorySource(artifacts[0])
    half_copied = source.revision()
    model_file = artifacts[0] / "model-0.bin"
    later = max(f.stat().st_mtime_ns for f in artifacts[0].iterdir()) + 10**9
    os.utime(model_file, ns=(later, later))
    assert source.revision() != half_copied


def test_a_directory_revision_starts_with_its_artifact_version(artifacts):
    assert DirectorySource(artifacts[0]).revision().startswith(read_metadata(artifacts[0]).version)


def test_a_missing_directory_is_unavailable_not_refused(tmp_path):
    with pytest.raises(SourceUnavailable):
        DirectorySource(tmp_path / "nowhere").revision()


def test_a_directory_with_a_corrupted_model_fails_to_load(artifacts):
    (artifacts[0] / "model-0.bin").write_bytes(b"not the model")
    source = DirectorySource(artifacts[0])
    with pytest.raises(ArtifactError, match="checksum"):
        source.fetch(source.revision())


def test_a_plain_path_is_a_directory_source(tmp_path):
    assert isinstance(model_source(str(tmp_path), tmp_path / "cache"), DirectorySource)


# -- URIs -------------------------------------------------------------------------------------
def test_an_alias_uri_is_followed(tmp_path):
    source = model_source(f"models:/{NAME}@champion", tmp_path)
    assert isinstance(source, RegistrySource)
    assert (source.name, source.alias, source.pinned) == (NAME, "champion", False)


def test_a_version_uri_is_pinned_and_needs_no_registry_call(tmp_path):
    source = RegistrySource(f"models:/{NAME}/7", tmp_path)
    assert source.pinned
    assert source.revision() == "7"


@pytest.mark.parametrize("uri", ["models:/", f"models:/{NAME}", f"models:/{NAME}/latest"])
def test_a_malformed_registry_uri_is_rejected(uri, tmp_path):
    with pytest.raises(ValueError, match="MODEL_URI"):
        RegistrySource(uri, tmp_path)


# -- a local MLflow registry ------------------------------------------------------------------
class Registry:
    """A sqlite MLflow registry in a temp dir, registered to through MlflowClient directly."""

    def __init__(self, root: Path) -> None:
        from mlflow import MlflowClient

        self.client = MlflowClient()
        self.experiment = self.client.create_experiment(
            "reload-tests", artifact_location=(root / "store").as_uri()
        )
        self.client.create_registered_model(NAME)

    def register(self, artifact: Path) -> str:
        run = self.client.create_run(self.experiment)
        self.client.log_artifacts(run.info.run_id, str(artifact), "model")
        self.client.set_terminated(run.info.run_id)
        version = self.client.create_model_version(
            NAME, source=f"{run.info.artifact_uri}/model", run_id=run.info.run_id
        )
        return str(version.version)

    def point(self, alias: str, version: str) -> None:
        self.client.set_registered_model_alias(NAME, alias, version)


@pytest.fixture
def registry(tmp_path, monkeypatch) -> Registry:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    return Registry(tmp_path)


def test_moving_the_alias_shows_the_new_version(registry, artifacts, tmp_path):
    one, two = registry.register(artifacts[0]), registry.register(artifacts[1])
    registry.point("champion", one)
    source = RegistrySource(f"models:/{NAME}@champion", tmp_path / "cache")
    assert source.revision() == one
    registry.point("champion", two)
    assert source.revision() == two


def test_fetch_downloads_that_version_into_the_cache_and_loads_it(registry, artifacts, tmp_path):
    registry.register(artifacts[0])
    two = registry.register(artifacts[1])
    source = RegistrySource(f"models:/{NAME}@champion", tmp_path / "cache")
    loaded = source.fetch(two)
    assert loaded.version == read_metadata(artifacts[1]).version
    assert loaded.registry_version == two
    assert loaded.artifact.path == tmp_path / "cache" / NAME / two
    assert loaded.info()["registry_version"] == two


def test_a_cached_version_is_not_downloaded_again(registry, artifacts, tmp_path):
    one = registry.register(artifacts[0])
    source = RegistrySource(f"models:/{NAME}/{one}", tmp_path / "cache")
    source.fetch(one)
    shutil.rmtree(tmp_path / "store")  # the registry's copy is gone; the cache still serves
    assert source.fetch(one).version == read_metadata(artifacts[0]).version


def test_an_alias_that_is_not_set_holds_no_model(registry, artifacts, tmp_path):
    registry.register(artifacts[0])
    assert RegistrySource(f"models:/{NAME}@challenger", tmp_path / "cache").revision() is None


def test_a_version_corrupted_in_the_registry_fails_to_load(registry, artifacts, tmp_path):
    one = registry.register(artifacts[0])
    [stored] = (tmp_path / "store").glob("*/artifacts/model/model-0.bin")
    stored.write_bytes(stored.read_bytes()[::-1])
    with pytest.raises(ArtifactError, match="checksum"):
        RegistrySource(f"models:/{NAME}@champion", tmp_path / "cache").fetch(one)


def test_an_unreachable_registry_is_unavailable_not_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # nothing listens
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    with pytest.raises(SourceUnavailable):
        RegistrySource(f"models:/{NAME}@champion", tmp_path / "cache").revision()


# -- settings ---------------------------------------------------------------------------------
def test_model_uri_falls_back_to_model_dir(monkeypatch):
    monkeypatch.delenv("MODEL_URI", raising=False)
    monkeypatch.setenv("MODEL_DIR", "/models/current")
    assert Settings().model_source_uri == "/models/current"


def test_model_uri_wins_over_model_dir(monkeypatch):
    monkeypatch.setenv("MODEL_DIR", "/models/current")
    monkeypatch.setenv("MODEL_URI", f"models:/{NAME}@champion")
    assert Settings().model_source_uri == f"models:/{NAME}@champion"
