"""The review queue in memory: items, leases, the decided offsets of every partition, and each
reviewer's last decision (for undo). No Kafka and no clock of its own, so every rule here is unit
tested with a fake clock; the Kafka threads and the web handlers only call in.

Rules, and why:

- An item is one event (keyed by `event_key`), not one record: the service delivers at least once,
  so an event can sit at several offsets of the review topic, and one decision settles them all.
- Reported items come first, then the rest oldest first: a user took the trouble to say the tag
  is wrong, and the model was confident about it, so it is the more informative label.
- A lease gives an item to one reviewer until it expires; an expired lease puts the item back
  where it was (its age keeps its place). Looking at one's item again renews the lease.
- Offsets are committed only up to the first undecided record of a partition
  (`PartitionLedger`): a decision out of order is remembered, never committed past an undecided
  item, so a restart re-reads every undecided record (and skips the decided ones: see
  `reviewer.history`).
- An item is "durable" when a feedback record of its own brings it back after a restart (a report,
  an undo); such an item does not need its offsets uncommitted and survives a rebalance.

Every method takes the queue's lock: HTTP worker threads and the consumer thread share it.
"""

import itertools
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from reviewer.errors import AlreadyDecided, LeasedToOther, NothingToUndo, UnknownEvent
from reviewer.items import ReviewEvent
from schemas.feedback import FeedbackRecord

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """A record's place on the review topic."""

    partition: int
    offset: int


class PartitionLedger:
    """The records of one partition read but not yet committable, in offset order.

    `commit_at` is the next offset to commit: every record read before it is decided. Offsets are
    not assumed contiguous (transaction markers, compaction leave gaps), so the ledger keeps the
    offsets it was actually given rather than counting.
    """

    def __init__(self) -> None:
        self._pending: deque[int] = deque()
        self._decided: set[int] = set()
        self._last = -1
        self.commit_at: int | None = None

    def receive(self, offset: int) -> bool:
        """False for an offset already received (a re-fetch after a seek): ignore that record."""
        if offset <= self._last:
            return False
        self._last = offset
        self._pending.append(offset)
        return True

    def decide(self, offset: int) -> None:
        if not self._pending or offset < self._pending[0] or offset > self._last:
            return
        self._decided.add(offset)
        while self._pending and self._pending[0] in self._decided:
            done = self._pending.popleft()
            self._decided.discard(done)
            self.commit_at = done + 1

    @property
    def undecided(self) -> int:
        return len(self._pending) - len(self._decided)


@dataclass(frozen=True, slots=True)
class Lease:
    reviewer: str
    shown_at: datetime
    expires_at: datetime
    shown: bool = True
    """False for a lease `claim` took on an item never shown to its reviewer (a script deciding
    without /api/next): it holds the item while the decision is written, but starts no clock."""


@dataclass(frozen=True, slots=True)
class Report:
    reporter: str
    reported_tag: str | None
    comment: str | None
    at: datetime


@dataclass(slots=True)
class Item:
    event: ReviewEvent
    enqueued_at: datetime
    seq: int
    positions: list[Position] = field(default_factory=list)
    source: Position | None = None
    """Where the item was first read on the review topic (kept for the feedback record)."""
    durable: bool = False
    reports: list[Report] = field(default_factory=list)
    lease: Lease | None = None
    last_shown: tuple[str, datetime] | None = None
    """Who saw it last and since when, kept after a lease expires: if that reviewer still decides
    and nobody took it meanwhile, the time to decide is still theirs."""

    @property
    def key(self) -> str:
        return self.event.key

    @property
    def reported(self) -> bool:
        return bool(self.reports)

    @property
    def order(self) -> tuple[int, datetime, int]:
        return (0 if self.reported else 1, self.enqueued_at, self.seq)

    def shown_at_for(self, reviewer: str) -> datetime | None:
        if self.lease is not None and self.lease.reviewer == reviewer and self.lease.shown:
            return self.lease.shown_at
        if self.last_shown is not None and self.last_shown[0] == reviewer:
            return self.last_shown[1]
        return None


@dataclass(frozen=True, slots=True)
class Decided:
    """The latest decision on an event, as far as the queue needs it."""

    action: str
    reviewer: str
    decided_at: datetime


@dataclass(frozen=True, slots=True)
class Decision:
    """A reviewer's last decision: the item as it was, and the record written, for undo."""

    item: Item
    record: FeedbackRecord


