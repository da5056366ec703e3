"""One chaos run: services up, the group started, input published while the schedule's faults
happen, recovery and drain, then the read-back and the checks."""

import json
import logging
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chaos.checker import Exit, Guarantee, Report, broker_outages, check
from chaos.instances import Instance, Supervisor, group_env, service_dir
from chaos.producer import (
    PacedProducer,
    client_log,
    dataset_texts,
    plan_events,
    synthetic_texts,
)
from chaos.reader import committed_offsets, end_offsets, read_run
from chaos.schedule import SESSION_TIMEOUT_SECONDS, Fault, make_schedule
from chaos.services import ROOT, Services
from consumer.config import service_env, topic_env
from schemas.topics import DEFAULT_TOPICS, Topics

log = logging.getLogger("chaos")

INPUT_PARTITIONS = 6
GROUP = "chaos-tagger"
# After a broker restart, how long an instance may still exit 1 for it: deliveries and
# transactions begun during the outage run out of retries, and the group rejoins. A transactional
# call hung on the restarted coordinator exited 29.5 s after a restart in one run (the watchdog),
# so five session timeouts leave room for a slow CI machine.
OUTAGE_GRACE_SECONDS = 5 * SESSION_TIMEOUT_SECONDS


@dataclass(frozen=True)
class Options:
    """What `python -m chaos` was asked for (see `chaos.__main__` for each flag)."""

    guarantee: Guarantee
    seed: int
    seconds: float
    instances: int
    rate: float
    model_dir: Path
    duplicate_share: float
    resend_share: float
    work_dir: Path
    drain_timeout: float
    keep: bool


def say(message: str) -> None:
    """Progress for the operator (stderr; stdout carries only the JSON summary)."""
    print(f"[chaos] {message}", file=sys.stderr, flush=True)


def _health(port: int | None) -> dict[str, Any] | None:
    if port is None:
        return None
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
            parsed = json.loads(r.read())
            return parsed if isinstance(parsed, dict) else None
    except Exception:
        return None


