"""The review queue's rules without a broker or a server: the commit prefix, leases and their
expiry, order, undo and rebalancing (reviewer.queue)."""

import json
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, KafkaError, KafkaException, TopicPartition
from pydantic import ValidationError

from reviewer import kafka
from reviewer.config import ReviewerSettings
from reviewer.errors import (
    AlreadyDecided,
    FeedbackUnavailable,
    LeasedToOther,
    NothingToUndo,
    UnknownEvent,
)
from reviewer.feedback import FeedbackWriteError
from reviewer.index import EventIndex
from reviewer.items import ReviewEvent
from reviewer.kafka import KafkaFeedbackSink, ReviewReader, TaggedReader
from reviewer.queue import PartitionLedger, Position, Report
from schemas.events import ClassifiedEvent
from tests.support.reviewer import classified_bytes, classified_event, harness, review_event


class TestPartitionLedger:
    def test_commits_only_the_decided_prefix(self) -> None:
        ledger = PartitionLedger()
        for offset in range(5):
            assert ledger.receive(offset)
        ledger.decide(1)
        ledger.decide(2)
        assert ledger.commit_at is None, "offset 0 is undecided: nothing may be committed"
        ledger.decide(0)
        assert ledger.commit_at == 3
        ledger.decide(4)
        assert ledger.commit_at == 3, "offset 3 is still undecided"
        ledger.decide(3)
        assert ledger.commit_at == 5
        assert ledger.undecided == 0

    def test_gaps_in_offsets_do_not_block(self) -> None:
        # Transaction markers and compaction leave offsets that are never delivered.
        ledger = PartitionLedger()
        for offset in (10, 12, 15):
            ledger.receive(offset)
        ledger.decide(10)
        ledger.decide(12)
        assert ledger.commit_at == 13
        ledger.decide(15)
        assert ledger.commit_at == 16

    def test_redelivered_offsets_are_ignored(self) -> None:
        ledger = PartitionLedger()
        assert ledger.receive(0) and ledger.receive(1)
        assert not ledger.receive(1)
        assert not ledger.receive(0)
        assert ledger.undecided == 2

    def test_deciding_twice_or_outside_changes_nothing(self) -> None:
        ledger = PartitionLedger()
        ledger.receive(0)
        ledger.decide(0)
        ledger.decide(0)
        ledger.decide(7)
        assert ledger.commit_at == 1
        assert ledger.undecided == 0


class TestCommitPrefix:
    def test_commit_offsets_follow_decisions_per_partition(self) -> None:
        h = harness()
        for i in range(3):
            h.add(f"p0-{i}", partition=0)
            h.add(f"p1-{i}", partition=1)
        h.service.label("alice", "p0-1", "mlops")
        h.service.skip("alice", "p1-0")
        assert h.queue.commit_offsets() == {1: 1}
        h.service.label("alice", "p0-0", "other")
        assert h.queue.commit_offsets() == {0: 2, 1: 1}

    def test_event_at_several_offsets_is_one_item_and_one_decision(self) -> None:
        # The service delivers at least once: the same event can be on the topic twice.
        h = harness()
        h.add("dup", offset=0)
        h.add("other", offset=1)
        h.add("dup", offset=2)
        assert h.queue.stats().items == 2
        h.service.label("alice", "dup", "mlops")
        h.service.label("alice", "other", "mlops")
        assert h.queue.commit_offsets() == {0: 3}
        assert len(h.sink.records) == 2

    def test_record_of_a_decided_event_is_decided_on_arrival(self) -> None:
        h = harness()
        h.add("a", offset=0)
        h.service.label("alice", "a", "mlops")
        h.add("a", offset=1)  # a redelivery after the decision
        assert h.queue.stats().items == 0
        assert h.queue.commit_offsets() == {0: 2}

    def test_unreadable_record_does_not_hold_commits_back(self) -> None:
        h = harness()
        h.queue.add_unreadable(Position(0, 0))
        h.add("a", offset=1)
        h.service.skip("alice", "a")
        assert h.queue.commit_offsets() == {0: 2}


