"""The service's job written idiomatically in Quix Streams: the bench's peer (`bench.peer` runs it).

It runs from its own virtual environment (Quix Streams pins its own confluent-kafka), so it imports
none of this repository's packages: the normalisation, fingerprint and model input are its own, as
a Quix user writing the job would write them. It reads the same artifact (MODEL_DIR) and is
configured like the service, by environment: KAFKA_BOOTSTRAP_SERVERS, CONSUMER_GROUP_ID,
TOPIC_INPUT, TOPIC_TAGGED, TOPIC_REVIEW, TOPIC_DUPLICATE, TOPIC_DEAD_LETTER, MODEL_DIR,
QUIX_STATE_DIR (RocksDB state), QUIX_COMMIT_INTERVAL (seconds; Quix's default 5) and
QUIX_PROCESSING_GUARANTEE (at-least-once, Quix's default).

The job, one linear dataframe: JSON in (a pydantic model; what fails it becomes a dead-letter
record), normalise, fingerprint, `group_by` the fingerprint (Quix's repartition topic) so that
dedup state (RocksDB, with a changelog topic) is keyed by it, one fastText predict with the
artifact's first model for new events, then each record to tagged, review (by the artifact's
threshold), duplicates or dead-letter by Quix's dynamic topic selection. Where it differs from ours:
one model member instead of the artifact's ensemble, no description-only view blended in, dedup
without a retention window, dead-letter records without the raw bytes and source position (and
passing through the repartition topic).
"""

import hashlib
import json
import os
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

# The model input the artifact was trained on: normalised title twice, then the description,
# function words dropped. A user of the artifact follows its input contract, so the peer feeds the
# model the same tokens the service does (fastText's cost grows with them).
STOPWORDS = frozenset(
    """a an the and or of to in on for with by from at as is are was were be been being this that
    these those it its we our you your they their i he she his her them us can will would should
    could may might has have had do does did not no but if then than so such into over about via
    using use used based new also which who what when where how all any each more most other some
    only very just""".split()
)
_URL = re.compile(r"(?:https?://|www\.)\S*")
_WORD = re.compile(r"[^\W_]+")
LABEL_PREFIX = "__label__"


class RawEvent(BaseModel):
    """An input event, validated as a Quix user would: one pydantic model, JSON parsed by it."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str | int
    title: str = Field(min_length=1, max_length=1_000)
    description: str = Field(max_length=20_000)
    created_on: datetime
    url: str | None = Field(default=None, max_length=2_048)
    source: str | None = Field(default=None, max_length=256)


class State(Protocol):
    """The part of Quix's per-key `State` the dedup step uses."""

    def get(self, key: Any, default: Any = None) -> Any: ...

    def set(self, key: Any, value: Any) -> None: ...


def now() -> str:
    return datetime.now(UTC).isoformat()


def normalise(text: str) -> str:
    """Lower-case, URLs dropped, everything but letters and digits a space, spaces collapsed."""
    return " ".join(_WORD.findall(_URL.sub(" ", text.lower())))


def fingerprint(title: str, description: str, url: str | None) -> str:
    """Content identity of normalised fields (and the URL, when there is one)."""
    parts = f"{title}\x1f{description}"
    if url:
        parts += "\x1f" + url.strip().lower().rstrip("/")
    return hashlib.blake2b(parts.encode(), digest_size=16).hexdigest()


def model_line(title: str, description: str) -> str:
    """The model input from normalised fields: the title twice, then the description."""
    words = [w for w in title.split() if w not in STOPWORDS]
    return " ".join([*words, *words, *(w for w in description.split() if w not in STOPWORDS)])


def parse(value: bytes) -> dict[str, Any]:
    """An input record's value as the event plus its normalised fields and fingerprint, or, when
    it is not a valid event, an `error` record for the dead-letter topic."""
    consumed_at = now()
    try:
        event = RawEvent.model_validate_json(value)
    except ValidationError as exc:
        invalid_json = any(e["type"] == "json_invalid" for e in exc.errors())
        code = "invalid_json" if invalid_json else "schema_validation"
        return {
            "error": {"code": code, "message": str(exc)[:1000]},
            "raw_value_text": value.decode("utf-8", errors="replace")[:10_000],
            "consumed_at": consumed_at,
        }
    title, description = normalise(event.title), normalise(event.description)
    return {
        "event": event.model_dump(mode="json"),
        "title_n": title,
        "description_n": description,
        "fingerprint": fingerprint(title, description, event.url),
        "consumed_at": consumed_at,
    }


def is_error(record: dict[str, Any]) -> bool:
    return "error" in record


def group_key(record: dict[str, Any]) -> str:
    """The repartition key: the fingerprint (records that are not events share the empty key;
    they are rare and pass through dedup untouched)."""
    return record.get("fingerprint", "")


