"""The run's own Kafka and Redis, through scripts/services.sh, on free ports in their own state
directory, plus the signals services.sh has no verb for (SIGKILL, SIGSTOP, SIGCONT), sent to the
pid its pidfile names once the process's command line confirms it is ours."""

import os
import signal
import socket
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVICES_SH = ROOT / "scripts" / "services.sh"


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


class Services:
    """Kafka (KRaft, one node) and Redis with AOF persistence, for one run.

    :param state_dir: the SERVICES_DIR of this run (data, logs, pidfiles).
    """

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir.resolve()
        self.kafka_port, self.controller_port, self.redis_port = free_ports(3)
        self.kafka_lib_dir = default_kafka_lib_dir()

    @property
    def bootstrap(self) -> str:
        return f"localhost:{self.kafka_port}"

    @property
    def redis_url(self) -> str:
        return f"redis://localhost:{self.redis_port}/0"

    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "SERVICES_DIR": str(self.state_dir),
            "KAFKA_PORT": str(self.kafka_port),
            "KAFKA_CONTROLLER_PORT": str(self.controller_port),
            "REDIS_PORT": str(self.redis_port),
            "KAFKA_LIB_DIR": str(self.kafka_lib_dir),
            # Persistence on: a graceful restart must keep every dedup claim.
            "REDIS_APPENDONLY": "yes",
            "KAFKA_HEAP": os.environ.get("CHAOS_KAFKA_HEAP", "-Xms256m -Xmx512m"),
            # A frozen instance is the only reason Redis or Kafka would wait: no long stops.
            "STOP_TIMEOUT": "20",
        }

    def _script(self, action: str, which: str, timeout: float = 240) -> None:
        proc = subprocess.run(
            ["bash", str(SERVICES_SH), action, which],
            env=self.env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0:
            raise ServicesError(
                f"scripts/services.sh {action} {which} exited {proc.returncode} "
                f"(SERVICES_DIR={self.state_dir})\n{proc.stdout}{proc.stderr}"
            )

    def up(self, which: str = "all") -> None:
        """Start (a no-op for what runs) and wait until ready."""
        self._script("up", which)

    def down(self, which: str = "all") -> None:
        """Graceful stop; services.sh sends SIGKILL after its STOP_TIMEOUT."""
        self._script("down", which)

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