class TestLeases:
    def test_one_item_per_reviewer_and_never_the_same_item_twice(self) -> None:
        h = harness()
        h.add("a")
        h.add("b")
        first = h.service.next_item("alice")
        second = h.service.next_item("bob")
        assert first is not None and second is not None
        assert first.key != second.key
        again = h.service.next_item("alice")
        assert again is not None and again.key == first.key, "the same item until decided"
        assert h.service.next_item("carol") is None

    def test_expired_lease_returns_the_item_to_the_queue(self) -> None:
        h = harness(lease_seconds=60)
        h.add("a")
        item = h.service.next_item("alice")
        assert item is not None
        h.clock.advance(59)
        assert h.service.next_item("bob") is None
        h.clock.advance(2)
        taken = h.service.next_item("bob")
        assert taken is not None and taken.key == "a"
        with pytest.raises(LeasedToOther):
            h.service.label("alice", "a", "mlops")
        assert h.sink.records == []

    def test_looking_again_renews_the_lease(self) -> None:
        h = harness(lease_seconds=60)
        h.add("a")
        h.service.next_item("alice")
        h.clock.advance(50)
        h.service.next_item("alice")
        h.clock.advance(50)
        assert h.service.next_item("bob") is None

    def test_expired_but_untaken_item_can_still_be_decided_with_its_time(self) -> None:
        h = harness(lease_seconds=60)
        h.add("a")
        h.service.next_item("alice")
        h.clock.advance(90)
        record = h.service.label("alice", "a", "mlops")
        assert record.seconds_to_decide == pytest.approx(90)

    def test_reported_items_come_first_then_oldest(self) -> None:
        h = harness()
        h.add("old")
        h.clock.advance(1)
        h.add("new")
        h.index.put(review_event("tagged-1", "computer-vision"))
        h.service.report("platform", "tagged-1", "mlops", "wrong")
        order = []
        for reviewer in ("r1", "r2", "r3"):
            item = h.service.next_item(reviewer)
            assert item is not None
            order.append(item.key)
        assert order == ["tagged-1", "old", "new"]

    def test_an_item_being_decided_is_shown_to_no_one_else(self) -> None:
        """Deciding leases the item to the decider (it need not have been shown to them): while
        the write is in flight nobody else gets it, and after a failed write it stays theirs to
        retry until the lease expires."""
        h = harness(lease_seconds=60)
        h.add("a")
        seen: list[object] = []
        h.sink.during_write = lambda _record: seen.append(h.service.next_item("carol"))
        h.sink.fail = True
        with pytest.raises(FeedbackUnavailable):
            h.service.label("alice", "a", "mlops")
        assert seen == [None], "carol was shown the item alice's decision was being written for"
        assert h.service.next_item("bob") is None
        assert h.service.next_item("alice").key == "a"  # type: ignore[union-attr]
        h.clock.advance(61)
        assert h.service.next_item("bob").key == "a"  # type: ignore[union-attr]
        h.sink.fail = False
        assert h.service.label("bob", "a", "mlops").seconds_to_decide == 0.0
        assert seen == [None, None]

    def test_deciding_an_unshown_item_keeps_what_one_holds(self) -> None:
        h = harness()
        h.add("a")
        h.add("b")
        assert h.service.next_item("alice").key == "a"  # type: ignore[union-attr]
        h.sink.fail = True
        with pytest.raises(FeedbackUnavailable):
            h.service.skip("alice", "b")
        assert h.service.next_item("alice").key == "a"  # type: ignore[union-attr]
        assert h.service.next_item("bob") is None, "b stays alice's until its lease expires"
        h.sink.fail = False
        record = h.service.skip("alice", "b")
        assert record.shown_at is None and record.seconds_to_decide is None, "never shown"
        assert h.service.next_item("alice").key == "a"  # type: ignore[union-attr]

    def test_expired_item_keeps_its_place(self) -> None:
        h = harness(lease_seconds=10)
        h.add("first")
        h.add("second")
        assert h.service.next_item("alice").key == "first"  # type: ignore[union-attr]
        h.clock.advance(11)
        assert h.service.next_item("bob").key == "first"  # type: ignore[union-attr]


