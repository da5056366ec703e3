"""Real Kafka (KRaft, single node) and Redis for the integration tests.

One instance per test session, on free ports, with its state in a pytest temp dir, started
and stopped through scripts/services.sh (see tests/support/servers.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from chaos.services import ServicesError
from schemas.topics import Topics
from tests.support.harness import ServiceProcess, unique_topics
from tests.support.servers import LocalRedisCluster, LocalServices, ensure_installed


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServices]:
    """Kafka + Redis on free localhost ports; `.bootstrap`, `.redis_url`, `.up/.down(which)`."""
    try:
        ensure_installed()
    except ServicesError as exc:
        pytest.fail(f"cannot provide Kafka/Redis for integration tests:\n{exc}", pytrace=False)
    svc = LocalServices(tmp_path_factory.mktemp("services"))
    try:
        svc.up()
    except ServicesError as exc:
        svc.down_quietly()
        pytest.fail(f"could not start Kafka/Redis ({svc!r}):\n{exc}", pytrace=False)
    try:
        yield svc
    finally:
        svc.down()


@pytest.fixture
def redis_up(services: LocalServices) -> Iterator[LocalServices]:
    """For tests that stop Redis: makes sure it is running again afterwards."""
    yield services
    services.up("redis")


@pytest.fixture
def new_topic(services: LocalServices) -> Callable[..., str]:
    """Factory: new_topic(partitions=4, prefix="test") creates a uniquely named topic."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": services.bootstrap})

    def create(partitions: int = 4, prefix: str = "test") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        futures = admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=1)],
            operation_timeout=30,
            request_timeout=30,
        )
        futures[name].result(timeout=60)
        return name

    return create


@pytest.fixture
def topics(services: LocalServices) -> Topics:
    """A fresh set of the service's topics, 3 input partitions."""
    return unique_topics(3, services.bootstrap)


@pytest.fixture
def start_service(
    services: LocalServices, tmp_path: Path
) -> Iterator[Callable[..., ServiceProcess]]:
    """Makes `ServiceProcess`es (the session's broker and Redis unless told otherwise, a log per
    process in the test's dir), every one stopped after the test. Keywords as `ServiceProcess`'s."""
    started: list[ServiceProcess] = []

    def make(**kwargs: object) -> ServiceProcess:
        kwargs.setdefault("bootstrap", services.bootstrap)
        kwargs.setdefault("redis_url", services.redis_url)
        svc = ServiceProcess(log_path=tmp_path / f"service-{len(started)}.log", **kwargs)  # type: ignore[arg-type]
        started.append(svc)
        return svc

    yield make
    for svc in started:
        svc.stop_quietly()


@pytest.fixture(scope="module")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRedisCluster]:
    """A local 3-primary Redis Cluster for the module's tests."""
    cluster = LocalRedisCluster(tmp_path_factory.mktemp("redis-cluster"))
    try:
        cluster.up()
    except ServicesError as exc:
        cluster.down_quietly()
        pytest.fail(f"could not start the Redis Cluster ({cluster!r}):\n{exc}", pytrace=False)
    try:
        yield cluster
    finally:
        cluster.down()
