"""Where the serving model comes from: an artifact directory or an MLflow registry URI.

A source answers two questions. `revision()` is cheap and asked every poll: what is there now (a
directory: its artifact version plus its files' modification times; the registry: the version
number an alias points at). `fetch(revision)` is the expensive part, done off the hot path: bring
that revision here and load it through `load_artifact` (format, checksums, approved labels).

Failures come in two kinds, and the watcher treats them differently:
- `SourceUnavailable`: the source could not be read (the registry is unreachable, a directory is
  mid-rename); nothing is known about the model, so the next poll tries again;
- `ArtifactError`: the model itself is bad; it is refused until the source changes.

MLflow is imported only for `models:/` URIs: it is slow to import and a directory needs none of it.
"""

import logging
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from inference.artifact import METADATA_FILE, Artifact, ArtifactError, load_artifact, read_metadata

if TYPE_CHECKING:
    from mlflow import MlflowClient

__all__ = [
    "DirectorySource",
    "LoadedModel",
    "ModelSource",
    "RegistrySource",
    "SourceUnavailable",
    "model_source",
]

log = logging.getLogger(__name__)

REGISTRY_SCHEME = "models:/"
_ALIAS = re.compile(r"^models:/(?P<name>[^/@]+)@(?P<alias>[\w.-]+)$")
_PINNED = re.compile(r"^models:/(?P<name>[^/@]+)/(?P<version>\d+)$")


class SourceUnavailable(RuntimeError):
    """The source could not be read right now; says nothing about the model. Retried."""


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """A model loaded from a source, with where it came from (for logs, metrics, /healthz).

    :param artifact: loaded and checked by `load_artifact`.
    :param uri: the source's URI (`MODEL_URI`).
    :param revision: what `revision()` said when it was fetched.
    :param registry_version: the registry's version number; empty for a directory.
    """

    artifact: Artifact
    uri: str
    revision: str
    registry_version: str = ""

    @property
    def version(self) -> str:
        """The artifact's own version, the one outputs carry."""
        return self.artifact.version

    def info(self) -> dict[str, str]:
        """Labels of `tagger_model_info`."""
        return {
            "version": self.artifact.version,
            "created_at": self.artifact.meta.created_at,
            "uri": self.uri,
            "registry_version": self.registry_version,
        }


class ModelSource(Protocol):
    @property
    def uri(self) -> str: ...

    @property
    def pinned(self) -> bool:
        """True when what the source holds can never change (no point polling it)."""
        ...

    def revision(self) -> str | None:
        """What is there now, cheaply; None when nothing is (an alias that is not set). Raises
        `SourceUnavailable`."""
        ...

    def fetch(self, revision: str) -> LoadedModel:
        """That revision, loaded. Raises `SourceUnavailable` or `ArtifactError`."""
        ...


class DirectorySource:
    """An artifact directory, replaced in place or by rename (`make model` renames)."""

    pinned = False

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    @property
    def uri(self) -> str:
        return str(self.path)

    def revision(self) -> str:
        """The artifact version, plus the newest modification time among the directory's files:
        a copy over the old files that wrote metadata.json before the models is seen again once
        the models land, so a refusal of the half-copied state is not final."""
        try:
            meta = read_metadata(self.path)
            stamp = max(entry.stat().st_mtime_ns for entry in os.scandir(self.path))
        except (ArtifactError, OSError, ValueError) as exc:
            raise SourceUnavailable(f"cannot read {self.path}: {exc}") from exc
        return f"{meta.version}@{stamp}"

    def fetch(self, revision: str) -> LoadedModel:
        if not (self.path / METADATA_FILE).is_file():
            raise SourceUnavailable(f"{self.path} has no {METADATA_FILE} (being replaced?)")
        return LoadedModel(load_artifact(self.path), self.uri, revision)

    def __repr__(self) -> str:
        return f"DirectorySource({str(self.path)!r})"


class RegistrySource:
    """A registered model in the MLflow registry (`MLFLOW_TRACKING_URI`), by alias or pinned.

    Versions are downloaded once to `cache_dir/<name>/<version>` (registry versions are
    immutable), through a temporary directory renamed into place, so an interrupted download is
    never mistaken for a complete one. Every load still re-hashes the files.

    :param uri: `models:/<name>@<alias>` (follows the alias) or `models:/<name>/<version>`.
    :param cache_dir: where downloaded versions are kept.
    :param client: an `MlflowClient`; by default one for the environment's tracking URI.
    """

    def __init__(self, uri: str, cache_dir: Path, client: "MlflowClient | None" = None) -> None:
        alias, pinned = _ALIAS.match(uri), _PINNED.match(uri)
        if alias:
            self.name, self.alias, self.version = alias["name"], alias["alias"], None
        elif pinned:
            self.name, self.alias, self.version = pinned["name"], None, pinned["version"]
        else:
            raise ValueError(
                f"MODEL_URI {uri!r}: expected models:/<name>@<alias> or models:/<name>/<version>"
            )
        self._uri = uri
        self.cache_dir = Path(cache_dir)
        self._client = client

    @property
    def uri(self) -> str:
        return self._uri

    @property
    def pinned(self) -> bool:
        return self.alias is None

    def client(self) -> "MlflowClient":
        if self._client is None:
            from mlflow import MlflowClient

            self._client = MlflowClient()
        return self._client

    def revision(self) -> str | None:
        if self.alias is None:
            return self.version
        from mlflow.exceptions import MlflowException

        # The registered model's alias map, rather than a lookup by alias: an alias that is not
        # set is then plainly absent, not an error to tell apart from an unreachable registry.
        try:
            aliases = self.client().get_registered_model(self.name).aliases
        except MlflowException as exc:
            if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
                return None
            raise SourceUnavailable(f"registry lookup of {self._uri} failed: {exc}") from exc
        except Exception as exc:  # connection errors surface as many types
            raise SourceUnavailable(f"registry lookup of {self._uri} failed: {exc}") from exc
        version = aliases.get(self.alias)
        return None if version is None else str(version)

    def fetch(self, revision: str) -> LoadedModel:
        path = self._download(revision)
        return LoadedModel(load_artifact(path), self._uri, revision, registry_version=revision)

    def _download(self, version: str) -> Path:
        target = self.cache_dir / self.name / version
        if (target / METADATA_FILE).is_file():
            return target
        import mlflow.artifacts

        # Logs are JSON lines: no progress bars on stderr (an operator's explicit setting wins).
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=target.parent))
        try:
            mlflow.artifacts.download_artifacts(
                f"{REGISTRY_SCHEME}{self.name}/{version}", dst_path=str(staging)
            )
            try:
                os.replace(staging, target)
            except OSError:
                if not (target / METADATA_FILE).is_file():
                    raise
                # another worker sharing the cache finished the same download first
        except Exception as exc:
            raise SourceUnavailable(
                f"download of {self.name} version {version} failed: {exc}"
            ) from exc
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        log.info(
            "model version downloaded",
            extra={"model": self.name, "registry_version": version, "path": str(target)},
        )
        return target

    def __repr__(self) -> str:
        return f"RegistrySource({self._uri!r}, cache_dir={str(self.cache_dir)!r})"


def model_source(uri: str, cache_dir: Path) -> ModelSource:
    """The source `MODEL_URI` names: a registry URI, else an artifact directory."""
    if uri.startswith(REGISTRY_SCHEME):
        return RegistrySource(uri, cache_dir)
    return DirectorySource(uri)
