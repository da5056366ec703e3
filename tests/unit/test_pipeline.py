import dataclasses
import json
from collections.abc import Sequence

import numpy as np
import pytest
import redis

from consumer import codec
from consumer.metrics import Metrics
from consumer.pipeline import Pipeline
from inference.predictor import Answers
from schemas.events import ClassifiedEvent, DuplicateEvent
from schemas.tags import APPROVED_TAGS
from schemas.topics import DEFAULT_TOPICS as T
from tests.support.records import FakeRecord, event
from tests.support.stub import KeywordPredictor


class MemoryDedup:
    """The Redis script's semantics in memory; test_dedup_redis.py runs the real script."""

    def __init__(self):
        self.seen: dict[str, tuple[str, str]] = {}
        self.calls = 0
        self.positions: list[str] = []

    def check(
        self, fingerprints: Sequence[str], ids: Sequence[str], positions: Sequence[str]
    ) -> list[str | None]:
        self.calls += 1
        self.positions.extend(positions)
        out = []
        for fp, event_id, position in zip(fingerprints, ids, positions, strict=True):
            prev = self.seen.setdefault(fp, (event_id, position))
            out.append(None if prev == (event_id, position) else prev[0])
        return out

    def release(
        self, fingerprints: Sequence[str], ids: Sequence[str], positions: Sequence[str]
    ) -> None:
        for fp, event_id, position in zip(fingerprints, ids, positions, strict=True):
            if self.seen.get(fp) == (event_id, position):
                del self.seen[fp]


def _event(i, title="Object detection with YOLO", description="boxes in images"):
    return event(i, title, description, created_on="2020-01-01T00:00:00")


@pytest.fixture
def pipeline(stub_artifact):
    """Routing rules on the keyword stub: "detection", "images" → computer-vision at 0.9 (over
    the 0.5 threshold); text without keywords → other at 0.4 (under it)."""
    dedup = MemoryDedup()
    return Pipeline(stub_artifact, dedup, T, Metrics(), 100_000), dedup


def test_every_record_yields_exactly_one_output(pipeline):
    p, _ = pipeline
    records = [FakeRecord(_event(1)), FakeRecord(b"junk", 1), FakeRecord(_event(2, "NLP", "BERT"))]
    assert len(p.process(records)) == 3


def test_confident_prediction_goes_to_tagged_topic(pipeline):
    p, _ = pipeline
    [out] = p.process([FakeRecord(_event(1))])
    record = ClassifiedEvent.model_validate_json(out.value)
    assert out.topic == T.tagged and record.route == "tagged"
    assert record.tag == "computer-vision" and record.confidence >= record.threshold
    assert set(record.probabilities) == set(APPROVED_TAGS)
    assert out.key == b"1"


def test_low_confidence_prediction_goes_to_review_topic(pipeline):
    p, _ = pipeline
    [out] = p.process([FakeRecord(_event(1, "something", "vague"))])
    record = ClassifiedEvent.model_validate_json(out.value)
    assert out.topic == T.review and record.route == "review"
    assert record.confidence < record.threshold


def test_a_confidence_under_the_artifacts_threshold_goes_to_review(stub_artifact):
    meta = stub_artifact.meta.model_copy(update={"threshold": 1.0})
    strict = dataclasses.replace(stub_artifact, meta=meta)
    p = Pipeline(strict, MemoryDedup(), T, Metrics(), 100_000)
    [out] = p.process([FakeRecord(_event(1))])
    assert out.topic == T.review


def test_a_given_predictor_answers_in_place_of_the_artifacts_classifier(tiny_artifact):
    predictor = KeywordPredictor()
    p = Pipeline(tiny_artifact, MemoryDedup(), T, Metrics(), 100_000, predictor=predictor)
    [out] = p.process([FakeRecord(_event(1, "nothing to see", "here"))])
    record = ClassifiedEvent.model_validate_json(out.value)
    assert predictor.calls == [1]
    assert (record.tag, record.confidence) == ("other", 0.4)
    assert record.model_version == tiny_artifact.version


def test_a_real_model_tags_events_as_it_answers_them_one_by_one(tiny_artifact):
    p = Pipeline(tiny_artifact, MemoryDedup(), T, Metrics(), 100_000)
    texts = [("Object detection with YOLO", "boxes in images"), ("BERT, for text!", ""), ("x", "y")]
    outs = p.process([FakeRecord(_event(i, *text), i) for i, text in enumerate(texts)])
    for out, (title, description) in zip(outs, texts, strict=True):
        tag, confidence, probabilities = tiny_artifact.classifier.predict(title, description)
        record = ClassifiedEvent.model_validate_json(out.value)
        assert (record.tag, record.confidence) == (tag, pytest.approx(confidence))
        assert record.probabilities == pytest.approx(probabilities)
        assert out.topic == (T.tagged if confidence >= tiny_artifact.threshold else T.review)


