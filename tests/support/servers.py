"""Real Kafka and Redis servers for tests, driven through scripts/services.sh.

How the servers are configured and started lives only in scripts/services.sh; this module
just picks ports and a state directory, and calls the script.

    svc = LocalServices(tmp_dir)          # free ports picked by default
    svc.up()                              # both; blocks until ready
    svc.bootstrap, svc.redis_url          # "localhost:PORT", "redis://localhost:PORT/0"
    svc.down("redis"); svc.up("redis")    # Redis alone can be stopped and restarted
    svc.down()
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
from contextlib import ExitStack, suppress
from pathlib import Path

from tests.support import ROOT

SERVICES_SH = ROOT / "scripts" / "services.sh"
INSTALL_SH = ROOT / "scripts" / "install-system.sh"

WHICH = ("all", "kafka", "redis")


class ServicesError(RuntimeError):
    """scripts/services.sh or scripts/install-system.sh failed; the message has its output."""


def free_ports(n: int) -> list[int]:
    """n distinct TCP ports that are free on 127.0.0.1 right now."""
    with ExitStack() as stack:
        ports = []
        for _ in range(n):
            s = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
        return ports


def default_kafka_lib_dir() -> Path:
    """Where install-system.sh puts the Kafka jars (shared by every instance)."""
    if os.environ.get("KAFKA_LIB_DIR"):
        return Path(os.environ["KAFKA_LIB_DIR"])
    services_dir = Path(os.environ.get("SERVICES_DIR") or ".services")
    if not services_dir.is_absolute():
        services_dir = ROOT / services_dir
    return services_dir / "kafka" / "lib"


def ensure_installed(timeout: float = 900) -> None:
    """Run scripts/install-system.sh, the one judge of what is installed: it is idempotent and
    returns in a fraction of a second when the jars and binaries are in place."""
    env = {**os.environ, "KAFKA_LIB_DIR": str(default_kafka_lib_dir())}
    proc = subprocess.run(
        ["bash", str(INSTALL_SH)],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise ServicesError(
            f"`scripts/install-system.sh` exited {proc.returncode}\n{proc.stdout}{proc.stderr}"
        )


class LocalServices:
    """One Kafka (KRaft, single node) + Redis instance with its own ports and state dir."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = Path(base_dir).resolve()
        self.kafka_port, self.controller_port, self.redis_port = free_ports(3)
        self.kafka_lib_dir = default_kafka_lib_dir().resolve()
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