@dataclass(frozen=True, slots=True)
class QueueStats:
    items: int
    leased: int
    reported: int
    held_records: int
    """Records read from the review topic and not yet decided: what bounds reading ahead."""
    decided: int
    oldest_enqueued_at: datetime | None


class ReviewQueue:
    def __init__(self, lease_seconds: float, clock: Clock) -> None:
        self._lease = timedelta(seconds=lease_seconds)
        self._clock = clock
        self._lock = threading.RLock()
        self._items: dict[str, Item] = {}
        self._decided: dict[str, Decided] = {}
        self._ledgers: dict[int, PartitionLedger] = {}
        self._holding: dict[str, str] = {}
        self._last: dict[str, Decision] = {}
        self._seq = itertools.count()

    def now(self) -> datetime:
        return self._clock()

    # -- filling -----------------------------------------------------------------------------

    def remember_decided(self, key: str, decided: Decided) -> None:
        """A decision made before this process started (from the feedback topic)."""
        with self._lock:
            self._decided[key] = decided

    def add_review(self, event: ReviewEvent, position: Position, enqueued_at: datetime) -> bool:
        """A record read from the review topic; True when it made a new item. A record of an
        event already decided is decided at once, so it never shows and never blocks a commit."""
        with self._lock:
            ledger = self._ledgers.setdefault(position.partition, PartitionLedger())
            if not ledger.receive(position.offset):
                return False
            key = event.key
            if key in self._decided:
                ledger.decide(position.offset)
                return False
            item = self._items.get(key)
            if item is not None:
                item.positions.append(position)
                return False
            self._items[key] = Item(
                event, enqueued_at, next(self._seq), positions=[position], source=position
            )
            return True

    def add_unreadable(self, position: Position) -> None:
        """A record that is no review item (not a ClassifiedEvent): nothing to decide, so it
        counts as decided rather than holding the partition's commits back for ever."""
        with self._lock:
            ledger = self._ledgers.setdefault(position.partition, PartitionLedger())
            if ledger.receive(position.offset):
                ledger.decide(position.offset)

    def add_durable(
        self,
        event: ReviewEvent,
        *,
        enqueued_at: datetime,
        source: Position | None = None,
        report: Report | None = None,
    ) -> Item:
        """An item a feedback record of its own keeps: a report (which reopens a decided event),
        or an undone decision read back at startup. Merges into the event's item if queued."""
        with self._lock:
            key = event.key
            item = self._items.get(key)
            if item is None:
                self._decided.pop(key, None)
                item = Item(event, enqueued_at, next(self._seq), source=source)
                self._items[key] = item
            item.durable = True
            if report is not None:
                item.reports.append(report)
            return item

    # -- leasing and deciding ----------------------------------------------------------------

    def lease_next(self, reviewer: str) -> Item | None:
        """The reviewer's current item (its lease renewed), else the first free one, leased."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            item = self._held(reviewer)
            if item is None:
                free = [i for i in self._items.values() if i.lease is None]
                if not free:
                    return None
                item = min(free, key=lambda i: i.order)
                item.last_shown = (reviewer, now)
                self._holding[reviewer] = item.key
            shown_at = item.shown_at_for(reviewer) or now
            item.last_shown = (reviewer, shown_at)
            item.lease = Lease(reviewer, shown_at, now + self._lease)
            return item

    def current(self, reviewer: str) -> Item | None:
        """The item leased to the reviewer, if any, without leasing a new one."""
        with self._lock:
            self._expire(self._clock())
            return self._held(reviewer)

    def claim(self, key: str, reviewer: str) -> Item:
        """The item a reviewer may decide now, or the reason they may not. The item is leased to
        them (the lease renewed if it was theirs): nobody else is shown it while the decision is
        written, and should the write fail it stays theirs to retry until the lease expires."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            item = self._items.get(key)
            if item is None:
                if key in self._decided:
                    raise AlreadyDecided(f"event {key!r} is already decided")
                raise UnknownEvent(f"event {key!r} is not in the review queue")
            if item.lease is not None and item.lease.reviewer != reviewer:
                raise LeasedToOther(f"event {key!r} is leased to another reviewer")
            shown_at = item.shown_at_for(reviewer)
            item.lease = Lease(
                reviewer, shown_at or now, now + self._lease, shown=shown_at is not None
            )
            if self._held(reviewer) is None:  # what they hold otherwise stays theirs
                self._holding[reviewer] = key
            return item

    def complete(self, item: Item, reviewer: str, record: FeedbackRecord) -> None:
        """The decision on `item` is on the feedback topic: the item leaves the queue."""
        with self._lock:
            key = item.key
            current = self._items.get(key)
            if current is not None:
                del self._items[key]
                item = current
            for position in item.positions:
                ledger = self._ledgers.get(position.partition)
                if ledger is not None:
                    ledger.decide(position.offset)
            for holder in [r for r, k in self._holding.items() if k == key]:
                del self._holding[holder]
            self._decided[key] = Decided(record.action, reviewer, record.decided_at)
            snapshot = replace(item, positions=[], lease=None, reports=list(item.reports))
            self._last[reviewer] = Decision(snapshot, record)

    def last_decision(self, reviewer: str) -> Decision | None:
        with self._lock:
            return self._last.get(reviewer)

    def undo_target(self, reviewer: str) -> Decision:
        """The decision an undo would withdraw: the reviewer's last, while it is still the
        event's latest and the event is not back in the queue (reported since)."""
        with self._lock:
            decision = self._last.get(reviewer)
            if decision is None:
                raise NothingToUndo("no decision of yours to undo")
            key = decision.item.key
            latest = self._decided.get(key)
            if (
                key in self._items
                or latest is None
                or latest.reviewer != reviewer
                or latest.decided_at != decision.record.decided_at
            ):
                self._last.pop(reviewer, None)
                raise NothingToUndo(f"event {key!r} was decided or reported again since")
            return decision

    def restore(self, reviewer: str, decision: Decision) -> Item:
        """Undo, once its record is written: the item is the reviewer's again (what they held
        goes back to the queue). Its offsets stay decided; the undo record keeps it (durable)."""
        with self._lock:
            now = self._clock()
            held = self._held(reviewer)
            if held is not None:
                held.lease = None
            item = replace(
                decision.item,
                positions=[],
                durable=True,
                lease=Lease(reviewer, now, now + self._lease),
                last_shown=(reviewer, now),
            )
            self._items[item.key] = item
            self._holding[reviewer] = item.key
            self._decided.pop(item.key, None)
            self._last.pop(reviewer, None)
            return item

    def queued_event(self, key: str) -> ReviewEvent | None:
        with self._lock:
            item = self._items.get(key)
            return item.event if item is not None else None

    # -- committing and rebalancing ----------------------------------------------------------

    def commit_offsets(self) -> dict[int, int]:
        """partition → the next offset to commit, for every partition with decided records."""
        with self._lock:
            return {
                p: ledger.commit_at
                for p, ledger in self._ledgers.items()
                if ledger.commit_at is not None
            }

    def revoke(self, partitions: Iterable[int]) -> None:
        """Partitions another instance now reads: their undecided records are its to show."""
        gone = set(partitions)
        with self._lock:
            for p in gone:
                self._ledgers.pop(p, None)
            for key, item in list(self._items.items()):
                item.positions = [pos for pos in item.positions if pos.partition not in gone]
                if not item.positions and not item.durable:
                    del self._items[key]
                    for holder in [r for r, k in self._holding.items() if k == key]:
                        del self._holding[holder]

    # -- reading -----------------------------------------------------------------------------

    def stats(self) -> QueueStats:
        with self._lock:
            self._expire(self._clock())
            items = list(self._items.values())
            return QueueStats(
                items=len(items),
                leased=sum(1 for i in items if i.lease is not None),
                reported=sum(1 for i in items if i.reported),
                held_records=sum(ledger.undecided for ledger in self._ledgers.values()),
                decided=len(self._decided),
                oldest_enqueued_at=min((i.enqueued_at for i in items), default=None),
            )

    def held_records(self) -> int:
        """Records read and not yet decided (cheap: per partition, not per item)."""
        with self._lock:
            return sum(ledger.undecided for ledger in self._ledgers.values())

    def is_decided(self, key: str) -> bool:
        with self._lock:
            return key in self._decided

    # -- internals (lock held) ---------------------------------------------------------------

    def _held(self, reviewer: str) -> Item | None:
        key = self._holding.get(reviewer)
        if key is None:
            return None
        item = self._items.get(key)
        if item is None or item.lease is None or item.lease.reviewer != reviewer:
            del self._holding[reviewer]
            return None
        return item

    def _expire(self, now: datetime) -> None:
        for item in self._items.values():
            lease = item.lease
            if lease is not None and lease.expires_at <= now:
                item.lease = None
                if self._holding.get(lease.reviewer) == item.key:
                    del self._holding[lease.reviewer]
