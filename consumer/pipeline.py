"""One batch of input records → output records: decode, fingerprint, dedup, classify, route, encode.

Pure of Kafka I/O (the service produces what this returns), so every routing rule is testable with
plain objects. Redis is touched exactly once per batch.
"""

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from functools import partial
from itertools import compress, repeat
from operator import itemgetter
from typing import NamedTuple, Protocol, cast, overload, runtime_checkable

import numpy as np

from consumer import codec
from consumer.metrics import Metrics, observe_amortised
from inference.artifact import Artifact
from inference.predictor import Answers, Prediction, Predictor
from inference.text import normalised_batch, normalised_fields, normalised_pairs
from schemas.topics import Topics

log = logging.getLogger(__name__)

# An event's id, and the texts it is normalised and fingerprinted from, read off its fields.
_ID = itemgetter("id")
_TEXTS = itemgetter("title", "description", "url")


class Record(Protocol):
    """The subset of confluent_kafka.Message the pipeline reads."""

    def value(self) -> bytes | None: ...
    def key(self) -> bytes | None: ...
    def topic(self) -> str: ...
    def partition(self) -> int: ...
    def offset(self) -> int: ...
    def timestamp(self) -> tuple[int, int]: ...


def record_positions(records: Sequence[Record]) -> list[str]:
    """Each record's input position, "topic:partition:offset": what a dedup claim names besides
    the event id, so the same record read again is told from the same content elsewhere."""
    return [f"{r.topic()}:{r.partition()}:{r.offset()}" for r in records]


class Dedup(Protocol):
    def check(
        self, fingerprints: Sequence[str], ids: Sequence[str], positions: Sequence[str]
    ) -> list[str | None]:
        """None per event to process, or the id it duplicates. `positions` name each event's
        input record ("topic:partition:offset"): the same record read again is processed, the
        same content at another position (even under the same id) is a duplicate."""
        ...


@runtime_checkable
class ReleasingDedup(Dedup, Protocol):
    def release(
        self, fingerprints: Sequence[str], ids: Sequence[str], positions: Sequence[str]
    ) -> None:
        """Withdraw the claims of checked records that were dead-lettered, not tagged
        (`consumer.dedup.Deduplicator.release`)."""
        ...


@runtime_checkable
class SplitDedup(Dedup, Protocol):
    def start(
        self, fingerprints: Sequence[str], ids: Sequence[str], positions: Sequence[str]
    ) -> Callable[[], list[str | None]]:
        """`check` in two halves: the request is sent now, the call returned waits for the
        verdicts (`consumer.dedup.Deduplicator.start`)."""
        ...


class BatchObserver(Protocol):
    """Sees each batch's classified events after the model call (the shadow challenger, the drift
    monitor). Never changes what is routed; an observer that raises is logged and skipped."""

    def observe(
        self,
        pairs: Sequence[tuple[str, str]],
        predictions: Sequence[Prediction],
        threshold: float,
    ) -> None:
        """:param pairs: the normalised (title, description) of each fresh event classified.
        :param predictions: the serving model's answer for each pair, in order.
        :param threshold: the serving model's review threshold."""


class Output(NamedTuple):
    """What is produced for one record. A tuple: the pipeline makes one per event, and a frozen
    dataclass's `__init__` alone cost about 0.5 µs of each event's time."""

    topic: str
    key: bytes | None
    value: bytes
    outcome: str
    label: str | None = None  # the tag, or the error code of a dead letter


# Builds an Output from a 5-tuple in C, without NamedTuple's Python-level `__new__`.
_output = partial(tuple.__new__, Output)


class _Normalised(NamedTuple):
    """A batch's fingerprints and its normalised fields: the buffer the batch pass cut them from
    (the model reads its tokens there), or the fields themselves when it failed and the batch
    was normalised one event at a time."""

    fingerprints: list[str]
    buffer: bytes | None
    fields: list[tuple[str, str]] | None

    def pairs(self) -> list[tuple[str, str]]:
        """Each event's normalised (title, description)."""
        if self.fields is not None:
            return self.fields
        return normalised_pairs(cast(bytes, self.buffer), len(self.fingerprints))


