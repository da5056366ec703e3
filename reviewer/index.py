"""The recent classified events by id, so a report that names only an event id can become a review
item with the event's text and the model's answer.

Bounded twice (the least recently stored goes first): by count (REVIEWER_INDEX_SIZE) and by the
characters of text held (`max_chars`), since a description may be up to 20,000 characters and the
tagged topic is the service's main output, growing without end, while reports concern what users
saw recently. Held in memory and rebuilt at startup from the tail of the topic
(`reviewer.kafka.TaggedReader`).
"""

import threading
from collections import OrderedDict

from reviewer.items import ReviewEvent

DEFAULT_MAX_CHARS = 50_000_000
"""About 100 MB of text at most, whatever the count bound."""


def _chars(event: ReviewEvent) -> int:
    return len(event.title) + len(event.description) + len(event.url or "")


class EventIndex:
    def __init__(self, capacity: int, max_chars: int = DEFAULT_MAX_CHARS) -> None:
        if capacity <= 0 or max_chars <= 0:
            raise ValueError("capacity and max_chars must be positive")
        self._capacity = capacity
        self._max_chars = max_chars
        self._chars = 0
        self._events: OrderedDict[str, ReviewEvent] = OrderedDict()
        self._lock = threading.Lock()

    def put(self, event: ReviewEvent) -> None:
        with self._lock:
            old = self._events.pop(event.key, None)
            if old is not None:
                self._chars -= _chars(old)
            self._events[event.key] = event
            self._chars += _chars(event)
            while len(self._events) > self._capacity or (
                self._chars > self._max_chars and len(self._events) > 1
            ):
                _, gone = self._events.popitem(last=False)
                self._chars -= _chars(gone)

    def get(self, key: str) -> ReviewEvent | None:
        with self._lock:
            return self._events.get(key)

    def __len__(self) -> int:
        with self._lock:
            return len(self._events)
