"""REDIS_MODE=sentinel: the dedup store reached through a real Sentinel watching the test Redis."""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from chaos.services import free_ports
from consumer.dedup import Deduplicator, claim
from consumer.redis_client import connect

SERVICE = "tagger"


@pytest.fixture(scope="module")
def sentinel_url(services, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One Sentinel (quorum 1) monitoring the session's Redis; its redis+sentinel:// URL."""
    (port,) = free_ports(1)
    conf = Path(tmp_path_factory.mktemp("sentinel")) / "sentinel.conf"
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {conf.parent}\n"
        f"sentinel monitor {SERVICE} 127.0.0.1 {services.redis_port} 1\n"
    )
    proc = subprocess.Popen(
        ["redis-server", str(conf), "--sentinel"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with redis.Redis(port=port) as sentinel:
            deadline = time.monotonic() + 20
            while True:
                try:
                    if sentinel.execute_command("SENTINEL", "MASTERS"):
                        break
                except redis.ConnectionError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail("the Sentinel did not come up", pytrace=False)
                time.sleep(0.1)
        yield f"redis+sentinel://127.0.0.1:{port}/{SERVICE}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_sentinel_mode_reaches_the_primary_it_names(sentinel_url, services):
    client = connect(sentinel_url, "sentinel", timeout=2.0)
    key = f"test:{uuid.uuid4().hex[:10]}"
    dedup = Deduplicator(client, key, 3600)
    dedup.check(["ab01", "cd02"], ["1", "2"], ["t:0:0", "t:0:1"])
    assert dedup.check(["ab01"], ["3"], ["t:0:2"]) == ["1"]
    with redis.Redis.from_url(services.redis_url) as direct:
        assert direct.hget(dedup.shard_keys("ab")[0], "ab01") == claim("1", "t:0:0")
    client.close()
