"""The chaos suite's pure parts: the schedule a seed draws, the event plan, and the checker's
verdict on constructed records (each kind of violation, and a clean run)."""

from itertools import islice

import pytest

from chaos.checker import CHECKS, InputRecord, OutputRecord, Sent, check
from chaos.producer import plan_events, synthetic_texts
from chaos.schedule import (
    INFRA_KINDS,
    INSTANCE_KINDS,
    KINDS,
    SESSION_TIMEOUT_SECONDS,
    Fault,
    make_schedule,
    window,
)

# -- schedule ---------------------------------------------------------------------------------


def _overlap(a: Fault, b: Fault) -> bool:
    return a.span[0] < b.span[1] and b.span[0] < a.span[1]


def test_the_same_seed_draws_the_same_schedule():
    assert make_schedule(42, 60, 3) == make_schedule(42, 60, 3)


def test_another_seed_draws_another_schedule():
    assert make_schedule(1, 60, 3) != make_schedule(2, 60, 3)


@pytest.mark.parametrize("seed", range(40))
def test_a_short_run_has_every_kind_of_fault(seed):
    assert {f.kind for f in make_schedule(seed, 60, 3)} == set(KINDS)


@pytest.mark.parametrize("seed", range(40))
def test_every_fault_starts_while_events_are_still_arriving(seed):
    start, end = window(60)
    assert all(start <= f.at <= end < 60 for f in make_schedule(seed, 60, 3))


@pytest.mark.parametrize("seed", range(40))
def test_one_instance_always_stays_up(seed):
    faults = [f for f in make_schedule(seed, 120, 3) if f.kind in INSTANCE_KINDS]
    # The number impaired only rises where a fault starts: those instants are the ones to check.
    for t in (f.span[0] for f in faults):
        assert sum(1 for f in faults if f.span[0] <= t < f.span[1]) <= 2


@pytest.mark.parametrize("seed", range(40))
def test_broker_and_redis_faults_never_overlap(seed):
    faults = [f for f in make_schedule(seed, 120, 3) if f.kind in INFRA_KINDS]
    assert not any(_overlap(a, b) for a in faults for b in faults if a is not b)


@pytest.mark.parametrize("seed", range(20))
def test_an_instance_has_one_fault_at_a_time(seed):
    faults = [f for f in make_schedule(seed, 120, 2) if f.kind in INSTANCE_KINDS]
    assert not any(_overlap(a, b) for a in faults for b in faults if a is not b)


def test_a_frozen_instance_outlasts_the_session_timeout():
    stops = [f for s in range(40) for f in make_schedule(s, 60, 3) if f.kind == "stop_instance"]
    assert stops and all(f.hold > SESSION_TIMEOUT_SECONDS for f in stops)


def test_a_long_run_repeats_the_faults():
    assert len(make_schedule(3, 600, 3)) > 3 * len(KINDS)


def test_a_single_instance_is_refused():
    with pytest.raises(ValueError, match="at least 2"):
        make_schedule(0, 60, 1)


# -- event plan -------------------------------------------------------------------------------


def test_the_plan_is_deterministic_for_a_seed():
    texts = synthetic_texts(50, seed=0)
    first = list(islice(plan_events(texts, 9, "r", 0.2, 0.05), 500))
    assert first == list(islice(plan_events(texts, 9, "r", 0.2, 0.05), 500))


def test_a_resend_repeats_an_earlier_event_byte_for_byte():
    plan = list(islice(plan_events(synthetic_texts(50, seed=0), 1, "r", 0.1, 0.1), 1000))
    firsts = {p.id: p for p in plan if p.kind != "resend"}
    resends = [p for p in plan if p.kind == "resend"]
    assert resends
    assert all(p.value == firsts[p.id].value for p in resends)


def test_a_duplicate_has_earlier_content_under_a_new_id():
    plan = list(islice(plan_events(synthetic_texts(50, seed=0), 1, "r", 0.2, 0.0), 1000))
    originals = {p.content: p.id for p in plan if p.kind == "original"}
    duplicates = [p for p in plan if p.kind == "duplicate"]
    assert duplicates
    assert all(p.content in originals and originals[p.content] != p.id for p in duplicates)


def test_originals_have_distinct_content_when_the_texts_are_reused():
    plan = list(islice(plan_events(synthetic_texts(10, seed=0), 1, "r", 0.0, 0.0), 100))
    assert len({p.content for p in plan}) == 100


# -- checker ----------------------------------------------------------------------------------


def _clean_run():
    """Three events on partition 0: a, b (a's content under another id), then a re-sent. Routed
    as the guarantee wants: a tagged, b and the re-send of a duplicates; all committed."""
    sent = [
        Sent("a", 0, 0, "fp-a", "original"),
        Sent("b", 0, 1, "fp-a", "duplicate"),
        Sent("c", 0, 2, "fp-c", "original"),
        Sent("a", 0, 3, "fp-a", "resend"),
    ]
    inputs = [InputRecord(s.partition, s.offset, s.id, s.content) for s in sent]
    outputs = [
        OutputRecord("tagged", 0, 0, "a"),
        OutputRecord("duplicate", 0, 0, "b"),
        OutputRecord("review", 0, 0, "c"),
        OutputRecord("duplicate", 0, 1, "a"),
    ]
    return sent, inputs, outputs, {0: 4}, {0: 4}


