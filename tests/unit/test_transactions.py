"""Exactly-once bookkeeping without a broker: how transactional errors are classified, when a
transaction is committed, and where an abort rewinds the consumer to.

The real transactional client is exercised in tests/integration/test_exactly_once.py; these pin
down the decisions that a broker would only provoke by chance.
"""

import json
import threading
import time

import pytest
import redis
from confluent_kafka import KafkaError, KafkaException

from consumer.metrics import Metrics
from consumer.pipeline import Pipeline
from consumer.service import Service
from consumer.transactions import (
    TransactionFatal,
    Transactions,
    Watchdog,
    classify,
    fatal_reason,
)
from schemas.topics import DEFAULT_TOPICS as T
from tests.support.records import FakeRecord, SentMessage

IN = T.input


def error(code: int = KafkaError._TIMED_OUT, **flags: bool) -> KafkaException:
    return KafkaException(KafkaError(code, "test", **flags))


class Out:
    topic, key, value = T.tagged, b"k", b"v"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeProducer:
    """Records the transactional calls; `fail[name]` holds errors to raise, one per call."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.calls: list[str] = []
        self.produced: list[SentMessage] = []
        self.offsets: list[list] = []
        self.fail: dict[str, list[KafkaException]] = {}
        self.clock = clock

    def _maybe_fail(self, name: str, timeout: float | None = None) -> None:
        self.calls.append(name)
        if self.fail.get(name):
            if self.clock is not None and timeout is not None:
                self.clock.now += timeout  # a call that times out uses up its timeout
            raise self.fail[name].pop(0)

    def init_transactions(self, timeout: float = -1) -> None:
        self._maybe_fail("init", timeout)

    def begin_transaction(self) -> None:
        self._maybe_fail("begin")

    def produce(self, topic: str, value: bytes, key: bytes | None = None, **_: object) -> None:
        self._maybe_fail("produce")
        self.produced.append(SentMessage(topic, value, key))

    def send_offsets_to_transaction(self, positions, group_metadata, timeout=-1) -> None:
        self._maybe_fail("send_offsets", timeout)
        self.offsets.append([(tp.topic, tp.partition, tp.offset) for tp in positions])

    def commit_transaction(self, timeout: float = -1) -> None:
        self._maybe_fail("commit", timeout)

    def abort_transaction(self, timeout: float = -1) -> None:
        self._maybe_fail("abort", timeout)

    def poll(self, timeout: float = 0) -> int:
        return 0

    def flush(self, timeout: float = 0) -> int:
        return 0


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def producer(clock: Clock) -> FakeProducer:
    return FakeProducer(clock)


@pytest.fixture
def rewinds() -> list[dict]:
    return []


@pytest.fixture
def txns(producer: FakeProducer, rewinds: list[dict], clock: Clock) -> Transactions:
    return Transactions(
        producer,
        lambda: "group-metadata",
        rewinds.append,
        Metrics(),
        commit_interval=0.1,
        budget=10.0,
        clock=clock,
    )


def send(txns: Transactions, first: int, n: int, *, caught_up: bool, partition: int = 0) -> None:
    key = (IN, partition)
    txns.send([Out()] * n, {key: first}, {key: first + n}, [0] * n, caught_up=caught_up)


# -- classification ------------------------------------------------------------------------------
def test_a_fatal_error_is_fatal_even_when_it_also_says_abort_or_retry():
    assert classify(KafkaError(1, fatal=True, txn_requires_abort=True, retriable=True)) == "fatal"


def test_an_error_that_requires_an_abort_is_aborted_not_retried():
    assert classify(KafkaError(1, txn_requires_abort=True, retriable=True)) == "abort"


def test_a_retriable_error_is_retried():
    assert classify(KafkaError(KafkaError._TIMED_OUT, retriable=True)) == "retry"


def test_an_error_with_no_flag_is_treated_as_fatal():
    assert classify(KafkaError(KafkaError._STATE)) == "fatal"


def test_fenced_errors_are_counted_as_fenced_and_a_spent_budget_as_unknown_outcome():
    assert fatal_reason(KafkaError(KafkaError._FENCED, fatal=True)) == "fenced"
    assert fatal_reason(KafkaError(KafkaError.PRODUCER_FENCED, fatal=True)) == "fenced"
    assert fatal_reason(KafkaError(KafkaError._STATE, fatal=True)) == "fatal"
    assert fatal_reason(None) == "unknown_outcome"


# -- when a transaction is committed -------------------------------------------------------------
def test_a_batch_that_leaves_the_consumer_caught_up_is_committed_at_once(txns, producer):
    send(txns, 0, 3, caught_up=True)
    assert producer.calls == ["begin", *["produce"] * 3, "send_offsets", "commit"]
    assert producer.offsets == [[(IN, 0, 3)]]
    assert len(txns) == 0


def test_full_batches_share_one_transaction_until_the_interval_is_over(txns, producer, clock):
    send(txns, 0, 5, caught_up=False)
    clock.now = 0.05
    send(txns, 5, 5, caught_up=False)
    assert "commit" not in producer.calls and len(txns) == 2
    clock.now = 0.1
    send(txns, 10, 5, caught_up=False)
    assert producer.calls.count("begin") == 1 and producer.calls.count("commit") == 1
    assert producer.offsets == [[(IN, 0, 15)]]


def test_an_empty_poll_commits_what_is_open(txns, producer):
    send(txns, 0, 5, caught_up=False)
    txns.service(caught_up=True)
    assert producer.calls[-2:] == ["send_offsets", "commit"]


def test_offsets_of_every_partition_in_the_transaction_are_sent(txns, producer):
    send(txns, 0, 5, caught_up=False, partition=0)
    send(txns, 7, 2, caught_up=True, partition=1)
    assert sorted(producer.offsets[0]) == [(IN, 0, 5), (IN, 1, 9)]


# -- errors --------------------------------------------------------------------------------------
def test_a_retriable_commit_error_is_retried_and_the_transaction_commits(txns, producer):
    producer.clock = None  # fails at once, leaving most of the budget
    producer.fail["commit"] = [error(retriable=True)]
    send(txns, 0, 1, caught_up=True)
    assert producer.calls.count("commit") == 2 and "abort" not in producer.calls
    assert len(txns) == 0


def test_an_abortable_error_aborts_and_rewinds_to_the_transactions_first_offsets(
    txns, producer, rewinds
):
    send(txns, 10, 5, caught_up=False, partition=0)
    send(txns, 15, 5, caught_up=False, partition=0)
    producer.fail["commit"] = [error(txn_requires_abort=True)]
    send(txns, 3, 1, caught_up=True, partition=1)
    assert producer.calls[-1] == "abort"
    assert rewinds == [{(IN, 0): 10, (IN, 1): 3}]
    assert len(txns) == 0


def test_an_abortable_offsets_error_aborts_without_committing(txns, producer, rewinds):
    producer.fail["send_offsets"] = [error(txn_requires_abort=True)]
    send(txns, 0, 1, caught_up=True)
    assert "commit" not in producer.calls and producer.calls[-1] == "abort"
    assert rewinds == [{(IN, 0): 0}]


def test_being_fenced_is_fatal_and_counted(txns, producer):
    producer.fail["commit"] = [error(KafkaError._FENCED, fatal=True)]
    with pytest.raises(TransactionFatal) as raised:
        send(txns, 0, 1, caught_up=True)
    assert raised.value.reason == "fenced"
    assert "abort" not in producer.calls  # a fenced producer cannot abort


def test_a_commit_still_timing_out_when_the_budget_is_spent_has_an_unknown_outcome(txns, producer):
    producer.fail["commit"] = [error(retriable=True)] * 3  # each uses up its whole timeout
    with pytest.raises(TransactionFatal) as raised:
        send(txns, 0, 1, caught_up=True)
    assert raised.value.reason == "unknown_outcome"
    assert producer.calls.count("commit") == 1


def test_a_revoke_that_cannot_commit_aborts_without_rewinding(txns, producer, rewinds):
    send(txns, 0, 5, caught_up=False)
    producer.fail["commit"] = [error(txn_requires_abort=True)]
    assert txns.drain(1.0) is False
    assert producer.calls[-1] == "abort" and rewinds == []


def test_lost_partitions_abort_what_is_open_without_rewinding(txns, producer, rewinds):
    send(txns, 0, 5, caught_up=False)
    assert txns.clear() == 1
    assert producer.calls[-1] == "abort" and "commit" not in producer.calls and rewinds == []


# -- a call that hangs past its own timeout (librdkafka #5456) ---------------------------------
def test_the_watchdog_calls_out_a_call_that_outlives_its_deadline():
    hung: list[str] = []
    fired = threading.Event()
    watchdog = Watchdog(lambda what: (hung.append(what), fired.set()))
    with watchdog.guard("send_offsets_to_transaction", 0.05):
        assert fired.wait(5)
    assert hung == ["send_offsets_to_transaction"]


def test_the_watchdog_stays_quiet_for_calls_that_return_in_time():
    hung: list[str] = []
    watchdog = Watchdog(hung.append)
    for _ in range(20):
        with watchdog.guard("commit_transaction", 0.2):
            pass
    time.sleep(0.4)
    assert hung == []


# -- the service's side of a rewind --------------------------------------------------------------
class Message(FakeRecord):
    def __init__(self, offset: int, partition: int = 0):
        value = {
            "id": f"e{partition}-{offset}",
            "title": f"Object detection {partition} {offset}",
            "description": "boxes",
            "created_on": "2024-01-01T00:00:00",
        }
        super().__init__(json.dumps(value).encode(), offset, partition)


class SeekingConsumer:
    def __init__(self) -> None:
        self.queue: list[Message] = []
        self.log: list[Message] = []  # every record of the input, for seeks
        self.seeks: list[tuple[str, int, int]] = []
        self.paused = False

    def consumer_group_metadata(self) -> str:
        return "group-metadata"

    def assignment(self) -> list:
        return []

    def pause(self, parts) -> None:
        self.paused = True

    def resume(self, parts) -> None:
        self.paused = False

    def consume(self, n, timeout):
        if self.paused:
            return []
        batch, self.queue = self.queue[:n], self.queue[n:]
        return batch

    def poll(self, timeout):
        batch = self.consume(1, timeout)
        return batch[0] if batch else None

    def seek(self, tp) -> None:
        self.seeks.append((tp.topic, tp.partition, tp.offset))
        # Read again from there: what was queued of that partition is fetched anew.
        self.queue = [m for m in self.queue if m.partition() != tp.partition] + [
            m for m in self.log if m.partition() == tp.partition and m.offset() >= tp.offset
        ]


class Dedup:
    down = False

    def check(self, fingerprints, ids, positions):
        if self.down:
            raise redis.ConnectionError("down")
        return [None] * len(fingerprints)


def _eos_service(artifact, commit_interval: float):
    consumer, producer, dedup, metrics = SeekingConsumer(), FakeProducer(), Dedup(), Metrics()
    service = Service(
        consumer=consumer,
        producer=producer,
        pipeline=Pipeline(artifact, dedup, T, metrics, 100_000),
        metrics=metrics,
        input_topic=IN,
        batch_size=3,
        poll_timeout=0.0,
        shutdown_timeout=1.0,
        backoff_initial=0.0,
        backoff_max=0.0,
        guarantee="exactly-once",
        commit_interval=commit_interval,
    )
    return service, consumer, producer, dedup


@pytest.fixture
def eos_service(stub_artifact):
    return _eos_service(stub_artifact, commit_interval=3600.0)


def test_a_redis_outage_commits_what_is_open_and_produces_nothing_more(eos_service):
    service, consumer, producer, dedup = eos_service
    consumer.queue = [Message(i) for i in range(5)]
    service.step()  # a full batch: its transaction stays open
    dedup.down = True
    service.step()
    assert producer.calls[-2:] == ["send_offsets", "commit"]
    assert producer.offsets == [[(IN, 0, 3)]]
    assert len(producer.produced) == 3 and not service.redis_available


def test_an_abort_during_an_outage_drops_the_held_records_and_rewinds_before_them(eos_service):
    service, consumer, producer, dedup = eos_service
    consumer.queue = [Message(i) for i in range(3)] + [Message(0, partition=1)]
    service.step()  # offsets 0-2 of partition 0, open
    dedup.down = True
    producer.fail["commit"] = [error(txn_requires_abort=True)]
    service.step()  # partition 1's record fails dedup; committing what is open aborts
    assert sorted(consumer.seeks) == [(IN, 0, 0), (IN, 1, 0)]
    assert service.outage.held == []  # read again, in order, after the rewind
    assert producer.calls[-1] == "abort"


def test_a_transaction_aborted_between_batches_is_rewound_before_more_is_consumed(stub_artifact):
    service, consumer, producer, _ = _eos_service(stub_artifact, commit_interval=0.01)
    consumer.log = [Message(i) for i in range(6)]
    consumer.queue = list(consumer.log)
    service.step()  # offsets 0-2, a full batch: its transaction stays open
    time.sleep(0.02)  # ... past its interval
    producer.fail["commit"] = [error(txn_requires_abort=True)]
    service.step()
    assert consumer.seeks == [(IN, 0, 0)] and "abort" in producer.calls
    # Offsets 3-5 were not consumed before the rewind: the next transaction starts at 0 again.
    after_abort = producer.produced[3:]
    assert [json.loads(m.value())["id"] for m in after_abort] == ["e0-0", "e0-1", "e0-2"]
