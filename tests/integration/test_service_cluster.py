"""The service on a real local Redis Cluster (3 primaries + 3 replicas): the same routing as on a
single Redis, dedup keys on every primary, and three processes in one group surviving a SIGKILL.

The model is the tiny synthetic one (tests/support/synthetic.py): these tests are about routing
and dedup, not about model quality, and it loads in milliseconds in every service process.
"""

from __future__ import annotations

import random
import threading
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from confluent_kafka import Consumer, TopicPartition

from chaos.reader import committed_offsets, end_offsets
from inference.text import fingerprint
from schemas.topics import Topics
from tests.support import synthetic
from tests.support.harness import (
    Outputs,
    ServiceProcess,
    produce,
    read_outputs,
    unique_topics,
    wait_for,
)
from tests.support.records import event
from tests.support.servers import LocalRedisCluster

pytestmark = pytest.mark.integration

CLUSTER_ENV = {"REDIS_MODE": "cluster"}

# (topics, redis_url, **ServiceProcess keywords) -> a service process, stopped after the test
ServiceProcessFactory = Callable[..., ServiceProcess]


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The production training pipeline on the synthetic rows with `TINY_CONFIG` (about a
    second): a real artifact, the same for every process of a test, so routes are comparable."""
    from training.train import train

    out = tmp_path_factory.mktemp("tiny-model") / "artifact"
    train(synthetic.dataset(), synthetic.TINY_CONFIG, out)
    return out


@pytest.fixture
def service_factory(start_service, tiny_model_dir: Path) -> ServiceProcessFactory:
    def make(topics: Topics, redis_url: str, **kwargs: object) -> ServiceProcess:
        return start_service(model_dir=tiny_model_dir, topics=topics, redis_url=redis_url, **kwargs)

    return make


def content(i: int) -> tuple[str, str]:
    """The i-th distinct (title, description): a synthetic row made unique by its number."""
    _, title, description = synthetic.ROWS[i % len(synthetic.ROWS)]
    return f"{title} part {i}", description


def variant(title: str, description: str) -> tuple[str, str]:
    """The same content as dedup sees it (case, spacing and punctuation differ)."""
    return f"  {title.upper()}!! ", description.lower().replace(" ", "  ")


def routes(out: Outputs, topics: Topics) -> dict[str, list[tuple[str, str | None, str | None]]]:
    """Per event id, every output it got: (route, duplicate_of, tag), sorted."""
    by_id: dict[str, list[tuple[str, str | None, str | None]]] = defaultdict(list)
    for name, route in ((topics.tagged, "tagged"), (topics.review, "review")):
        for r in out.json(name):
            by_id[str(r["id"])].append((route, None, r["tag"]))
    for r in out.json(topics.duplicate):
        by_id[str(r["id"])].append(("duplicate", str(r["duplicate_of"]), None))
    for r in out.json(topics.dead_letter):
        by_id[f"dead-letter@{r['source_partition']}:{r['source_offset']}"].append(
            ("dead_letter", None, None)
        )
    return {k: sorted(v, key=str) for k, v in by_id.items()}


def primaries(cluster: LocalRedisCluster) -> list[redis.Redis]:
    """A client per primary that holds slots, as `CLUSTER NODES` reports them now."""
    with redis.Redis(port=cluster.port) as seed:
        table = seed.execute_command("CLUSTER NODES")
    return [
        redis.Redis(host=addr.split(":")[0], port=int(addr.split(":")[1].split("@")[0]))
        for addr, node in table.items()
        if "master" in node["flags"].split(",") and "fail" not in node["flags"] and node["slots"]
    ]


N_CONTENT = 240


def stream_with_duplicates() -> tuple[list[bytes], list[bytes | None], dict[str, str]]:
    """Every content once under `o<i>`; every third content again under another id `d<i>`
    (a variant: case, spacing, punctuation) and every fifth under `e<i>` (an exact copy): content
    duplicates.

    Keyed by content, so each content's events share a partition and arrive in this order (the
    original first) however partitions interleave: the expected verdicts are fixed.
    Returns values, keys, {duplicate id: original id}.
    """
    originals = [(f"o{i}", *content(i)) for i in range(N_CONTENT)]
    later: list[tuple[str, str, str, int]] = []
    for i, (_, title, description) in enumerate(originals):
        if i % 3 == 0:
            later.append((f"d{i}", *variant(title, description), i))
        if i % 5 == 0:
            later.append((f"e{i}", title, description, i))
    random.Random(15).shuffle(later)
    values = [event(eid, t, d) for eid, t, d in originals]
    values += [event(eid, t, d) for eid, t, d, _ in later]
    keys: list[bytes | None] = [f"c{i}".encode() for i in range(N_CONTENT)]
    keys += [f"c{i}".encode() for *_, i in later]
    return values, keys, {eid: f"o{i}" for eid, _, _, i in later}


def rewind(bootstrap: str, group: str, topic: str, partition: int) -> None:
    """Commit offset 0 for one partition of an idle group: its next member reads the partition's
    records again, as after a crash before the commit (redeliveries: same records)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        consumer.commit(offsets=[TopicPartition(topic, partition, 0)], asynchronous=False)
    finally:
        consumer.close()