@pytest.mark.parametrize("guarantee", ["at-least-once", "exactly-once"])
def test_a_clean_run_passes(guarantee):
    report = check(guarantee, *_clean_run())
    assert report.ok, report.as_dict()
    assert report.replays == 0


def _failed(guarantee, sent, inputs, outputs, committed, end):
    return check(guarantee, sent, inputs, outputs, committed, end).failed


def test_a_missing_output_is_flagged():
    sent, inputs, outputs, committed, end = _clean_run()
    outputs = [o for o in outputs if o.id != "c"]
    assert _failed("at-least-once", sent, inputs, outputs, committed, end) == ["none_missing"]


def test_an_acknowledged_record_absent_from_the_input_is_flagged():
    sent, inputs, outputs, committed, end = _clean_run()
    inputs = [i for i in inputs if i.offset != 2]
    assert "acknowledged_in_input" in _failed(
        "at-least-once", sent, inputs, outputs, committed, end
    )


def test_a_replay_is_counted_under_at_least_once():
    sent, inputs, outputs, committed, end = _clean_run()
    outputs = [*outputs, OutputRecord("review", 1, 0, "c")]
    report = check("at-least-once", sent, inputs, outputs, committed, end)
    assert report.ok
    assert report.replays == 1


def test_a_replay_is_a_violation_under_exactly_once():
    sent, inputs, outputs, committed, end = _clean_run()
    outputs = [*outputs, OutputRecord("review", 1, 0, "c")]
    assert _failed("exactly-once", sent, inputs, outputs, committed, end) == ["exactly_once"]


def test_content_routed_under_two_ids_is_flagged():
    sent, inputs, outputs, committed, end = _clean_run()
    outputs = [OutputRecord("tagged", 0, 5, "b") if o.id == "b" else o for o in outputs]
    assert _failed("at-least-once", sent, inputs, outputs, committed, end) == ["content_once"]


def test_a_resend_processed_again_is_flagged():
    """Same id, new offset, tagged a second time (dedup that remembers only the id)."""
    sent, inputs, outputs, committed, end = _clean_run()
    outputs = [OutputRecord("tagged", 0, 1, "a") if o.offset == 1 else o for o in outputs]
    failed = _failed("at-least-once", sent, inputs, outputs, committed, end)
    assert failed == ["resends_to_duplicates"]


def test_a_resend_also_tagged_again_is_flagged_under_exactly_once():
    sent, inputs, outputs, committed, end = _clean_run()
    outputs = [*outputs, OutputRecord("tagged", 0, 9, "a")]
    failed = _failed("exactly-once", sent, inputs, outputs, committed, end)
    assert "resends_to_duplicates" in failed


@pytest.mark.parametrize("guarantee", ["at-least-once", "exactly-once"])
def test_a_resent_content_duplicate_is_a_duplicate_both_times(guarantee):
    """b carries a's content under its own id, then b is re-sent: both of b's are duplicates."""
    sent, inputs, outputs, _, _ = _clean_run()
    sent = [*sent, Sent("b", 0, 4, "fp-a", "resend")]
    inputs = [*inputs, InputRecord(0, 4, "b", "fp-a")]
    outputs = [*outputs, OutputRecord("duplicate", 0, 2, "b")]
    assert check(guarantee, sent, inputs, outputs, {0: 5}, {0: 5}).ok


def test_a_resend_routed_a_second_time_is_flagged_under_exactly_once():
    sent, inputs, outputs, committed, end = _clean_run()
    outputs = [OutputRecord("tagged", 0, 1, "a") if o.offset == 1 else o for o in outputs]
    failed = _failed("exactly-once", sent, inputs, outputs, committed, end)
    assert "resends_to_duplicates" in failed


def test_uncommitted_input_is_flagged():
    sent, inputs, outputs, _, end = _clean_run()
    assert _failed("at-least-once", sent, inputs, outputs, {0: 3}, end) == ["committed_at_end"]


def test_a_partition_never_committed_is_flagged():
    sent, inputs, outputs, committed, _ = _clean_run()
    failed = _failed("at-least-once", sent, inputs, outputs, committed, {0: 4, 1: 2})
    assert failed == ["committed_at_end"]


def test_an_empty_partition_needs_no_commit():
    sent, inputs, outputs, committed, _ = _clean_run()
    assert check("at-least-once", sent, inputs, outputs, committed, {0: 4, 1: 0}).ok


def test_a_dead_letter_is_flagged():
    sent, inputs, outputs, committed, end = _clean_run()
    outputs = [OutputRecord("dead_letter", 0, 0, "c") if o.id == "c" else o for o in outputs]
    failed = _failed("at-least-once", sent, inputs, outputs, committed, end)
    assert failed == ["no_dead_letters"]


def test_an_output_for_an_unpublished_id_is_flagged():
    sent, inputs, outputs, committed, end = _clean_run()
    outputs = [*outputs, OutputRecord("tagged", 0, 9, "zzz")]
    assert _failed("at-least-once", sent, inputs, outputs, committed, end) == ["no_unknown_outputs"]


def test_the_report_names_every_check():
    report = check("at-least-once", *_clean_run())
    assert set(report.as_dict()["violations"]) == set(CHECKS)


def test_an_unknown_guarantee_is_refused():
    with pytest.raises(ValueError, match="guarantee"):
        check("at-most-once", [], [], [], {}, {})
