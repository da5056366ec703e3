"""The topics read back after a run: a fresh `read_committed` reader, every partition from the
start to its end offset, and the group's committed offsets."""

import time
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
from confluent_kafka import Consumer, Message, TopicPartition
from pydantic import BaseModel, ValidationError

from chaos.checker import InputRecord, OutputRecord, Route
from inference.text import fingerprint
from schemas.events import ClassifiedEvent, DeadLetterEvent, DuplicateEvent
from schemas.topics import Topics

SCHEMAS: dict[Route, type[BaseModel]] = {
    "tagged": ClassifiedEvent,
    "review": ClassifiedEvent,
    "duplicate": DuplicateEvent,
    "dead_letter": DeadLetterEvent,
}


def _client(bootstrap: str, group: str | None = None) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group or f"chaos-reader-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
        }
    )


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    """Each partition's end offset (its high watermark)."""
    consumer = _client(bootstrap)
    try:
        meta = consumer.list_topics(topic, timeout=15).topics[topic]
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=15)[1]
            for p in meta.partitions
        }
    finally:
        consumer.close()


def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The group's committed offset per partition. A partition never committed counts as 0, where
    the group starts it (`auto.offset.reset=earliest`): an empty partition is then caught up
    (0 == its end offset), and one holding records is not."""
    consumer = _client(bootstrap, group)
    try:
        meta = consumer.list_topics(topic, timeout=15).topics[topic]
        tps = [TopicPartition(topic, p) for p in meta.partitions]
        return {tp.partition: max(tp.offset, 0) for tp in consumer.committed(tps, timeout=15)}
    finally:
        consumer.close()


def read_all(bootstrap: str, topics: list[str], timeout: float = 120.0) -> Iterator[Message]:
    """Every record of `topics`, each partition from the start to the end offset it had when the
    read began (control records of transactions are skipped by the client, so positions are
    compared, not counts). Raises TimeoutError if a partition is not read to its end."""
    ends: dict[tuple[str, int], int] = {}
    for topic in topics:
        ends.update({(topic, p): end for p, end in end_offsets(bootstrap, topic).items()})
    consumer = _client(bootstrap)
    todo = {tp for tp, end in ends.items() if end > 0}
    consumer.assign([TopicPartition(t, p, 0) for t, p in todo])
    deadline = time.monotonic() + timeout
    try:
        while todo:
            if time.monotonic() > deadline:
                raise TimeoutError(f"not read to the end within {timeout}s: {sorted(todo)}")
            for msg in consumer.consume(1000, 0.5):
                if msg.error() is None:
                    yield msg
            positions = consumer.position([TopicPartition(t, p) for t, p in todo])
            todo = {
                (tp.topic, tp.partition)
                for tp in positions
                if tp.offset < ends[(tp.topic, tp.partition)]
            }
    finally:
        consumer.close()


def _json(value: bytes | None) -> dict[str, Any]:
    try:
        parsed = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _id(event: dict[str, Any]) -> str | None:
    value = event.get("id")
    return None if value is None else str(value)


def read_run(
    bootstrap: str, topics: Topics, timeout: float = 120.0
) -> tuple[list[InputRecord], list[OutputRecord]]:
    """The input and every output topic, as the checker takes them."""
    routes: dict[str, Route] = {
        topics.tagged: "tagged",
        topics.review: "review",
        topics.duplicate: "duplicate",
        topics.dead_letter: "dead_letter",
    }
    inputs: list[InputRecord] = []
    outputs: list[OutputRecord] = []
    for msg in read_all(bootstrap, [topics.input, *routes], timeout):
        partition, offset = msg.partition(), msg.offset()
        assert partition is not None and offset is not None
        event = _json(msg.value())
        if msg.topic() == topics.input:
            title, description = event.get("title"), event.get("description")
            content = (
                fingerprint(title, description or "", event.get("url"))
                if isinstance(title, str)
                else None
            )
            inputs.append(InputRecord(partition, offset, _id(event), content))
            continue
        outputs.append(output_record(routes[str(msg.topic())], partition, offset, msg.value()))
    return inputs, outputs


def output_record(route: Route, partition: int, offset: int, value: bytes | None) -> OutputRecord:
    """One output as the checker takes it: validated against its topic's schema (the `Tag`
    literal holds the approved tags), with the fields the checks compare.

    :param route: which output topic it was read from.
    :param value: the record's bytes as read.
    """
    event = _json(value)
    if route == "dead_letter":
        # The raw value's id, when it was readable JSON.
        event_id = _id(_json((event.get("raw_value_text") or "").encode()))
    else:
        event_id = _id(event)
    try:
        parsed = SCHEMAS[route].model_validate_json(value or b"")
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        return OutputRecord(
            route, partition, offset, event_id, invalid=f"{where}: {first['msg']}"[:200]
        )
    if isinstance(parsed, ClassifiedEvent):
        return OutputRecord(
            route,
            partition,
            offset,
            event_id,
            record_route=parsed.route,
            confidence=parsed.confidence,
            threshold=parsed.threshold,
        )
    if isinstance(parsed, DuplicateEvent):
        return OutputRecord(
            route, partition, offset, event_id, duplicate_of=str(parsed.duplicate_of)
        )
    return OutputRecord(route, partition, offset, event_id)
