"""The model watcher: a new version is fetched, verified and handed over once; a refused one is
counted, never handed over, and not retried until the source changes again."""

import threading
from dataclasses import replace

import pytest

from consumer.metrics import Metrics
from consumer.model_source import LoadedModel, SourceUnavailable
from consumer.reload import Mailbox, ModelWatcher
from inference.artifact import Artifact, ArtifactError
from inference.verify import VerificationError
from tests.support import stub


def model(version: str, revision: str | None = None) -> LoadedModel:
    base = stub.stub_artifact()
    artifact = replace(base, meta=base.meta.model_copy(update={"version": version}))
    return LoadedModel(artifact, "models:/content-tagger@champion", revision or version, "1")


class FakeSource:
    """A source whose current revision the test sets; fetches are counted."""

    uri = "models:/content-tagger@champion"
    pinned = False

    def __init__(self, current: LoadedModel | None) -> None:
        self.current = current
        self.unavailable = False
        self.broken: str | None = None  # an ArtifactError message for the next fetches
        self.fetches = 0

    def revision(self) -> str | None:
        if self.unavailable:
            raise SourceUnavailable("registry unreachable")
        return self.current.revision if self.current else None

    def fetch(self, revision: str) -> LoadedModel:
        self.fetches += 1
        if self.unavailable:
            raise SourceUnavailable("download failed")
        if self.broken:
            raise ArtifactError(self.broken)
        assert self.current is not None and self.current.revision == revision
        return self.current


class Verifier:
    def __init__(self) -> None:
        self.refuse: set[str] = set()
        self.checked: list[str] = []

    def __call__(self, artifact: Artifact) -> None:
        self.checked.append(artifact.version)
        if artifact.version in self.refuse:
            raise VerificationError(f"{artifact.version} mistags the smoke set")


@pytest.fixture
def parts():
    serving = model("v1")
    source, verifier, metrics = FakeSource(serving), Verifier(), Metrics()
    delivered: list[LoadedModel] = []
    watcher = ModelWatcher(
        source,
        slot="champion",
        deliver=delivered.append,
        verify=verifier,
        poll_seconds=1.0,
        metrics=metrics,
        serving=serving,
    )
    return watcher, source, verifier, delivered, metrics


def reloads(metrics: Metrics, result: str, slot: str = "champion") -> float:
    value = metrics.registry.get_sample_value(
        "tagger_model_reloads_total", {"slot": slot, "result": result}
    )
    assert value is not None
    return value


def test_the_serving_revision_is_not_handed_over_again(parts):
    watcher, source, _, delivered, _ = parts
    assert watcher.check() == "unchanged"
    assert delivered == [] and source.fetches == 0


def test_a_new_verified_version_is_handed_over_once(parts):
    watcher, source, verifier, delivered, metrics = parts
    source.current = model("v2")
    assert watcher.check() == "loaded"
    assert watcher.check() == "unchanged"
    assert [m.version for m in delivered] == ["v2"]
    assert verifier.checked == ["v2"]
    assert reloads(metrics, "loaded") == 1


def test_a_candidate_failing_verification_is_refused_and_counted(parts):
    watcher, source, verifier, delivered, metrics = parts
    verifier.refuse.add("v2")
    source.current = model("v2")
    assert watcher.check() == "refused"
    assert delivered == []
    assert reloads(metrics, "refused") == 1
    assert reloads(metrics, "loaded") == 0


def test_a_refused_candidate_is_not_retried_until_the_source_changes(parts):
    watcher, source, verifier, delivered, metrics = parts
    verifier.refuse.add("v2")
    source.current = model("v2")
    watcher.check()
    assert watcher.check() == "unchanged"
    assert source.fetches == 1 and reloads(metrics, "refused") == 1
    source.current = model("v3")
    assert watcher.check() == "loaded"
    assert [m.version for m in delivered] == ["v3"]


def test_a_corrupt_artifact_is_refused(parts):
    watcher, source, _, delivered, metrics = parts
    source.current, source.broken = model("v2"), "checksum mismatch for model-0.bin"
    assert watcher.check() == "refused"
    assert delivered == [] and reloads(metrics, "refused") == 1


def test_an_unreadable_source_is_retried_on_the_next_check(parts):
    watcher, source, _, delivered, metrics = parts
    source.current, source.unavailable = model("v2"), True
    assert watcher.check() == "error"
    source.unavailable = False
    assert watcher.check() == "loaded"
    assert [m.version for m in delivered] == ["v2"]
    assert reloads(metrics, "error") == 1 and reloads(metrics, "refused") == 0


def test_a_new_revision_holding_the_serving_artifact_is_not_handed_over(parts):
    watcher, source, verifier, delivered, _ = parts
    source.current = model("v1", revision="2")  # the same artifact registered again
    assert watcher.check() == "unchanged"
    assert delivered == [] and verifier.checked == []


def test_every_check_records_its_time(parts):
    watcher, _, _, _, metrics = parts
    watcher.check()
    stamp = metrics.registry.get_sample_value(
        "tagger_model_last_check_timestamp_seconds", {"slot": "champion"}
    )
    assert stamp is not None and stamp > 0


def test_a_removed_alias_is_reported_once_to_the_target_and_its_return_delivered_again():
    serving = model("c1")
    source, delivered, gone = FakeSource(serving), [], []
    watcher = ModelWatcher(
        source,
        slot="challenger",
        deliver=delivered.append,
        verify=Verifier(),
        poll_seconds=1.0,
        metrics=Metrics(),
        serving=serving,
        on_absent=lambda: gone.append(True),
    )
    source.current = None
    assert watcher.check() == "absent"
    assert watcher.check() == "absent"
    assert gone == [True]
    source.current = serving
    assert watcher.check() == "loaded"
    assert [m.version for m in delivered] == ["c1"]


def test_the_watcher_thread_polls_and_hands_over_into_a_mailbox():
    source, mailbox, arrived = FakeSource(model("v1")), Mailbox[LoadedModel](), threading.Event()

    def deliver(loaded: LoadedModel) -> None:
        mailbox.put(loaded)
        arrived.set()

    watcher = ModelWatcher(
        source,
        slot="champion",
        deliver=deliver,
        verify=Verifier(),
        poll_seconds=0.01,
        metrics=Metrics(),
        serving=model("v0"),
    ).start()
    try:
        assert arrived.wait(10)
    finally:
        watcher.stop(timeout=10)
    taken = mailbox.take()
    assert taken is not None and taken.version == "v1"
    assert mailbox.take() is None


def test_the_mailbox_keeps_only_the_newest_model():
    mailbox = Mailbox[LoadedModel]()
    mailbox.put(model("v2"))
    mailbox.put(model("v3"))
    taken = mailbox.take()
    assert taken is not None and taken.version == "v3"
    assert mailbox.take() is None


def test_a_watcher_needs_a_positive_poll_interval():
    with pytest.raises(ValueError):
        ModelWatcher(
            FakeSource(None),
            slot="champion",
            deliver=lambda m: None,
            verify=Verifier(),
            poll_seconds=0,
            metrics=Metrics(),
        )
