"""CPU time per event (`bench.cpu`) and how reports show it."""

import os
import time

from bench.cpu import PARTS, Meter, Reading, medians
from bench.report import markdown


def _reading(**seconds: float) -> Reading:
    return Reading({part: seconds.get(part, 0.0) for part in PARTS})


def test_cpu_per_event_is_each_parts_busy_time_over_the_events_in_microseconds():
    before = _reading(process=1.0, redis=2.0, broker=3.0, machine=10.0)
    after = _reading(process=1.5, redis=2.1, broker=3.2, machine=11.0)
    assert before.per_event_us(after, 100_000) == {
        "process": 5.0,
        "redis": 1.0,
        "broker": 2.0,
        "machine": 10.0,
    }


def test_cpu_per_event_is_unknown_when_no_event_was_measured():
    reading = _reading(process=1.0)
    assert reading.per_event_us(_reading(process=2.0), 0) == dict.fromkeys(PARTS)


def test_a_part_that_could_not_be_read_has_no_cpu_per_event():
    before = Reading({"process": 1.0, "redis": None, "broker": 1.0, "machine": 1.0})
    after = Reading({"process": 2.0, "redis": None, "broker": 1.0, "machine": 3.0})
    assert before.per_event_us(after, 1_000_000) == {
        "process": 1.0,
        "redis": None,
        "broker": 0.0,
        "machine": 2.0,
    }


def test_a_meter_sees_the_cpu_its_process_spends():
    meter = Meter(os.getpid())
    before = meter.read()
    deadline = time.process_time() + 0.2
    while time.process_time() < deadline:
        pass
    after = meter.read()
    assert before.seconds["process"] is not None and after.seconds["process"] is not None
    spent = after.seconds["process"] - before.seconds["process"]
    assert spent >= 0.15
    machine = after.seconds["machine"], before.seconds["machine"]
    assert machine[0] is not None and machine[1] is not None
    assert machine[0] - machine[1] >= spent * 0.9


def test_medians_are_taken_part_by_part_over_the_rounds():
    runs = [
        {"cpu_us_per_event": {"process": p, "redis": 1.0, "broker": 2.0, "machine": 9.0}}
        for p in (3.0, 5.0, 4.0)
    ]
    assert medians(runs) == {"process": 4.0, "redis": 1.0, "broker": 2.0, "machine": 9.0}


def test_a_part_unknown_in_any_round_has_no_median():
    runs = [
        {"cpu_us_per_event": dict.fromkeys(PARTS, 1.0)},
        {"cpu_us_per_event": dict.fromkeys(PARTS)},
    ]
    assert medians(runs) == dict.fromkeys(PARTS)


def test_markdown_shows_cpu_per_event_for_service_passthrough_and_peer():
    report = {
        "drain": {
            "service_eps": 100.0,
            "passthrough_eps": 400.0,
            "ratio": 0.25,
            "ratio_by_cpu": 0.3,
            "cpu_us_per_event": {
                "service": {"process": 10.25, "redis": 3.0, "broker": 1.5, "machine": 15.0},
                "passthrough": {"process": 3.05, "redis": 0.0, "broker": 0.5, "machine": 3.5},
            },
        },
        "peer": {"peer_eps": 10.0, "cpu_us_per_event": dict.fromkeys(PARTS, 90.0)},
    }
    text = markdown(report)
    assert "| drain: CPU µs per event | process | redis | broker | machine |" in text
    lines = {line.split("|")[1].strip(): line for line in text.splitlines() if line.count("|") > 5}
    assert "10.25" in lines["service"]
    assert "3.05" in lines["passthrough"]
    assert "90.00" in lines["peer (Quix Streams)"]
    assert "passthrough / service, process CPU per event" in text
