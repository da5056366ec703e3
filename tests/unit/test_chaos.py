"""The chaos suite's pure parts: the schedule a seed draws, the event plan, and the checker's
verdict on constructed records (each kind of violation, and a clean run)."""

import os
import subprocess
import sys
from itertools import islice

import orjson
import pytest

from chaos.checker import (
    CHECKS,
    Exit,
    InputRecord,
    OutputRecord,
    Sent,
    broker_outages,
    check,
)
from chaos.producer import plan_events, synthetic_texts
from chaos.reader import output_record
from chaos.schedule import (
    INFRA_KINDS,
    INSTANCE_KINDS,
    KINDS,
    SESSION_TIMEOUT_SECONDS,
    Fault,
    make_schedule,
    window,
)
from chaos.services import ServicesError

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


def _tagged(partition, offset, event_id, confidence=0.9):
    return OutputRecord(
        "tagged", partition, offset, event_id, None, "tagged", confidence, THRESHOLD
    )


def _review(partition, offset, event_id, confidence=0.3):
    return OutputRecord(
        "review", partition, offset, event_id, None, "review", confidence, THRESHOLD
    )


def _duplicate(partition, offset, event_id, duplicate_of):
    return OutputRecord("duplicate", partition, offset, event_id, duplicate_of=duplicate_of)


THRESHOLD = 0.5


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
        _tagged(0, 0, "a"),
        _duplicate(0, 0, "b", "a"),
        _review(0, 0, "c"),
        _duplicate(0, 1, "a", "a"),
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
    failed = _failed("at-least-once", sent, inputs, outputs, committed, end)
    assert failed == ["none_missing", "content_classified"]


def test_an_acknowledged_record_absent_from_the_input_is_flagged():
    sent, inputs, outputs, committed, end = _clean_run()
    inputs = [i for i in inputs if i.offset != 2]
    assert "acknowledged_in_input" in _failed(
        "at-least-once", sent, inputs, outputs, committed, end
    )


def test_a_replay_is_counted_under_at_least_once():
    sent, inputs, outputs, committed, end = _clean_run()
    outputs = [*outputs, _review(1, 0, "c")]
    report = check("at-least-once", sent, inputs, outputs, committed, end)
    assert report.ok
    assert report.replays == 1


def test_a_replay_is_a_violation_under_exactly_once():
    sent, inputs, outputs, committed, end = _clean_run()
    outputs = [*outputs, _review(1, 0, "c")]
    failed = _failed("exactly-once", sent, inputs, outputs, committed, end)
    assert failed == ["exactly_once", "content_classified"]


def test_content_routed_under_two_ids_is_flagged():
    sent, inputs, outputs, committed, end = _clean_run()
    outputs = [_tagged(0, 5, "b") if o.id == "b" else o for o in outputs]
    assert _failed("at-least-once", sent, inputs, outputs, committed, end) == ["content_once"]


def test_a_resend_processed_again_is_flagged():
    """Same id, new offset, tagged a second time (dedup that remembers only the id)."""
    sent, inputs, outputs, committed, end = _clean_run()
    outputs = [_tagged(0, 1, "a") if o.offset == 1 else o for o in outputs]
    failed = _failed("at-least-once", sent, inputs, outputs, committed, end)
    assert failed == ["resends_to_duplicates"]


def test_a_resend_also_tagged_again_is_flagged_under_exactly_once():
    sent, inputs, outputs, committed, end = _clean_run()
    outputs = [*outputs, _tagged(0, 9, "a")]
    failed = _failed("exactly-once", sent, inputs, outputs, committed, end)
    assert "resends_to_duplicates" in failed


@pytest.mark.parametrize("guarantee", ["at-least-once", "exactly-once"])
def test_a_resent_content_duplicate_is_a_duplicate_both_times(guarantee):
    """b carries a's content under its own id, then b is re-sent: both of b's are duplicates."""
    sent, inputs, outputs, _, _ = _clean_run()
    sent = [*sent, Sent("b", 0, 4, "fp-a", "resend")]
    inputs = [*inputs, InputRecord(0, 4, "b", "fp-a")]
    outputs = [*outputs, _duplicate(0, 2, "b", "a")]
    assert check(guarantee, sent, inputs, outputs, {0: 5}, {0: 5}).ok


def test_a_resend_routed_a_second_time_is_flagged_under_exactly_once():
    sent, inputs, outputs, committed, end = _clean_run()
    outputs = [_tagged(0, 1, "a") if o.offset == 1 else o for o in outputs]
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
    assert failed == ["content_classified", "no_dead_letters"]


def test_an_output_for_an_unpublished_id_is_flagged():
    sent, inputs, outputs, committed, end = _clean_run()
    outputs = [*outputs, _tagged(0, 9, "zzz")]
    assert _failed("at-least-once", sent, inputs, outputs, committed, end) == ["no_unknown_outputs"]


