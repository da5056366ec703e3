"""Dedup claims survive a Redis restart when Redis persists them (AOF, fsync every second)."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from chaos.services import ServicesError
from consumer.dedup import Deduplicator
from inference.text import fingerprint
from tests.support.servers import LocalServices

HOUR = 3600
FSYNC_WAIT = 1.5  # appendfsync everysec: what is older than a second is on disk


def start_redis(base_dir: Path, appendonly: str) -> LocalServices:
    svc = LocalServices(base_dir, env={"REDIS_APPENDONLY": appendonly})
    try:
        svc.up("redis")
    except ServicesError as exc:
        svc.down_quietly()
        pytest.fail(f"could not start Redis ({svc!r}):\n{exc}", pytrace=False)
    return svc


@pytest.fixture
def persistent_redis(tmp_path: Path) -> Iterator[LocalServices]:
    svc = start_redis(tmp_path, appendonly="yes")
    yield svc
    svc.down("redis")


def crash(svc: LocalServices) -> None:
    """SIGKILL the Redis this test started (no shutdown, so no final save or fsync)."""
    pid = int((svc.base_dir / "redis" / "redis.pid").read_text().strip())
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while svc.is_up("redis") and time.monotonic() < deadline:
        time.sleep(0.1)


def claim_then(
    svc: LocalServices, restart: Callable[[LocalServices], None]
) -> tuple[list[str | None], list[str]]:
    """Claim 200 fingerprints, wait past the fsync interval, restart Redis with `restart`, and
    check the same content under new ids: the verdicts, and the ids first claimed."""
    key = f"test:{uuid.uuid4().hex[:10]}"
    fps = [fingerprint(f"title {i}", f"body {i}") for i in range(200)]
    first = [f"first-{i}" for i in range(200)]
    with redis.Redis.from_url(svc.redis_url) as client:
        positions = [f"content.raw:0:{i}" for i in range(200)]
        assert Deduplicator(client, key, HOUR).check(fps, first, positions) == [None] * 200
    time.sleep(FSYNC_WAIT)
    restart(svc)
    svc.up("redis")
    with redis.Redis.from_url(svc.redis_url) as client:
        new, positions = (
            [f"new-{i}" for i in range(200)],
            [f"content.raw:0:{i}" for i in range(200, 400)],
        )
        return Deduplicator(client, key, HOUR).check(fps, new, positions), first


def test_duplicates_are_still_caught_after_a_restart(persistent_redis):
    verdicts, first = claim_then(persistent_redis, lambda svc: svc.down("redis"))
    assert verdicts == first


def test_duplicates_are_still_caught_after_a_crash_past_the_fsync_interval(persistent_redis):
    verdicts, first = claim_then(persistent_redis, crash)
    assert verdicts == first


def test_without_persistence_a_restart_forgets_every_claim(tmp_path):
    svc = start_redis(tmp_path, appendonly="no")
    try:
        verdicts, _ = claim_then(svc, lambda s: s.down("redis"))
    finally:
        svc.down("redis")
    assert verdicts == [None] * 200