def _wait(condition: Callable[[], bool], timeout: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()


@dataclass
class Run:
    """The live parts of a run and what happened to them.

    :param options: the run's settings.
    :param services: its Kafka and Redis.
    :param topics: the topic set it created.
    """

    options: Options
    services: Services
    topics: Topics
    instances: list[Instance] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    started: float = 0.0
    _env: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, fault: Fault, action: str, detail: str = "") -> None:
        t = time.monotonic() - self.started
        with self._lock:
            self.events.append(
                {"t": round(t, 1), "kind": fault.kind, "target": fault.target, "action": action}
                | ({"detail": detail} if detail else {})
            )
        say(f"t={t:6.1f}s {fault.kind:<14} {fault.target:<11} {action} {detail}".rstrip())

    def instance(self, name: str) -> Instance:
        return next(i for i in self.instances if i.name == name)

    def add_instance(self, name: str) -> Instance:
        inst = Instance(name, self._env, self.options.work_dir / "logs")
        self.instances.append(inst)
        return inst

    # -- faults ---------------------------------------------------------------------------

    def inject(self, fault: Fault) -> None:
        """Do `fault` and undo it after its hold; an error is recorded (the run then fails)."""
        try:
            self._inject(fault)
        except Exception as exc:
            self.errors.append(f"{fault.describe()}: {type(exc).__name__}: {exc}")
            self.record(fault, "FAILED", str(exc)[:300])

    def _inject(self, fault: Fault) -> None:
        hold = fault.hold
        if fault.kind in ("kill_instance", "term_instance"):
            signum = signal.SIGKILL if fault.kind == "kill_instance" else signal.SIGTERM
            inst = self.instance(fault.target)
            with inst.lock:
                pid = inst.pid
                code = inst.stop(signum)
            self.record(fault, signum.name, f"pid {pid} exited {code}")
            time.sleep(hold)
            with inst.lock:
                inst.start()
            self.record(fault, "restarted", f"pid {inst.pid}")
        elif fault.kind == "stop_instance":
            inst = self.instance(fault.target)
            inst.send(signal.SIGSTOP)
            self.record(fault, "SIGSTOP", f"pid {inst.pid}")
            time.sleep(hold)
            inst.send(signal.SIGCONT)
            self.record(fault, "SIGCONT", f"pid {inst.pid}")
        elif fault.kind == "join_leave":
            inst = self.add_instance(
                f"extra-{sum(i.name.startswith('extra') for i in self.instances)}"
            )
            with inst.lock:
                inst.start()
            self.record(fault, "joined", f"{inst.name} pid {inst.pid}")
            time.sleep(hold)
            with inst.lock:
                code = inst.stop(signal.SIGTERM)
            self.record(fault, "left", f"{inst.name} exited {code}")
        elif fault.kind == "kill_broker":
            pid = self.services.send("kafka", signal.SIGKILL)
            self.record(fault, "SIGKILL", f"pid {pid}")
            self.services.wait_gone(pid)
            time.sleep(hold)
            self.services.up("kafka")
            self.record(fault, "restarted", f"pid {self.services.pid('kafka')}")
        elif fault.kind == "freeze_redis":
            pid = self.services.send("redis", signal.SIGSTOP)
            self.record(fault, "SIGSTOP", f"pid {pid}")
            time.sleep(hold)
            self.services.send("redis", signal.SIGCONT)
            self.record(fault, "SIGCONT", f"pid {pid}")
        elif fault.kind == "restart_redis":
            self.services.down("redis")
            self.record(fault, "down")
            time.sleep(hold)
            self.services.up("redis")
            self.record(fault, "up", f"pid {self.services.pid('redis')}")
        else:
            raise ValueError(f"unknown fault {fault.kind}")

    # -- phases -----------------------------------------------------------------------------

    def start_group(self, timeout: float = 180.0) -> None:
        """Every instance started, and the group settled: all input partitions assigned."""
        self._env = group_env(
            service_env(
                bootstrap=self.services.bootstrap,
                redis_url=self.services.redis_url,
                model_dir=self.options.model_dir,
                topics=self.topics,
                group=GROUP,
                metrics_port=0,  # each start picks its own (`Instance.start`)
                dedup_key=f"chaos:{self.options.seed}",
            ),
            self.options.guarantee,
        )
        for n in range(self.options.instances):
            inst = self.add_instance(f"instance-{n}")
            with inst.lock:
                inst.start()

        def settled() -> bool:
            healths = [_health(i.metrics_port) for i in self.instances]
            if any(h is None for h in healths):
                dead = [i.name for i in self.instances if not i.alive()]
                if dead:
                    raise RuntimeError(
                        f"{dead} exited at startup; see {self.options.work_dir}/logs"
                    )
                return False
            return sum(h["assigned_partitions"] for h in healths if h) == INPUT_PARTITIONS

        if not _wait(settled, timeout):
            raise RuntimeError(f"the group did not settle within {timeout:.0f}s")

    def drained(self) -> bool:
        """The group has committed the input's end on every partition."""
        try:
            ends = end_offsets(self.services.bootstrap, self.topics.input)
            done = committed_offsets(self.services.bootstrap, GROUP, self.topics.input)
        except Exception as exc:  # the broker is still coming back
            log.debug("offsets unavailable: %s", exc)
            return False
        return all(done.get(p) == end for p, end in ends.items())

    def exits(self) -> list[Exit]:
        """Every exit nobody asked for, in seconds after the input started."""
        return [
            Exit(i.name, round(at - self.started, 1), code)
            for i in self.instances
            for at, code in i.unplanned_exits
        ]

    def stop_all(self) -> None:
        for inst in self.instances:
            with inst.lock:
                if inst.alive():
                    inst.stop(signal.SIGTERM)


