"""Type stub for the compiled `consumer/splice.pyx` (keep in step with its signatures)."""

from collections.abc import Callable
from typing import Any

def classified_outputs(
    events_json: bytes,
    answers_json: bytes,
    answers: list[Any],
    ids: list[str],
    threshold: float,
    tail: bytes,
    tagged_topics: tuple[str, str],
    make: Callable[[tuple[str, bytes, bytes, str, str]], Any],
) -> list[Any]: ...
