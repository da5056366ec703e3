"""Content dedup in Redis: check-and-set every fingerprint of a batch, atomically per fingerprint.

Fingerprints live in time-bucketed hashes, each expiring after two buckets, so memory is bounded
without per-field TTLs (Redis < 7.4). A lookup checks the current and the previous bucket, so a
fingerprint is remembered for between one and two retention periods. The stored value is the event
id: the same id seen again is a redelivery (process it), another id is a duplicate.

On a Redis Cluster the hashes are sharded by a prefix of the fingerprint (a hex digest, so
prefixes are uniform): `{<key>:<shard>}:<bucket>`. The hash tag `{<key>:<shard>}` puts a shard's two
buckets in one cluster slot, and the 256 shards spread over the slots, so the keyspace and the load
spread over every primary. On a single Redis (or a Sentinel-managed primary) sharding spreads
nothing, so by default it keeps one hash per bucket, `{<key>}:<bucket>` (the layout before
sharding: an upgrade keeps its claims), which is the cheapest per event; `shard_digits` chooses
either layout anywhere.

A batch costs:
* single Redis: one EVALSHA, whose KEYS are the two buckets of every shard the batch touches;
* Redis Cluster: one EVALSHA per shard touched (every key of a call must share a slot), queued in
  one cluster pipeline, which writes each node's calls before reading any reply: one round trip
  per primary, all primaries in parallel. MOVED/ASK and failovers are retried by redis-py's
  cluster client; whatever it gives up on is raised as `redis.RedisError`, so the caller retries
  the whole batch. That is safe: the script only claims a fingerprint for its own event id, and a
  claim found with the same id is "process it".

Each script call is atomic, and a fingerprint's shard is a function of the fingerprint, so two
instances racing on the same fingerprint are serialised by Redis: exactly one wins.
"""

import time
from collections.abc import Callable, Sequence

import redis
from redis.cluster import RedisCluster
from redis.exceptions import NoScriptError

# Hex digits of the fingerprint that name its shard on a cluster: 2 -> 256 shards, enough to
# spread evenly over tens of primaries. Changing it re-keys the store: claims made under the old
# layout are no longer read (they expire on their own).
SHARD_DIGITS = 2

# Arguments per event after the group's count; #14 may add topic/partition/offset to the claim.
_STRIDE = 2

# KEYS: (current bucket, previous bucket) per shard group. ARGV[1]: the current buckets' expiry
# (unix seconds); then per group, in KEYS order: the number of events n, then n (fingerprint, id)
# pairs. Returns, per event in argument order, "" to process it or the id it duplicates.
_CHECK_AND_SET = f"""
local stride = {_STRIDE}
local expire_at = tonumber(ARGV[1])
local out = {{}}
local a = 2
for k = 1, #KEYS, 2 do
  local cur, prev = KEYS[k], KEYS[k + 1]
  local n = tonumber(ARGV[a])
  a = a + 1
  for _ = 1, n do
    local fp, id = ARGV[a], ARGV[a + 1]
    a = a + stride
    local seen = redis.call('HGET', cur, fp)
    if not seen then
      seen = redis.call('HGET', prev, fp)
      if not seen or seen == id then
        redis.call('HSET', cur, fp, id)
      end
    end
    if not seen or seen == id then
      out[#out + 1] = ''
    else
      out[#out + 1] = seen
    end
  end
  redis.call('EXPIREAT', cur, expire_at)
end
return out
"""

RedisClient = redis.Redis | RedisCluster


def shard_of(fingerprint: str, digits: int = SHARD_DIGITS) -> str:
    """The shard of a fingerprint: its first `digits` characters. Fingerprints are hex digests
    (inference/text.py), so there are 16 ** digits shards, evenly filled."""
    return fingerprint[:digits]


def group_by_shard(fingerprints: Sequence[str], digits: int = SHARD_DIGITS) -> dict[str, list[int]]:
    """Positions of the batch per shard, each list in input order (so duplicates within a batch
    are judged in the order they arrived); shards in order of first appearance."""
    groups: dict[str, list[int]] = {}
    for i, fp in enumerate(fingerprints):
        shard = fp[:digits]
        positions = groups.get(shard)
        if positions is None:
            groups[shard] = [i]
        else:
            positions.append(i)
    return groups


def _group_args(
    positions: list[int], fingerprints: Sequence[str], ids: Sequence[str]
) -> list[str | int]:
    """One shard group's script arguments: its event count, then (fingerprint, id) per event."""
    args: list[str | int] = [len(positions)]
    for p in positions:
        args.append(fingerprints[p])
        args.append(ids[p])
    return args