@pytest.mark.parametrize("guarantee", ["at-least-once", "exactly-once"])
def test_a_lost_tag_made_up_by_replays_of_a_resend_is_flagged(guarantee):
    """a published twice; its tagged output lost; the re-send goes to duplicates and a replay of
    it adds a second: two outputs for two publications, yet a's content was never classified."""
    sent = [Sent("a", 0, 0, "fp-a", "original"), Sent("a", 0, 1, "fp-a", "resend")]
    inputs = [InputRecord(s.partition, s.offset, s.id, s.content) for s in sent]
    outputs = [_duplicate(0, 0, "a", "a"), _duplicate(0, 1, "a", "a")]
    report = check(guarantee, sent, inputs, outputs, {0: 2}, {0: 2})
    assert "content_classified" in report.failed


def test_a_content_classified_twice_is_flagged_under_exactly_once():
    """b's content (a's) tagged under a as well as in a replay of a: one content, two tags."""
    sent, inputs, outputs, committed, end = _clean_run()
    outputs = [*outputs, _tagged(0, 7, "a")]
    failed = _failed("exactly-once", sent, inputs, outputs, committed, end)
    assert "content_classified" in failed


def test_a_content_classified_again_by_a_replay_passes_under_at_least_once():
    sent, inputs, outputs, committed, end = _clean_run()
    outputs = [*outputs, _review(1, 0, "c")]
    assert "content_classified" not in _failed(
        "at-least-once", sent, inputs, outputs, committed, end
    )


@pytest.mark.parametrize("guarantee", ["at-least-once", "exactly-once"])
def test_an_output_failing_its_schema_is_flagged(guarantee):
    sent, inputs, outputs, committed, end = _clean_run()
    bad = OutputRecord("tagged", 0, 0, "a", invalid="tag: Input should be 'mlops', ...")
    outputs = [bad if o.route == "tagged" else o for o in outputs]
    assert "valid_records" in _failed(guarantee, sent, inputs, outputs, committed, end)


def test_a_tagged_record_below_its_threshold_is_flagged():
    sent, inputs, outputs, committed, end = _clean_run()
    outputs = [_tagged(0, 0, "a", confidence=0.4) if o.route == "tagged" else o for o in outputs]
    failed = _failed("at-least-once", sent, inputs, outputs, committed, end)
    assert failed == ["route_matches_confidence"]


def test_a_review_record_at_its_threshold_is_flagged():
    sent, inputs, outputs, committed, end = _clean_run()
    outputs = [_review(0, 0, "c", THRESHOLD) if o.route == "review" else o for o in outputs]
    failed = _failed("at-least-once", sent, inputs, outputs, committed, end)
    assert failed == ["route_matches_confidence"]


def test_a_record_whose_route_field_differs_from_its_topic_is_flagged():
    sent, inputs, outputs, committed, end = _clean_run()
    moved = OutputRecord("review", 0, 0, "c", None, "tagged", 0.3, THRESHOLD)
    outputs = [moved if o.route == "review" else o for o in outputs]
    failed = _failed("at-least-once", sent, inputs, outputs, committed, end)
    assert failed == ["route_matches_confidence"]


def test_a_duplicate_of_another_content_is_flagged():
    sent, inputs, outputs, committed, end = _clean_run()
    outputs = [_duplicate(0, 0, "b", "c") if o.id == "b" else o for o in outputs]
    failed = _failed("at-least-once", sent, inputs, outputs, committed, end)
    assert failed == ["duplicate_of_classified"]


def test_a_duplicate_of_an_unknown_id_is_flagged():
    sent, inputs, outputs, committed, end = _clean_run()
    outputs = [_duplicate(0, 0, "b", "nobody") if o.id == "b" else o for o in outputs]
    failed = _failed("at-least-once", sent, inputs, outputs, committed, end)
    assert failed == ["duplicate_of_classified"]


def test_a_duplicate_of_an_id_never_classified_is_flagged():
    """d has a's content and was published, but only ever went to duplicates itself."""
    sent, inputs, outputs, _, _ = _clean_run()
    sent = [*sent, Sent("d", 0, 4, "fp-a", "duplicate")]
    inputs = [*inputs, InputRecord(0, 4, "d", "fp-a")]
    outputs = [_duplicate(0, 0, "b", "d") if o.id == "b" else o for o in outputs]
    outputs = [*outputs, _duplicate(0, 2, "d", "a")]
    failed = _failed("at-least-once", sent, inputs, outputs, {0: 5}, {0: 5})
    assert failed == ["duplicate_of_classified"]


