"""`python -m training feedback export`: people's decisions on the feedback topic, as a labels file
in the data set's format that `train --feedback` trains on.

Reading and deciding are apart: `read_topic` takes everything from the topic's beginning to its
end offsets at the start; `select_labels` (pure, no broker) turns those records into labels; and
`write_labels` validates and writes them. A record that is not a valid `FeedbackRecord` is counted
and reported, never fatal: one bad producer must not block retraining on every other decision.
"""

import logging
import os
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from schemas.feedback import FeedbackRecord, feedback_key
from schemas.topics import DEFAULT_TOPICS
from training.data import Dataset, Example, csv_bytes, parse_feedback

log = logging.getLogger(__name__)

MAX_REPORTED_INVALID = 20
"""Invalid records listed one by one in the summary (all are counted)."""


class FeedbackReadError(RuntimeError):
    """The topic could not be read to its end: missing, unreadable, or too slow."""


@dataclass(frozen=True, slots=True)
class Message:
    """One record as read from the topic: its position, key and value (None: a tombstone)."""

    partition: int
    offset: int
    value: bytes | None
    key: bytes | None = None


@dataclass(frozen=True, slots=True)
class Invalid:
    partition: int
    offset: int
    reason: str


@dataclass
class Selection:
    """The labels the topic's decisions give, and an account of every record that gave none."""

    examples: list[Example]
    records: int = 0
    invalid: list[Invalid] = field(default_factory=list)
    dropped: Counter[str] = field(default_factory=Counter)
    """superseded, skip, report_without_tag, deleted (tombstone), blank_title, duplicate_text."""

    @property
    def labels(self) -> dict[str, int]:
        return dict(sorted(Counter(e.tag for e in self.examples).items()))

    def summary(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "rows": len(self.examples),
            "labels": self.labels,
            "invalid": len(self.invalid),
            "invalid_records": [
                {"partition": i.partition, "offset": i.offset, "reason": i.reason}
                for i in self.invalid[:MAX_REPORTED_INVALID]
            ],
            "dropped": dict(sorted(self.dropped.items())),
        }


