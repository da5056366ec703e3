"""The peer: the service's job written in Quix Streams (bench/quix_peer.py), drained like ours.

Quix Streams pins its own confluent-kafka, so the job runs from a virtual environment of its own
that the bench builds once (BENCH_PEER_VENV, default .bench/quix-venv) and reuses while its
requirements are unchanged. Building it needs the package registry (fasttext compiles from source
where no wheel fits); when it cannot be built the step records why and is skipped, not failed.

Timing window: the job serves no /healthz, so the window opens when the broker's description of
the consumer group (admin API) shows it Stable with every input partition assigned: the group join
is excluded as it is for ours, Quix's state recovery after the assignment (empty changelogs) is
included. It closes when the sum of the four output topics' end offsets reaches the number of input
events (Quix's producer is idempotent, so acks=all like ours); outputs that existed at the start are
subtracted. Quix commits on its own interval (QUIX_COMMIT_INTERVAL, Quix's default 5 s rather than
our 1 s), so the wait for committed offsets == input end offsets is reported apart, not in eps.
"""

import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import ConsumerGroupState
from confluent_kafka.admin import AdminClient, ConsumerGroupDescription

from bench import cpu, infra
from bench.drain import DrainSpec
from bench.stats import rate, ratio
from consumer.config import topic_env
from consumer.kafka import common_config

QUIXSTREAMS = "quixstreams==3.28.1"
NUMPY = "numpy==1.26.4"
"""fastText 0.9.3's one-text predict builds its answer with np.array(copy=False), which numpy 2
refuses; a Quix user on that fastText pins numpy below 2 (our service batches its own predict)."""
FASTTEXT_DEFAULT = "fasttext==0.9.3"
JOB = infra.ROOT / "bench" / "quix_peer.py"
OUTPUT_ROLES = ("tagged", "review", "duplicate", "dead_letter")
MARKER = "bench-requirements.txt"
"""Written into the venv once its requirements are installed: a venv without it (or with other
requirements) is rebuilt."""


class PeerUnavailable(RuntimeError):
    """The peer's environment cannot be built or started here (e.g. no package registry)."""


@dataclass(frozen=True)
class PeerEnv:
    python: Path
    versions: dict[str, str]


def enabled(no_peer_flag: bool, environ: dict[str, str]) -> bool:
    """The peer runs unless `--no-peer` is given or BENCH_PEER is 0/false/no/off."""
    flag = environ.get("BENCH_PEER", "1").strip().lower()
    return not no_peer_flag and flag not in {"0", "false", "no", "off"}


def venv_dir(environ: dict[str, str]) -> Path:
    return Path(environ.get("BENCH_PEER_VENV") or infra.ROOT / ".bench" / "quix-venv")


def pinned(constraints: str, name: str) -> str | None:
    """The `name==version` line of a pip constraints text, if it pins `name`."""
    pattern = re.compile(rf"^\s*{re.escape(name)}\s*==\s*([^\s;#]+)", re.IGNORECASE | re.MULTILINE)
    match = pattern.search(constraints)
    return f"{name}=={match.group(1)}" if match else None


