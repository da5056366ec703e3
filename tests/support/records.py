"""Raw-content events as upstream sends them, and an in-memory stand-in for the parts of
confluent_kafka.Message the service reads."""

import json

import orjson
from pydantic import BaseModel

from schemas.events import RawContentEvent
from schemas.topics import DEFAULT_TOPICS


def event(i: int | str, title: str, description: str = "", **extra: object) -> bytes:
    return json.dumps(
        {
            "id": i,
            "title": title,
            "description": description,
            "created_on": "2024-05-01T12:00:00",
            **extra,
        }
    ).encode()


class FakeRecord:
    def __init__(self, value: bytes | None, offset: int = 0, partition: int = 0):
        self._value, self._offset, self._partition = value, offset, partition

    def value(self) -> bytes | None:
        return self._value

    def key(self) -> bytes | None:
        return None

    def topic(self) -> str:
        return DEFAULT_TOPICS.input

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def timestamp(self) -> tuple[int, int]:
        return (2, 1_700_000_000_000)

    def error(self) -> None:
        return None


class SentMessage:
    """What a producer's delivery report hands back: the produced topic, value and key."""

    def __init__(self, topic: str, value: bytes, key: bytes | None):
        self._topic, self._value, self._key = topic, value, key

    def topic(self) -> str:
        return self._topic

    def value(self) -> bytes:
        return self._value

    def key(self) -> bytes | None:
        return self._key


def validated_record(model: type[BaseModel], event: RawContentEvent, **fields: object) -> bytes:
    """The reference output record: `event`'s fields and `fields`, validated whole through the
    record's pydantic model and serialised with orjson, as the service's encoders must write it
    (they assemble it from parts validated once; the property tests hold the bytes equal)."""
    record = model.model_validate({**event.__dict__, **fields})
    return orjson.dumps(record.__dict__)