class _Pairs(Sequence[tuple[str, str]]):
    """The normalised pairs an observer is shown, `rows` of the batch (all when None), cut from
    the batch's buffer only when first read: the drift monitor never reads them."""

    def __init__(self, normalised: _Normalised, rows: list[int] | None) -> None:
        self._normalised, self._rows = normalised, rows
        self._pairs: list[tuple[str, str]] | None = None

    def _cut(self) -> list[tuple[str, str]]:
        if self._pairs is None:
            pairs = self._normalised.pairs()
            self._pairs = pairs if self._rows is None else [pairs[i] for i in self._rows]
        return self._pairs

    def __len__(self) -> int:
        return len(self._normalised.fingerprints if self._rows is None else self._rows)

    @overload
    def __getitem__(self, index: int) -> tuple[str, str]: ...
    @overload
    def __getitem__(self, index: slice) -> list[tuple[str, str]]: ...
    def __getitem__(self, index: int | slice) -> tuple[str, str] | list[tuple[str, str]]:
        return self._cut()[index]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._cut())


def _predict_calls(
    predictor: Predictor,
) -> tuple[
    Callable[[Sequence[tuple[str, str]]], Sequence[Prediction]],
    Callable[[bytes, int], Sequence[Prediction] | None] | None,
]:
    """The predictor's batch call, and its call on a normalised buffer if it has one (the
    compiled `Classifier` does: `predict_normalised_utf8`)."""
    return predictor.predict_normalised, getattr(predictor, "predict_normalised_utf8", None)


