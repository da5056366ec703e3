"""The fault schedule a seed draws: what happens, to what, when and for how long.

Pure (no I/O, no clock): the same seed, duration and instance count always give the same schedule
(for the same session timeout, read once from the service's consumer config), so a failed run is
replayed by passing its seed again. Faults are placed so the run stays recoverable:

* at most `instances - 1` of the group's instances are impaired at any moment (one always runs),
  and an instance has one fault at a time;
* the broker and Redis faults never overlap one another (each gets the other at full health);
* only one extra instance joins at a time;
* every fault starts while events are still arriving (before `seconds - tail`); recoveries may
  run past the end of the input, and the run drains afterwards.
"""

import random
from dataclasses import asdict, dataclass
from typing import Literal

from consumer.config import Settings
from consumer.kafka import consumer_config

FaultKind = Literal[
    "kill_instance",
    "term_instance",
    "stop_instance",
    "join_leave",
    "kill_broker",
    "freeze_redis",
    "restart_redis",
]
KINDS: tuple[FaultKind, ...] = (
    "kill_instance",
    "term_instance",
    "stop_instance",
    "join_leave",
    "kill_broker",
    "freeze_redis",
    "restart_redis",
)
INSTANCE_KINDS = frozenset({"kill_instance", "term_instance", "stop_instance"})
INFRA_KINDS = frozenset({"kill_broker", "freeze_redis", "restart_redis"})

# The consumer's session.timeout.ms as the service's instances get it (consumer/kafka.py's default,
# or a KAFKA_CONFIG_SESSION_TIMEOUT_MS override they inherit): a frozen instance must outlast it,
# so the group evicts it and it comes back to a rebalance it missed.
SESSION_TIMEOUT_SECONDS = (
    float(consumer_config(Settings.model_construct())["session.timeout.ms"]) / 1000.0
)

# (min, max) seconds each fault holds: the delay before a restart, how long a process stays
# frozen, how long an extra instance stays.
HOLD: dict[FaultKind, tuple[float, float]] = {
    "kill_instance": (2.0, 6.0),
    "term_instance": (1.0, 4.0),
    "stop_instance": (SESSION_TIMEOUT_SECONDS + 3.0, SESSION_TIMEOUT_SECONDS + 10.0),
    "join_leave": (8.0, 20.0),
    "kill_broker": (2.0, 6.0),
    "freeze_redis": (2.0, 6.0),
    "restart_redis": (1.0, 3.0),
}
# Seconds a target needs after its hold to be back at work (process start and model load, group
# join, broker log recovery): reserved so the next fault on it waits.
RECOVERY: dict[FaultKind, float] = {
    "kill_instance": 10.0,
    "term_instance": 10.0,
    "stop_instance": 10.0,
    "join_leave": 5.0,
    "kill_broker": 20.0,
    "freeze_redis": 2.0,
    "restart_redis": 5.0,
}
# Seconds of one round of every kind in a long run: a run of N times this gets N rounds.
ROUND_SECONDS = 60.0
PLACEMENT_ATTEMPTS = 200


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault.

    :param at: seconds after the input starts.
    :param kind: what is done (`FaultKind`).
    :param target: `instance-N`, `extra`, `kafka` or `redis`.
    :param hold: seconds until the restart, the SIGCONT or the extra instance leaving.
    """

    at: float
    kind: FaultKind
    target: str
    hold: float

    @property
    def span(self) -> tuple[float, float]:
        """When the target is impaired: from `at` until it should be back at work."""
        return self.at, self.at + self.hold + RECOVERY[self.kind]

    def describe(self) -> str:
        return f"t={self.at:6.1f}s {self.kind:<14} {self.target:<11} hold {self.hold:.1f}s"

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def window(seconds: float, tail: float = 5.0) -> tuple[float, float]:
    """The times a fault may start at: after a warm-up (a tenth of the run, 5 to 20 s, so the
    group has settled) and `tail` seconds before the input ends."""
    warmup = min(max(seconds * 0.1, 5.0), 20.0)
    return warmup, max(warmup, seconds - tail)


def _overlaps(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


def _impaired_at(faults: list[Fault], t: float) -> int:
    return sum(1 for f in faults if f.kind in INSTANCE_KINDS and f.span[0] <= t < f.span[1])


def _fits(candidate: Fault, placed: list[Fault], instances: int) -> bool:
    span = candidate.span
    if candidate.kind in INFRA_KINDS:
        return not any(f.kind in INFRA_KINDS and _overlaps(span, f.span) for f in placed)
    if candidate.kind == "join_leave":
        return not any(f.kind == "join_leave" and _overlaps(span, f.span) for f in placed)
    same_target = [f for f in placed if f.target == candidate.target]
    if any(_overlaps(span, f.span) for f in same_target):
        return False
    # The most instances impaired at once during the span: the count only rises where a fault
    # starts, so checking the span's start and every start inside it is enough.
    others = [f for f in placed if f.kind in INSTANCE_KINDS]
    starts = [span[0], *(f.span[0] for f in others if span[0] < f.span[0] < span[1])]
    return all(_impaired_at(others, t) + 1 <= instances - 1 for t in starts)


def make_schedule(
    seed: int, seconds: float, instances: int, tail: float = 5.0, rounds: int | None = None
) -> list[Fault]:
    """The faults for a run, sorted by time.

    :param seed: the only source of randomness.
    :param seconds: how long events are published.
    :param instances: the group's instances (at least 2: one always stays up).
    :param tail: no fault starts in the input's last `tail` seconds.
    :param rounds: how many times each kind is attempted; default one per `ROUND_SECONDS`.
    A fault that fits nowhere (a short run) is left out; placing the longest first makes every
    kind fit in a run of a minute.
    """
    if instances < 2:
        raise ValueError("chaos needs at least 2 instances: one must stay up through every fault")
    rng = random.Random(seed)
    start, end = window(seconds, tail)
    if rounds is None:
        rounds = max(1, int(seconds // ROUND_SECONDS))
    kinds = [kind for _ in range(rounds) for kind in KINDS]
    rng.shuffle(kinds)
    holds = [round(rng.uniform(*HOLD[kind]), 1) for kind in kinds]
    order = sorted(range(len(kinds)), key=lambda i: -(holds[i] + RECOVERY[kinds[i]]))
    placed: list[Fault] = []
    names = [f"instance-{i}" for i in range(instances)]
    for i in order:
        kind, hold = kinds[i], holds[i]
        for _ in range(PLACEMENT_ATTEMPTS):
            at = round(rng.uniform(start, end), 1)
            if kind in INSTANCE_KINDS:
                target = rng.choice(names)
            elif kind == "join_leave":
                target = "extra"
            else:
                target = "kafka" if kind == "kill_broker" else "redis"
            candidate = Fault(at, kind, target, hold)
            if _fits(candidate, placed, instances):
                placed.append(candidate)
                break
    return sorted(placed, key=lambda f: (f.at, f.kind, f.target))
