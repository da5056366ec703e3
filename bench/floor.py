"""The floor: the passthrough plus only the calls no implementation of this job can skip.

`python -m bench.floor` runs `bench.passthrough`'s loop (same client settings, offsets stored
after delivery, records produced unchanged) and does, per batch, what any tagger that keeps the
product's dedup store and model must do, the last three through the service's own
implementations:

- read each record's JSON (orjson, without the service's validation);
- normalise and fingerprint the batch (`inference.text.normalised_batch`: the content duplicates
  are found by, and the model reads, the normalised text);
- one dedup request for the batch on Redis (`consumer.dedup.Deduplicator`), sent before the model
  call and read after it, as the service does;
- one model answer per event (the artifact's classifier, on the normalised buffer).

Nothing else: no schema validation, no output record built, no routing, no metrics. So its
events/s bound what the service can reach on the same machine: the service / floor ratio is how
much of the remaining gap is the service's own, and floor / passthrough what the job's mandated
calls cost on their own. Configured like the service (MODEL_DIR, REDIS_URL, REDIS_MODE,
DEDUP_KEY, ...); the output topic is BENCH_PASSTHROUGH_OUTPUT.
"""

import logging
import os
import sys
from collections.abc import Callable, Sequence
from operator import itemgetter
from typing import cast

import orjson
from confluent_kafka import Message

from bench.passthrough import run
from consumer.config import Settings
from consumer.dedup import Deduplicator
from consumer.pipeline import Record, SplitDedup, record_positions
from inference.artifact import load_artifact
from inference.classifier import Classifier
from inference.text import normalised_batch, normalised_pairs

# What one batch's work returns: the dedup verdicts and the model's answers.
Outcome = tuple[list[str | None], object]

_ID = itemgetter("id")


def mandated_work(
    classifier: Classifier, dedup: SplitDedup
) -> Callable[[Sequence[Record]], Outcome]:
    """The per-batch work of the floor.

    :param classifier: answers the batch from its normalised buffer.
    :param dedup: checked once per batch, its reply read after the model call."""
    predict = classifier.predict_normalised_utf8

    def work(records: Sequence[Record]) -> Outcome:
        events = list(map(orjson.loads, cast(list[bytes], [r.value() for r in records])))
        # The url is optional, and unvalidated JSON has no default for it.
        buffer, fingerprints = normalised_batch(
            [(e["title"], e["description"], e.get("url")) for e in events]
        )
        ids = list(map(str, map(_ID, events)))
        positions = record_positions(records)
        verdicts_of = dedup.start(fingerprints, ids, positions)
        answers = predict(buffer, len(fingerprints))
        if answers is None:  # a batch too small for the batch pass, as the service answers it
            answers = classifier.predict_normalised(normalised_pairs(buffer, len(fingerprints)))
        return verdicts_of(), answers

    return work


def main() -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    settings = Settings()
    classifier = load_artifact(settings.model_dir).classifier
    work = mandated_work(classifier, Deduplicator.from_settings(settings))

    def batch(messages: list[Message]) -> Outcome:
        return work(cast(list[Record], messages))

    return run(settings, os.environ["BENCH_PASSTHROUGH_OUTPUT"], batch)


if __name__ == "__main__":
    sys.exit(main())
