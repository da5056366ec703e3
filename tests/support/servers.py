"""Real Kafka and Redis servers for tests, driven through scripts/services.sh.

How the servers are configured and started lives only in scripts/services.sh; this module
just picks ports and a state directory, and calls the script.

    svc = LocalServices(tmp_dir)          # free ports picked by default
    svc.up()                              # both; blocks until ready
    svc.bootstrap, svc.redis_url          # "localhost:PORT", "redis://localhost:PORT/0"
    svc.down("redis"); svc.up("redis")    # Redis alone can be stopped and restarted
    svc.down()

    LocalServices(tmp_dir, env={"REDIS_APPENDONLY": "yes"})   # extra services.sh settings

    cluster = LocalRedisCluster(tmp_dir)  # 3 primaries + 3 replicas on 6 consecutive free ports
    cluster.up(); cluster.url             # "redis://127.0.0.1:PORT" (a seed node)
    cluster.down()
"""

from __future__ import annotations

import atexit
import os
import random
import socket
import subprocess
from contextlib import suppress
from pathlib import Path

from chaos.services import LocalServices, ServicesError, default_kafka_lib_dir
from tests.support import ROOT

INSTALL_SH = ROOT / "scripts" / "install-system.sh"


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


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _ephemeral_range() -> tuple[int, int]:
    """The kernel's range for outgoing connections' local ports (Linux; its default elsewhere)."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def free_port_run(n: int, bus_offset: int = 10000, attempts: int = 200) -> int:
    """The first of n consecutive ports that are free on 127.0.0.1, as are the same ports +
    `bus_offset` (a Redis Cluster node's bus port). Chosen below the kernel's ephemeral range
    where it can be, so no outgoing connection takes one between this check and the nodes'
    start (a bus port at 52052 was taken so in CI)."""
    low, _ = _ephemeral_range()
    bottom, top = 10000, low - bus_offset - n
    if top <= bottom:  # no room below the range: anywhere, as before
        bottom, top = 20000, 65535 - bus_offset - n
    for _ in range(attempts):
        base = random.randrange(bottom, top)
        ports = [base + i for i in range(n)]
        if all(_port_free(p) and _port_free(p + bus_offset) for p in ports):
            return base
    raise ServicesError(f"no run of {n} free ports (and their bus ports) found")


class LocalRedisCluster:
    """A local Redis Cluster, 3 primaries + 3 replicas with AOF, on 6 consecutive free ports
    (`scripts/services.sh {up|down} redis-cluster`), with its state in its own dir."""

    NODES = 6

    def __init__(self, base_dir: Path) -> None:
        self._services = LocalServices(base_dir)
        self.port = free_port_run(self.NODES)
        self._atexit_registered = False

    @property
    def ports(self) -> list[int]:
        """Every node's port; which are primaries changes with failovers (`CLUSTER NODES`)."""
        return [self.port + i for i in range(self.NODES)]

    @property
    def url(self) -> str:
        """A seed node, as REDIS_URL with REDIS_MODE=cluster takes it."""
        return f"redis://127.0.0.1:{self.port}"

    @property
    def base_dir(self) -> Path:
        return self._services.base_dir

    def _prepare(self) -> None:
        self._services.extra_env["REDIS_CLUSTER_PORT"] = str(self.port)

    def up(self, timeout: float = 120) -> None:
        """Start the nodes (creating the cluster the first time) and wait until it is ok."""
        self._prepare()
        if not self._atexit_registered:
            atexit.register(self.down_quietly)  # safety net if a run dies before teardown
            self._atexit_registered = True
        self._services.up("redis-cluster", timeout)

    def down(self, timeout: float = 120) -> None:
        self._prepare()
        self._services.down("redis-cluster", timeout)

    def down_quietly(self) -> None:
        with suppress(Exception):
            self.down()

    def is_up(self) -> bool:
        self._prepare()
        return self._services.is_up("redis-cluster")

    def pid(self, port: int) -> int | None:
        """The pid of the node on `port`, None when it is not running."""
        pidfile = self.base_dir / "redis-cluster" / str(port) / "redis.pid"
        try:
            return int(pidfile.read_text().strip())
        except (OSError, ValueError):
            return None

    def __repr__(self) -> str:
        return f"LocalRedisCluster(base_dir={self.base_dir}, ports={self.port}..{self.port + 5})"