def test_cluster_routes_every_event_and_duplicate_exactly_as_a_single_redis(
    services, redis_cluster, service_factory
):
    """Each mode: the stream, then partition 0 read again by a restarted service (redeliveries
    must get the verdicts they got the first time)."""
    values, keys, duplicate_of = stream_with_duplicates()
    modes = {"single": (services.redis_url, {}), "cluster": (redis_cluster.url, CLUSTER_ENV)}
    topics = {mode: unique_topics(3, services.bootstrap) for mode in modes}
    first = {
        mode: service_factory(topics[mode], url, extra_env=env).start()
        for mode, (url, env) in modes.items()
    }
    for mode in modes:
        produce(services.bootstrap, topics[mode].input, values, keys)
    for mode, svc in first.items():
        assert read_outputs(services.bootstrap, topics[mode], len(values)).total() == len(values)
        assert svc.terminate() == 0
        rewind(services.bootstrap, svc.group, topics[mode].input, 0)
    again = end_offsets(services.bootstrap, topics["single"].input)[0]
    for mode, (url, env) in modes.items():
        service_factory(topics[mode], url, group=first[mode].group, extra_env=env).start()
    expected = len(values) + again
    got = {
        mode: routes(read_outputs(services.bootstrap, topics[mode], expected), topics[mode])
        for mode in modes
    }
    assert got["cluster"] == got["single"]
    # ... and both are right, not merely alike:
    single = got["single"]
    assert sum(map(len, single.values())) == expected
    assert all(len(set(outputs)) == 1 for outputs in single.values())  # a redelivery: same verdict
    duplicates = {eid: outputs[0][1] for eid, outputs in single.items() if outputs[0][1]}
    assert duplicates == duplicate_of
    assert set(single) - set(duplicates) == {f"o{i}" for i in range(N_CONTENT)}
    seen_routes = {route for outputs in single.values() for route, *_ in outputs}
    assert seen_routes >= {"tagged", "duplicate"}


def test_cluster_spreads_a_service_s_dedup_keys_over_every_primary(
    services, redis_cluster, service_factory
):
    topics = unique_topics(3, services.bootstrap)
    svc = service_factory(topics, redis_cluster.url, extra_env=CLUSTER_ENV).start()
    values = [event(f"k{i}", *content(i)) for i in range(N_CONTENT)]
    produce(services.bootstrap, topics.input, values)
    assert read_outputs(services.bootstrap, topics, len(values)).total() == len(values)
    key = svc.env["DEDUP_KEY"]
    shards_by_node: dict[int, set[str]] = {}
    nodes = primaries(redis_cluster)
    for node in nodes:
        port = node.connection_pool.connection_kwargs["port"]
        found = node.scan_iter(match=f"{{{key}:*", count=1000)
        # `{dedup:<group>:<shard>}:<bucket>` → <shard>
        shards_by_node[port] = {k.decode().split("}")[0].rsplit(":", 1)[1] for k in found}
        node.close()
    assert len(shards_by_node) == 3
    assert all(shards_by_node.values()), shards_by_node
    expected = {fingerprint(*content(i))[:2] for i in range(N_CONTENT)}
    assert set().union(*shards_by_node.values()) == expected
    assert svc.terminate() == 0


def test_three_processes_on_a_cluster_lose_nothing_when_one_is_killed_mid_stream(
    services, redis_cluster, service_factory
):
    """At least once: an event processed by the killed process but not committed is processed
    again by the process that takes its partition over (a replay); dedup still lets each content
    be classified under one id only, since a replay carries the id that claimed it."""
    topics = unique_topics(6, services.bootstrap)
    group = "tagger-scale-" + topics.input[:9]
    procs = [
        service_factory(topics, redis_cluster.url, group=group, extra_env=CLUSTER_ENV).start()
        for _ in range(3)
    ]

    def assigned() -> list[int]:
        return [(p.health() or {}).get("assigned_partitions", 0) for p in procs]

    assert wait_for(lambda: assigned() == [2, 2, 2], timeout=60), assigned()
    n_content = 2000
    contents = {f"m{i}": content(i) for i in range(n_content)}
    # Every fifth content again under another id, later and on any partition: the processes race.
    ids = list(contents) + [f"x{i}" for i in range(0, n_content, 5)]
    content_of = {**{k: k for k in contents}, **{f"x{i}": f"m{i}" for i in range(0, n_content, 5)}}
    values = [event(eid, *contents[eid]) for eid in contents] + [
        event(eid, *variant(*contents[content_of[eid]])) for eid in ids[n_content:]
    ]
    producer = threading.Thread(
        target=produce,
        args=(services.bootstrap, topics.input, values),
        kwargs={"keys": [eid.encode() for eid in ids], "rate": 600},
    )
    producer.start()
    victim = procs[1]
    assert wait_for(lambda: victim.metric("tagger_events_total") >= 300, timeout=60)
    assert victim.health()["assigned_partitions"] > 0
    victim.kill()
    producer.join()

    out = read_outputs(services.bootstrap, topics, expected=len(ids), timeout=90, settle=3)
    got = routes(out, topics)
    replays = out.total() - len(ids)
    summary = f"{len(ids)} events, {out.total()} outputs ({replays} replays after the kill)"
    assert out.by_topic[topics.dead_letter] == [], summary
    assert set(got) == set(ids), summary
    assert all(len({route for route, *_ in v}) == 1 for v in got.values()), summary
    classified_under: dict[str, set[str]] = defaultdict(set)
    for eid, outputs in got.items():
        _, original, _ = outputs[0]  # the id it duplicates; None: classified under its own
        classified_under[content_of[eid]].add(eid if original is None else original)
    shared = {c: under for c, under in classified_under.items() if len(under) != 1}
    assert shared == {}, f"contents classified under several ids: {shared}; {summary}"
    assert all(under <= {c, f"x{c[1:]}"} for c, under in classified_under.items()), summary
    end = end_offsets(services.bootstrap, topics.input)
    assert sum(end.values()) == len(ids)
    assert wait_for(
        lambda: committed_offsets(services.bootstrap, group, topics.input) == end, 30
    ), (
        committed_offsets(services.bootstrap, group, topics.input),
        end,
    )
    for p in (procs[0], procs[2]):
        assert p.terminate() == 0
