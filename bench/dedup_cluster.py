"""Dedup round-trip time per batch: a single Redis vs a Redis Cluster (median of several batches).

    python -m bench.dedup_cluster --standalone redis://127.0.0.1:6379/0 \
        --cluster redis://127.0.0.1:7000 [--batch 1000] [--batches 15] [--prefill 200000] \
        [--shard-digits N]

Each batch is new fingerprints (blake2b hex, as the service makes them) under new ids, made
before the timer starts; only `Deduplicator.check` is timed. Warm-up batches per target load the
script, open the connections and first claim --prefill events, so every shard hash is past
Redis' small-hash (listpack) size, as in a running service. Prints one JSON object: per target,
milliseconds per batch (median, min, max), the client's CPU time per batch (median), how many
shards (script calls, on a cluster) a batch touches, and what the Redis side spent per fingerprint
over the timed batches, summed over the primaries: process CPU (`INFO cpu`: the script, the
protocol, the AOF and feeding replicas) and the script's own time (`INFO commandstats`). The
capacity model (docs/operations.md) reads Redis primaries from the process CPU.
"""

import argparse
import hashlib
import statistics
import time
import uuid

import orjson
import redis
from redis.cluster import RedisCluster

from consumer.dedup import SHARD_DIGITS, Deduplicator, group_by_shard
from consumer.redis_client import RedisMode, connect


def _batch(n: int) -> tuple[list[str], list[str], list[str]]:
    ids = [uuid.uuid4().hex for _ in range(n)]
    fps = [hashlib.blake2b(i.encode(), digest_size=16).hexdigest() for i in ids]
    return fps, ids, [f"content.raw:0:{k}" for k in range(n)]


def _primaries(client: redis.Redis | RedisCluster) -> list[redis.Redis]:
    """A client per primary: the cluster's, or the single Redis itself."""
    if isinstance(client, RedisCluster):
        return [client.get_redis_connection(node) for node in client.get_primaries()]
    return [client]


def _server_time(nodes: list[redis.Redis]) -> tuple[float, float]:
    """Summed over `nodes`: process CPU seconds so far, and microseconds spent in EVALSHA."""
    cpu = script = 0.0
    for node in nodes:
        info = node.info("cpu")
        cpu += float(info["used_cpu_sys"]) + float(info["used_cpu_user"])
        script += float(node.info("commandstats").get("cmdstat_evalsha", {}).get("usec", 0))
    return cpu, script


def measure(url: str, mode: RedisMode, args: argparse.Namespace) -> dict[str, float]:
    """Milliseconds per `check` of `args.batch` new events, over `args.batches` batches, after
    `args.prefill` events claimed in warm-up batches (a store in steady state, not an empty one)."""
    batch, batches, prefill = args.batch, args.batches, args.prefill
    client = connect(url, mode, timeout=5.0)
    key = f"bench:dedup:{uuid.uuid4().hex[:8]}"
    dedup = Deduplicator(client, key, retention_seconds=3600, shard_digits=args.shard_digits)
    try:
        for _ in range(prefill // batch + 1):  # warm-up, and past small-hash (listpack) sizes
            dedup.check(*_batch(batch))
        times, cpu = [], []
        nodes = _primaries(client)
        server_cpu, script_usec = _server_time(nodes)
        for _ in range(batches):
            fps, ids, positions = _batch(batch)
            start, start_cpu = time.perf_counter(), time.process_time()
            dedup.check(fps, ids, positions)
            times.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - start_cpu) * 1000)
        server_cpu_after, script_usec_after = _server_time(nodes)
    finally:
        client.delete(*dedup.keys())
        client.close()
    return {
        "median_ms": round(statistics.median(times), 3),
        "min_ms": round(min(times), 3),
        "max_ms": round(max(times), 3),
        "shard_digits": dedup.shard_digits,
        "shards_per_batch": len(group_by_shard(_batch(batch)[0], dedup.shard_digits)),
        "client_cpu_median_ms": round(statistics.median(cpu), 3),
        "primaries": len(nodes),
        "redis_cpu_us_per_fingerprint": round(
            (server_cpu_after - server_cpu) * 1e6 / (batch * batches), 3
        ),
        "script_us_per_fingerprint": round(
            (script_usec_after - script_usec) / (batch * batches), 3
        ),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--standalone", help="a single Redis, redis://host:port/db")
    parser.add_argument("--cluster", help="a seed node of a Redis Cluster, redis://host:port")
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--batches", type=int, default=15)
    parser.add_argument("--prefill", type=int, default=200_000)
    parser.add_argument(
        "--shard-digits",
        type=int,
        default=None,
        help=f"0: one hash per bucket; default {SHARD_DIGITS} on a cluster, 0 on a single Redis",
    )
    args = parser.parse_args(argv)
    report: dict[str, object] = {
        "batch": args.batch,
        "batches": args.batches,
    }
    if args.standalone:
        report["standalone"] = measure(args.standalone, "standalone", args)
    if args.cluster:
        report["cluster"] = measure(args.cluster, "cluster", args)
    print(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())


if __name__ == "__main__":
    main()
