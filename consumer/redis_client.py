"""One Redis client for the dedup store, whichever way Redis is deployed (`REDIS_MODE`).

* standalone: `REDIS_URL` names the server, `redis://[[user]:password@]host:port/db` (or
  `rediss://`, `unix://`), as redis-py's `Redis.from_url` reads it.
* cluster: `REDIS_URL` names any one node, `redis://[[user]:password@]host:port`; the client
  discovers the others (`CLUSTER SLOTS`), routes each key to its primary and follows MOVED/ASK
  and failovers (refreshing its slot map), retrying with backoff before raising.
* sentinel: `REDIS_URL` names the Sentinel set and the service,
  `redis+sentinel://[[user]:password@]host1[:26379][,host2[:26379]...]/<service>[/db]`; the client
  asks the Sentinels for the current primary and finds the new one after a failover. The
  credentials are the primary's (Sentinels without auth, as usual).

Failures surface as `redis.RedisError`, which the service's outage guard turns into a pause and
a retry of the whole batch.
"""

from typing import Literal
from urllib.parse import unquote, urlsplit

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry
from redis.sentinel import Sentinel

RedisMode = Literal["standalone", "cluster", "sentinel"]

SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_PORT = 26379


def connect(
    url: str,
    mode: RedisMode,
    timeout: float,
    *,
    retries: int = 3,
    backoff_cap: float = 1.0,
) -> redis.Redis | RedisCluster:
    """A client for `url`, read as `mode` says (see the module docstring for the URL forms).

    Nothing is sent until the first command, so this works while Redis is still down.

    :param url: the server, a seed node of the cluster, or the Sentinel set and service.
    :param mode: "standalone", "cluster" or "sentinel".
    :param timeout: seconds for connecting and for each reply.
    :param retries: cluster and sentinel only: retries of a command after a connection error or
        a timeout (redirections and a failover's refresh of the slot map come on top).
    :param backoff_cap: the longest wait between two of those retries, in seconds.
    """
    timeouts = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
    if mode == "standalone":
        return redis.Redis.from_url(url, **timeouts)
    retry = Retry(ExponentialWithJitterBackoff(cap=backoff_cap, base=0.05), retries)
    if mode == "cluster":
        return RedisCluster.from_url(url, retry=retry, **timeouts)
    if mode == "sentinel":
        sentinels, service, db, username, password = parse_sentinel_url(url)
        sentinel = Sentinel(sentinels, sentinel_kwargs=dict(timeouts))
        return sentinel.master_for(
            service,
            db=db,
            username=username,
            password=password,
            retry=retry,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
        )
    raise ValueError(f"unknown Redis mode {mode!r}: standalone, cluster or sentinel")


def parse_sentinel_url(
    url: str,
) -> tuple[list[tuple[str, int]], str, int, str | None, str | None]:
    """`redis+sentinel://[[user]:password@]h1[:port][,h2[:port]...]/service[/db]` as
    (sentinel addresses, service name, db, username, password)."""
    parts = urlsplit(url)
    if parts.scheme != SENTINEL_SCHEME:
        raise ValueError(f"a Sentinel URL starts with {SENTINEL_SCHEME}://, not {url!r}")
    userinfo, _, hosts = parts.netloc.rpartition("@")
    username, password = None, None
    if userinfo:
        user, sep, pw = userinfo.partition(":")
        username = unquote(user) or None
        password = unquote(pw) if sep else None
    sentinels = []
    for host_port in hosts.split(","):
        if host_port.startswith("["):  # [IPv6]:port
            host, _, rest = host_port[1:].partition("]")
            port = rest.removeprefix(":")
        else:
            host, _, port = host_port.partition(":")
        if not host:
            raise ValueError(f"empty Sentinel host in {url!r}")
        sentinels.append((host, int(port) if port else SENTINEL_PORT))
    path = [p for p in parts.path.split("/") if p]
    if not path or len(path) > 2:
        raise ValueError(f"a Sentinel URL names the service: .../<service>[/db], not {url!r}")
    db = int(path[1]) if len(path) == 2 else 0
    return sentinels, unquote(path[0]), db, username, password
