"""Exactly-once delivery: Kafka transactions in the consume-transform-produce pattern (KIP-447).

One transactional producer per instance. A transaction carries a run of consumed batches' outputs
and, sent with the consumer's group metadata, the input offsets just past them: both become
visible to read_committed readers at the commit, or neither does. A transaction is committed once
the consumer has caught up (a batch smaller than the batch size) or once it has been open for the
commit interval, whichever comes first: low latency at low rates, few commits at high ones.

Errors are classified as the client documents them (`classify`):

* retriable: the same call again, within the commit budget;
* abortable (`txn_requires_abort`): abort, rewind the consumer to the transaction's first
  offsets (its outputs never became visible, its offsets were never committed), carry on;
* anything else, and a commit whose outcome is still unknown when the budget is spent: fatal.
  The process exits non-zero; its supervisor restarts it, and the restart's `init_transactions`
  (same transactional.id) fences whatever is left of this one and resolves its open transaction.

A call can also hang past its own timeout: `send_offsets_to_transaction` waits for ever while the
group coordinator is unreachable (librdkafka #5456, open at 2.16). A `Watchdog` ends the process
(exit 1, counted as unknown_outcome) when a call outlives its budget by `HANG_GRACE_SECONDS`.
"""

import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal, Protocol

from confluent_kafka import KafkaError, KafkaException, TopicPartition

from consumer.delivery import FatalError, Output
from consumer.metrics import Metrics, observe_since

log = logging.getLogger(__name__)

HANG_GRACE_SECONDS = 5.0

Action = Literal["retry", "abort", "fatal"]
FatalReason = Literal["fenced", "fatal", "unknown_outcome"]
Positions = dict[tuple[str, int], int]

_FENCED = frozenset(
    {
        KafkaError._FENCED,
        KafkaError.PRODUCER_FENCED,
        KafkaError.INVALID_PRODUCER_EPOCH,
        KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
    }
)


def classify(error: KafkaError) -> Action:
    """What a failed transactional call asks for, in the client's documented order: a fatal
    error first (the producer is unusable), then one that requires an abort, then a retriable
    one; anything else is treated as fatal, as the client's docs say."""
    if error.fatal():
        return "fatal"
    if error.txn_requires_abort():
        return "abort"
    if error.retriable():
        return "retry"
    return "fatal"


def fatal_reason(error: KafkaError | None) -> FatalReason:
    """The label a fatal exit is counted under: fenced by another producer or a newer group
    generation, a fatal client error, or a commit whose outcome is unknown (`None`)."""
    if error is None:
        return "unknown_outcome"
    return "fenced" if error.code() in _FENCED else "fatal"


class TransactionFatal(FatalError):
    """The transactional producer cannot go on: the process exits non-zero.

    :param reason: `fenced`, `fatal` or `unknown_outcome` (the metric's label).
    """

    def __init__(self, message: str, reason: FatalReason) -> None:
        super().__init__(message)
        self.reason = reason


class TransactionAborted(RuntimeError):
    """A transaction was aborted (its error required it); its inputs were rewound."""


def _exit_now(what: str) -> None:
    """The default hang handler: nothing else can unblock the loop's thread."""
    logging.shutdown()
    os._exit(1)


class Watchdog:
    """Ends the process when a guarded call outlives its deadline (a call blocked in the client
    cannot be interrupted from Python). One daemon thread, started on first use.

    :param on_hang: called with the call's name once its deadline has passed; the default
        exits the process at once (1), for the supervisor to restart it.
    :param clock: monotonic seconds.
    """

    def __init__(
        self,
        on_hang: Callable[[str], None] = _exit_now,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._on_hang = on_hang
        self._clock = clock
        self._cond = threading.Condition()
        self._deadline: float | None = None
        self._what = ""
        self._thread: threading.Thread | None = None

    @contextmanager
    def guard(self, what: str, seconds: float) -> Iterator[None]:
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._watch, name="txn-watchdog", daemon=True
                )
                self._thread.start()
            self._deadline, self._what = self._clock() + seconds, what
            self._cond.notify()
        try:
            yield
        finally:
            with self._cond:
                self._deadline = None

    def _watch(self) -> None:
        with self._cond:
            while True:
                if self._deadline is None:
                    self._cond.wait()
                    continue
                remaining = self._deadline - self._clock()
                if remaining > 0:
                    self._cond.wait(remaining)
                    continue
                what, self._deadline = self._what, None
                log.error("transactional call hung past its timeout; exiting", extra={"call": what})
                self._on_hang(what)


