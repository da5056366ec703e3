"""The consume → process → produce loop.

One poll loop wires the units that each do one job: `Pipeline` turns a batch of records into
outputs, `Deliveries` produces them and stores input offsets only behind confirmed deliveries,
`OutageGuard` holds input while Redis is down, `LagReporter` exports consumer lag. The loop itself
owns what ties them together: batching, rebalances and shutdown.

Under exactly-once (`guarantee`), `Transactions` takes the place of `Deliveries`: outputs and the
input offsets past them are committed in one Kafka transaction, and an aborted transaction rewinds
the consumer to its first offsets.
"""

import logging
import signal
import time
from collections import Counter
from collections.abc import Callable
from operator import attrgetter
from typing import cast

import redis
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from consumer.config import ProcessingGuarantee
from consumer.delivery import MAX_DELIVERY_ATTEMPTS, Deliveries, FatalError
from consumer.lag import LagReporter
from consumer.metrics import Metrics
from consumer.model_source import LoadedModel
from consumer.outage import OutageGuard
from consumer.pipeline import Output, Pipeline, Record
from consumer.reload import Mailbox
from consumer.transactions import Positions, Transactions

__all__ = ["MAX_DELIVERY_ATTEMPTS", "FatalError", "Service", "consume_batch"]

log = logging.getLogger(__name__)

_OUTCOME_LABEL = attrgetter("outcome", "label")


def consume_batch(
    consumer: Consumer, max_messages: int, timeout: float, generation: Callable[[], int]
) -> list[Message]:
    """Up to `max_messages` of the records already fetched; if there are none, waits at most
    `timeout` seconds for the first one and returns it with whatever arrived alongside.

    `consume(n, timeout)` alone returns only when n records are there or the timeout expires, so
    below n records per poll timeout every record would wait for the timeout.
    A record polled before a rebalance that happens in the second call is dropped: its partition
    was revoked, its offset never stored, and the next owner reads it again.
    """
    messages: list[Message] = consumer.consume(max_messages, 0)
    if messages:
        return messages
    first = consumer.poll(timeout)
    if first is None:
        return []
    if max_messages <= 1:
        return [first]
    before = generation()
    rest: list[Message] = consumer.consume(max_messages - 1, 0)
    return rest if generation() != before else [first, *rest]


