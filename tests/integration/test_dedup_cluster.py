"""The sharded dedup store on a real local Redis Cluster (3 primaries + 3 replicas)."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator

import pytest
import redis
from redis.cluster import RedisCluster

from consumer.dedup import Deduplicator, claim, shard_of
from consumer.redis_client import connect
from inference.text import fingerprint
from tests.support.servers import LocalRedisCluster

HOUR = 3600


@pytest.fixture
def client(redis_cluster: LocalRedisCluster) -> Iterator[RedisCluster]:
    c = connect(redis_cluster.url, "cluster", timeout=2.0)
    assert isinstance(c, RedisCluster)
    yield c
    c.close()


@pytest.fixture
def key() -> str:
    return f"test:{uuid.uuid4().hex[:10]}"


def fingerprints(n: int, tag: str = "") -> list[str]:
    return [fingerprint(f"title {tag} {i}", f"text {i}") for i in range(n)]


def at(offsets: range | list[int], partition: int = 0) -> list[str]:
    """Input positions as the pipeline names them."""
    return [f"content.raw:{partition}:{o}" for o in offsets]


def nodes(cluster: LocalRedisCluster, role: str) -> list[redis.Redis]:
    """A client per node of `role` ("master" or "slave"), as the cluster itself reports it."""
    with redis.Redis(port=cluster.port) as seed:
        table = seed.execute_command("CLUSTER NODES")
    return [
        redis.Redis(host=addr.split(":")[0], port=int(addr.split(":")[1].split("@")[0]))
        for addr, node in table.items()
        if role in node["flags"].split(",")
        and "fail" not in node["flags"]
        and (role == "slave" or node["slots"])
    ]


def shard_keys_on(node: redis.Redis, key: str) -> list[bytes]:
    return list(node.scan_iter(match=f"{{{key}:*", count=1000))


def test_cluster_gives_the_same_verdicts_as_a_single_redis(services, client, key):
    single = redis.Redis.from_url(services.redis_url)
    on_single = Deduplicator(single, key, HOUR)
    on_cluster = Deduplicator(client, key, HOUR)
    fps = fingerprints(300)
    batches = [
        (fps[:200], [f"a{i}" for i in range(200)], at(range(200))),
        # replays (same ids and positions), re-sends (same ids, new positions), content
        # duplicates (new ids), new content, in-batch duplicates
        (
            fps[:50] + fps[50:60] + fps[100:150] + fps[200:300] + fps[250:260],
            [f"a{i}" for i in range(60)]
            + [f"b{i}" for i in range(50)]
            + [f"c{i}" for i in range(100)]
            + [f"d{i}" for i in range(10)],
            at(range(50)) + at(range(1000, 1010)) + at(range(200, 360)),
        ),
    ]
    for fp_batch, ids, positions in batches:
        expected = on_single.check(fp_batch, ids, positions)
        assert on_cluster.check(fp_batch, ids, positions) == expected
    assert expected.count(None) == 50 + 100  # the replays and the new content
    assert expected[50:60] == [f"a{i}" for i in range(50, 60)]  # re-sends: of themselves
    single.close()


def test_replay_and_resend_are_told_apart_on_the_cluster(client, key):
    dedup = Deduplicator(client, key, HOUR)
    fps = fingerprints(300, "resend")
    ids = [f"e{i}" for i in range(300)]
    dedup.check(fps, ids, at(range(300)))
    assert dedup.check(fps, ids, at(range(300))) == [None] * 300
    assert dedup.check(fps, ids, at(range(300), partition=1)) == ids


def test_released_claims_are_withdrawn_from_their_shards_on_the_cluster(client, key):
    dedup = Deduplicator(client, key, HOUR)
    fps = fingerprints(300, "release")  # spread over every shard, so every primary
    ids = [f"e{i}" for i in range(300)]
    dedup.check(fps, ids, at(range(300)))
    dedup.release(fps[:150], ids[:150], at(range(150)))
    verdicts = dedup.check(fps, ids, at(range(300), partition=1))  # re-sends of all 300
    assert verdicts == [None] * 150 + ids[150:]


def test_legacy_bare_id_claims_are_read_on_the_cluster(client, key):
    dedup = Deduplicator(client, key, HOUR)
    fps = fingerprints(100, "legacy")
    for i, fp in enumerate(fps):  # as written before claims had positions
        client.hset(dedup.shard_keys(shard_of(fp))[0], fp, f"old-{i}")
    same_ids = [f"old-{i}" for i in range(50)]
    new_ids = [f"new-{i}" for i in range(50, 100)]
    verdicts = dedup.check(fps, same_ids + new_ids, at(range(100)))
    assert verdicts == [None] * 50 + [f"old-{i}" for i in range(50, 100)]
    assert client.hget(dedup.shard_keys(shard_of(fps[0]))[0], fps[0]) == claim(
        "old-0", "content.raw:0:0"
    )


def test_dedup_keys_exist_on_every_primary(redis_cluster, client, key):
    dedup = Deduplicator(client, key, HOUR)
    dedup.check(fingerprints(1000), [str(i) for i in range(1000)], at(range(1000)))
    primaries = nodes(redis_cluster, "master")
    assert len(primaries) == 3
    for node in primaries:
        assert len(shard_keys_on(node, key)) > 256 / 3 / 2
        node.close()


def test_batch_spanning_every_shard_gets_its_verdicts_in_input_order(client, key):
    dedup = Deduplicator(client, key, HOUR)
    fps = [f"{i:02x}{uuid.uuid4().hex[2:]}" for i in range(256)] * 2
    first = [f"first-{i}" for i in range(256)]
    positions = at(range(256))
    # the second half: replays of the first
    assert dedup.check(fps, [*first, *first], [*positions, *positions]) == [None] * 512
    reversed_fps = fps[:256][::-1]
    assert dedup.check(reversed_fps, ["x"] * 256, at(range(256, 512))) == first[::-1]


def test_two_instances_racing_on_the_same_content_exactly_one_wins(redis_cluster, key):
    fps = fingerprints(500, "race")
    verdicts: dict[str, list[str | None]] = {}

    def run(name: str) -> None:
        c = connect(redis_cluster.url, "cluster", timeout=5.0)
        verdicts[name] = Deduplicator(c, key, HOUR).check(
            fps, [f"{name}-{i}" for i in range(500)], at(range(500), partition=len(name))
        )
        c.close()

    threads = [threading.Thread(target=run, args=(name,)) for name in ("one", "two")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for i, (a, b) in enumerate(zip(verdicts["one"], verdicts["two"], strict=True)):
        assert (a, b) in ((None, f"one-{i}"), (f"two-{i}", None))


def test_script_missing_on_the_nodes_is_loaded_again(client, key):
    dedup = Deduplicator(client, key, HOUR)
    fps = fingerprints(100, "noscript")
    dedup.check(fps, [str(i) for i in range(100)], at(range(100)))
    client.script_flush()  # as on a replica promoted after a failover
    new = [f"new-{i}" for i in range(100)]
    assert dedup.check(fps, new, at(range(100, 200))) == [str(i) for i in range(100)]


def test_batch_goes_to_the_primaries_without_the_cluster_pipeline(client, key, monkeypatch):
    dedup = Deduplicator(client, key, HOUR)
    fps = fingerprints(500, "direct")
    dedup.check(fps, [str(i) for i in range(500)], at(range(500)))  # reads the slot map
    pipelines: list[object] = []
    make_pipeline = client.pipeline
    monkeypatch.setattr(
        client, "pipeline", lambda *a, **kw: pipelines.append(1) or make_pipeline(*a, **kw)
    )
    again = dedup.check(fps, [f"again-{i}" for i in range(500)], at(range(500, 1000)))
    assert again == [str(i) for i in range(500)]
    assert pipelines == []


def test_stale_slot_map_still_gives_right_verdicts_and_is_read_again(redis_cluster, client, key):
    """Calls sent where the deduplicator's copy of the slot map wrongly says (MOVED) are checked
    again through the cluster client, and the next batch reads the map again."""
    dedup = Deduplicator(client, key, HOUR)
    fps = fingerprints(500, "stale")
    claimed = [f"first-{i}" for i in range(500)]
    dedup.check(fps, claimed, at(range(500)))
    one_primary = client.get_primaries()[0]
    dedup._shard_nodes = dict.fromkeys(dedup.shards, one_primary)  # every shard "on" one node
    assert dedup.check(fps, [f"again-{i}" for i in range(500)], at(range(500, 1000))) == claimed
    assert dedup._shard_nodes is None
    assert dedup.check(fps, [f"last-{i}" for i in range(500)], at(range(1000, 1500))) == claimed
    assert len(set((dedup._shard_nodes or {}).values())) == 3


def test_error_reply_on_one_primary_is_raised_and_the_next_batch_is_answered(
    redis_cluster, client, key
):
    """A primary out of memory refuses its calls: the batch raises (the service pauses and
    retries it), and every connection stays in step for the batches after it."""
    dedup = Deduplicator(client, key, HOUR)
    fps = fingerprints(500, "oom")
    victim = nodes(redis_cluster, "master")[0]
    limit = victim.config_get("maxmemory")["maxmemory"]
    victim.config_set("maxmemory", "1")
    try:
        with pytest.raises(redis.exceptions.OutOfMemoryError):
            dedup.check(fps, [str(i) for i in range(500)], at(range(500)))
    finally:
        victim.config_set("maxmemory", limit)
        victim.close()
    assert dedup.check(fps, [str(i) for i in range(500)], at(range(500))) == [None] * 500


def test_resharding_gives_errors_or_right_verdicts_never_wrong_ones(redis_cluster, client, key):
    """Slots move between primaries (MOVED/ASK, keys migrating) while batches run."""
    dedup = Deduplicator(client, key, HOUR)
    fps = fingerprints(2000, "reshard")
    claimed = [f"first-{i}" for i in range(2000)]
    dedup.check(fps, claimed, at(range(len(fps))))
    with redis.Redis(port=redis_cluster.port) as seed:
        table = seed.execute_command("CLUSTER NODES")
    source, target = [n["node_id"] for n in table.values() if n["slots"]][:2]
    reshard = subprocess.Popen(
        [
            "redis-cli",
            "--cluster",
            "reshard",
            f"127.0.0.1:{redis_cluster.port}",
            "--cluster-from",
            source,
            "--cluster-to",
            target,
            "--cluster-slots",
            "3000",
            "--cluster-yes",
            "--cluster-pipeline",
            "10",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    answered = 0
    while reshard.poll() is None:
        try:
            again = [f"again-{i}" for i in range(2000)]
            assert dedup.check(fps, again, at(range(2000, 4000))) == claimed
            answered += 1
        except redis.RedisError:
            time.sleep(0.05)
    assert reshard.returncode == 0, reshard.stderr.read() if reshard.stderr else ""
    last = [f"last-{i}" for i in range(2000)]
    assert dedup.check(fps, last, at(range(4000, 6000))) == claimed
    assert answered > 0


def test_primary_failover_gives_errors_or_right_verdicts_never_wrong_ones(
    redis_cluster, client, key
):
    """A replica takes over its primary (CLUSTER FAILOVER) while batches run: each call either
    raises RedisError (the service pauses and retries the batch) or answers correctly."""
    dedup = Deduplicator(client, key, HOUR)
    fps = fingerprints(1000, "failover")
    claimed = [f"first-{i}" for i in range(1000)]
    dedup.check(fps, claimed, at(range(len(fps))))
    replica_client = nodes(redis_cluster, "slave")[0]
    replica_client.execute_command("CLUSTER FAILOVER")
    answered = 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            verdicts = dedup.check(fps, [f"again-{i}" for i in range(1000)], at(range(1000, 2000)))
        except redis.RedisError:
            time.sleep(0.1)
            continue
        assert verdicts == claimed
        answered += 1
        if replica_client.execute_command("ROLE")[0] == b"master" and answered >= 3:
            break
    assert replica_client.execute_command("ROLE")[0] == b"master"
    assert answered >= 3
    replica_client.close()


def caught_up_pair(cluster: LocalRedisCluster) -> tuple[redis.Redis, redis.Redis] | None:
    """A primary serving slots and a replica of it whose link is up and which has acknowledged
    all it was sent, each as the nodes themselves report it (`ROLE`, `INFO replication`), not as
    another node's possibly stale `CLUSTER NODES` has it. Only such a replica can take over."""
    for port in cluster.ports:
        node = redis.Redis(port=port)
        try:
            role = node.execute_command("ROLE")
            me = next(
                n for n in node.execute_command("CLUSTER NODES").values() if "myself" in n["flags"]
            )
        except redis.RedisError:
            node.close()
            continue
        if role[0] == b"master" and me["slots"]:
            for host, replica_port, acked in role[2]:
                replica = redis.Redis(host=host.decode(), port=int(replica_port))
                try:
                    linked = replica.info("replication").get("master_link_status") == "up"
                except redis.RedisError:
                    linked = False
                if linked and int(acked) >= role[1]:
                    return node, replica
                replica.close()
        node.close()
    return None