class Deduplicator:
    """Claims fingerprints for event ids in Redis, in `16 ** shard_digits` hashes per bucket.

    :param client: a `redis.Redis` (single Redis or a Sentinel `master_for` client) or a
        `redis.cluster.RedisCluster`; see consumer/redis_client.py.
    :param key: the key prefix, e.g. "dedup"; shard keys are `{key:<shard>}:<bucket>`.
    :param retention_seconds: bucket length; a fingerprint is remembered one to two of them.
    :param clock: unix time, replaceable in tests.
    :param shard_digits: hex digits of the fingerprint that name its shard; 0 keeps one hash
        per bucket, `{key}:<bucket>`. None: `SHARD_DIGITS` on a cluster, 0 on a single Redis.
    """

    def __init__(
        self,
        client: RedisClient,
        key: str,
        retention_seconds: int,
        clock: Callable[[], float] = time.time,
        shard_digits: int | None = None,
    ) -> None:
        self._client = client
        self._key = key
        self._bucket_seconds = retention_seconds
        self._clock = clock
        self._cluster = isinstance(client, RedisCluster)
        if shard_digits is None:
            shard_digits = SHARD_DIGITS if self._cluster else 0
        if shard_digits < 0:
            raise ValueError(f"shard_digits must be 0 or more, not {shard_digits}")
        self._shard_digits = shard_digits
        # Registering only hashes the script; it is loaded on first use (and again on NOSCRIPT,
        # e.g. on a replica promoted after a failover or a node added by a resharding).
        self._script = client.register_script(_CHECK_AND_SET)

    @property
    def shard_digits(self) -> int:
        return self._shard_digits

    @property
    def shards(self) -> list[str]:
        """Every shard name, e.g. "00" .. "ff"."""
        d = self._shard_digits
        return [f"{i:0{d}x}" for i in range(16**d)] if d else [""]

    def _bucket(self) -> int:
        return int(self._clock() // self._bucket_seconds)

    def shard_keys(self, shard: str, bucket: int | None = None) -> tuple[str, str]:
        """One shard's current and previous bucket hash (one hash tag: one cluster slot)."""
        bucket = self._bucket() if bucket is None else bucket
        tag = "{" + (f"{self._key}:{shard}" if self._shard_digits else self._key) + "}"
        return f"{tag}:{bucket}", f"{tag}:{bucket - 1}"

    def keys(self, bucket: int | None = None) -> list[str]:
        """Every hash the store may read now: each shard's current and previous bucket."""
        bucket = self._bucket() if bucket is None else bucket
        return [k for shard in self.shards for k in self.shard_keys(shard, bucket)]

    def check(self, fingerprints: Sequence[str], ids: Sequence[str]) -> list[str | None]:
        """For each event: None to process it, or the id of the event it duplicates.

        Raises `redis.RedisError` when Redis is unavailable; nothing is published without a verdict.
        """
        if len(fingerprints) != len(ids):
            raise ValueError(f"{len(fingerprints)} fingerprints but {len(ids)} ids")
        if not fingerprints:
            return []
        # A bucket lives until its successor stops reading it: two bucket lengths after it began.
        bucket = self._bucket()
        expire_at = (bucket + 2) * self._bucket_seconds + 60
        groups = group_by_shard(fingerprints, self._shard_digits)
        if self._cluster:
            calls = [
                (self.shard_keys(shard, bucket), [expire_at, *_group_args(pos, fingerprints, ids)])
                for shard, pos in groups.items()
            ]
            replies = [r for reply in self._run_per_shard(calls) for r in reply]
        else:
            keys: list[str] = []
            args: list[str | int] = [expire_at]
            for shard, pos in groups.items():
                keys.extend(self.shard_keys(shard, bucket))
                args.extend(_group_args(pos, fingerprints, ids))
            replies = self._script(keys=keys, args=args)
        # The replies come grouped by shard: put each back at its event's position.
        verdicts: list[str | None] = [None] * len(fingerprints)
        order = (p for positions in groups.values() for p in positions)
        for p, reply in zip(order, replies, strict=True):
            if reply:
                verdicts[p] = reply.decode() if isinstance(reply, bytes) else reply
        return verdicts

    def _run_per_shard(
        self, calls: list[tuple[tuple[str, str], list[str | int]]]
    ) -> list[list[bytes | str]]:
        """One EVALSHA per shard through one cluster pipeline; NOSCRIPT loads the script on every
        primary and resends only the calls it failed (the others already ran)."""
        replies: list[object] = [NoScriptError()] * len(calls)
        for attempt in range(2):
            todo = [i for i, r in enumerate(replies) if isinstance(r, NoScriptError)]
            if not todo:
                break
            if attempt:
                self._script.sha = self._client.script_load(self._script.script)
            pipe = self._client.pipeline()
            for i in todo:
                keys, args = calls[i]
                pipe.evalsha(self._script.sha, len(keys), *keys, *args)
            for i, reply in zip(todo, pipe.execute(raise_on_error=False), strict=True):
                replies[i] = reply
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return replies  # type: ignore[return-value]
