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
from tests.support.servers import LocalServices, ensure_installed


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
