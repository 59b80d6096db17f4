"""Redis going away mid-run and coming back, through a loopback proxy we can cut."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from scallion.stores import StoreUnavailable
from scallion.stores.redis import RedisStore

from .conftest import REDIS_URL


class CuttableProxy:
    """Forwards loopback TCP to the real Redis until ``cut()``; ``restore()`` reopens."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        self.tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers |= {writer, up_writer}
        for task in (
            asyncio.create_task(self._pipe(reader, up_writer)),
            asyncio.create_task(self._pipe(up_reader, writer)),
        ):
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.close()
        self.writers.clear()
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.server.wait_closed()

    async def restore(self) -> None:
        await self.start()


@pytest.fixture
async def proxy() -> AsyncIterator[CuttableProxy]:
    target = urlsplit(REDIS_URL)
    p = CuttableProxy(target.hostname or "127.0.0.1", target.port or 6379)
    await p.start()
    yield p
    await p.cut()


async def test_redis_going_away_mid_run_and_coming_back(
    proxy: CuttableProxy, redis_prefix: str
) -> None:
    db = urlsplit(REDIS_URL).path or "/0"
    store = RedisStore(f"redis://127.0.0.1:{proxy.port}{db}", prefix=redis_prefix, timeout=0.3)
    try:
        await store.set("k", b"v")
        assert (await store.sliding_window_hit("rl", 5, 10)).allowed
        await proxy.cut()
        started = time.monotonic()
        for _ in range(3):
            with pytest.raises(StoreUnavailable):
                await store.get("k")
            with pytest.raises(StoreUnavailable):
                await store.sliding_window_hit("rl", 5, 10)
        assert time.monotonic() - started < 3.0  # each failure is quick, none hangs
        await proxy.restore()
        assert await store.get("k") == b"v"  # the pool reconnects by itself
        hit = await store.sliding_window_hit("rl", 5, 10)
        assert hit.allowed and hit.remaining == 3
    finally:
        await store.clear()
        await store.close()
