"""Fixtures for the store tests: a fake clock and RedisStores on the real Redis."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator

import pytest

from scallion.stores.redis import RedisStore

REDIS_URL = os.environ.get("SCALLION_TEST_REDIS", "redis://127.0.0.1:6379/15")


class FakeClock:
    """A monotonic clock that only moves when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def redis_prefix() -> str:
    return f"scallion-test:{uuid.uuid4().hex}:"


@pytest.fixture
async def redis_store(redis_prefix: str) -> AsyncIterator[RedisStore]:
    store = RedisStore(REDIS_URL, prefix=redis_prefix)
    yield store
    await store.clear()
    await store.close()