def test_a_real_model_reads_a_batchs_tokens_from_its_normalised_buffer(tiny_artifact, monkeypatch):
    p = Pipeline(tiny_artifact, MemoryDedup(), T, Metrics(), 100_000)
    texts = [(f"Object detection {i}", "boxes in images") for i in range(3)] + [("BERT", "text")]
    records = [FakeRecord(_event(i, *text), i) for i, text in enumerate(texts)]
    monkeypatch.setattr(p, "_predict_utf8", None)
    by_pairs = [json.loads(o.value) for o in p.process(records)]
    monkeypatch.undo()

    def no_pairs(pairs):
        raise AssertionError("the batch's pairs were encoded again")

    monkeypatch.setattr(p, "_predict", no_pairs)
    again = [FakeRecord(_event(i, *text), i) for i, text in enumerate(texts)]  # replays
    by_buffer = [json.loads(o.value) for o in p.process(again)]
    for record in by_pairs + by_buffer:
        del record["consumed_at"], record["classified_at"]
    assert by_buffer == by_pairs


def test_a_real_models_answers_are_written_from_its_matrix_without_a_check_per_answer(
    tiny_artifact, monkeypatch
):
    p = Pipeline(tiny_artifact, MemoryDedup(), T, Metrics(), 100_000)
    texts = [(f"Object detection {i}", "boxes in images") for i in range(3)] + [("BERT", "text")]
    records = [FakeRecord(_event(i, *text), i) for i, text in enumerate(texts)]

    def per_answer(predictions):
        raise AssertionError("the answers were checked one by one")

    monkeypatch.setattr(codec, "checked_predictions", per_answer)
    outs = p.process(records)
    for out, (title, description) in zip(outs, texts, strict=True):
        tag, confidence, _ = tiny_artifact.classifier.predict(title, description)
        assert out.topic in (T.tagged, T.review)
        assert (out.label, json.loads(out.value)["confidence"]) == (tag, pytest.approx(confidence))


def test_a_matrix_holding_not_a_number_dead_letters_only_that_events_answer(
    tiny_artifact, monkeypatch
):
    p = Pipeline(tiny_artifact, MemoryDedup(), T, Metrics(), 100_000)
    real = p._predict_utf8

    def nan_for_the_second(buffer, events):
        kept = real(buffer, events)
        rows = kept.probabilities.copy()
        rows[1, 0] = np.nan
        return Answers(rows, kept.labels)

    monkeypatch.setattr(p, "_predict_utf8", nan_for_the_second)
    texts = [(f"Object detection {i}", "boxes in images") for i in range(4)]
    outs = p.process([FakeRecord(_event(i, *text), i) for i, text in enumerate(texts)])
    assert [o.topic == T.dead_letter for o in outs] == [False, True, False, False]


def test_same_content_under_new_id_goes_to_duplicates(pipeline):
    p, _ = pipeline
    outs = p.process([FakeRecord(_event(1)), FakeRecord(_event(2, "OBJECT detection, with YOLO!"))])
    assert [o.topic for o in outs] == [T.tagged, T.duplicate]
    assert DuplicateEvent.model_validate_json(outs[1].value).duplicate_of == "1"


def test_redelivered_event_is_processed_again_not_duplicate(pipeline):
    p, _ = pipeline
    p.process([FakeRecord(_event(1))])
    [again] = p.process([FakeRecord(_event(1))])
    assert again.topic == T.tagged


def test_same_event_resent_as_a_new_record_goes_to_duplicates_as_a_duplicate_of_itself(pipeline):
    p, _ = pipeline
    p.process([FakeRecord(_event(1), offset=0)])
    [resent] = p.process([FakeRecord(_event(1), offset=1)])
    assert resent.topic == T.duplicate
    assert DuplicateEvent.model_validate_json(resent.value).duplicate_of == "1"


def test_dedup_is_given_each_valid_events_topic_partition_and_offset(pipeline):
    p, dedup = pipeline
    p.process([FakeRecord(_event(1), 7, 2), FakeRecord(b"junk", 8, 2), FakeRecord(_event(2), 9, 3)])
    assert dedup.positions == [f"{T.input}:2:7", f"{T.input}:3:9"]


def test_garbage_goes_to_dead_letter(pipeline):
    p, _ = pipeline
    [out] = p.process([FakeRecord(b"\xff\xfe", offset=9)])
    assert out.topic == T.dead_letter and out.label == "invalid_utf8"


