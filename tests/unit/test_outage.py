"""The Redis outage guard: what is held, when it is retried, and when input resumes."""

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge

from consumer.outage import OutageGuard


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.fixture
def guard():
    registry = CollectorRegistry()
    clock = Clock()
    g = OutageGuard(
        backoff_initial=1.0,
        backoff_max=4.0,
        paused=Gauge("paused", "", registry=registry),
        errors=Counter("errors", "", registry=registry),
        clock=clock,
    )
    return g, clock, registry


def test_no_outage_holds_nothing(guard):
    g, _, _ = guard
    assert not g.active and g.held == []


def test_a_failed_check_holds_the_batch_and_sets_paused(guard):
    g, _, registry = guard
    g.failed(["r1", "r2"], ConnectionError("down"))
    assert g.active and g.held == ["r1", "r2"]
    assert registry.get_sample_value("paused") == 1
    assert registry.get_sample_value("errors_total") == 1


def test_the_retry_is_due_after_the_initial_backoff(guard):
    g, clock, _ = guard
    g.failed(["r"], ConnectionError())
    assert not g.due(clock.now + 0.5)
    assert g.due(clock.now + 1.0)


def test_the_backoff_doubles_on_each_failed_retry_up_to_the_maximum(guard):
    g, clock, _ = guard
    waits = []
    for _ in range(5):
        g.failed(["r"], ConnectionError())
        waits.append(g.next_try - clock.now)
    assert waits == [1.0, 2.0, 4.0, 4.0, 4.0]


def test_a_new_outage_starts_again_from_the_initial_backoff(guard):
    g, clock, _ = guard
    for _ in range(3):
        g.failed(["r"], ConnectionError())
    g.recovered()
    g.failed(["r"], ConnectionError())
    assert g.next_try - clock.now == 1.0


def test_records_that_slip_in_during_an_outage_are_held_too(guard):
    g, _, _ = guard
    g.failed(["r1"], ConnectionError())
    g.hold("r2")
    assert g.held == ["r1", "r2"]


def test_outside_an_outage_nothing_is_held(guard):
    g, _, _ = guard
    g.hold("r")
    assert g.held == [] and not g.active


def test_a_rebalance_forgets_held_records_but_the_outage_goes_on(guard):
    g, _, registry = guard
    g.failed(["r1"], ConnectionError())
    g.forget_held()
    assert g.active and g.held == []
    assert registry.get_sample_value("paused") == 1


def test_recovery_ends_the_outage_and_clears_paused(guard):
    g, _, registry = guard
    g.failed(["r1"], ConnectionError())
    g.recovered()
    assert not g.active and g.held == []
    assert registry.get_sample_value("paused") == 0
