"""CPU time per event: what each part of the stack spends on a drain, not only how fast it ends.

A drain's events/s on a machine whose cores the process under test shares with the broker and
Redis says how the whole machine fares; the CPU each part spends per event says what each costs.
The process under test is measured with its children (a supervisor and its workers), Redis and the
broker by the processes the local stack runs (`scripts/services.sh`: every `redis-server`, the
Kafka JVM), and the machine as all its cores' busy time, whatever ran on them.
"""

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psutil

PARTS = ("process", "redis", "broker", "machine")
"""The parts of a `Meter`'s reading, in the order reports show them."""


def _machine_busy() -> float:
    """Seconds all cores spent neither idle nor waiting for I/O, whatever ran on them."""
    times = psutil.cpu_times()
    return float(sum(times) - times.idle - getattr(times, "iowait", 0.0))


def _is_redis(proc: psutil.Process) -> bool:
    return proc.name().startswith("redis-server")


def _is_broker(proc: psutil.Process) -> bool:
    return proc.name() == "java" and any("kafka" in arg.lower() for arg in proc.cmdline())


def _matching(test: Callable[[psutil.Process], bool]) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter():
        try:
            if test(proc):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def _cpu_seconds(procs: list[psutil.Process]) -> float | None:
    """None when there is nothing to read (Redis or the broker on another machine)."""
    if not procs:
        return None
    total = 0.0
    for proc in procs:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue  # gone since the meter was made (a failed run): what it spent is lost
    return total


@dataclass(frozen=True)
class Reading:
    """Busy CPU seconds of each part (`PARTS`) at one moment."""

    seconds: dict[str, float | None]

    def per_event_us(self, later: "Reading", events: int) -> dict[str, float | None]:
        """µs of CPU each part spent per event between this reading and `later`; None for a part
        either could not read, or when no event was measured."""
        found: dict[str, float | None] = dict.fromkeys(PARTS)
        for part in PARTS:
            before, after = self.seconds[part], later.seconds[part]
            if events > 0 and before is not None and after is not None:
                found[part] = round((after - before) / events * 1e6, 3)
        return found


class Meter:
    """Reads the busy CPU time of a process under test (and its children), Redis, the broker and
    the machine.

    :param pid: the process under test; its children are found when the meter is made, so make it
        once they exist (after the group has assigned partitions, say)."""

    def __init__(self, pid: int) -> None:
        root = psutil.Process(pid)
        self._process = [root, *root.children(recursive=True)]
        self._redis = _matching(_is_redis)
        self._broker = _matching(_is_broker)

    def read(self) -> Reading:
        return Reading(
            {
                "process": _cpu_seconds(self._process),
                "redis": _cpu_seconds(self._redis),
                "broker": _cpu_seconds(self._broker),
                "machine": _machine_busy(),
            }
        )


class Window:
    """CPU per event over a timed window: opened once the process under test's workers exist,
    closed with the outputs counted at its end.

    :param pid: the process under test (`Meter`).
    :param count_outputs: the outputs appended so far, counted just after the opening reading."""

    def __init__(self, pid: int, count_outputs: Callable[[], int]) -> None:
        self._meter = Meter(pid)
        self._start = self._meter.read()
        self._outputs = count_outputs()

    def close(self, outputs: int) -> dict[str, float | None]:
        """µs of CPU per event of each part since the opening, over the outputs since then."""
        return self._start.per_event_us(self._meter.read(), outputs - self._outputs)


def medians(runs: list[dict[str, Any]]) -> dict[str, float | None]:
    """Each part's median µs of CPU per event over the runs (`None` if any run lacks it)."""
    found: dict[str, float | None] = {}
    for part in PARTS:
        values = [(r.get("cpu_us_per_event") or {}).get(part) for r in runs]
        known = [v for v in values if v is not None]
        found[part] = (
            round(statistics.median(known), 3) if known and len(known) == len(values) else None
        )
    return found