class TestDecisions:
    def test_unknown_and_decided_events(self) -> None:
        h = harness()
        h.add("a")
        with pytest.raises(UnknownEvent):
            h.service.label("alice", "nope", "mlops")
        h.service.label("alice", "a", "mlops")
        with pytest.raises(AlreadyDecided):
            h.service.label("alice", "a", "other")
        with pytest.raises(AlreadyDecided):
            h.service.skip("bob", "a")
        assert len(h.sink.records) == 1

    def test_confirm_or_correct_from_the_models_tag(self) -> None:
        h = harness()
        h.add("a", top="mlops")
        h.add("b", top="mlops")
        assert h.service.label("alice", "a", "mlops").action == "confirm"
        corrected = h.service.label("alice", "b", "computer-vision")
        assert (corrected.action, corrected.final_tag) == ("correct", "computer-vision")

    def test_integer_and_text_ids_name_the_same_event(self) -> None:
        h = harness()
        h.add(42)
        record = h.service.label("alice", "42", "mlops")
        assert record.event_id == 42

    def test_failed_write_changes_nothing(self) -> None:
        from reviewer.errors import FeedbackUnavailable

        h = harness()
        h.add("a")
        h.service.next_item("alice")
        h.sink.fail = True
        with pytest.raises(FeedbackUnavailable):
            h.service.label("alice", "a", "mlops")
        assert h.queue.stats().items == 1
        assert h.queue.commit_offsets() == {}
        h.sink.fail = False
        assert h.service.label("alice", "a", "mlops").final_tag == "mlops"


class TestUndo:
    def test_undo_writes_a_skip_and_gives_the_item_back(self) -> None:
        h = harness()
        h.add("a")
        h.add("b")
        assert h.service.next_item("alice").key == "a"  # type: ignore[union-attr]
        h.service.label("alice", "a", "computer-vision")
        assert h.service.next_item("alice").key == "b"  # type: ignore[union-attr]
        h.clock.advance(1)
        restored = h.service.undo("alice")
        assert restored.key == "a"
        undo = h.sink.records[-1]
        assert (undo.action, undo.final_tag, undo.reviewer) == ("skip", None, "alice")
        assert undo.comment and undo.comment.startswith("undo:")
        assert undo.decided_at > h.sink.records[0].decided_at
        # "a" is alice's again, "b" went back to the queue for anyone.
        assert h.service.next_item("alice").key == "a"  # type: ignore[union-attr]
        assert h.service.next_item("bob").key == "b"  # type: ignore[union-attr]
        with pytest.raises(LeasedToOther):
            h.service.label("bob", "a", "mlops")
        final = h.service.label("alice", "a", "mlops")
        assert final.decided_at > undo.decided_at

    def test_nothing_to_undo(self) -> None:
        h = harness()
        with pytest.raises(NothingToUndo):
            h.service.undo("alice")
        h.add("a")
        h.service.skip("alice", "a")
        h.service.undo("alice")
        with pytest.raises(NothingToUndo):
            h.service.undo("alice")
        assert [r.action for r in h.sink.records] == ["skip", "skip"]

    def test_undo_keeps_the_commit_prefix(self) -> None:
        # The undo record brings the item back after a restart, so its offset stays decided.
        h = harness()
        h.add("a")
        h.service.label("alice", "a", "mlops")
        h.service.undo("alice")
        assert h.queue.commit_offsets() == {0: 1}
        assert h.queue.stats().items == 1

    def test_no_undo_once_the_event_was_reported_again(self) -> None:
        h = harness()
        h.add("a")
        h.service.label("alice", "a", "mlops")
        h.service.report("platform", "a", "other")
        with pytest.raises(NothingToUndo):
            h.service.undo("alice")