def test_dedup_is_one_call_per_batch(pipeline):
    p, dedup = pipeline
    p.process([FakeRecord(_event(i, f"title {i}")) for i in range(50)])
    assert dedup.calls == 1


def test_unexpected_error_on_one_event_dead_letters_it_and_keeps_the_rest(pipeline, monkeypatch):
    p, _ = pipeline
    real = p._predict

    def flaky(pairs: list[tuple[str, str]]):
        if any("explode" in title for title, _ in pairs):
            raise RuntimeError("boom")
        return real(pairs)

    monkeypatch.setattr(p, "_predict", flaky)
    outs = p.process([FakeRecord(_event(1, "explode now"), 0), FakeRecord(_event(2), 1)])
    assert [o.topic for o in outs] == [T.dead_letter, T.tagged]
    assert json.loads(outs[0].value)["error"]["code"] == "processing_error"


def test_an_answer_outside_the_schema_dead_letters_only_its_own_event(pipeline, monkeypatch):
    p, _ = pipeline
    real = p._predict

    def unapproved_for_cooking(pairs: list[tuple[str, str]]):
        answers = real(pairs)
        return [
            ("cooking", 0.99, {"cooking": 0.99}) if "cooking" in title else answer
            for (title, _), answer in zip(pairs, answers, strict=True)
        ]

    monkeypatch.setattr(p, "_predict", unapproved_for_cooking)
    outs = p.process(
        [
            FakeRecord(_event(1), 0),
            FakeRecord(_event(2, "cooking"), 1),
            FakeRecord(_event(3, "Pose detection"), 2),
        ]
    )
    assert [o.topic for o in outs] == [T.tagged, T.dead_letter, T.tagged]
    assert json.loads(outs[1].value)["error"]["code"] == "processing_error"
    assert b"cooking" not in outs[0].value + outs[2].value


def _failing_on(p, word: str):
    real = p._predict

    def flaky(pairs: list[tuple[str, str]]):
        if any(word in title for title, _ in pairs):
            raise RuntimeError("boom")
        return real(pairs)

    return flaky


def test_an_event_dead_lettered_after_its_check_does_not_keep_its_claim(pipeline, monkeypatch):
    p, dedup = pipeline
    monkeypatch.setattr(p, "_predict", _failing_on(p, "explode"))
    [out] = p.process([FakeRecord(_event(1, "explode now"), 0)])
    assert out.topic == T.dead_letter
    assert dedup.seen == {}


def test_a_dead_lettered_event_republished_later_is_tagged_not_a_duplicate(pipeline, monkeypatch):
    p, _ = pipeline
    monkeypatch.setattr(p, "_predict", _failing_on(p, "explode"))
    p.process([FakeRecord(_event(1, "explode detection"), 0)])
    monkeypatch.undo()
    [out] = p.process([FakeRecord(_event(1, "explode detection"), 7)])  # from the dead letters
    assert out.topic == T.tagged


def test_claims_of_tagged_and_duplicate_events_are_kept_beside_a_dead_lettered_one(
    pipeline, monkeypatch
):
    p, dedup = pipeline
    monkeypatch.setattr(p, "_predict", _failing_on(p, "explode"))
    outs = p.process(
        [
            FakeRecord(_event(1), 0),
            FakeRecord(_event(2), 1),  # the same content as 1: a duplicate
            FakeRecord(_event(3, "explode now"), 2),
        ]
    )
    assert [o.topic for o in outs] == [T.tagged, T.duplicate, T.dead_letter]
    assert sorted(event_id for event_id, _ in dedup.seen.values()) == ["1"]


def test_an_event_that_breaks_batch_normalisation_alone_is_dead_lettered(pipeline, monkeypatch):
    import consumer.pipeline as module

    p, _ = pipeline
    real = module.normalised_fields

    def breaks_on_explode(title, description, url=None):
        if "explode" in title:
            raise RuntimeError("boom")
        return real(title, description, url)

    def batch_fails(events):
        raise RuntimeError("batch boom")

    monkeypatch.setattr(module, "normalised_batch", batch_fails)
    monkeypatch.setattr(module, "normalised_fields", breaks_on_explode)
    outs = p.process([FakeRecord(_event(1, "explode now"), 0), FakeRecord(_event(2), 1)])
    assert [o.topic for o in outs] == [T.dead_letter, T.tagged]
    assert json.loads(outs[0].value)["error"]["code"] == "processing_error"


