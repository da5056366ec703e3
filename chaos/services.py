"""The run's own Kafka and Redis, through scripts/services.sh, on free ports in their own state
directory, plus the signals services.sh has no verb for (SIGKILL, SIGSTOP, SIGCONT), sent to the
pid its pidfile names once the process's command line confirms it is ours."""

import atexit
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping
from contextlib import ExitStack, suppress
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVICES_SH = ROOT / "scripts" / "services.sh"

WHICH = ("all", "kafka", "redis", "redis-cluster")


class ServicesError(RuntimeError):
    """scripts/services.sh or scripts/install-system.sh failed (the message has its output),
    or a pidfile names no process of ours."""


def free_ports(n: int) -> list[int]:
    """n distinct TCP ports free on 127.0.0.1 right now."""
    with ExitStack() as stack:
        ports = []
        for _ in range(n):
            s = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
        return ports


def default_kafka_lib_dir() -> Path:
    """Where install-system.sh puts the Kafka jars (KAFKA_LIB_DIR, else the default state dir's
    `kafka/lib`), shared by every instance: the chaos run's and the tests' alike."""
    if os.environ.get("KAFKA_LIB_DIR"):
        return Path(os.environ["KAFKA_LIB_DIR"]).resolve()
    default = Path(os.environ.get("SERVICES_DIR") or ".services")
    return (default if default.is_absolute() else ROOT / default).resolve() / "kafka" / "lib"


class LocalServices:
    """One Kafka (KRaft, single node) + Redis instance with its own ports and state dir."""

    def __init__(self, base_dir: Path, env: Mapping[str, str] | None = None) -> None:
        self.base_dir = Path(base_dir).resolve()
        self.kafka_port, self.controller_port, self.redis_port = free_ports(3)
        self.kafka_lib_dir = default_kafka_lib_dir()
        self.extra_env = dict(env or {})  # more services.sh settings, e.g. REDIS_APPENDONLY
        self._atexit_registered = False

    # -- addresses -------------------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        return f"localhost:{self.kafka_port}"

    @property
    def redis_url(self) -> str:
        return f"redis://localhost:{self.redis_port}/0"

    # -- control ---------------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "SERVICES_DIR": str(self.base_dir),
            "KAFKA_PORT": str(self.kafka_port),
            "KAFKA_CONTROLLER_PORT": str(self.controller_port),
            "REDIS_PORT": str(self.redis_port),
            "KAFKA_LIB_DIR": str(self.kafka_lib_dir),
            **self.extra_env,
        }

    def _run(self, action: str, which: str, timeout: float) -> subprocess.CompletedProcess[str]:
        if which not in WHICH:
            raise ValueError(f"which must be one of {WHICH}, not {which!r}")
        # The script detaches the servers from its stdio, so capturing output cannot hang.
        return subprocess.run(
            ["bash", str(SERVICES_SH), action, which],
            env=self.env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def _check(self, action: str, which: str, timeout: float) -> str:
        proc = self._run(action, which, timeout)
        if proc.returncode != 0:
            raise ServicesError(
                f"scripts/services.sh {action} {which} exited {proc.returncode} "
                f"(SERVICES_DIR={self.base_dir})\n{proc.stdout}{proc.stderr}"
            )
        return proc.stdout + proc.stderr

    def up(self, which: str = "all", timeout: float = 240) -> None:
        """Start (no-op when running) and wait until ready."""
        if not self._atexit_registered:
            atexit.register(self.down_quietly)  # safety net if a run dies before teardown
            self._atexit_registered = True
        self._check("up", which, timeout)

    def down(self, which: str = "all", timeout: float = 120) -> None:
        """Graceful stop (SIGKILL after the script's timeout); no-op when stopped."""
        self._check("down", which, timeout)

    def is_up(self, which: str = "all") -> bool:
        return self._run("status", which, timeout=30).returncode == 0

    def down_quietly(self) -> None:
        with suppress(Exception):  # best effort (teardown after a failure, interpreter exit)
            self.down()

    def __repr__(self) -> str:
        return (
            f"LocalServices(base_dir={self.base_dir}, kafka={self.bootstrap}, "
            f"controller={self.controller_port}, redis={self.redis_url})"
        )


class Services(LocalServices):
    """Kafka (KRaft, one node) and Redis with AOF persistence, for one chaos run, plus the
    signals services.sh has no verb for.

    :param state_dir: the SERVICES_DIR of this run (data, logs, pidfiles).
    """

    def __init__(self, state_dir: Path) -> None:
        super().__init__(
            state_dir,
            env={
                # Persistence on: a graceful restart must keep every dedup claim.
                "REDIS_APPENDONLY": "yes",
                "KAFKA_HEAP": os.environ.get("CHAOS_KAFKA_HEAP", "-Xms256m -Xmx512m"),
                # A frozen instance is the only reason Redis or Kafka would wait: no long stops.
                "STOP_TIMEOUT": "20",
            },
        )

    @property
    def state_dir(self) -> Path:
        return self.base_dir

    def pid(self, which: str) -> int:
        """The running process of `kafka` or `redis`, as its pidfile names it. Checked against
        its command line (this run's config path or port), so a stale pidfile signals nothing."""
        if which == "kafka":
            pidfile, mark = self.state_dir / "kafka" / "kafka.pid", str(self.state_dir)
        elif which == "redis":
            pidfile, mark = self.state_dir / "redis" / "redis.pid", f":{self.redis_port}"
        else:
            raise ValueError(f"no pidfile for {which!r}")
        try:
            pid = int(pidfile.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError) as exc:
            raise ServicesError(f"{which}: no running process in {pidfile}") from exc
        if mark not in cmdline:
            raise ServicesError(f"{which}: pid {pid} from {pidfile} is not ours: {cmdline[:200]}")
        return pid

    def send(self, which: str, signum: signal.Signals) -> int:
        """Send `signum` to `kafka` or `redis`; returns the pid signalled."""
        pid = self.pid(which)
        os.kill(pid, signum)
        return pid

    @staticmethod
    def wait_gone(pid: int, timeout: float = 30) -> None:
        """Wait until process `pid` is gone (after a SIGKILL: its ports are free again)."""
        deadline = time.monotonic() + timeout
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
