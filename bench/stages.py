"""Per-stage costs in process, per event, against real Redis for dedup.

Each per-event stage is timed around every single call (perf_counter_ns), so its p50/p99 include
~0.05 µs of timer overhead (reported as `timer_overhead_us`). Stages the service runs once per batch
(normalise + fingerprint, predict, dedup, normalise + predict, checking the model's answers against
the output schema, encoding, the whole pipeline) are timed per batch and amortised per event
(batch time / batch size); their percentiles are over batches.
`predict` starts from the normalised fields (model views + both members), `normalise_predict` from
the raw ones; `predict_one` is a batch of one event, and `predict_new_tokens` a batch whose every
token is new to the cache. `predict_reference` answers the same batches through fastText's own
per-line call (`inference.predictor.ReferencePredictor`): what the compiled batch path saves.
`check_answers` is the batch's answers checked against the output schema
(`codec.answers_fit_the_schema`), `encode` the batch's output records and keys built from
validated parts (`consumer.codec`'s batch encoders: the classified records spliced from the
answers' matrix, a duplicate's record for each duplicate).
"""

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from operator import itemgetter
from typing import Any

import orjson
import redis

from bench.stats import summarize
from consumer import codec
from consumer.config import Settings
from consumer.dedup import Deduplicator
from consumer.metrics import Metrics
from consumer.pipeline import Pipeline
from inference.artifact import Artifact
from inference.predictor import Answers
from inference.text import normalised_fields_batch
from schemas.topics import DEFAULT_TOPICS

SETTINGS = Settings()  # the service's own limits and retention
# A decoded event's texts, as the pipeline reads them (normalised, and as the model pairs).
TEXTS = itemgetter("title", "description", "url")
PAIR = itemgetter("title", "description")


@dataclass(frozen=True, slots=True)
class BenchRecord:
    """The subset of confluent_kafka.Message the pipeline reads."""

    _value: bytes
    _key: bytes
    _offset: int

    def value(self) -> bytes:
        return self._value

    def key(self) -> bytes:
        return self._key

    def topic(self) -> str:
        return DEFAULT_TOPICS.input

    def partition(self) -> int:
        return 0

    def offset(self) -> int:
        return self._offset

    def timestamp(self) -> tuple[int, int]:
        return (2, 1_700_000_000_000)


def time_each(fn: Callable[[Any], Any], items: Iterable[Any]) -> tuple[list[Any], list[float]]:
    """fn(item) for every item: (results, nanoseconds per call)."""
    pc = time.perf_counter_ns
    results: list[Any] = []
    times: list[float] = []
    keep, record = results.append, times.append
    for item in items:
        t = pc()
        r = fn(item)
        record(pc() - t)
        keep(r)
    return results, times


def time_batches(
    fn: Callable[[Sequence[Any]], Any], items: Sequence[Any], batch: int
) -> tuple[list[Any], list[float]]:
    """fn(chunk) per chunk of `batch` items: (results, nanoseconds per item of each chunk)."""
    pc = time.perf_counter_ns
    results: list[Any] = []
    per_item: list[float] = []
    for start in range(0, len(items), batch):
        chunk = items[start : start + batch]
        t = pc()
        r = fn(chunk)
        per_item.append((pc() - t) / len(chunk))
        results.append(r)
    return results, per_item


def _us(ns: list[float]) -> dict[str, float]:
    s = summarize(ns, scale=1e-3)
    return {k: (round(v, 3) if isinstance(v, float) else v) for k, v in s.items()}


@dataclass(frozen=True, slots=True)
class Encoders:
    """One batch's record encoders, as `Pipeline.process` builds them."""

    classified: codec.ClassifiedEncoder
    duplicate: codec.DuplicateEncoder

    @classmethod
    def of(cls, artifact: Artifact, at: datetime) -> "Encoders":
        classified = codec.ClassifiedEncoder(
            threshold=artifact.threshold,
            model_version=artifact.version,
            consumed_at=at,
            classified_at=at,
        )
        return cls(classified, codec.DuplicateEncoder(consumed_at=at))


def _outputs(
    encoders: Encoders,
    events: list[codec.Fields],
    ids: list[str],
    fingerprints: list[str],
    verdicts: list[str | None],
    answers: Answers,
) -> list[Any]:
    """What the pipeline makes of a batch once it is deduplicated and classified (and its answers
    checked): every event's classified record and key, spliced from the answers' matrix, and a
    duplicate's record in place of each duplicate's."""
    outputs = encoders.classified.outputs_of_answers(events, ids, answers, ("t", "r"), tuple)
    for i, duplicate_of in enumerate(verdicts):
        if duplicate_of is not None:
            key = ids[i].encode()
            outputs[i] = key, encoders.duplicate(events[i], duplicate_of, fingerprints[i])
    return outputs