class TransactionalProducer(Protocol):
    """The subset of confluent_kafka.Producer transactions use."""

    def init_transactions(self, timeout: float = ...) -> None: ...
    def begin_transaction(self) -> None: ...
    def produce(self, topic: str, value: bytes, key: bytes | None) -> None: ...
    def send_offsets_to_transaction(
        self, positions: list[TopicPartition], group_metadata: object, timeout: float = ...
    ) -> None: ...
    def commit_transaction(self, timeout: float = ...) -> None: ...
    def abort_transaction(self, timeout: float = ...) -> None: ...
    def poll(self, timeout: float) -> int: ...
    def flush(self, timeout: float) -> int: ...


@dataclass(slots=True)
class OpenTransaction:
    """What the transaction in progress holds: per input partition, the first offset consumed
    in it (where an abort rewinds to) and the next offset to commit; the source timestamps of
    its events (timed end to end at the commit, when they become visible)."""

    began: float
    first: Positions = field(default_factory=dict)
    next: Positions = field(default_factory=dict)
    source_timestamps_ms: list[int] = field(default_factory=list)
    batches: int = 0

    def add(self, first: Positions, next_offsets: Positions, timestamps: Sequence[int]) -> None:
        for partition, offset in first.items():
            self.first.setdefault(partition, offset)
        self.next.update(next_offsets)
        self.source_timestamps_ms.extend(timestamps)
        self.batches += 1

    def offsets(self) -> list[TopicPartition]:
        return [TopicPartition(t, p, o) for (t, p), o in self.next.items()]


