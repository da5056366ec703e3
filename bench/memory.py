"""Redis memory per million dedup fingerprints, inserted through the real `Deduplicator`."""

import hashlib
import time
from typing import Any

import redis

from consumer.config import Settings
from consumer.dedup import Deduplicator


def run(redis_url: str, key: str, count: int, batch: int = 1000) -> dict[str, Any]:
    """Inserts `count` distinct fingerprints (blake2b-128 hex, as `fingerprint_normalised` makes)
    with ids like the load generator's ("evt-<n>") at positions "content.raw:<partition>:<offset>"
    into a fresh bucket; reports the INFO used_memory delta and MEMORY USAGE of the bucket hash,
    both scaled to one million, and the server's time in the dedup script per fingerprint (INFO
    commandstats), which sizes Redis for a rate (docs/operations.md, capacity model)."""
    client = redis.Redis.from_url(redis_url)
    dedup = Deduplicator(client, key, Settings().dedup_retention_seconds)
    current, previous = dedup.keys()
    client.delete(current, previous)
    before = int(client.info("memory")["used_memory"])
    script_usec_before = _script_usec(client)
    started = time.perf_counter()
    id_chars = 0
    try:
        for start in range(0, count, batch):
            n = range(start, min(start + batch, count))
            fps = [hashlib.blake2b(f"{key}:{i}".encode(), digest_size=16).hexdigest() for i in n]
            ids = [f"evt-{i}" for i in n]
            id_chars += sum(map(len, ids))
            positions = [f"content.raw:{i % 12}:{i // 12}" for i in n]  # 12 partitions
            verdicts = dedup.check(fps, ids, positions)
            if any(v is not None for v in verdicts):
                raise RuntimeError("fresh fingerprints reported as duplicates")
        seconds = time.perf_counter() - started
        after = int(client.info("memory")["used_memory"])
        script_usec = _script_usec(client) - script_usec_before
        usage = int(client.memory_usage(current, samples=0) or 0)
        entries = int(client.hlen(current))
        encoding = client.object("encoding", current)
    finally:
        client.delete(current, previous)
        client.close()
    scale = 1_000_000 / count
    return {
        "fingerprints": count,
        "entries": entries,
        "avg_id_chars": round(id_chars / count, 1),
        "encoding": encoding.decode() if isinstance(encoding, bytes) else encoding,
        "used_memory_delta_bytes": after - before,
        "memory_usage_bytes": usage,
        "used_memory_bytes_per_million": round((after - before) * scale),
        "memory_usage_bytes_per_million": round(usage * scale),
        "bytes_per_fingerprint": round(usage / count, 1),
        "insert_seconds": round(seconds, 3),
        "inserts_per_second": round(count / seconds),
        "server_us_per_fingerprint": round(script_usec / count, 2),
    }


def _script_usec(client: redis.Redis) -> int:
    """Microseconds the server has spent in script calls (EVALSHA and EVAL) since its start."""
    stats = client.info("commandstats")
    return sum(int(stats.get(f"cmdstat_{c}", {}).get("usec", 0)) for c in ("evalsha", "eval"))