def test_a_batch_is_classified_in_one_model_call_while_redis_checks_it(pipeline, monkeypatch):
    p, _ = pipeline
    real, calls = p._predict, []

    def counting(pairs: list[tuple[str, str]]):
        calls.append(len(pairs))
        return real(pairs)

    monkeypatch.setattr(p, "_predict", counting)
    records = [FakeRecord(_event(i, f"Object detection part {i}"), i) for i in range(5)]
    records.append(FakeRecord(_event(9, "OBJECT detection, part 0!"), 5))
    outs = p.process(records)
    assert calls == [6]  # the duplicate too: its verdict is not known yet when the model answers
    assert [o.outcome for o in outs].count("duplicate") == 1


class Recorder:
    """A `BatchObserver` that keeps what it is shown."""

    def __init__(self):
        self.pairs: list[tuple[str, str]] = []

    def observe(self, pairs, predictions, threshold):
        assert len(pairs) == len(predictions)
        self.pairs.extend(pairs)


def test_observers_are_shown_only_the_fresh_events_of_a_batch(stub_artifact):
    recorder = Recorder()
    p = Pipeline(stub_artifact, MemoryDedup(), T, Metrics(), 100_000, observers=[recorder])
    first = FakeRecord(_event(1, "Object detection part one"), 0)
    again = FakeRecord(_event(2, "OBJECT detection: part one!"), 1)
    other = FakeRecord(_event(3, "Object detection part two"), 2)
    p.process([first, again, other])
    assert recorder.pairs == [
        ("object detection part one", "boxes in images"),
        ("object detection part two", "boxes in images"),
    ]


class AnswersOnly:
    """A `BatchObserver` that reads the answers alone, as the drift monitor does."""

    def __init__(self):
        self.answers = 0

    def observe(self, pairs, predictions, threshold):
        self.answers += len(list(predictions))


def test_the_pairs_are_cut_from_the_buffer_only_for_an_observer_that_reads_them(
    tiny_artifact, monkeypatch
):
    import consumer.pipeline as module

    cut: list[int] = []
    real = module.normalised_pairs
    monkeypatch.setattr(module, "normalised_pairs", lambda b, n: cut.append(n) or real(b, n))
    texts = [(f"Object detection {i}", "boxes in images") for i in range(4)]
    answers_only, recorder = AnswersOnly(), Recorder()
    p = Pipeline(tiny_artifact, MemoryDedup(), T, Metrics(), 100_000, observers=[answers_only])
    p.process([FakeRecord(_event(i, *text), i) for i, text in enumerate(texts)])
    assert (answers_only.answers, cut) == (4, [])
    p = Pipeline(tiny_artifact, MemoryDedup(), T, Metrics(), 100_000, observers=[recorder])
    p.process([FakeRecord(_event(i, *text), i) for i, text in enumerate(texts)])
    assert cut == [4]
    assert recorder.pairs == [(f"object detection {i}", "boxes in images") for i in range(4)]


def test_observers_are_not_shown_the_events_the_model_failed_on(stub_artifact, monkeypatch):
    recorder = Recorder()
    p = Pipeline(stub_artifact, MemoryDedup(), T, Metrics(), 100_000, observers=[recorder])
    monkeypatch.setattr(p, "_predict", _failing_on(p, "explode"))
    p.process(
        [
            FakeRecord(_event(1, "Object detection part one"), 0),
            FakeRecord(_event(2, "explode now"), 1),
            FakeRecord(_event(3, "Object detection part two"), 2),
        ]
    )
    assert recorder.pairs == [
        ("object detection part one", "boxes in images"),
        ("object detection part two", "boxes in images"),
    ]


def test_a_redis_failure_produces_nothing_though_the_model_has_answered(stub_artifact):
    class Down:
        def check(self, fingerprints, ids, positions):
            raise redis.ConnectionError("down")

    p = Pipeline(stub_artifact, Down(), T, Metrics(), 100_000)
    with pytest.raises(redis.ConnectionError):
        p.process([FakeRecord(_event(1), 0)])


def test_a_split_dedup_check_is_sent_before_the_model_call_and_read_after_it(stub_artifact):
    order: list[str] = []

    class Split(MemoryDedup):
        def start(self, fingerprints, ids, positions):
            order.append("sent")
            verdicts = self.check(fingerprints, ids, positions)
            return lambda: order.append("read") or verdicts

    p = Pipeline(stub_artifact, Split(), T, Metrics(), 100_000)
    predict = p._predict
    p._predict = lambda pairs: order.append("model") or predict(pairs)
    p.process([FakeRecord(_event(1), 0)])
    assert order == ["sent", "model", "read"]


