"""Service instances (`python -m consumer`) as a supervisor runs them: each with its own metrics
port and log, restarted when it exits without being told to (as Kubernetes would)."""

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

from chaos.services import ROOT, free_ports

log = logging.getLogger("chaos")


def service_dir() -> Path:
    """Where `python -m consumer` runs from: this checkout, or CHAOS_SERVICE_DIR (another
    revision's tree, e.g. from `git archive`, to hold an older service to the same checks)."""
    return Path(os.environ.get("CHAOS_SERVICE_DIR") or ROOT).resolve()


class Instance:
    """One `python -m consumer` process slot: started, signalled, restarted under one name.

    :param name: e.g. `instance-0`; its log is `<log_dir>/<name>.log`.
    :param env: the service's environment (without METRICS_PORT, chosen per start).
    :param log_dir: where the process's output is appended.
    """

    def __init__(self, name: str, env: Mapping[str, str], log_dir: Path) -> None:
        self.name = name
        self._env = dict(env)
        self.log_path = log_dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.metrics_port: int | None = None
        self.wanted = False  # the supervisor restarts a wanted instance that exited
        self.starts = 0
        # (time.monotonic(), exit code) of each exit nobody asked for, as the supervisor saw it
        self.unplanned_exits: list[tuple[float, int | None]] = []
        self.lock = threading.Lock()

    def start(self) -> None:
        """Start the process (the caller holds `lock`); readiness is not awaited: a restart in a
        fault happens while other faults may keep it from becoming ready."""
        [self.metrics_port] = free_ports(1)
        # INSTANCE_ID: the slot's name, stable across its restarts (exactly-once's
        # transactional.id), as a pod's name is across its container's restarts.
        env = {**self._env, "METRICS_PORT": str(self.metrics_port), "INSTANCE_ID": self.name}
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "consumer"],
                env=env,
                cwd=service_dir(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.wanted = True
        self.starts += 1

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def send(self, signum: signal.Signals) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signum)

    def stop(self, signum: signal.Signals, timeout: float = 30.0) -> int | None:
        """Send `signum` (SIGTERM: a clean stop; SIGKILL: a crash) and wait for the exit; a
        process still running after `timeout` is killed. The caller holds `lock`."""
        self.wanted = False
        if self.proc is None:
            return None
        self.send(signal.SIGCONT)  # a frozen process cannot act on SIGTERM
        self.send(signum)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("%s did not stop within %.0fs: SIGKILL", self.name, timeout)
            self.proc.kill()
            return self.proc.wait(10)

    def __repr__(self) -> str:
        return f"Instance({self.name}, pid={self.pid}, port={self.metrics_port})"


class Supervisor:
    """Restarts a wanted instance that exited on its own (after `delay` seconds), and records the
    exit: a service that gives up during a broker outage is restarted, as in production.

    :param instances: the slots watched; the list may grow and shrink while it runs.
    :param delay: seconds between noticing an exit and the restart.
    """

    def __init__(self, instances: list[Instance], delay: float = 1.0) -> None:
        self._instances = instances
        self._delay = delay
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="supervisor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # started
            self._thread.join(10)

    def _watch(self) -> None:
        exited_at: dict[str, float] = {}
        while not self._stop.wait(0.5):
            for inst in list(self._instances):
                with inst.lock:
                    if not inst.wanted or inst.proc is None or inst.proc.poll() is None:
                        exited_at.pop(inst.name, None)
                        continue
                    first = exited_at.setdefault(inst.name, time.monotonic())
                    if time.monotonic() - first < self._delay:
                        continue
                    code = inst.proc.returncode
                    inst.unplanned_exits.append((first, code))
                    log.warning("%s exited %s unasked: restarting", inst.name, code)
                    print(
                        f"[chaos] {inst.name} exited {code} on its own: restarted",
                        file=sys.stderr,
                        flush=True,
                    )
                    inst.start()
                    exited_at.pop(inst.name, None)


def group_env(base: Mapping[str, str], guarantee: str) -> dict[str, str]:
    """The environment every instance shares: `base` (the service's settings) and the guarantee.
    Logs at WARNING keep six processes' output small on a shared machine."""
    return {
        **os.environ,
        **base,
        "PROCESSING_GUARANTEE": guarantee,
        "LOG_LEVEL": os.environ.get("CHAOS_LOG_LEVEL", "WARNING"),
        "REDIS_BACKOFF_MAX_SECONDS": "1",
        "BATCH_SIZE": "200",
    }