def _decode(message: Message) -> FeedbackRecord | str:
    """The record, or why it is not one."""
    assert message.value is not None
    try:
        record = FeedbackRecord.model_validate_json(message.value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "record"
        return f"{exc.error_count()} validation error(s), first: {where}: {first['msg']}"[:300]
    if message.key is not None and message.key != record.key:
        return f"key {message.key[:40]!r} is not the event id {record.key[:40]!r}"
    return record


def _created_on(value: datetime) -> str:
    return value.isoformat(sep=" ")


def select_labels(messages: Iterable[Message]) -> Selection:
    """The latest decision on every event, as labels.

    Latest: the last record of an event in offset order, because records are keyed by event id
    and so one event's decisions share a partition in the order they were made. Should an event's
    records be on several partitions (a producer keyed them otherwise), the latest `decided_at`
    among each partition's last wins. A tombstone (null value) withdraws the earlier decisions of
    its key on its partition. The winning decision gives no label when it is a skip or a report
    naming no tag: a later skip or report withdraws an earlier label, since the event's tag is then
    in doubt. Two events with the same text keep only the later decided one, as the data set allows
    one label per text.
    """
    selection = Selection(examples=[])
    # event id -> partition -> (offset, record or None for a tombstone)
    last: dict[str, dict[int, tuple[int, FeedbackRecord | None]]] = {}
    for message in messages:
        selection.records += 1
        if message.value is None:
            if message.key is None:
                selection.invalid.append(Invalid(message.partition, message.offset, "null value"))
                continue
            event_id: str = message.key.decode("utf-8", "replace")
            record: FeedbackRecord | None = None
        else:
            decoded = _decode(message)
            if isinstance(decoded, str):
                selection.invalid.append(Invalid(message.partition, message.offset, decoded))
                continue
            record, event_id = decoded, feedback_key(decoded.event_id).decode()
        partitions = last.setdefault(event_id, {})
        previous = partitions.get(message.partition)
        if previous is not None:
            selection.dropped["superseded"] += 1
            if previous[0] > message.offset:
                continue
        partitions[message.partition] = (message.offset, record)

    winners: list[FeedbackRecord] = []
    for partitions in last.values():
        # Ties in decided_at across partitions go to the higher partition, so that a rerun
        # exports the same file.
        latest = sorted(
            ((r.decided_at, p, r) for p, (_, r) in partitions.items() if r is not None),
            key=lambda candidate: candidate[:2],
        )
        selection.dropped["deleted"] += len(partitions) - len(latest)
        if not latest:
            continue
        selection.dropped["superseded"] += len(latest) - 1
        winner = latest[-1][2]
        if winner.final_tag is None:
            selection.dropped["skip" if winner.action == "skip" else "report_without_tag"] += 1
        elif not winner.title.strip():
            selection.dropped["blank_title"] += 1
        else:
            winners.append(winner)

    winners.sort(key=lambda r: (r.decided_at, str(r.event_id)), reverse=True)
    by_text: dict[tuple[str, str], FeedbackRecord] = {}
    ids: set[str] = set()
    for decided in winners:
        text = (decided.title.strip(), decided.description.strip())
        # The file's id column is read stripped (as the data set's is): ids that differ only in
        # surrounding whitespace would be one id there, so the later decision keeps it.
        row_id = str(decided.event_id).strip()
        if text in by_text:
            selection.dropped["duplicate_text"] += 1
        elif row_id in ids:
            selection.dropped["duplicate_id"] += 1
        else:
            by_text[text] = decided
            ids.add(row_id)
    selection.examples = [
        Example(
            id=str(r.event_id),
            created_on=_created_on(r.created_on),
            title=r.title,
            description=r.description,
            tag=r.final_tag or "",
        )
        for r in reversed(by_text.values())
    ]
    selection.dropped = Counter({k: n for k, n in selection.dropped.items() if n})
    return selection


def write_labels(examples: list[Example], out: Path, source: str) -> Dataset:
    """Validate like the data set (`parse_feedback`), then replace `out` atomically: a failed
    export never leaves a half-written labels file where the last good one was."""
    raw = csv_bytes(examples)
    dataset = parse_feedback(raw, source=source)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dataset


def read_topic(
    bootstrap: str,
    topic: str,
    *,
    timeout: float = 60.0,
    config: Mapping[str, str] | None = None,
) -> list[Message]:
    """Every committed record from the beginning to the end offsets found at the start
    (`streams.snapshot.read_to_end`).

    A fresh consumer with its own group id that commits nothing, so an export neither moves nor
    depends on anyone's offsets. Raises `FeedbackReadError` if the topic is missing or the end is
    not reached within `timeout`, rather than writing a file that silently lacks labels.
    """
    from streams.snapshot import TopicReadError, read_to_end

    settings = {
        "bootstrap.servers": bootstrap,
        "group.id": f"feedback-export-{uuid.uuid4().hex}",
        "auto.offset.reset": "earliest",
        **(config or {}),
    }
    try:
        records = read_to_end(settings, topic, timeout)
    except TopicReadError as exc:
        raise FeedbackReadError(f"cannot read topic {topic!r} at {bootstrap}: {exc}") from exc
    if records is None:
        raise FeedbackReadError(f"cannot read topic {topic!r} at {bootstrap}: no such topic")
    return [Message(r.partition, r.offset, r.value, r.key) for r in records]


def export(
    out: Path,
    *,
    bootstrap: str,
    topic: str = DEFAULT_TOPICS.feedback,
    timeout: float = 60.0,
    config: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Read, select, validate, write; returns the summary the command prints."""
    selection = select_labels(read_topic(bootstrap, topic, timeout=timeout, config=config))
    for invalid in selection.invalid[:MAX_REPORTED_INVALID]:
        log.warning(
            "invalid feedback record at %s[%d]@%d: %s",
            topic,
            invalid.partition,
            invalid.offset,
            invalid.reason,
        )
    dataset = write_labels(selection.examples, out, source=f"kafka:{topic}")
    return {
        "out": str(out),
        "topic": topic,
        **selection.summary(),
        "sha256": dataset.sha256,
    }


def parse_client_config(pairs: Iterable[str]) -> dict[str, str]:
    """`-X key=value` options, as kcat takes them, for the client settings ops use (SASL, TLS)."""
    config = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"expected key=value, got {pair!r}")
        config[key.strip()] = value
    return config