class Service:
    """The service's poll loop over one consumer and one producer.

    :param consumer: subscribed by `run`; offsets are stored explicitly, never auto-stored.
    :param producer: idempotent producer for every output topic.
    :param pipeline: records → outputs; raises `redis.RedisError` when dedup fails.
    :param input_topic: the topic to subscribe to.
    :param batch_size: most records taken per loop iteration.
    :param poll_timeout: seconds to wait for the first record of a batch.
    :param shutdown_timeout: seconds to wait for in-flight outputs on a revoke or at shutdown.
    :param backoff_initial: seconds before retrying a batch held by a Redis outage.
    :param backoff_max: the most that backoff grows to.
    :param models: new models handed over by a `ModelWatcher`; taken between batches.
    :param on_model: called with each model taken, before the next batch is processed: the
        caller swaps it into the pipeline (`Pipeline.use`) and updates what reports the version.
    :param guarantee: `exactly-once` commits outputs and offsets in transactions; the producer
        then has a `transactional.id` and the consumer auto-commits nothing.
    :param commit_interval: exactly-once: seconds a transaction stays open while full batches
        keep coming.
    :param transaction_budget: exactly-once: seconds a commit may take before its outcome counts
        as unknown (fatal).
    """

    def __init__(
        self,
        *,
        consumer: Consumer,
        producer: Producer,
        pipeline: Pipeline,
        metrics: Metrics,
        input_topic: str,
        batch_size: int,
        poll_timeout: float,
        shutdown_timeout: float,
        backoff_initial: float,
        backoff_max: float,
        models: Mailbox[LoadedModel] | None = None,
        on_model: Callable[[LoadedModel], None] | None = None,
        guarantee: ProcessingGuarantee = "at-least-once",
        commit_interval: float = 0.1,
        transaction_budget: float = 10.0,
    ) -> None:
        if (models is None) != (on_model is None):
            raise ValueError("models and on_model go together")
        self._models = models
        self._on_model = on_model
        self._consumer = consumer
        self._pipeline = pipeline
        self._metrics = metrics
        self._input_topic = input_topic
        self._batch_size = batch_size
        self._poll_timeout = poll_timeout
        self._shutdown_timeout = shutdown_timeout
        self.deliveries = Deliveries(
            producer, lambda offsets: consumer.store_offsets(offsets=offsets), metrics
        )
        self.transactions: Transactions | None = None
        if guarantee == "exactly-once":
            self.transactions = Transactions(
                producer,
                consumer.consumer_group_metadata,
                self._rewind,
                metrics,
                commit_interval=commit_interval,
                budget=transaction_budget,
            )
        metrics.processing_guarantee.labels(guarantee).set(1)
        # What the loop hands outputs to: the transactions, or the at-least-once deliveries.
        self.sink: Deliveries | Transactions = self.transactions or self.deliveries
        self.outage: OutageGuard[Record] = OutageGuard(
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
            paused=metrics.paused,
            errors=metrics.redis_errors,
        )
        self.lag = LagReporter(consumer, metrics.consumer_lag)
        self._stopping = False
        self._generation = 0
        self._fatal = False
        self._unpause_assigned = False
        self.last_loop_at = time.monotonic()
        self.assigned: list[TopicPartition] = []

    # -- lifecycle ----------------------------------------------------------------------------
    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    def _on_signal(self, signum: int, _frame: object) -> None:
        log.info("stopping on signal", extra={"signal": signal.Signals(signum).name})
        self._stopping = True

    def stop(self) -> None:
        self._stopping = True

    @property
    def redis_available(self) -> bool:
        return not self.outage.active

    def subscribe(self) -> None:
        self._consumer.subscribe(
            [self._input_topic],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )

    def run(self) -> int:
        if self.transactions is not None:
            self.transactions.init()
        self.subscribe()
        try:
            while not self._stopping:
                self.step()
        except FatalError:
            self._fatal = True
            raise
        finally:
            self._shutdown()
        return 0

    def step(self) -> None:
        """One loop iteration; public so tests can drive the loop deterministically."""
        self.last_loop_at = now = time.monotonic()
        if self._unpause_assigned and not self.outage.active:
            # librdkafka keeps a partition's pause across a revoke and a later re-assignment:
            # one paused in an earlier outage would otherwise never be fetched again.
            self._unpause_assigned = False
            self._consumer.resume(self._consumer.assignment())
        self._swap_model()
        self.lag.maybe_update(now)
        if self.outage.active:
            self._during_outage(now)
            return
        if self.transactions is not None:
            # A transaction whose interval is over is committed before consuming: should it
            # abort, the rewind leaves no record consumed past it that would still be processed
            # (and committed) before the records it rewinds to are read again.
            self.transactions.service()
        messages = consume_batch(
            self._consumer, self._batch_size, self._poll_timeout, self._current_generation
        )
        if self.transactions is None:
            self.deliveries.service()
        elif not messages:  # caught up: what is open is committed now
            self.transactions.service(caught_up=True)
        if not messages:
            return
        records: list[Message] = []
        for message in messages:
            error = message.error()
            if error is None:
                records.append(message)
            elif error.code() != KafkaError._PARTITION_EOF:
                self._metrics.kafka_errors.labels("consume").inc()
                log.warning("consume error", extra={"error": str(error)})
        if records:
            # A message without an error has its topic, partition and offset: a `Record`.
            self._process(cast(list[Record], records))

    def _swap_model(self) -> None:
        """A model handed over since the last batch serves from the next one on: here, between
        batches on the loop's own thread, no batch is ever split between two models."""
        if self._models is None or self._on_model is None:
            return
        model = self._models.take()
        if model is not None:
            self._on_model(model)

    # -- the hot path -------------------------------------------------------------------------
    def _current_generation(self) -> int:
        return self._generation

    def _process(self, records: list[Record]) -> None:
        started = time.perf_counter()
        try:
            outputs = self._pipeline.process(records)
        except redis.RedisError as exc:
            self.outage.failed(records, exc)
            self._consumer.pause(self._consumer.assignment())
            if self.transactions is not None:
                # What is open holds verdicts only: committed now, not held open through the
                # outage. If it aborts instead, the rewind also drops and re-reads these records.
                self.transactions.commit()
            return
        if self.outage.active:
            self._resume()
        # Each partition's last record sets its next offset, as a loop storing every one would.
        last = {(record.topic(), record.partition()): record for record in records}
        next_offsets = {partition: record.offset() + 1 for partition, record in last.items()}
        timestamps = [record.timestamp()[1] for record in records]
        if self.transactions is None:
            self.deliveries.send(outputs, next_offsets, timestamps)
        else:
            first: Positions = {}
            for record in records:
                first.setdefault((record.topic(), record.partition()), record.offset())
            self.transactions.send(
                outputs,
                first,
                next_offsets,
                timestamps,
                caught_up=len(records) < self._batch_size,
            )
        self._count(outputs)
        self._metrics.batch_size.observe(len(records))
        self._metrics.batch_seconds.observe(time.perf_counter() - started)

    def _count(self, outputs: list[Output]) -> None:
        # One C-level pass over the batch; label lookups per distinct (outcome, label) only.
        metrics = self._metrics
        for (outcome, label), n in Counter(map(_OUTCOME_LABEL, outputs)).items():
            metrics.events.labels(outcome).inc(n)
            if outcome in ("tagged", "review"):
                metrics.tags.labels(label, outcome).inc(n)
            elif outcome == "dead_letter":
                metrics.dead_letters.labels(label).inc(n)

    # -- Redis outages ------------------------------------------------------------------------
    def _during_outage(self, now: float) -> None:
        """Stay in the group and keep deliveries flowing; retry the held batch on schedule.

        Redis counts as back only when the batch's own dedup script succeeds, not on PING: a
        read-only replica or a full Redis answers PING but cannot take the write.
        """
        if self.outage.due(now):
            if self.outage.held:
                self._process(self.outage.held)
            else:  # a rebalance emptied the held batch: try Redis on new input
                self._resume()
            return
        self._consumer.pause(self._consumer.assignment())  # partitions assigned meanwhile
        message = self._consumer.poll(self._poll_timeout)
        if message is not None and message.error() is None:
            self.outage.hold(
                cast(Record, message)
            )  # slipped in between an assignment and the pause
        self.sink.service()

    def _resume(self) -> None:
        self.outage.recovered()
        self._consumer.resume(self._consumer.assignment())

    def _rewind(self, positions: Positions) -> None:
        """After an aborted transaction: read again from each partition's first offset in it,
        and from the first held record of partitions it did not touch. Records held by an outage
        come after those offsets, so they are dropped and read again in order. A partition that
        cannot be rewound would be committed past what was aborted: that is fatal."""
        targets = dict(positions)
        for record in self.outage.held:
            key = (record.topic(), record.partition())
            targets[key] = min(targets.get(key, record.offset()), record.offset())
        self.outage.forget_held()
        for (topic, partition), offset in targets.items():
            try:
                self._consumer.seek(TopicPartition(topic, partition, offset))
            except KafkaException as exc:
                raise FatalError(f"cannot rewind {topic}[{partition}] to {offset}: {exc}") from exc

    # -- rebalances ---------------------------------------------------------------------------
    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.assigned = list(partitions)
        self._unpause_assigned = True
        self._metrics.assigned_partitions.set(len(partitions))
        log.info("partitions assigned", extra={"partitions": [p.partition for p in partitions]})

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        drained, dropped = self._release(partitions, commit=True)
        log.info(
            "partitions revoked",
            extra={
                "partitions": [p.partition for p in partitions],
                "drained": drained,
                "dropped_batches": dropped,
            },
        )

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._release(partitions, commit=False)
        log.warning("partitions lost", extra={"partitions": [p.partition for p in partitions]})

    def _release(self, partitions: list[TopicPartition], *, commit: bool) -> tuple[bool, int]:
        """Give up `partitions`: in-flight outputs are delivered (and, on a revoke, committed);
        anything not yet processed is left for the next owner. Returns (drained, dropped)."""
        self._generation += 1
        self.outage.forget_held()  # their offsets were never stored: the next owner reads them
        if self.transactions is not None:
            # Revoked: commit what is open (aborted if it cannot be); lost: the group has moved
            # on, so its offsets would be refused; abort.
            drained = commit and self.transactions.drain(self._shutdown_timeout)
            dropped = self.transactions.clear()
        else:
            drained = self.deliveries.drain(self._shutdown_timeout, retry=not self._fatal)
            if commit:
                self._commit()
            dropped = self.deliveries.clear()
        self.lag.forget(partitions)
        self.assigned = []
        self._metrics.assigned_partitions.set(0)
        return drained, dropped

    def _commit(self) -> None:
        try:
            self._consumer.commit(asynchronous=False)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError._NO_OFFSET:
                self._metrics.kafka_errors.labels("commit").inc()
                log.warning("commit failed", extra={"error": str(exc)})

    def _shutdown(self) -> None:
        drained = False
        try:
            if self.transactions is None:
                drained = self.deliveries.drain(self._shutdown_timeout, retry=not self._fatal)
                self._commit()
            elif not self._fatal:  # a fatal producer can neither commit nor abort
                drained = self.transactions.drain(self._shutdown_timeout)
        finally:
            self._consumer.close()
        log.info("stopped", extra={"drained": drained, "fatal": self._fatal})

    def __repr__(self) -> str:
        return f"Service(input={self._input_topic!r}, assigned={len(self.assigned)})"