def test_classified_records_are_built_before_the_dedup_verdicts_are_read(
    stub_artifact, monkeypatch
):
    order: list[str] = []

    class Split(MemoryDedup):
        def start(self, fingerprints, ids, positions):
            verdicts = self.check(fingerprints, ids, positions)
            return lambda: order.append("read") or verdicts

    p = Pipeline(stub_artifact, Split(), T, Metrics(), 100_000)
    real = codec.ClassifiedEncoder.__call__

    def encode(self, *args):
        order.append("encoded")
        return real(self, *args)

    monkeypatch.setattr(codec.ClassifiedEncoder, "__call__", encode)
    p.process([FakeRecord(_event(1), 0)])
    assert order == ["encoded", "read"]


def test_a_duplicate_is_routed_as_one_though_its_classified_record_failed(pipeline, monkeypatch):
    p, _ = pipeline
    p.process([FakeRecord(_event(1), 0)])

    def fail(*_args):
        raise ValueError("cannot encode")

    monkeypatch.setattr(codec.ClassifiedEncoder, "__call__", fail)
    [out] = p.process([FakeRecord(_event(2), 1)])
    assert out.topic == T.duplicate
    assert json.loads(out.value)["duplicate_of"] == "1"


def test_every_classified_event_is_one_classification_time_observation(stub_artifact):
    metrics = Metrics()
    p = Pipeline(stub_artifact, MemoryDedup(), T, metrics, 100_000)
    records = [FakeRecord(_event(i, f"Object detection part {i}"), i) for i in range(4)]
    p.process([*records, FakeRecord(b"junk", 4)])
    assert metrics.registry.get_sample_value("tagger_classification_seconds_count") == 4


def test_a_failed_batch_call_is_counted_as_a_fallback(stub_artifact):
    metrics = Metrics()
    p = Pipeline(stub_artifact, MemoryDedup(), T, metrics, 100_000)
    real = p._predict
    p._predict = lambda pairs: real(pairs)[:1]  # a short answer is a failure too
    outs = p.process([FakeRecord(_event(1), 0), FakeRecord(_event(2, "GPT", "text"), 1)])
    assert [o.outcome in ("tagged", "review") for o in outs] == [True, True]
    assert metrics.registry.get_sample_value("tagger_classification_fallbacks_total") == 1


def _comparable(outs):
    """Outputs as compared across two runs: each record's batch times left out."""
    times = ("consumed_at", "classified_at")
    return [
        (
            o.topic,
            o.key,
            o.outcome,
            o.label,
            {k: v for k, v in json.loads(o.value).items() if k not in times},
        )
        for o in outs
    ]


def _one_record_at_a_time(stub_artifact, monkeypatch, records):
    """What the pipeline gives when every batch is decoded record by record (its slow path)."""
    import consumer.codec as codec

    with monkeypatch.context() as patched:
        patched.setattr(codec, "decode_all", lambda values, max_bytes: None)
        return Pipeline(stub_artifact, MemoryDedup(), T, Metrics(), 100_000).process(records)


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param(b'{"id": 1', id="invalid json"),
        pytest.param(b"\xff\xfe", id="invalid utf8"),
        pytest.param(event(7, ""), id="schema violation"),
        pytest.param(None, id="null value"),
        pytest.param(event(7, "x" * 200_000), id="oversize"),
    ],
)
def test_a_batch_with_one_bad_record_gives_the_outputs_record_by_record_decoding_gives(
    stub_artifact, monkeypatch, bad
):
    records = [
        FakeRecord(_event(1), 0),
        FakeRecord(_event(2, "BERT for text", "nlp"), 1),
        FakeRecord(bad, 2),
        FakeRecord(_event(3), 3),  # the same content as 1: a duplicate
        FakeRecord(_event(4, "something", "vague"), 4),
    ]
    outs = Pipeline(stub_artifact, MemoryDedup(), T, Metrics(), 100_000).process(records)
    assert _comparable(outs) == _comparable(
        _one_record_at_a_time(stub_artifact, monkeypatch, records)
    )
    assert [o.topic for o in outs] == [T.dead_letter, T.tagged, T.tagged, T.duplicate, T.review]


def test_a_batch_of_valid_records_decodes_as_record_by_record_decoding_does(
    stub_artifact, monkeypatch
):
    records = [FakeRecord(_event(i, f"Object detection {i}", "boxes"), i) for i in range(20)]
    outs = Pipeline(stub_artifact, MemoryDedup(), T, Metrics(), 100_000).process(records)
    assert _comparable(outs) == _comparable(
        _one_record_at_a_time(stub_artifact, monkeypatch, records)
    )