def create_topics(services: Services, topics: Topics) -> None:
    """`python -m consumer.topics`, as an operator creates them."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "consumer.topics",
            "--bootstrap",
            services.bootstrap,
            "--partitions",
            str(INPUT_PARTITIONS),
            "--no-feedback",
        ],
        env={**services.env(), **topic_env(topics)},
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=120,
    )


def execute(options: Options) -> dict[str, Any]:
    """The whole run; returns its summary (`ok` False on any violation or harness error)."""
    began = time.monotonic()
    schedule = make_schedule(options.seed, options.seconds, options.instances)
    say(
        f"seed {options.seed}, guarantee {options.guarantee}, {options.seconds:.0f}s at "
        f"{options.rate:.0f} events/s, {options.instances} instances; work dir {options.work_dir}"
    )
    say(f"schedule ({len(schedule)} faults):")
    for fault in schedule:
        say("  " + fault.describe())
    (options.work_dir / "logs").mkdir(parents=True, exist_ok=True)
    client_log.addHandler(logging.FileHandler(options.work_dir / "logs" / "producer.log"))
    client_log.propagate = False
    services = Services(options.work_dir / "services")
    run = Run(options, services, DEFAULT_TOPICS.prefixed("chaos"))
    report: Report | None = None
    summary: dict[str, Any] = {
        "seed": options.seed,
        "guarantee": options.guarantee,
        "seconds": options.seconds,
        "rate": options.rate,
        "instances": options.instances,
        "service_dir": str(service_dir()),
        "schedule": [f.as_dict() for f in schedule],
        "replay": (
            f"python -m chaos --guarantee {options.guarantee} --seed {options.seed} "
            f"--seconds {options.seconds:g} --instances {options.instances} --rate {options.rate:g}"
        ),
    }
    supervisor = Supervisor(run.instances)
    try:
        services.up()
        create_topics(services, run.topics)
        run.start_group()
        say(f"group settled after {time.monotonic() - began:.0f}s; publishing")
        texts = dataset_texts() or synthetic_texts(1000, options.seed)
        producer = PacedProducer(
            services.bootstrap,
            run.topics.input,
            plan_events(
                texts,
                options.seed,
                f"c{options.seed}",
                options.duplicate_share,
                options.resend_share,
            ),
            options.rate,
            options.seconds,
        )
        supervisor.start()
        run.started = time.monotonic()
        producer.start()
        threads = []
        for fault in schedule:
            delay = run.started + fault.at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            thread = threading.Thread(target=run.inject, args=(fault,), name=fault.kind)
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join()
        say(f"t={time.monotonic() - run.started:6.1f}s every fault undone")
        if not producer.join(options.seconds + 400):
            run.errors.append("the producer did not finish")
        say(
            f"t={time.monotonic() - run.started:6.1f}s input done: {producer.published} published, "
            f"{len(producer.acked)} acknowledged, {len(producer.failed)} failed"
        )
        drain_began = time.monotonic()
        drained = _wait(run.drained, options.drain_timeout, interval=1.0)
        summary["drain_seconds"] = round(time.monotonic() - drain_began, 1)
        say(f"{'drained' if drained else 'NOT drained'} after {summary['drain_seconds']}s")
        supervisor.close()
        run.stop_all()
        committed = committed_offsets(services.bootstrap, GROUP, run.topics.input)
        ends = end_offsets(services.bootstrap, run.topics.input)
        inputs, outputs = read_run(services.bootstrap, run.topics)
        report = check(
            options.guarantee,
            producer.acked,
            inputs,
            outputs,
            committed,
            ends,
            exits=run.exits(),
            outages=broker_outages(run.events, OUTAGE_GRACE_SECONDS),
        )
        summary["producer"] = {
            "published": producer.published,
            "acknowledged": len(producer.acked),
            "failed": len(producer.failed),
            "failed_examples": producer.failed[:10],
            "unflushed": producer.unflushed,
        }
        summary["committed"] = {str(p): o for p, o in sorted(committed.items())}
        summary["end_offsets"] = {str(p): o for p, o in sorted(ends.items())}
    except Exception as exc:
        log.exception("the run failed")
        run.errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        supervisor.close()
        run.stop_all()
        summary["events"] = run.events
        summary["instance_starts"] = {i.name: i.starts for i in run.instances}
        summary["unplanned_exits"] = [
            {"instance": e.instance, "t": e.at, "code": e.code} for e in run.exits()
        ]
        summary["expected_exit_windows"] = [
            [start, round(until, 1) if until != float("inf") else None]
            for start, until in broker_outages(run.events, OUTAGE_GRACE_SECONDS)
        ]
        try:
            services.down()
        except Exception as exc:
            run.errors.append(f"services down: {exc}")
    summary["errors"] = run.errors
    if report is not None:
        summary["check"] = report.as_dict()
    summary["ok"] = report is not None and report.ok and not run.errors
    summary["elapsed_seconds"] = round(time.monotonic() - began, 1)
    if summary["ok"] and not options.keep:
        shutil.rmtree(services.state_dir, ignore_errors=True)  # logs stay; data goes
    return summary