class TestReports:
    def test_report_of_a_tagged_event(self) -> None:
        h = harness()
        h.index.put(review_event("t1", "computer-vision"))
        record = h.service.report("platform", "t1", "mlops", "it is about pipelines")
        assert (record.action, record.final_tag, record.reviewer) == ("report", "mlops", "platform")
        assert record.comment == "it is about pipelines"
        item = h.service.next_item("alice")
        assert item is not None and item.reported
        assert item.reports == [Report("platform", "mlops", "it is about pipelines", h.clock())]

    def test_report_reopens_a_decided_event(self) -> None:
        h = harness()
        h.add("a")
        h.service.label("alice", "a", "mlops")
        h.service.report("platform", "a")
        item = h.service.next_item("bob")
        assert item is not None and item.key == "a" and item.reported
        assert h.service.label("bob", "a", "other").action == "correct"

    def test_report_of_an_unknown_event(self) -> None:
        h = harness()
        with pytest.raises(UnknownEvent):
            h.service.report("platform", "nope")
        assert h.sink.records == []


class TestRevoke:
    def test_revoked_partitions_items_go_durable_ones_stay(self) -> None:
        h = harness()
        h.add("p0", partition=0)
        h.add("p1", partition=1)
        h.service.report("platform", "p1", "mlops")
        h.service.next_item("alice")  # leases the reported p1
        h.queue.revoke([0, 1])
        stats = h.queue.stats()
        assert stats.items == 1 and stats.held_records == 0
        assert h.queue.commit_offsets() == {}


class TestIndex:
    def test_bounded_by_count_and_text_oldest_first(self) -> None:
        from dataclasses import replace

        from reviewer.index import EventIndex

        index = EventIndex(capacity=2)
        for key in ("a", "b", "a", "c"):
            index.put(review_event(key))
        assert index.get("b") is None and index.get("a") is not None and len(index) == 2
        small = EventIndex(capacity=100, max_chars=100)
        small.put(replace(review_event("x"), description="d" * 60))
        small.put(replace(review_event("y"), description="d" * 60))
        assert small.get("x") is None and small.get("y") is not None


class FakeMessage:
    """A record as confluent_kafka's consumer hands it over."""

    def __init__(self, value: bytes, partition: int = 0, offset: int = 0) -> None:
        self._value, self._partition, self._offset = value, partition, offset

    def error(self) -> None:
        return None

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes:
        return self._value

    def timestamp(self) -> tuple[int, int]:
        return (TIMESTAMP_NOT_AVAILABLE, 0)


def settings(**extra: Any) -> ReviewerSettings:
    return ReviewerSettings(kafka_bootstrap_servers="127.0.0.1:1", **extra)


class TestIntake:
    @pytest.mark.parametrize(
        "change",
        [{"model_version": ""}, {"title": ""}, {"model_version": "v1"}],
    )
    def test_review_records_no_feedback_record_can_be_built_from_are_passed_over(
        self, change: dict[str, str]
    ) -> None:
        """A ClassifiedEvent allows an empty model_version, a FeedbackRecord does not: such an
        item could never be decided, so it is counted invalid and its offset is committable."""
        h = harness()
        reader = ReviewReader(settings(), h.queue, h.index, h.metrics, h.clock)
        try:
            body = {**classified_event("e"), **change}
            reader._handle(FakeMessage(json.dumps(body).encode()))  # type: ignore[arg-type]
        finally:
            reader._consumer.close()
        valid = change == {"model_version": "v1"}
        assert h.queue.stats().items == (1 if valid else 0)
        assert h.queue.commit_offsets() == ({} if valid else {0: 1})
        assert h.metrics.invalid_records._value.get() == (0 if valid else 1)
        assert (h.index.get("e") is not None) == valid
        if valid:
            assert h.service.skip("alice", "e").model_version == "v1"

    def test_building_the_item_checks_the_record(self) -> None:
        event = ClassifiedEvent.model_validate({**classified_event("e"), "model_version": ""})
        with pytest.raises(ValidationError):
            ReviewEvent.from_classified(event)


