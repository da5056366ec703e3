"""Reading the feedback topic back at startup (reviewer.history): latest wins, and what a restart
makes of decided, reported and undone events."""

from datetime import timedelta

from reviewer import history
from reviewer.feedback import build_record, is_undo
from reviewer.history import Message
from reviewer.queue import Position, ReviewQueue
from schemas.feedback import FeedbackRecord
from tests.support.reviewer import T0, FakeClock, harness, review_event


def msg(record: FeedbackRecord | None, offset: int, partition: int = 0, key: str = "") -> Message:
    value = record.model_dump_json().encode() if record is not None else None
    return Message(partition, offset, (key or str(record.event_id)).encode(), value)  # type: ignore[union-attr]


def rec(
    event_id: str, action: str, tag: str | None, minute: int, **extra: object
) -> FeedbackRecord:
    return build_record(
        review_event(event_id, "natural-language-processing"),
        action=action,  # type: ignore[arg-type]
        final_tag=tag,  # type: ignore[arg-type]
        reviewer="alice",
        decided_at=T0 + timedelta(minutes=minute),
        **extra,  # type: ignore[arg-type]
    )


def test_latest_record_per_event_wins_by_offset() -> None:
    past = history.latest_by_event(
        [
            msg(rec("a", "correct", "mlops", 0), 0),
            msg(rec("b", "confirm", "natural-language-processing", 1), 1),
            msg(rec("a", "confirm", "natural-language-processing", 2), 2),
        ]
    )
    assert past.decided["a"].action == "confirm"
    assert set(past.decided) == {"a", "b"}
    assert past.waiting == []


def test_across_partitions_the_later_decision_wins() -> None:
    past = history.latest_by_event(
        [msg(rec("a", "skip", None, 5), 0, partition=1), msg(rec("a", "correct", "mlops", 1), 9)]
    )
    assert past.decided["a"].action == "skip"


def test_reports_and_undos_wait_decisions_do_not() -> None:
    undone = rec("u", "skip", None, 3, comment="undo: withdraws correct mlops by alice")
    assert is_undo(undone)
    past = history.latest_by_event(
        [
            msg(rec("u", "correct", "mlops", 2), 0),
            msg(undone, 1),
            msg(rec("r", "report", "mlops", 4), 2),
            msg(rec("d", "report", None, 1), 3),
            msg(rec("d", "confirm", "natural-language-processing", 5), 4),
            msg(rec("s", "skip", None, 6, comment="not sure"), 5),
        ]
    )
    assert sorted(str(r.event_id) for r in past.waiting) == ["r", "u"]
    assert set(past.decided) == {"d", "s"}


def test_tombstones_and_invalid_records() -> None:
    past = history.latest_by_event(
        [
            msg(rec("a", "confirm", "natural-language-processing", 0), 0),
            msg(None, 1, key="a"),
            Message(0, 2, b"x", b"{not json"),
            Message(0, 3, None, None),
        ]
    )
    assert past.decided == {} and past.waiting == []
    assert (past.records, past.invalid) == (4, 2)


def test_restart_shows_no_decided_item_and_loses_none() -> None:
    """Decide some items, then replay what was written into a new queue, fed the same records
    again from the (uncommitted) review topic: only the undecided ones come back."""
    h = harness()
    for i in range(4):
        h.add(f"e{i}")
    h.service.label("alice", "e1", "mlops")  # decided out of order: offset 1 stays uncommitted
    h.service.skip("alice", "e3")
    h.service.label("alice", "e2", "other")
    h.service.undo("alice")  # e2 goes back to alice
    h.index.put(review_event("tagged", "computer-vision"))
    h.service.report("platform", "tagged", "mlops")
    assert h.queue.commit_offsets() == {}, "e0 is undecided: nothing committed yet"

    messages = [msg(r, offset) for offset, r in enumerate(h.sink.records)]
    fresh = ReviewQueue(300, FakeClock())
    history.restore(fresh, history.latest_by_event(messages))
    for i in range(4):  # re-read from the committed offset (none: from the start)
        fresh.add_review(review_event(f"e{i}"), Position(0, i), T0)
    keys: list[str] = []
    while (item := fresh.lease_next(f"reviewer-{len(keys)}")) is not None:
        keys.append(item.key)
    assert keys[0] == "tagged", "reports first"
    assert sorted(keys[1:]) == ["e0", "e2"]
    assert fresh.commit_offsets() == {}


def test_an_undone_reported_item_is_still_reported_after_a_restart() -> None:
    """Reported, labelled, undone: the undo record is the event's latest, and the item it brings
    back is a reported one (first in the queue, with its report), as it was before the restart."""
    h = harness()
    h.add("low")
    h.index.put(review_event("t", "computer-vision"))
    h.service.report("platform", "t", "mlops", "pipelines")
    h.service.label("alice", "t", "mlops")
    h.service.undo("alice")
    live = h.queue.current("alice")
    assert live is not None and live.reported

    messages = [msg(r, offset) for offset, r in enumerate(h.sink.records)]
    past = history.latest_by_event(messages)
    assert is_undo(next(r for r in past.waiting if r.event_id == "t"))
    fresh = ReviewQueue(300, FakeClock())
    history.restore(fresh, past)
    fresh.add_review(review_event("low"), Position(0, 0), T0)
    item = fresh.lease_next("bob")
    assert item is not None and item.key == "t" and item.reported
    assert [(r.reporter, r.reported_tag, r.comment) for r in item.reports] == [
        ("platform", "mlops", "pipelines")
    ]


def test_a_tombstone_withdraws_an_earlier_report() -> None:
    undone = rec("u", "skip", None, 3, comment="undo: withdraws correct mlops by alice")
    past = history.latest_by_event(
        [
            msg(rec("u", "report", "mlops", 0), 0),
            msg(None, 1, key="u"),
            msg(rec("u", "correct", "mlops", 2), 2),
            msg(undone, 3),
        ]
    )
    assert [r.event_id for r in past.waiting] == ["u"] and past.reports == {}
    fresh = ReviewQueue(300, FakeClock())
    history.restore(fresh, past)
    item = fresh.lease_next("bob")
    assert item is not None and not item.reported