class Pipeline:
    def __init__(
        self,
        artifact: Artifact,
        dedup: Dedup,
        topics: Topics,
        metrics: Metrics,
        max_message_bytes: int,
        predictor: Predictor | None = None,
        observers: Sequence[BatchObserver] = (),
    ) -> None:
        """:param predictor: answers in place of the artifact's own classifier (the same models
        through another `Predictor`, e.g. the reference one in a benchmark).
        :param observers: shown every batch's classified events (`BatchObserver`)."""
        self._predict, self._predict_utf8 = _predict_calls(predictor or artifact.classifier)
        self._threshold = artifact.threshold
        self._version = artifact.version
        self._observers = tuple(observers)
        self._dedup = dedup
        self._topics = topics
        self._max_bytes = max_message_bytes
        self._classification_seconds = metrics.classification_seconds
        self._observe_dedup = metrics.dedup_seconds.observe
        self._fallbacks = metrics.classification_fallbacks

    @property
    def version(self) -> str:
        """The version of the model answering now."""
        return self._version

    def use(self, artifact: Artifact, predictor: Predictor | None = None) -> None:
        """Answer subsequent batches with `artifact` (a hot reload). Called between batches, on
        the thread that calls `process`, so each batch is classified, thresholded and stamped by
        exactly one model.

        :param artifact: the new model, loaded and verified.
        :param predictor: answers in place of its own classifier (as in `__init__`)."""
        self._predict, self._predict_utf8 = _predict_calls(predictor or artifact.classifier)
        self._threshold = artifact.threshold
        self._version = artifact.version

    def process(self, records: Sequence[Record]) -> list[Output]:
        """Raises `redis.RedisError` before producing anything if the dedup check fails."""
        consumed_at = datetime.now(UTC)
        outputs: list[Output] = []
        kept, events = self._decode(records, outputs, consumed_at)
        normalised, failures = self._normalise(events)
        if failures:  # the batch pass failed: drop the events that failed alone
            for i, exc in failures.items():
                outputs.append(self._unexpected(kept[i], exc, consumed_at))
            ok = [i not in failures for i in range(len(kept))]
            kept, events = list(compress(kept, ok)), list(compress(events, ok))
        fingerprints = normalised.fingerprints
        ids = list(map(str, map(_ID, events)))
        positions = record_positions(kept)

        verdicts: list[str | None] = []
        predictions: Sequence[Prediction | Exception] = []
        classified: list[Output | Exception] = []
        if fingerprints:
            # The model answers every event, and every event's classified record is built, while
            # Redis answers the dedup check: its round trip costs no time of its own. A
            # duplicate's record (one event in ten) is dropped unused.
            started = time.perf_counter()
            verdicts_of = self._start_check(fingerprints, ids, positions)
            sent = time.perf_counter()
            try:
                predictions = self._classify(normalised)
                answered = time.perf_counter()
                observe_amortised(self._classification_seconds, answered - sent, len(events))
                classified = self._classified(events, ids, predictions, consumed_at)
            except BaseException:
                verdicts_of()  # the reply read, so the connection goes back in step
                raise
            built = time.perf_counter()
            verdicts = verdicts_of()  # raises what the check raised: nothing is produced
            self._observe_dedup(sent - started + time.perf_counter() - built)
            if self._observers and None in verdicts:
                self._show_observers(normalised, predictions, verdicts)

        # Each event's output in place: its classified one unless it is a duplicate (its
        # duplicate record) or its classified record failed (a dead letter). Only those, one
        # event in ten, are visited one by one.
        routed = cast(list[Output], classified)
        failed: list[int] = []  # checked as new, then dead-lettered: their claims are withdrawn
        duplicates = [i for i, seen in enumerate(verdicts) if seen is not None]
        if duplicates:
            encode_duplicate = codec.DuplicateEncoder(consumed_at=consumed_at)
            duplicate = self._topics.duplicate
            for i in duplicates:
                try:
                    value = encode_duplicate(events[i], cast(str, verdicts[i]), fingerprints[i])
                    routed[i] = _output((duplicate, ids[i].encode(), value, "duplicate", None))
                except Exception as exc:  # never crash on input
                    routed[i] = self._unexpected(kept[i], exc, consumed_at)
        for i in [i for i, output in enumerate(routed) if isinstance(output, Exception)]:
            routed[i] = self._unexpected(kept[i], cast(Exception, routed[i]), consumed_at)
            failed.append(i)
        outputs += routed
        if failed and isinstance(self._dedup, ReleasingDedup):
            # Before anything is produced: should Redis fail here, the batch is retried whole
            # (its records are the same records, so their claims are theirs again).
            self._dedup.release(
                [fingerprints[i] for i in failed],
                [ids[i] for i in failed],
                [positions[i] for i in failed],
            )
        return outputs

    def _decode(
        self, records: Sequence[Record], outputs: list[Output], consumed_at: datetime
    ) -> tuple[list[Record], list[codec.Fields]]:
        """The records that decode and their events; the others' dead letters appended to
        `outputs`, in record order. A batch with any bad record is decoded one record at a time,
        so each failure is classified by `codec.decode` exactly as it always was."""
        values = [record.value() for record in records]
        events = codec.decode_all(values, self._max_bytes)
        if events is not None:
            return list(records), events
        kept: list[Record] = []
        events = []
        decode, max_bytes = codec.decode, self._max_bytes
        for record, value in zip(records, values, strict=True):
            try:
                event = decode(value, max_bytes)
            except codec.DecodeError as error:
                outputs.append(self._dead_letter(record, error, consumed_at))
                continue
            except Exception as exc:  # never crash on input
                outputs.append(self._unexpected(record, exc, consumed_at))
                continue
            kept.append(record)
            events.append(event)
        return kept, events

    def _start_check(
        self, fingerprints: list[str], ids: list[str], positions: list[str]
    ) -> Callable[[], list[str | None]]:
        """The batch's dedup check sent; the call returned gives its verdicts. A `Dedup` that
        cannot split its check answers here, before the model call."""
        dedup = self._dedup
        if isinstance(dedup, SplitDedup):
            return dedup.start(fingerprints, ids, positions)
        verdicts = dedup.check(fingerprints, ids, positions)
        return lambda: verdicts

    def _classified(
        self,
        events: list[codec.Fields],
        ids: list[str],
        predictions: Sequence[Prediction | Exception],
        consumed_at: datetime,
    ) -> list[Output | Exception]:
        """Each event's tagged or review output, or why it has none (dead-lettered if fresh): the
        answers are checked against the output schema's answer types once per batch, so each
        record is assembled from validated parts (see `consumer.codec`). Answers the model kept
        as a matrix (`Answers`) are checked and written straight from it."""
        try:
            encoder = codec.ClassifiedEncoder(
                threshold=self._threshold,
                model_version=self._version,
                consumed_at=consumed_at,
                classified_at=datetime.now(UTC),  # the batch is classified in one call
            )
        except Exception as exc:  # every fresh event is dead-lettered, as it would be alone
            return [exc] * len(events)
        if isinstance(predictions, Answers) and codec.answers_fit_the_schema(predictions):
            topics = self._topics.tagged, self._topics.review
            try:  # no tuple, dict or check per event
                return encoder.outputs_of_answers(events, ids, predictions, topics, _output)
            except Exception:
                log.warning("could not write the batch's records whole", exc_info=True)
        # One event at a time, so only an event that fails goes without its record.
        answers = codec.checked_predictions(list(predictions))
        threshold, tagged, review = self._threshold, self._topics.tagged, self._topics.review
        outputs: list[Output | Exception] = []
        append = outputs.append
        for event, event_id, answer in zip(events, ids, answers, strict=True):
            try:
                if isinstance(answer, Exception):
                    raise answer
                tag, confidence, probabilities = answer
                if confidence >= threshold:
                    value = encoder(event, tag, confidence, probabilities, "tagged")
                    append(_output((tagged, event_id.encode(), value, "tagged", tag)))
                else:
                    value = encoder(event, tag, confidence, probabilities, "review")
                    append(_output((review, event_id.encode(), value, "review", tag)))
            except Exception as exc:  # never crash on input
                append(exc)
        return outputs

    def _show_observers(
        self,
        normalised: "_Normalised",
        predictions: Sequence[Prediction | Exception],
        verdicts: list[str | None],
    ) -> None:
        """The batch's fresh events and their answers, the events the model failed on left out.
        The batch's own answers when every event is fresh and answered (the common case); the
        pairs are cut from the batch's buffer only if an observer reads them."""
        rows: list[int] | None = None
        answers = cast(Sequence[Prediction], predictions)
        fresh = verdicts.count(None)
        if isinstance(predictions, Answers):  # no failed events; read as arrays, kept so
            if fresh != len(verdicts):
                rows = [i for i, seen in enumerate(verdicts) if seen is None]
                answers = predictions.take(np.array(rows, np.intp))
        elif any(map(isinstance, predictions, repeat(Exception))) or fresh != len(verdicts):
            rows = [
                i
                for i, (a, seen) in enumerate(zip(predictions, verdicts, strict=True))
                if seen is None and not isinstance(a, Exception)
            ]
            answers = cast(list[Prediction], [predictions[i] for i in rows])
        pairs = _Pairs(normalised, rows)
        for observer in self._observers:
            try:
                observer.observe(pairs, answers, self._threshold)
            except Exception:
                log.warning("a batch observer failed; routing is unaffected", exc_info=True)

    def _normalise(self, events: list[codec.Fields]) -> tuple["_Normalised", dict[int, Exception]]:
        """The batch's fingerprints, normalised in one pass with the buffer its fields are cut
        from (`text.normalised_batch`); should it fail, one event at a time, so only an event that
        breaks it is dead-lettered: the failures by event index, their fields left out."""
        try:
            buffer, fingerprints = normalised_batch(list(map(_TEXTS, events)))
            return _Normalised(fingerprints, buffer, None), {}
        except Exception:
            log.warning("batch normalisation failed; one event at a time", exc_info=True)
        fingerprints, fields, failures = [], [], {}
        for i, e in enumerate(events):
            try:
                title, description, fingerprint = normalised_fields(*_TEXTS(e))
            except Exception as exc:
                failures[i] = exc
                continue
            fingerprints.append(fingerprint)
            fields.append((title, description))
        return _Normalised(fingerprints, None, fields), failures

    def _classify(self, normalised: "_Normalised") -> Sequence[Prediction | Exception]:
        """One model call for the batch, reading its tokens from the normalised buffer when the
        predictor can (`predict_normalised_utf8`), else given its (title, description) pairs;
        should it fail, one call per event, so only an event that breaks it is dead-lettered."""
        events = len(normalised.fingerprints)
        try:
            predictions: Sequence[Prediction] | None = None
            if normalised.buffer is not None and self._predict_utf8 is not None:
                predictions = self._predict_utf8(normalised.buffer, events)
            if predictions is None:
                predictions = self._predict(normalised.pairs())
            if len(predictions) != events:
                raise RuntimeError(f"{len(predictions)} predictions for {events} events")
            return predictions
        except Exception:
            self._fallbacks.inc()
            log.warning(
                "batch classification failed; classifying one event at a time", exc_info=True
            )
        results: list[Prediction | Exception] = []
        for title, description in normalised.pairs():
            try:
                results.append(self._predict([(title, description)])[0])
            except Exception as exc:
                results.append(exc)
        return results

    def _unexpected(self, record: Record, exc: Exception, consumed_at: datetime) -> Output:
        log.warning(
            "unexpected error processing a record; dead-lettering it",
            extra={"partition": record.partition(), "offset": record.offset()},
            exc_info=exc,
        )
        error = codec.DecodeError("processing_error", f"{type(exc).__name__}: {exc}")
        return self._dead_letter(record, error, consumed_at)

    def _dead_letter(
        self, record: Record, error: codec.DecodeError, consumed_at: datetime
    ) -> Output:
        ts_type, ts = record.timestamp()
        value = codec.encode_dead_letter(
            error,
            value=record.value(),
            key=record.key(),
            topic=record.topic(),
            partition=record.partition(),
            offset=record.offset(),
            timestamp_ms=ts if ts_type else None,
            consumed_at=consumed_at,
            max_raw_bytes=self._max_bytes,
        )
        return Output(self._topics.dead_letter, record.key(), value, "dead_letter", error.code)
