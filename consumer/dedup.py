"""Content dedup in Redis: check-and-set every fingerprint of a batch, atomically per fingerprint.

Fingerprints live in time-bucketed hashes, each expiring after two buckets, so memory is bounded
without per-field TTLs (Redis < 7.4). A lookup checks the current and the previous bucket, so a
fingerprint is remembered for between one and two retention periods.

A claim remembers which input record made it: its value is `<id> 0xFF <position>`, the position
being the record's place in the input (the pipeline passes "topic:partition:offset"). The same
record read again (same id AND same position: a crash before the offset commit, a rebalance, an
aborted transaction) is "process it"; the same content at any other position, whether under another
id or under the same id (an upstream re-send: a new record), is a duplicate of the claimed id. The
0xFF byte never occurs in UTF-8, so it cannot be part of an id, and a value without it is a claim
written before positions were stored (a bare id): that one is read as before, the same id is
"process it" at any position, and the claim is rewritten with this position, so an upgrade neither
floods the duplicates topic nor tags anything twice that it would not have tagged before.

On a Redis Cluster the hashes are sharded by a prefix of the fingerprint (a hex digest, so
prefixes are uniform): `{<key>:<shard>}:<bucket>`. The hash tag `{<key>:<shard>}` puts a shard's two
buckets in one cluster slot, and the 256 shards spread over the slots, so the keyspace and the load
spread over every primary. On a single Redis (or a Sentinel-managed primary) sharding spreads
nothing, so by default it keeps one hash per bucket, `{<key>}:<bucket>` (the layout before
sharding: an upgrade keeps its claims), which is the cheapest per event; `shard_digits` chooses
either layout anywhere.

A batch costs:
* single Redis: one EVALSHA, whose KEYS are the two buckets of every shard the batch touches and
  whose arguments are four per shard (its count, and its fingerprints, ids and positions, each
  packed into one argument), written before the caller's model call and its reply read after it,
  on the caller's thread (`start`);
* Redis Cluster: one EVALSHA per shard touched (every key of a call must share a slot). Each
  primary's calls, as the cluster client's slot map places the shards, are written to it in one
  go before the caller's model call and read after it, as on a single Redis: one round trip per
  primary, all primaries in parallel, without the Python work per call of redis-py's cluster
  pipeline (docs/performance.md). Should any call not land where that map
  said (MOVED, ASK, TRYAGAIN: a resharding; a connection error, READONLY or CLUSTERDOWN: a
  failover) or find no script (NOSCRIPT: a restarted or promoted node), the whole batch is checked
  again through redis-py's cluster pipeline, which follows redirections, refreshes its slot map,
  loads the script and retries; whatever it gives up on is raised as `redis.RedisError`, so the
  caller retries the whole batch. Checking a batch again is safe: the script only claims a
  fingerprint for its own record, and a claim found for the same record (id and position) is
  "process it".

Each script call is atomic, and a fingerprint's shard is a function of the fingerprint, so two
instances racing on the same fingerprint are serialised by Redis: exactly one wins.
"""

import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, NamedTuple

import redis
from hiredis import pack_command
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import (
    AskError,
    ClusterDownError,
    NoScriptError,
    ReadOnlyError,
    RedisClusterException,
    TryAgainError,
)

from consumer.config import Settings
from consumer.redis_client import connect

# Hex digits of the fingerprint that name its shard on a cluster: 2 -> 256 shards, enough to
# spread evenly over tens of primaries. Changing it re-keys the store: claims made under the old
# layout are no longer read (they expire on their own).
SHARD_DIGITS = 2

# Separates the id from the position in a claim; a byte that UTF-8 never uses (Lua's "\255").
CLAIM_SEPARATOR = b"\xff"

# Separates a group's events inside each of its three packed arguments, and the events' verdicts in
# the reply; like CLAIM_SEPARATOR, a byte that UTF-8 never uses (Lua's "\254").
FIELD_SEPARATOR = b"\xfe"

