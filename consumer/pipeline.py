"""One batch of input records → output records: decode, fingerprint, dedup, classify, route, encode.

Pure of Kafka I/O (the service produces what this returns), so every routing rule is testable with
plain objects. Redis is touched exactly once per batch.
"""

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol, cast

from consumer import codec
from consumer.metrics import Metrics, observe_amortised
from inference.artifact import Artifact
from inference.predictor import Prediction, Predictor
from inference.text import normalised_fields, normalised_fields_batch
from schemas.events import RawContentEvent
from schemas.topics import Topics

log = logging.getLogger(__name__)


class Record(Protocol):
    """The subset of confluent_kafka.Message the pipeline reads."""

    def value(self) -> bytes | None: ...
    def key(self) -> bytes | None: ...
    def topic(self) -> str: ...
    def partition(self) -> int: ...
    def offset(self) -> int: ...
    def timestamp(self) -> tuple[int, int]: ...


class Dedup(Protocol):
    def check(self, fingerprints: Sequence[str], ids: Sequence[str]) -> list[str | None]: ...


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


@dataclass(frozen=True, slots=True)
class Output:
    topic: str
    key: bytes | None
    value: bytes
    outcome: str
    label: str | None = None  # the tag, or the error code of a dead letter


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
        self._predict = (predictor or artifact.classifier).predict_normalised
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
        self._predict = (predictor or artifact.classifier).predict_normalised
        self._threshold = artifact.threshold
        self._version = artifact.version

    def process(self, records: Sequence[Record]) -> list[Output]:
        """Raises `redis.RedisError` before producing anything if the dedup check fails."""
        consumed_at = datetime.now(UTC)
        outputs: list[Output] = []
        decoded = []
        for record in records:
            try:
                decoded.append((record, codec.decode(record.value(), self._max_bytes)))
            except codec.DecodeError as error:
                outputs.append(self._dead_letter(record, error, consumed_at))
            except Exception as exc:  # never crash on input
                outputs.append(self._unexpected(record, exc, consumed_at))
        valid = []
        fingerprints: list[str] = []
        ids: list[str] = []
        for (record, event), normalised in zip(
            decoded, self._normalise([event for _, event in decoded]), strict=True
        ):
            if isinstance(normalised, Exception):
                outputs.append(self._unexpected(record, normalised, consumed_at))
                continue
            title, description, fp = normalised
            valid.append((record, event, title, description))
            fingerprints.append(fp)
            ids.append(str(event.id))

        if valid:
            started = time.perf_counter()
            verdicts = self._dedup.check(fingerprints, ids)
            self._observe_dedup(time.perf_counter() - started)
        else:
            verdicts = []

        fresh = [
            (title, description)
            for (_, _, title, description), seen in zip(valid, verdicts, strict=True)
            if seen is None
        ]
        predictions: Iterator[Prediction | Exception] = iter(())
        if fresh:
            started = time.perf_counter()
            predictions = iter(self._classify(fresh))
            observe_amortised(
                self._classification_seconds, time.perf_counter() - started, len(fresh)
            )
            if self._observers:
                predictions = iter(self._show_observers(fresh, list(predictions)))
        classified_at = datetime.now(UTC)  # the batch is classified in one call

        output, append = self.output, outputs.append
        for (record, event, _, _), fp, seen in zip(valid, fingerprints, verdicts, strict=True):
            try:
                prediction = next(predictions) if seen is None else None
                append(output(event, fp, seen, prediction, consumed_at, classified_at))
            except Exception as exc:  # never crash on input
                append(self._unexpected(record, exc, consumed_at))
        return outputs

    def output(
        self,
        event: RawContentEvent,
        fingerprint: str,
        duplicate_of: str | None,
        prediction: Prediction | Exception | None,
        consumed_at: datetime,
        classified_at: datetime,
    ) -> Output:
        """One decoded event's output: a duplicate record, or its classified record on the tagged
        or review topic. Raises what classifying it raised."""
        key = codec.event_key(event.id)
        if duplicate_of is not None:
            value = codec.encode_duplicate(
                event, duplicate_of=duplicate_of, fingerprint=fingerprint, consumed_at=consumed_at
            )
            return Output(self._topics.duplicate, key, value, "duplicate")
        if isinstance(prediction, Exception):
            raise prediction
        if prediction is None:
            raise ValueError("a fresh event needs its prediction")
        tag, confidence, probs = prediction
        route = "tagged" if confidence >= self._threshold else "review"
        value = codec.encode_classified(
            event,
            tag=tag,
            confidence=confidence,
            probabilities=probs,
            route=route,
            threshold=self._threshold,
            model_version=self._version,
            consumed_at=consumed_at,
            classified_at=classified_at,
        )
        topic = self._topics.tagged if route == "tagged" else self._topics.review
        return Output(topic, key, value, route, tag)

    def _show_observers(
        self, fresh: list[tuple[str, str]], predictions: list[Prediction | Exception]
    ) -> list[Prediction | Exception]:
        pairs = [p for p, a in zip(fresh, predictions, strict=True) if not isinstance(a, Exception)]
        answers = [a for a in predictions if not isinstance(a, Exception)]
        for observer in self._observers:
            try:
                observer.observe(pairs, answers, self._threshold)
            except Exception:
                log.warning("a batch observer failed; routing is unaffected", exc_info=True)
        return predictions

    def _normalise(
        self, events: Sequence[RawContentEvent]
    ) -> list[tuple[str, str, str] | Exception]:
        """The batch's normalised fields and fingerprints in one pass; should it fail, one event at
        a time, so only an event that breaks it is dead-lettered."""
        try:
            return list(normalised_fields_batch([(e.title, e.description, e.url) for e in events]))
        except Exception:
            log.warning("batch normalisation failed; one event at a time", exc_info=True)
        results: list[tuple[str, str, str] | Exception] = []
        for e in events:
            try:
                results.append(normalised_fields(e.title, e.description, e.url))
            except Exception as exc:
                results.append(exc)
        return results

    def _classify(self, fields: Sequence[tuple[str, str]]) -> list[Prediction | Exception]:
        """One model call for the batch's normalised (title, description) pairs; should it fail,
        one call per event, so only an event that breaks it is dead-lettered."""
        try:
            predictions = cast(list[Prediction | Exception], self._predict(fields))
            if len(predictions) != len(fields):
                raise RuntimeError(f"{len(predictions)} predictions for {len(fields)} events")
            return predictions
        except Exception:
            self._fallbacks.inc()
            log.warning(
                "batch classification failed; classifying one event at a time", exc_info=True
            )
        results: list[Prediction | Exception] = []
        for title, description in fields:
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
