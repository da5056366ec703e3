"""Content dedup in Redis: check-and-set every fingerprint of a batch in one round trip.

Fingerprints live in time-bucketed hashes (`{key}:<bucket>`), each expiring after two buckets, so
memory is bounded without per-field TTLs (Redis < 7.4). A lookup checks the current and the previous
bucket, so a fingerprint is remembered for between one and two retention periods. The stored value
is the event id: the same id seen again is a redelivery (process it), another id is a duplicate.
Keys share a hash tag, so the script also runs on Redis Cluster.
"""

import time
from collections.abc import Callable, Sequence

import redis

# KEYS[1] current bucket, KEYS[2] previous bucket; ARGV[1] the current bucket's expiry (unix
# seconds), then fingerprint/id pairs. Returns, per pair, "" to process it or the id it duplicates.
_CHECK_AND_SET = """
local cur, prev, expire_at = KEYS[1], KEYS[2], tonumber(ARGV[1])
local out = {}
for i = 2, #ARGV, 2 do
  local fp, id = ARGV[i], ARGV[i + 1]
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
return out
"""


class Deduplicator:
    def __init__(
        self,
        client: redis.Redis,
        key: str,
        retention_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._prefix = "{" + key + "}"
        self._bucket_seconds = retention_seconds
        self._script = client.register_script(_CHECK_AND_SET)
        self._clock = clock

    def _bucket(self) -> int:
        return int(self._clock() // self._bucket_seconds)

    def keys(self, bucket: int | None = None) -> tuple[str, str]:
        """The current and the previous bucket's hash."""
        bucket = self._bucket() if bucket is None else bucket
        return f"{self._prefix}:{bucket}", f"{self._prefix}:{bucket - 1}"

    def check(self, fingerprints: Sequence[str], ids: Sequence[str]) -> list[str | None]:
        """For each event: None to process it, or the id of the event it duplicates.

        Raises `redis.RedisError` when Redis is unavailable; nothing is published without a verdict.
        """
        if not fingerprints:
            return []
        # A bucket lives until its successor stops reading it: two bucket lengths after it began.
        bucket = self._bucket()
        args: list[str | int] = [(bucket + 2) * self._bucket_seconds + 60]
        for fp, event_id in zip(fingerprints, ids, strict=True):
            args.append(fp)
            args.append(event_id)
        result = self._script(keys=list(self.keys(bucket)), args=args)
        return [(r.decode() if isinstance(r, bytes) else r) or None for r in result]
