"""An in-memory stand-in for the parts of confluent_kafka.Message the service reads."""

from schemas.topics import DEFAULT_TOPICS


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
