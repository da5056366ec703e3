"""The bench's floor (`bench.floor`): the passthrough plus the job's mandated calls, done through
the service's own implementations, so its events/s bound the service's."""

from collections.abc import Callable, Sequence

from bench.floor import mandated_work
from bench.report import markdown
from inference.text import fingerprint
from schemas.topics import DEFAULT_TOPICS
from tests.support.records import FakeRecord, event


class RecordingDedup:
    """A split dedup that records what it was asked and when its reply was read."""

    def __init__(self, calls: list[str]):
        self.calls = calls
        self.requests: list[tuple[list[str], list[str], list[str]]] = []

    def check(self, fingerprints, ids, positions):
        return self.start(fingerprints, ids, positions)()

    def start(
        self, fingerprints: Sequence[str], ids: Sequence[str], positions: Sequence[str]
    ) -> Callable[[], list[str | None]]:
        self.calls.append("dedup sent")
        self.requests.append((list(fingerprints), list(ids), list(positions)))

        def verdicts() -> list[str | None]:
            self.calls.append("dedup read")
            return [None] * len(fingerprints)

        return verdicts


class RecordingClassifier:
    def __init__(self, classifier, calls: list[str]):
        self._classifier, self.calls = classifier, calls

    def predict_normalised_utf8(self, batch: bytes, events: int):
        self.calls.append("model")
        return self._classifier.predict_normalised_utf8(batch, events)


RECORDS = [
    FakeRecord(event(1, "Object Detection", "boxes in images", url="https://a.example"), 7),
    FakeRecord(event("b", "BERT for NER", "token classification"), 8, partition=2),
]


def test_floor_checks_a_batch_once_with_the_services_fingerprints_ids_and_positions(
    tiny_artifact,
):
    calls: list[str] = []
    dedup = RecordingDedup(calls)
    mandated_work(tiny_artifact.classifier, dedup)(RECORDS)
    assert dedup.requests == [
        (
            [
                fingerprint("Object Detection", "boxes in images", "https://a.example"),
                fingerprint("BERT for NER", "token classification"),
            ],
            ["1", "b"],
            [f"{DEFAULT_TOPICS.input}:0:7", f"{DEFAULT_TOPICS.input}:2:8"],
        )
    ]


def test_floor_answers_every_event_with_the_serving_models_answers(tiny_artifact):
    classifier = tiny_artifact.classifier
    verdicts, answers = mandated_work(classifier, RecordingDedup([]))(RECORDS)
    expected = classifier.predict_normalised(
        [("object detection", "boxes in images"), ("bert for ner", "token classification")]
    )
    assert verdicts == [None, None]
    assert [a[0] for a in answers] == [a[0] for a in expected]


def test_floor_reads_the_dedup_reply_after_the_model_call(tiny_artifact):
    calls: list[str] = []
    classifier = RecordingClassifier(tiny_artifact.classifier, calls)
    mandated_work(classifier, RecordingDedup(calls))(RECORDS)
    assert calls == ["dedup sent", "model", "dedup read"]


def test_report_shows_the_floor_beside_the_service_and_the_passthrough():
    text = markdown(
        {
            "drain": {
                "service_eps": 100.0,
                "passthrough_eps": 400.0,
                "ratio": 0.25,
                "floor_eps": 130.0,
                "floor_ratio": 0.325,
                "service_over_floor": 0.7692,
            }
        }
    )
    rows = {
        cells[1].strip(): cells[2].strip()
        for cells in (line.split("|") for line in text.splitlines())
        if len(cells) == 4
    }
    assert rows["drain: floor (passthrough + the job's mandated calls)"] == "130.00"
    assert rows["drain: floor / passthrough"] == "0.33"
    assert rows["drain: service / floor"] == "0.77"