def run(
    events: list[dict[str, Any]],
    artifact: Artifact,
    redis_url: str,
    key_prefix: str,
    batch: int = 1000,
) -> dict[str, Any]:
    """Stages run chunk by chunk (`batch` events), each stage over the whole chunk before the next,
    so only one chunk's objects are alive at a time, as in the service."""
    values = [orjson.dumps(e) for e in events]
    client = redis.Redis.from_url(redis_url)
    times: dict[str, list[float]] = {
        name: []
        for name in (
            "decode_validate",
            "normalise_fingerprint",
            "predict",
            "predict_reference",
            "predict_one",
            "normalise_predict",
            "dedup",
            "check_answers",
            "encode",
        )
    }
    duplicates = 0

    dedup = Deduplicator(client, f"{key_prefix}:stages", SETTINGS.dedup_retention_seconds)
    pipeline_dedup = Deduplicator(
        client, f"{key_prefix}:pipeline", SETTINGS.dedup_retention_seconds
    )
    pipeline = Pipeline(
        artifact, pipeline_dedup, DEFAULT_TOPICS, Metrics(), SETTINGS.max_message_bytes
    )
    classifier = artifact.classifier
    reference = classifier.reference()
    try:
        for start in range(0, len(values), batch):
            chunk = values[start : start + batch]
            decoded, t = time_each(lambda v: codec.decode(v, SETTINGS.max_message_bytes), chunk)
            times["decode_validate"] += t
            [normalised], t = time_batches(
                lambda es: normalised_fields_batch(list(map(TEXTS, es))),
                decoded,
                len(decoded),
            )
            times["normalise_fingerprint"] += t
            pairs = [(n[0], n[1]) for n in normalised]
            [predictions], t = time_batches(classifier.predict_normalised, pairs, len(pairs))
            times["predict"] += t
            _, t = time_batches(reference.predict_normalised, pairs, len(pairs))
            times["predict_reference"] += t
            _, t = time_each(lambda pair: classifier.predict_normalised([pair]), pairs[:50])
            times["predict_one"] += t
            _, t = time_batches(
                lambda es: classifier.predict_many(list(map(PAIR, es))),
                decoded,
                len(decoded),
            )
            times["normalise_predict"] += t
            fps = [n[2] for n in normalised]
            ids = [str(e["id"]) for e in decoded]
            positions = [f"bench:0:{start + i}" for i in range(len(decoded))]
            t0 = time.perf_counter_ns()
            verdicts = dedup.check(fps, ids, positions)
            times["dedup"].append((time.perf_counter_ns() - t0) / len(chunk))
            duplicates += sum(v is not None for v in verdicts)
            t0 = time.perf_counter_ns()
            if not codec.answers_fit_the_schema(predictions):
                raise RuntimeError("the model's answers do not fit the output schema")
            times["check_answers"].append((time.perf_counter_ns() - t0) / len(chunk))
            encoders = Encoders.of(artifact, datetime.now(UTC))
            t0 = time.perf_counter_ns()
            _outputs(encoders, decoded, ids, fps, verdicts, predictions)
            times["encode"].append((time.perf_counter_ns() - t0) / len(chunk))
    finally:
        client.delete(*dedup.keys())

    out: dict[str, Any] = {name: _us(t) for name, t in times.items()}
    out["dedup"]["duplicates"] = duplicates

    records = [
        BenchRecord(v, str(e["id"]).encode(), i)
        for i, (v, e) in enumerate(zip(values, events, strict=True))
    ]
    produced = 0

    def process(chunk: Sequence[BenchRecord]) -> None:
        nonlocal produced
        produced += len(pipeline.process(chunk))

    try:
        _, t = time_batches(process, records, batch)
    finally:
        client.delete(*pipeline_dedup.keys())
    if produced != len(records):
        raise RuntimeError("pipeline returned a different number of outputs than records")
    out["pipeline"] = _us(t)
    out["pipeline"]["batch"] = batch
    _, overhead = time_each(lambda x: x, values[:batch])
    client.close()
    return {
        "stages_us": out,
        "timer_overhead_us": round(summarize(overhead, 1e-3)["p50"], 3),
        "predict_new_tokens_us": _new_tokens(artifact, batch),
        "events": len(events),
    }


def _new_tokens(artifact: Artifact, batch: int, words: int = 10) -> dict[str, float]:
    """Per event, a batch of events whose title and description words were never seen before,
    against the same batch again (the token cache warm)."""
    fresh = [
        (
            " ".join(f"novel{i}t{j}" for j in range(words)),
            " ".join(f"novel{i}d{j}" for j in range(words)),
        )
        for i in range(batch)
    ]
    predict = artifact.classifier.predict_normalised
    [_], cold = time_batches(predict, fresh, batch)
    [_], warm = time_batches(predict, fresh, batch)
    return {"cold": round(cold[0] / 1e3, 3), "warm": round(warm[0] / 1e3, 3), "words": 2 * words}