def dedup(record: dict[str, Any], state: State) -> dict[str, Any]:
    """Keyed by fingerprint: the first id seen for it is remembered; the same id again is a
    redelivery (processed again), another id is a duplicate of the first."""
    if is_error(record):
        return record
    event_id = record["event"]["id"]
    first = state.get("id")
    if first is None:
        state.set("id", event_id)
    elif first != event_id:
        return {**record, "duplicate_of": first}
    return record


def is_duplicate(record: dict[str, Any]) -> bool:
    return "duplicate_of" in record


def duplicate_output(record: dict[str, Any]) -> dict[str, Any]:
    return {
        **record["event"],
        "duplicate_of": record["duplicate_of"],
        "fingerprint": record["fingerprint"],
        "consumed_at": record["consumed_at"],
    }


def classified_output(
    record: dict[str, Any],
    labels: tuple[str, ...],
    probabilities: Any,
    threshold: float,
    model_version: str,
) -> dict[str, Any]:
    """The tagged/review record from one fastText answer (labels best first)."""
    # fastText's one-vs-all answers carry a 1e-5 floor, which can lift the best above 1.
    probs = {
        label.removeprefix(LABEL_PREFIX): min(1.0, float(p))
        for label, p in zip(labels, probabilities, strict=True)
    }
    tag, confidence = next(iter(probs.items()))
    return {
        **record["event"],
        "tag": tag,
        "confidence": confidence,
        "probabilities": probs,
        "route": "tagged" if confidence >= threshold else "review",
        "threshold": threshold,
        "model_version": model_version,
        "consumed_at": record["consumed_at"],
        "classified_at": now(),
    }


def destination(output: dict[str, Any]) -> str:
    """Which output an output record goes to: dead_letter, duplicate, tagged or review."""
    if "error" in output:
        return "dead_letter"
    if "duplicate_of" in output:
        return "duplicate"
    return str(output["route"])


def finisher(
    classify: Callable[[dict[str, Any]], dict[str, Any]],
) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The output record of a deduplicated record: as it is for the dead-letter topic, the
    duplicate record, or the classified event (only new events reach the model)."""

    def finish(record: dict[str, Any]) -> dict[str, Any]:
        if is_error(record):
            return record
        if is_duplicate(record):
            return duplicate_output(record)
        return classify(record)

    return finish


class Model:
    """The artifact's first fastText member, its threshold and version (from metadata.json)."""

    def __init__(self, model_dir: Path) -> None:
        import fasttext

        metadata = json.loads((model_dir / "metadata.json").read_text())
        self.threshold = float(metadata["threshold"])
        self.version = str(metadata.get("version", "unknown"))
        self.fasttext = fasttext.load_model(str(model_dir / metadata["models"][0]["file"]))

    def classifier(self) -> Callable[[dict[str, Any]], dict[str, Any]]:
        predict, threshold, version = self.fasttext.predict, self.threshold, self.version

        def classify(record: dict[str, Any]) -> dict[str, Any]:
            labels, probabilities = predict(
                model_line(record["title_n"], record["description_n"]), k=-1
            )
            return classified_output(record, labels, probabilities, threshold, version)

        return classify


def build(env: dict[str, str]) -> Any:
    """The Quix Application with the job's dataframe wired; `.run()` starts it."""
    from quixstreams import Application  # type: ignore[import-not-found, unused-ignore]

    app = Application(
        broker_address=env.get("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092"),
        consumer_group=env["CONSUMER_GROUP_ID"],
        auto_offset_reset="earliest",
        commit_interval=float(env.get("QUIX_COMMIT_INTERVAL", "5")),
        processing_guarantee=env.get("QUIX_PROCESSING_GUARANTEE", "at-least-once"),
        state_dir=env.get("QUIX_STATE_DIR", "state"),
        loglevel=env.get("LOG_LEVEL", "WARNING"),
    )
    source = app.topic(env["TOPIC_INPUT"], value_deserializer="bytes", key_deserializer="bytes")
    outputs = {
        role: app.topic(env[f"TOPIC_{role.upper()}"], value_serializer="json")
        for role in ("tagged", "review", "duplicate", "dead_letter")
    }
    finish = finisher(Model(Path(env["MODEL_DIR"])).classifier())

    # One linear pipeline and Quix's dynamic topic selection: branching the dataframe per output
    # would copy (pickle) every value at each branch point.
    sdf = app.dataframe(source).apply(parse)
    sdf = sdf.group_by(group_key, name="fingerprint")
    sdf = sdf.apply(dedup, stateful=True).apply(finish)
    sdf.to_topic(lambda value, key, timestamp, headers: outputs[destination(value)])
    return app


def main() -> int:
    build(dict(os.environ)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