def _exits_failed(exits, events, grace=45.0):
    sent, inputs, outputs, committed, end = _clean_run()
    report = check(
        "at-least-once",
        sent,
        inputs,
        outputs,
        committed,
        end,
        exits=exits,
        outages=broker_outages(events, grace),
    )
    return report.failed


BROKER_KILLED_AT_10 = [
    {"t": 4.0, "kind": "kill_instance", "target": "instance-0", "action": "SIGKILL"},
    {"t": 10.0, "kind": "kill_broker", "target": "kafka", "action": "SIGKILL"},
    {"t": 20.0, "kind": "kill_broker", "target": "kafka", "action": "restarted"},
]


def test_a_fatal_exit_while_the_broker_is_down_is_expected():
    assert _exits_failed([Exit("instance-1", 15.0, 1)], BROKER_KILLED_AT_10) == []


def test_a_fatal_exit_within_the_grace_after_the_restart_is_expected():
    assert _exits_failed([Exit("instance-1", 60.0, 1)], BROKER_KILLED_AT_10, grace=45.0) == []


def test_a_fatal_exit_after_the_grace_is_flagged():
    failed = _exits_failed([Exit("instance-1", 66.0, 1)], BROKER_KILLED_AT_10, grace=45.0)
    assert failed == ["exits_explained"]


def test_a_fatal_exit_before_the_broker_is_killed_is_flagged():
    assert _exits_failed([Exit("instance-1", 9.0, 1)], BROKER_KILLED_AT_10) == ["exits_explained"]


def test_a_fatal_exit_in_a_run_without_a_broker_fault_is_flagged():
    assert _exits_failed([Exit("instance-1", 15.0, 1)], []) == ["exits_explained"]


@pytest.mark.parametrize("code", [2, -11, -6, None])
def test_an_exit_other_than_the_fatal_one_is_flagged_even_in_an_outage(code):
    assert _exits_failed([Exit("instance-1", 15.0, code)], BROKER_KILLED_AT_10) == [
        "exits_explained"
    ]


def test_an_outage_whose_restart_never_came_lasts_to_the_end():
    events = BROKER_KILLED_AT_10[:2]
    assert broker_outages(events, 45.0) == [(10.0, float("inf"))]


def test_the_report_names_every_check():
    report = check("at-least-once", *_clean_run())
    assert set(report.as_dict()["violations"]) == set(CHECKS)


def test_an_unknown_guarantee_is_refused():
    with pytest.raises(ValueError, match="guarantee"):
        check("at-most-once", [], [], [], {}, {})


# -- reader: an output as the checker takes it -------------------------------------------------


def _classified(**changes):
    event = {
        "id": "a",
        "title": "Graph neural networks",
        "description": "On graphs.",
        "created_on": "2026-01-01T00:00:00",
        "tag": "mlops",
        "confidence": 0.9,
        "probabilities": {"mlops": 0.9, "other": 0.1},
        "route": "tagged",
        "threshold": 0.5,
        "model_version": "v1",
        "consumed_at": "2026-01-01T00:00:01",
        "classified_at": "2026-01-01T00:00:01",
    }
    return orjson.dumps(event | changes)


def test_a_classified_record_is_read_with_its_route_confidence_and_threshold():
    record = output_record("tagged", 0, 3, _classified())
    assert record == OutputRecord("tagged", 0, 3, "a", None, "tagged", 0.9, 0.5)


def test_a_tag_outside_the_approved_ones_makes_the_record_invalid():
    record = output_record("tagged", 0, 3, _classified(tag="weapons"))
    assert record.invalid is not None and record.invalid.startswith("tag")


def test_a_record_that_is_not_json_is_invalid():
    assert output_record("review", 0, 0, b"not json").invalid is not None


def test_a_duplicate_is_read_with_what_it_duplicates():
    value = orjson.dumps(
        {
            "id": 7,
            "title": "t",
            "description": "",
            "created_on": "2026-01-01T00:00:00",
            "duplicate_of": 5,
            "fingerprint": "ff",
            "consumed_at": "2026-01-01T00:00:01",
        }
    )
    assert output_record("duplicate", 1, 2, value) == OutputRecord(
        "duplicate", 1, 2, "7", duplicate_of="5"
    )


# -- one definition -----------------------------------------------------------------------------


def test_the_session_timeout_is_the_services_own():
    """An override the instances inherit moves the frozen-instance holds with it."""
    code = "from chaos.schedule import SESSION_TIMEOUT_SECONDS as s; print(s)"
    env = {**os.environ, "KAFKA_CONFIG_SESSION_TIMEOUT_MS": "31000"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    assert float(out.stdout) == 31.0


def test_the_test_servers_raise_the_chaos_suites_services_error():
    """One ServicesError: a fixture that skips on it also skips on the chaos suite's."""
    from tests.support import servers

    assert servers.ServicesError is ServicesError