class Transactions:
    """Produces each batch's outputs inside a transaction and commits it with the input offsets.

    :param producer: a producer configured with a `transactional.id`.
    :param group_metadata: the consumer's `consumer_group_metadata` (called at every commit, so
        the generation sent is current: a zombie's commit is refused by the group, KIP-447).
    :param rewind: seeks the consumer back to the given offsets after an abort (and drops
        whatever it consumed past them but has not produced yet).
    :param metrics: transaction counters, the commit histogram and end-to-end latency.
    :param commit_interval: seconds a transaction may stay open while full batches keep coming.
    :param budget: seconds a commit (or abort) may take, retries included, before its outcome
        counts as unknown: the transaction timeout, past which the coordinator aborts it anyway.
    :param clock: monotonic seconds; injectable for tests.
    :param watchdog: guards every call against hanging past the budget (`Watchdog`).
    """

    def __init__(
        self,
        producer: TransactionalProducer,
        group_metadata: Callable[[], object],
        rewind: Callable[[Positions], None],
        metrics: Metrics,
        *,
        commit_interval: float,
        budget: float,
        clock: Callable[[], float] = time.monotonic,
        watchdog: Watchdog | None = None,
    ) -> None:
        self._producer = producer
        self._watchdog = watchdog or Watchdog(self._hung)
        self._group_metadata = group_metadata
        self._rewind = rewind
        self._metrics = metrics
        self._commit_interval = commit_interval
        self._budget = budget
        self._clock = clock
        self._open: OpenTransaction | None = None

    def __len__(self) -> int:
        """Batches in the transaction in progress (0 when none is open)."""
        return self._open.batches if self._open else 0

    # -- the calls, with their errors classified ----------------------------------------------
    def init(self) -> None:
        """Fence older producers with this transactional.id and resolve what they left open."""
        self._call("init", lambda timeout: self._producer.init_transactions(timeout))

    def _call(self, what: str, call: Callable[[float], None]) -> None:
        """`call(timeout)` until it succeeds; raises `TransactionAborted`-worthy errors as
        `KafkaException` for the caller to abort, fatal ones (or the budget spent) as
        `TransactionFatal`."""
        deadline = self._clock() + self._budget
        while True:
            remaining = deadline - self._clock()
            if remaining <= 0:
                self._fatal(f"{what}: outcome unknown after {self._budget:.1f}s", None)
            try:
                with self._watchdog.guard(what, remaining + HANG_GRACE_SECONDS):
                    call(remaining)
                return
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                action = classify(error)
                if action == "fatal":
                    self._fatal(f"{what}: {error}", error)
                if action == "abort":
                    raise
                self._metrics.kafka_errors.labels("transaction").inc()
                log.warning(
                    "transaction call failed; retrying", extra={"call": what, "error": str(error)}
                )

    def _hung(self, what: str) -> None:
        self._metrics.transaction_fatal_errors.labels("unknown_outcome").inc()
        _exit_now(what)

    def _fatal(self, message: str, error: KafkaError | None) -> None:
        """Count and raise; the open transaction is forgotten (a fatal producer can neither
        commit nor abort it: the restart's `init_transactions` resolves it)."""
        self._open = None
        reason = fatal_reason(error)
        self._metrics.transaction_fatal_errors.labels(reason).inc()
        raise TransactionFatal(message, reason)

    # -- the loop's side ----------------------------------------------------------------------
    def send(
        self,
        outputs: Sequence[Output],
        first: Positions,
        next_offsets: Positions,
        source_timestamps_ms: Sequence[int],
        *,
        caught_up: bool,
    ) -> None:
        """Produce one consumed batch's outputs in the open transaction (begun if none is);
        commit it now if the consumer has caught up or the interval is over.

        :param first: per input partition, the batch's first offset.
        :param next_offsets: per input partition, the offset after the batch's last record.
        :param caught_up: the batch was smaller than a full one: nothing is waiting.
        """
        if self._open is None:
            try:
                self._producer.begin_transaction()
            except KafkaException as exc:
                self._fatal(f"begin_transaction: {exc.args[0]}", exc.args[0])
            self._open = OpenTransaction(began=self._clock())
        self._open.add(first, next_offsets, source_timestamps_ms)
        produce = self._producer.produce
        try:
            for out in outputs:
                try:
                    produce(out.topic, out.value, out.key)
                except BufferError:
                    self._produce_when_room(out)
        except KafkaException as exc:
            if classify(exc.args[0]) != "abort":
                self._fatal(f"produce: {exc.args[0]}", exc.args[0])
            self.abort(rewind=True)
            return
        self._producer.poll(0)
        if caught_up or self._due():
            self.commit()

    def _produce_when_room(self, out: Output) -> None:
        while True:
            self._producer.poll(0.05)  # local queue full: wait for deliveries
            try:
                self._producer.produce(out.topic, out.value, out.key)
                return
            except BufferError:
                continue

    def _due(self) -> bool:
        return self._open is not None and self._clock() - self._open.began >= self._commit_interval

    def service(self, *, caught_up: bool = False) -> None:
        """Between batches: serve the producer's callbacks; commit the open transaction if the
        consumer has caught up (an empty poll) or its interval is over."""
        self._producer.poll(0)
        if self._open is not None and (caught_up or self._due()):
            self.commit()

    def commit(self, *, rewind: bool = True) -> bool:
        """Commit the open transaction with its offsets. True when committed (or nothing was
        open); on an abortable error the transaction is aborted (its inputs rewound if `rewind`:
        the partitions stay ours) and False returned. Raises `TransactionFatal`."""
        txn = self._open
        if txn is None:
            return True
        started = self._clock()
        try:
            offsets = txn.offsets()
            self._call(
                "send_offsets_to_transaction",
                lambda timeout: self._producer.send_offsets_to_transaction(
                    offsets, self._group_metadata(), timeout
                ),
            )
            self._call("commit_transaction", lambda t: self._producer.commit_transaction(t))
        except KafkaException as exc:
            log.warning("transaction failed; aborting", extra={"error": str(exc.args[0])})
            self.abort(rewind=rewind)
            return False
        self._open = None
        now = self._clock()
        self._metrics.transactions.labels("committed").inc()
        self._metrics.transaction_commit_seconds.observe(now - started)
        now_ms = time.time() * 1000.0
        observe_since(self._metrics.end_to_end_seconds, now_ms, [txn.source_timestamps_ms])
        return True

    def abort(self, *, rewind: bool) -> int:
        """Abort the open transaction; its outputs stay invisible to read_committed readers and
        its offsets uncommitted. With `rewind`, the consumer goes back to its first offsets (the
        partitions are still ours); without, the partitions were lost and their next owner reads
        from the committed offsets. Returns the batches dropped."""
        txn, self._open = self._open, None
        if txn is None:
            return 0
        # An abort while the transaction's first records are still in flight can fail fatally
        # (librdkafka #4849): let them land first, briefly.
        self._producer.flush(min(1.0, self._budget))
        try:
            self._call("abort_transaction", lambda t: self._producer.abort_transaction(t))
        except KafkaException as exc:  # an abort that itself asks for an abort: give up
            self._fatal(f"abort_transaction: {exc.args[0]}", exc.args[0])
        self._metrics.transactions.labels("aborted").inc()
        log.warning(
            "transaction aborted",
            extra={"batches": txn.batches, "rewound": rewind, "partitions": len(txn.first)},
        )
        if rewind:
            self._rewind(txn.first)
        return txn.batches

    # -- rebalances and shutdown (the loop calls these as it does `Deliveries`'s) --------------
    def drain(self, timeout: float, *, retry: bool = True) -> bool:
        """Commit what is open (a revoke, a shutdown), within the commit budget; True when it
        committed, False when it had to be aborted (the next owner reads those inputs again)."""
        del timeout, retry  # a commit is bounded by the budget; an abortable error is not retried
        return self.commit(rewind=False)

    def clear(self) -> int:
        """Abort what is open without a rewind (partitions lost); returns the batches dropped."""
        return self.abort(rewind=False)