def requirements(constraints: str) -> list[str]:
    """What the peer's venv installs: the pinned Quix Streams, our fastText pin, numpy < 2."""
    return [QUIXSTREAMS, pinned(constraints, "fasttext") or FASTTEXT_DEFAULT, NUMPY]


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _versions(python: Path) -> dict[str, str]:
    """The peer venv's library versions (its confluent-kafka is Quix's pin, not ours)."""
    code = (
        "import json, confluent_kafka\nfrom importlib.metadata import version\n"
        "v = {n: version(n) for n in ('quixstreams', 'confluent-kafka', 'fasttext', 'numpy')}\n"
        "v['librdkafka'] = confluent_kafka.libversion()[0]\nprint(json.dumps(v))"
    )
    out = subprocess.run(
        [str(python), "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    if out.returncode != 0:
        raise PeerUnavailable(f"the peer venv does not import its libraries:\n{_tail(out.stderr)}")
    import json

    versions: dict[str, str] = json.loads(out.stdout)
    return versions


def ensure_venv(venv: Path, wanted: list[str], timeout: float = 1200.0) -> PeerEnv:
    """The peer's venv at `venv`, built (or rebuilt) when its marker does not list `wanted`."""
    python = venv / "bin" / "python"
    marker = venv / MARKER
    spec = "\n".join(wanted) + "\n"
    if python.exists() and marker.exists() and marker.read_text() == spec:
        return PeerEnv(python, _versions(python))
    print(f"[bench] building the peer's venv at {venv}: {' '.join(wanted)}", file=sys.stderr)
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(venv)],
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *wanted],
    ]
    for argv in steps:
        try:
            done = subprocess.run(
                argv, capture_output=True, text=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise PeerUnavailable(f"{' '.join(argv[:4])} … timed out after {timeout:.0f}s") from exc
        if done.returncode != 0:
            raise PeerUnavailable(
                f"{' '.join(argv[:4])} … exited {done.returncode}:\n{_tail(done.stderr)}"
            )
    marker.write_text(spec)
    return PeerEnv(python, _versions(python))


def assigned(description: ConsumerGroupDescription, topic: str) -> int:
    """How many of `topic`'s partitions the group's members hold, 0 unless the group is Stable."""
    if description.state != ConsumerGroupState.STABLE:
        return 0
    return len(
        {
            tp.partition
            for member in description.members
            for tp in member.assignment.topic_partitions
            if tp.topic == topic
        }
    )


def internal_topics(names: list[str], group: str) -> list[str]:
    """Quix's repartition and changelog topics of `group` (`<type>__<group>--…`) among `names`."""
    prefixes = (f"repartition__{group}--", f"changelog__{group}--")
    return sorted(n for n in names if n.startswith(prefixes))


def after_first_output(samples: list[tuple[float, int]], events: int) -> dict[str, float | None]:
    """From (monotonic time, outputs so far) samples whose first is the window start: seconds until
    the first new output, and the rate from then to the last sample. The window includes that
    first stretch (state recovery, then the first records' trip through the repartition topic);
    these set it apart for a reader, the headline eps does not."""
    t0, n0 = samples[0]
    first = next(((t, n) for t, n in samples if n > n0), None)
    if first is None:
        return {"first_output_seconds": None, "eps_after_first_output": None}
    t_end, n_end = samples[-1]
    return {
        "first_output_seconds": first[0] - t0,
        "eps_after_first_output": rate(min(n_end, events) - first[1], t_end - first[0]),
    }


def summarise(
    runs: list[dict[str, Any]], service_eps: float | None, env: PeerEnv
) -> dict[str, Any]:
    """The report's `peer` section: Quix's median eps over rounds and ours / Quix."""
    peer_eps = statistics.median([r["eps"] for r in runs]) if runs else 0.0
    ours_over_quix = ratio(service_eps, peer_eps) if service_eps else None
    return {
        "framework": "quixstreams",
        "versions": env.versions,
        "peer_eps": round(peer_eps, 1),
        "service_eps": service_eps,
        "ours_over_quix": round(ours_over_quix, 4) if ours_over_quix is not None else None,
        "peer_eps_per_round": [round(r["eps"], 1) for r in runs],
        "cpu_us_per_event": cpu.medians(runs),
        "peer_eps_incl_commit": round(
            statistics.median([r["eps_incl_commit"] for r in runs]) if runs else 0.0, 1
        ),
        "timing": " ".join((__doc__ or "").split("\n\n")[2].split()),
        "job": " ".join(((_job_doc() or "").split("\n\n") or [""])[-1].split()),
        "runs": runs,
    }


def _job_doc() -> str | None:
    """quix_peer's docstring, read without importing it (its imports live in the peer's venv)."""
    import ast

    with contextlib.suppress(OSError, SyntaxError):
        return ast.get_docstring(ast.parse(JOB.read_text(encoding="utf-8")))
    return None


def _spawn(python: Path, env: dict[str, str], log_dir: Path, name: str) -> infra.Proc:
    """infra.spawn, but with the peer venv's interpreter and none of our venv's environment."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / f"{name}.log"
    base = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "PYTHONPATH"}}
    with log_path.open("wb") as log:
        popen = subprocess.Popen(
            [str(python), str(JOB)],
            env={**base, **env},
            cwd=infra.ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return infra.Proc(popen, log_path, name)


class _Group:
    """The broker's view of one consumer group, via the admin API."""

    def __init__(self, bootstrap: str, group: str) -> None:
        self._admin = AdminClient(common_config(bootstrap))
        self._group = group

    def assigned(self, topic: str) -> int:
        future = self._admin.describe_consumer_groups([self._group], request_timeout=5)[self._group]
        try:
            return assigned(future.result(), topic)
        except Exception:  # not yet known to the coordinator: not assigned
            return 0


def run_round(spec: DrainSpec, peer: PeerEnv, tag: str = "quix") -> dict[str, Any]:
    """One drain of spec.input_topic by the Quix job: fresh outputs, group and state."""
    prefix = f"bench-{tag}-{infra.run_id()}"
    topics = infra.make_topics(spec.stack.bootstrap, prefix, spec.partitions, spec.input_topic)
    group = infra.group_id(prefix)
    outputs = list(topics.outputs())
    state_dir = spec.log_dir / f"{prefix}-state"
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": spec.stack.bootstrap,
        "MODEL_DIR": str(spec.stack.model_dir),
        "CONSUMER_GROUP_ID": group,
        "QUIX_STATE_DIR": str(state_dir),
        "LOG_LEVEL": "WARNING",
        **topic_env(topics),
    }
    offsets = infra.Offsets(spec.stack.bootstrap)
    watch = _Group(spec.stack.bootstrap, group)
    spawned_at = time.monotonic()
    proc = _spawn(peer.python, env, spec.log_dir, tag)
    try:
        t0 = infra.wait_until(
            lambda: watch.assigned(spec.input_topic) == spec.partitions,
            120,
            "the Quix group's partition assignment",
            interval=0.05,
            procs=[proc],
        )
        done0 = offsets.total(outputs)
        samples: list[tuple[float, int]] = [(t0, done0)]
        cpu_window = cpu.Window(proc.popen.pid, lambda: offsets.total(outputs))

        def finished() -> bool:
            n = offsets.total(outputs)
            samples.append((time.monotonic(), n))
            return n >= spec.events

        t_done = infra.wait_until(finished, spec.timeout, "all outputs", 0.05, [proc])
        cpu_us_per_event = cpu_window.close(samples[-1][1])
        input_end = offsets.end_offsets([spec.input_topic])
        t_committed = infra.wait_until(
            lambda: offsets.committed(group, spec.input_topic) == input_end,
            90,
            "committed offsets == end offsets",
            0.1,
            [proc],
        )
        by_topic = {topic: offsets.total([topic]) for topic in outputs}
    finally:
        code = proc.stop()
        admin = AdminClient(common_config(spec.stack.bootstrap))
        names = list(admin.list_topics(timeout=15).topics)
        infra.delete_topics(spec.stack.bootstrap, [*outputs, *internal_topics(names, group)])
        shutil.rmtree(state_dir, ignore_errors=True)
    if code != 0:
        raise infra.BenchError(f"{tag} exited with {code}:\n{proc.tail()}")
    measured = spec.events - done0
    return {
        "events": spec.events,
        "events_measured": measured,
        "outputs": samples[-1][1],
        "seconds": t_done - t0,
        "eps": rate(measured, t_done - t0),
        "startup_seconds": t0 - spawned_at,
        "commit_after_seconds": t_committed - t_done,
        "eps_incl_commit": rate(measured, t_committed - t0),
        "cpu_us_per_event": cpu_us_per_event,
        **after_first_output(samples, spec.events),
        "outputs_by_topic": {role: by_topic[getattr(topics, role)] for role in OUTPUT_ROLES},
        "timeline": [(round(t - t0, 3), n) for t, n in samples[:: max(1, len(samples) // 200)]],
        "exit_code": code,
        "log": str(proc.log_path),
    }


def prepare(environ: dict[str, str]) -> PeerEnv | str:
    """The peer's venv (built if need be), or why it cannot be had: the step is then skipped."""
    venv = venv_dir(environ)
    constraints = infra.ROOT / "constraints.txt"
    wanted = requirements(constraints.read_text() if constraints.exists() else "")
    try:
        return ensure_venv(venv, wanted)
    except (PeerUnavailable, OSError) as exc:
        return f"the peer's venv ({venv}) could not be built: {exc}"


def run(spec: DrainSpec, rounds: int, service_eps: float | None, peer: PeerEnv) -> dict[str, Any]:
    """The report's `peer` section: `rounds` drains of spec.input_topic by the Quix job."""
    return summarise([run_round(spec, peer) for _ in range(rounds)], service_eps, peer)


def input_events(bootstrap: str, topic: str) -> int | None:
    """Records in `topic` (the sum of its end offsets), None when it does not exist."""
    try:
        return infra.Offsets(bootstrap).total([topic])
    except (infra.BenchError, KeyError):
        return None