# KEYS: (current bucket, previous bucket) per shard group. ARGV[1]: the current buckets' expiry
# (unix seconds); then per group, in KEYS order: the number of events n, then its n fingerprints,
# its n ids and its n positions, each joined by FIELD_SEPARATOR into one argument (four arguments
# per group however large: a client packs each argument in Python, so 2 per event cost more than
# the script). Returns one string: per event in argument order, "" to process it or the id it
# duplicates, joined by FIELD_SEPARATOR. An event's claim is `id .. CLAIM_SEPARATOR .. position`
# (see `claim`). "Process" writes this record's claim into the current bucket unless it is already
# there: a new fingerprint, this record's claim found only in the previous bucket (copied forward,
# so a late replay keeps its claim alive), or a bare-id claim of the same id (rewritten with the
# position). A duplicate leaves nothing written, so duplicates do not extend the original's
# lifetime. Most fingerprints are new, so the claim is tried first (HSETNX) and the previous bucket
# read only after it succeeds, a claim found there of another record taking it back (HDEL): a new
# fingerprint costs a write and a read instead of two reads and a write; a repeat found in the
# current bucket costs a read more (two commands), one found in the previous bucket a write more.
# Every call now writes, so a Redis out of memory under `noeviction` also refuses a batch of only
# repeats (it refused any batch holding a new fingerprint already); the outage guard retries it.
_CHECK_AND_SET = """
local expire_at = tonumber(ARGV[1])
local out = {}
local function field(packed, from)
  local stop = string.find(packed, '\\254', from, true)
  if stop then
    return string.sub(packed, from, stop - 1), stop + 1
  end
  return string.sub(packed, from), #packed + 2
end
-- Whom a claim found for this fingerprint names: '' when it is this event's id as a bare claim.
local function claimant(seen, id)
  local cut = string.find(seen, '\\255', 1, true)
  if cut then
    return string.sub(seen, 1, cut - 1)
  elseif seen ~= id then
    return seen
  end
  return ''
end
local a = 2
for k = 1, #KEYS, 2 do
  local cur, prev = KEYS[k], KEYS[k + 1]
  local n = tonumber(ARGV[a])
  local fps, ids, positions = ARGV[a + 1], ARGV[a + 2], ARGV[a + 3]
  a = a + 4
  local f, i, p = 1, 1, 1
  for _ = 1, n do
    local fp, id, position
    fp, f = field(fps, f)
    id, i = field(ids, i)
    position, p = field(positions, p)
    local claim = id .. '\\255' .. position
    local verdict = ''
    if redis.call('HSETNX', cur, fp, claim) == 1 then
      local seen = redis.call('HGET', prev, fp)
      if seen and seen ~= claim then
        verdict = claimant(seen, id)
        if verdict ~= '' then
          redis.call('HDEL', cur, fp)
        end
      end
    else
      local seen = redis.call('HGET', cur, fp)
      if seen ~= claim then
        verdict = claimant(seen, id)
        if verdict == '' then
          redis.call('HSET', cur, fp, claim)
        end
      end
    end
    out[#out + 1] = verdict
  end
  redis.call('EXPIREAT', cur, expire_at)
end
return table.concat(out, '\\254')
"""

# KEYS: (current bucket, previous bucket) per shard group. ARGV: per group, in KEYS order, the
# number of events n, then n (fingerprint, claim) pairs. Deletes each fingerprint from either
# bucket only where it still holds this claim (another record's claim stays). Returns nothing.
_RELEASE = """
local a = 1
for k = 1, #KEYS, 2 do
  local n = tonumber(ARGV[a])
  a = a + 1
  for _ = 1, n do
    local fp, claim = ARGV[a], ARGV[a + 1]
    a = a + 2
    for b = k, k + 1 do
      if redis.call('HGET', KEYS[b], fp) == claim then
        redis.call('HDEL', KEYS[b], fp)
      end
    end
  end
end
return 0
"""

RedisClient = redis.Redis | RedisCluster

# Replies that have the batch checked again through the cluster client (see the module docstring):
# a call that did not land where the slot map said, or a node without the script.
_RETRY_VIA_CLUSTER_CLIENT = (
    AskError,  # and MovedError
    TryAgainError,
    ReadOnlyError,
    ClusterDownError,
    NoScriptError,
    redis.ConnectionError,
    redis.TimeoutError,
)


def shard_of(fingerprint: str, digits: int = SHARD_DIGITS) -> str:
    """The shard of a fingerprint: its first `digits` characters. Fingerprints are hex digests
    (inference/text.py), so there are 16 ** digits shards, evenly filled."""
    return fingerprint[:digits]


def group_by_shard(fingerprints: Sequence[str], digits: int = SHARD_DIGITS) -> dict[str, list[int]]:
    """Indices of the batch's events per shard, each list in input order (so duplicates within a
    batch are judged in the order they arrived); shards in order of first appearance."""
    groups: dict[str, list[int]] = {}
    for i, fp in enumerate(fingerprints):
        shard = fp[:digits]
        indices = groups.get(shard)
        if indices is None:
            groups[shard] = [i]
        else:
            indices.append(i)
    return groups