class TestKafkaClients:
    def test_a_write_that_times_out_leaves_nothing_to_deliver_later(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The 503 says nothing changed: the producer must give the record up before the request
        answers (message.timeout.ms below the write timeout), and purge what is still queued."""

        class StuckProducer:
            made: ClassVar[list["StuckProducer"]] = []

            def __init__(self, config: dict[str, Any]) -> None:
                self.config = config
                self.queued: list[Callable[[KafkaError | None, object], None]] = []
                self.purged = False
                StuckProducer.made.append(self)

            def produce(self, topic: str, *, key: bytes, value: bytes, on_delivery: Any) -> None:
                self.queued.append(on_delivery)

            def flush(self, timeout: float) -> int:
                if self.purged:
                    for report in self.queued:
                        report(KafkaError(KafkaError._PURGE_QUEUE), None)
                    self.queued = []
                return len(self.queued)

            def purge(self, *args: Any, **kwargs: Any) -> None:
                self.purged = True

        monkeypatch.setattr(kafka, "Producer", StuckProducer)
        sink = KafkaFeedbackSink(settings(reviewer_write_timeout_seconds=10))
        producer = StuckProducer.made[-1]
        assert 1000 <= producer.config["message.timeout.ms"] < 10_000
        assert kafka.delivery_timeout_ms(0.5) == 1000
        h = harness()
        h.add("a")
        record = h.service.skip("alice", "a")
        with pytest.raises(FeedbackWriteError, match="not acknowledged within 10 s"):
            sink.write(record)
        assert producer.purged and producer.queued == [], "the record could still be delivered"

    def test_the_tagged_reader_survives_broker_errors(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        class FlakyConsumer:
            def __init__(self) -> None:
                self.failures = {"get_watermark_offsets": 1, "poll": 2}
                self.assigned: list[TopicPartition] = []
                self.polls = 0
                self.closed = False

            def _fail(self, name: str) -> None:
                if self.failures[name] > 0:
                    self.failures[name] -= 1
                    raise KafkaException(KafkaError(KafkaError._TRANSPORT))

            def list_topics(self, topic: str, timeout: float) -> Any:
                meta = SimpleNamespace(error=None, partitions={0: None, 1: None})
                return SimpleNamespace(topics={topic: meta})

            def get_watermark_offsets(self, tp: TopicPartition, timeout: float) -> tuple[int, int]:
                self._fail("get_watermark_offsets")
                return (0, 10)

            def assign(self, tps: list[TopicPartition]) -> None:
                self.assigned = tps

            def poll(self, timeout: float) -> FakeMessage | None:
                self._fail("poll")
                self.polls += 1
                if self.polls == 1:
                    return FakeMessage(classified_bytes("t", route="tagged"))
                time.sleep(0.001)
                return None

            def close(self) -> None:
                self.closed = True

        monkeypatch.setattr(kafka, "RETRY_SECONDS", 0.01)
        index = EventIndex(4)
        reader = TaggedReader(settings(reviewer_index_size=4), index)
        reader._consumer.close()
        fake = FlakyConsumer()
        reader._consumer = fake  # type: ignore[assignment]
        assert reader._assign() is False, "a failed offset lookup is retried, not fatal"
        reader.start()
        try:
            deadline = time.monotonic() + 5
            while fake.polls < 3 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert reader.alive, reader.error
            assert fake.polls >= 3 and fake.failures == {"get_watermark_offsets": 0, "poll": 0}
            assert [(tp.partition, tp.offset) for tp in fake.assigned] == [(0, 8), (1, 8)]
            assert index.get("t") is not None
        finally:
            reader.stop()
        assert fake.closed
