"""REDIS_MODE and REDIS_URL → the redis-py client (no server: clients connect on first use)."""

import pytest
import redis

from consumer.redis_client import connect, parse_sentinel_url


def test_sentinel_url_names_every_sentinel_the_service_and_the_db():
    sentinels, service, db, _, _ = parse_sentinel_url(
        "redis+sentinel://s1:26380,s2,[::1]:26381/mymaster/2"
    )
    assert sentinels == [("s1", 26380), ("s2", 26379), ("::1", 26381)]
    assert (service, db) == ("mymaster", 2)


def test_sentinel_url_credentials_are_the_primarys():
    *_, username, password = parse_sentinel_url("redis+sentinel://app:s%40cret@s1/mymaster")
    assert (username, password) == ("app", "s@cret")


def test_sentinel_url_without_a_service_is_refused():
    with pytest.raises(ValueError, match="service"):
        parse_sentinel_url("redis+sentinel://s1:26379")


def test_sentinel_url_needs_its_own_scheme():
    with pytest.raises(ValueError, match="redis\\+sentinel"):
        parse_sentinel_url("redis://s1:26379/mymaster")


def test_sentinel_mode_asks_the_sentinels_for_the_services_primary():
    client = connect("redis+sentinel://s1,s2/mymaster/1", "sentinel", timeout=1.5)
    pool = client.connection_pool
    assert pool.service_name == "mymaster"
    assert [
        c.connection_pool.connection_kwargs["host"] for c in pool.sentinel_manager.sentinels
    ] == [
        "s1",
        "s2",
    ]
    assert pool.connection_kwargs["db"] == 1
    assert pool.connection_kwargs["socket_timeout"] == 1.5


def test_standalone_mode_is_a_plain_client_with_the_timeouts():
    client = connect("redis://cache:6380/3", "standalone", timeout=0.5)
    assert type(client) is redis.Redis
    kwargs = client.connection_pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("cache", 6380, 3)
    assert kwargs["socket_timeout"] == kwargs["socket_connect_timeout"] == 0.5


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="standalone, cluster or sentinel"):
        connect("redis://localhost", "replicated", timeout=1)  # type: ignore[arg-type]