def claim(event_id: str, position: str) -> bytes:
    """The value stored for a fingerprint claimed by the record at `position` for `event_id`."""
    return event_id.encode() + CLAIM_SEPARATOR + position.encode()


def _packed(fields: Sequence[str]) -> bytes:
    """Fields as one script argument: each UTF-8 encoded (strictly: any other bytes than UTF-8's
    would not be a claim) and joined by FIELD_SEPARATOR, which none of them can contain."""
    return FIELD_SEPARATOR.join(map(str.encode, fields))


def _group_args(
    indices: list[int] | None,
    fingerprints: Sequence[str],
    ids: Sequence[str],
    positions: Sequence[str],
) -> list[bytes | int]:
    """One shard group's script arguments: its event count, then its fingerprints, ids and
    positions, each packed into one argument. `indices` are the group's events' places in the
    batch; None: the whole batch is the group."""
    if indices is None:
        return [len(fingerprints), _packed(fingerprints), _packed(ids), _packed(positions)]
    return [
        len(indices),
        _packed([fingerprints[i] for i in indices]),
        _packed([ids[i] for i in indices]),
        _packed([positions[i] for i in indices]),
    ]


def _in_order(verdicts: list[str | None], groups: dict[str, list[int]]) -> list[str | None]:
    """Verdicts that come grouped by shard, each put back at its event's index."""
    ordered: list[str | None] = [None] * len(verdicts)
    order = (i for indices in groups.values() for i in indices)
    for i, verdict in zip(order, verdicts, strict=True):
        ordered[i] = verdict
    return ordered


def _verdicts(reply: bytes | str, count: int) -> list[str | None]:
    """The script's reply as one verdict per event: None to process it, or the id it duplicates."""
    if isinstance(reply, str):
        reply = reply.encode()
    parts = reply.split(FIELD_SEPARATOR)
    if len(parts) != count:
        raise redis.ResponseError(f"dedup script answered {len(parts)} verdicts for {count} events")
    return [p.decode() if p else None for p in parts]


def _give_back(sent: list[tuple[redis.Redis, Any, list[str]]], *, close: bool) -> None:
    """Return the connections of per-node calls to their pools; `close`: closed first, so no
    reply left unread is ever read as another command's."""
    for node, conn, _ in sent:
        if close:
            conn.disconnect()
        node.connection_pool.release(conn)


def _read_replies(sent: list[tuple[redis.Redis, Any, list[str]]]) -> dict[str, Any]:
    """Every per-node call's reply by shard, or the exception reading it raised, each node's
    connection back in its pool in step: after an error reply the node's other replies are still
    read; after a failed read its connection is closed and the rest of its calls get that error."""
    replies: dict[str, Any] = {}
    for k, (node, conn, shards) in enumerate(sent):
        failed: Exception | None = None
        for shard in shards:
            if failed is None:
                try:
                    replies[shard] = conn.read_response()
                    continue
                except redis.ResponseError as exc:  # an error reply: still in step
                    replies[shard] = exc
                    continue
                except Exception as exc:
                    conn.disconnect()
                    failed = exc
                except BaseException:
                    _give_back(sent[k:], close=True)
                    raise
            replies[shard] = failed
        node.connection_pool.release(conn)
    return replies


class _Batch(NamedTuple):
    """A batch's check on a cluster, as either way of sending it needs it."""

    groups: dict[str, list[int]]
    fingerprints: Sequence[str]
    ids: Sequence[str]
    positions: Sequence[str]
    bucket: int
    expire_at: int

    def args(self, shard: str) -> list[bytes | int]:
        """A shard group's script arguments."""
        return [
            self.expire_at,
            *_group_args(self.groups[shard], self.fingerprints, self.ids, self.positions),
        ]

    def evalsha(self, sha: str, keys: tuple[str, str], shard: str) -> bytes:
        """A shard group's EVALSHA as the bytes sent, packed by hiredis in C (redis-py's own
        packing, argument by argument in Python, cost more than the rest of the check)."""
        command = ("EVALSHA", sha, len(keys), *keys, *self.args(shard))
        return pack_command(command)  # type: ignore[arg-type]  # its stub types a 1-tuple

    def in_order(self, replies: dict[str, Any]) -> list[str | None]:
        """Each event's verdict, from each shard group's reply."""
        grouped = [
            verdict
            for shard, indices in self.groups.items()
            for verdict in _verdicts(replies[shard], len(indices))
        ]
        return _in_order(grouped, self.groups)


