"""Session fixtures shared by every test directory: a real Redis Cluster on loopback."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
from _redis_cluster import ClusterProcesses


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[ClusterProcesses]:
    """Three masters started once per session (lazily, by the first test that asks).

    Fails, never skips, when redis-server or redis-cli is missing: a green run must mean
    the cluster code ran against a cluster.
    """
    try:
        cluster = ClusterProcesses()
        cluster.start()
    except RuntimeError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield cluster
    cluster.stop()


@pytest.fixture
async def cluster_prefix(redis_cluster: ClusterProcesses) -> AsyncIterator[str]:
    """A key prefix of this test's own on the cluster; every key under it is removed after."""
    from scallion.stores.redis import RedisStore

    prefix = f"scallion-test:{uuid.uuid4().hex}:"
    yield prefix
    cleaner = RedisStore(redis_cluster.url, prefix=prefix)
    await cleaner.clear()
    await cleaner.close()