def failover_state(cluster: LocalRedisCluster, replica: redis.Redis) -> str:
    """What a failover that did not happen needs explained: the replica's view and its log."""
    port = replica.connection_pool.connection_kwargs["port"]
    try:
        state = f"{replica.info('replication')}\n{replica.execute_command('CLUSTER INFO')}"
    except redis.RedisError as exc:
        state = f"replica unreachable: {exc!r}"
    log = cluster.base_dir / "redis-cluster" / str(port) / "redis.log"
    tail = log.read_text(errors="replace").splitlines()[-40:] if log.exists() else []
    return f"replica {port}: {state}\n" + "\n".join(tail)


def test_primary_killed_gives_errors_until_its_replica_takes_over_then_right_verdicts(
    redis_cluster, client, key
):
    """SIGKILL a primary: calls raise RedisError (never answer wrongly) until its replica is
    promoted; then the claims it had replicated are still there."""
    dedup = Deduplicator(client, key, HOUR)
    fps = fingerprints(1000, "kill")
    claimed = [f"first-{i}" for i in range(1000)]
    dedup.check(fps, claimed, at(range(len(fps))))
    # A primary whose replica holds every claim (a failover just before may still be settling)
    deadline = time.monotonic() + 60
    while (pair := caught_up_pair(redis_cluster)) is None:
        assert time.monotonic() < deadline, "no primary has a caught-up replica"
        time.sleep(0.1)
    victim, replica = pair
    pid = redis_cluster.pid(victim.connection_pool.connection_kwargs["port"])
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    victim.close()
    deadline = time.monotonic() + 60
    while True:
        try:
            verdicts = dedup.check(fps, [f"again-{i}" for i in range(1000)], at(range(1000, 2000)))
            break
        except redis.RedisError:
            if time.monotonic() > deadline:
                pytest.fail(
                    "the replica was not promoted within 60 s\n"
                    + failover_state(redis_cluster, replica)
                )
            time.sleep(0.2)
    assert verdicts == claimed
    assert replica.execute_command("ROLE")[0] == b"master"
    replica.close()
    redis_cluster.up()  # the killed node rejoins, as a replica