class Deduplicator:
    """Claims fingerprints for input records (event id and input position) in Redis, in
    `16 ** shard_digits` hashes per bucket.

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
        self._release = client.register_script(_RELEASE)
        # A cluster: the primary serving each shard's slot, as the client's slot map last gave
        # it; None: read the map again.
        self._shard_nodes: dict[str, ClusterNode] | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> "Deduplicator":
        """The service's deduplicator, on a client for REDIS_URL and REDIS_MODE, as configured."""
        client = connect(settings.redis_url, settings.redis_mode, settings.redis_timeout_seconds)
        return cls(
            client,
            settings.dedup_key,
            settings.dedup_retention_seconds,
            shard_digits=settings.dedup_shard_digits,
        )

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

    def check(
        self, fingerprints: Sequence[str], ids: Sequence[str], positions: Sequence[str]
    ) -> list[str | None]:
        """For each event: None to process it, or the id of the event it duplicates.

        :param fingerprints: each event's content fingerprint.
        :param ids: each event's id.
        :param positions: each event's input position, a string naming its record uniquely, e.g.
            "topic:partition:offset". Only compared for equality: reading the same record again
            gives the same position, and so "process it".

        Raises `redis.RedisError` when Redis is unavailable; nothing is published without a verdict.
        """
        return self.start(fingerprints, ids, positions)()

    def start(
        self, fingerprints: Sequence[str], ids: Sequence[str], positions: Sequence[str]
    ) -> Callable[[], list[str | None]]:
        """`check` in two halves: the batch's request goes to Redis now, and the call returned
        waits for the reply and gives `check`'s verdicts, so the caller works (classifies the batch)
        while Redis answers, with no thread. The call must be made exactly once. Parameters as
        `check`'s; `redis.RedisError` may come from either half."""
        if not len(fingerprints) == len(ids) == len(positions):
            raise ValueError(
                f"{len(fingerprints)} fingerprints, {len(ids)} ids, {len(positions)} positions"
            )
        count = len(fingerprints)
        if not count:
            return list
        # A bucket lives until its successor stops reading it: two bucket lengths after it began.
        bucket = self._bucket()
        expire_at = (bucket + 2) * self._bucket_seconds + 60
        if not self._shard_digits:  # one group, the batch as it came
            keys = list(self.shard_keys("", bucket))
            reply = self._send(keys, [expire_at, *_group_args(None, fingerprints, ids, positions)])
            return lambda: _verdicts(reply(), count)
        groups = group_by_shard(fingerprints, self._shard_digits)
        if self._cluster:
            batch = _Batch(groups, fingerprints, ids, positions, bucket, expire_at)
            plan = self._plan(groups)
            if plan is None:
                return partial(self._check_via_cluster_client, batch)
            return self._send_per_node(batch, plan)
        keys = []
        args: list[bytes | int] = [expire_at]
        for shard, indices in groups.items():
            keys.extend(self.shard_keys(shard, bucket))
            args.extend(_group_args(indices, fingerprints, ids, positions))
        reply = self._send(keys, args)
        return lambda: _in_order(_verdicts(reply(), count), groups)

    def release(
        self, fingerprints: Sequence[str], ids: Sequence[str], positions: Sequence[str]
    ) -> None:
        """Withdraw the claims these records made, where they still hold: for events that were
        checked ("process it") but then dead-lettered instead of tagged, so the content is not
        remembered under an id that was never tagged (republished from the dead-letter topic, it
        is processed, not called a duplicate of itself). Rare: one script call per shard group.
        Parameters as `check`'s; raises `redis.RedisError`."""
        if not len(fingerprints) == len(ids) == len(positions):
            raise ValueError(
                f"{len(fingerprints)} fingerprints, {len(ids)} ids, {len(positions)} positions"
            )
        bucket = self._bucket()
        groups = group_by_shard(fingerprints, self._shard_digits)
        calls: list[tuple[tuple[str, str], list[bytes | int]]] = []
        for shard, indices in groups.items():
            args: list[bytes | int] = [len(indices)]
            for i in indices:
                args += [fingerprints[i].encode(), claim(ids[i], positions[i])]
            calls.append((self.shard_keys(shard, bucket), args))
        if self._cluster:  # every key of a call in one slot: a call per group
            for keys, args in calls:
                self._release(keys=list(keys), args=args)
            return
        self._release(
            keys=[k for keys, _ in calls for k in keys], args=[a for _, args in calls for a in args]
        )

    def _send(self, keys: list[str], args: list[bytes | int]) -> Callable[[], Any]:
        """The script's EVALSHA written now on a connection of the client's pool; the call
        returned reads its reply. Should the connection fail either way, or Redis not know the
        script (restarted, failed over), the reply comes from the client's own call instead, with
        its retries and its script loading: the script is safe to run twice (a claim found for the
        same record is "process it")."""
        client = self._client
        assert isinstance(client, redis.Redis)  # not a cluster (`start`)
        pool = client.connection_pool
        conn = pool.get_connection()
        try:
            conn.send_command("EVALSHA", self._script.sha, len(keys), *keys, *args)
        except (redis.ConnectionError, redis.TimeoutError):
            conn.disconnect()
            pool.release(conn)
            return partial(self._script, keys=keys, args=args)
        except BaseException:
            conn.disconnect()
            pool.release(conn)
            raise

        def reply() -> Any:
            try:
                return conn.read_response()
            except NoScriptError:
                pass
            except (redis.ConnectionError, redis.TimeoutError):
                conn.disconnect()
            except redis.RedisError:  # an error reply: the connection is in step
                raise
            except BaseException:
                conn.disconnect()
                raise
            finally:
                pool.release(conn)
            return self._script(keys=keys, args=args)

        return reply

    def _plan(self, groups: dict[str, list[int]]) -> dict[ClusterNode, list[str]] | None:
        """The batch's shards by the primary serving each one's slot, per the cluster client's
        slot map; None while that map has no primary for some slot (not read yet, a slot
        uncovered): the batch then goes through the cluster client, which reads it."""
        nodes = self._shard_nodes
        if nodes is None:
            client = self._client
            assert isinstance(client, RedisCluster)
            try:
                nodes = {
                    shard: client.nodes_manager.get_node_from_slot(
                        client.keyslot(self.shard_keys(shard, 0)[0])
                    )
                    for shard in self.shards
                }
            except RedisClusterException:
                return None
            self._shard_nodes = nodes
        plan: dict[ClusterNode, list[str]] = {}
        for shard in groups:
            plan.setdefault(nodes[shard], []).append(shard)
        return plan

    def _send_per_node(
        self, batch: _Batch, plan: dict[ClusterNode, list[str]]
    ) -> Callable[[], list[str | None]]:
        """Each primary's EVALSHAs, one per shard `plan` puts there, written now in one go on a
        connection of that node's pool; the call returned reads every reply and gives the
        batch's verdicts, or checks the batch again through the cluster client (module
        docstring)."""
        client = self._client
        assert isinstance(client, RedisCluster)
        sha = self._script.sha
        sent: list[tuple[redis.Redis, Any, list[str]]] = []
        try:
            for node, shards in plan.items():
                node_client = client.get_redis_connection(node)
                conn = node_client.connection_pool.get_connection()
                sent.append((node_client, conn, shards))
                conn.send_packed_command(
                    [
                        b"".join(
                            batch.evalsha(sha, self.shard_keys(shard, batch.bucket), shard)
                            for shard in shards
                        )
                    ]
                )
        except (redis.ConnectionError, redis.TimeoutError):
            _give_back(sent, close=True)
            self._shard_nodes = None
            return partial(self._check_via_cluster_client, batch)
        except BaseException:
            _give_back(sent, close=True)
            raise

        def verdicts() -> list[str | None]:
            replies = _read_replies(sent)
            if any(isinstance(r, _RETRY_VIA_CLUSTER_CLIENT) for r in replies.values()):
                self._shard_nodes = None  # read the slot map again for the next batch
                return self._check_via_cluster_client(batch)
            for reply in replies.values():
                if isinstance(reply, Exception):
                    raise reply
            return batch.in_order(replies)

        return verdicts

    def _check_via_cluster_client(self, batch: _Batch) -> list[str | None]:
        """The batch's verdicts from one EVALSHA per shard group through the cluster client."""
        shards = list(batch.groups)
        replies = self._run_per_shard(
            [(self.shard_keys(shard, batch.bucket), batch.args(shard)) for shard in shards]
        )
        return batch.in_order(dict(zip(shards, replies, strict=True)))

    def _run_per_shard(
        self, calls: list[tuple[tuple[str, str], list[bytes | int]]]
    ) -> list[bytes | str]:
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
