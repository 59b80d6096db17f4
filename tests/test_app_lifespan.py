"""startup/shutdown hooks ride the ASGI lifespan protocol."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from scallion import App, Context
from scallion.testing import AsyncTestClient, TestClient


async def ok(ctx: Context, next: Any) -> None:
    ctx.body = "ok"


def test_startup_and_shutdown_run_around_the_client_block() -> None:
    app = App().use(ok)
    log: list[str] = []

    @app.on("startup")
    async def open_pool() -> None:
        await asyncio.sleep(0)
        log.append("startup")

    @app.on("startup")
    def sync_too() -> None:
        log.append("sync startup")

    @app.on("shutdown")
    async def close_pool() -> None:
        log.append("shutdown")

    with TestClient(app) as client:
        assert log == ["startup", "sync startup"]
        assert client.get("/").text == "ok"
    assert log == ["startup", "sync startup", "shutdown"]


async def test_the_async_client_runs_the_hooks_too() -> None:
    app = App().use(ok)
    log: list[str] = []
    app.on("startup", lambda: log.append("up"))
    app.on("shutdown", lambda: log.append("down"))
    async with AsyncTestClient(app) as client:
        assert (await client.get("/")).text == "ok"
        assert log == ["up"]
    assert log == ["up", "down"]


def test_startup_freezes_the_chain() -> None:
    app = App().use(ok)
    with TestClient(app), pytest.raises(RuntimeError):
        app.use(ok)


def test_a_startup_hook_sees_app_state_and_requests_see_what_it_set() -> None:
    app = App()

    @app.on("startup")
    def boot() -> None:
        app.state.greeting = "hi from startup"

    async def read(ctx: Context, next: Any) -> None:
        ctx.body = ctx.app.state.greeting

    with TestClient(app.use(read)) as client:
        assert client.get("/").text == "hi from startup"


class LifespanDriver:
    """Feeds lifespan messages to an app by hand and records its answers."""

    def __init__(self, *incoming: str) -> None:
        self.incoming = [{"type": t} for t in incoming]
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        return self.incoming.pop(0)

    async def send(self, message: Any) -> None:
        self.sent.append(dict(message))

    async def run(self, app: App) -> None:
        await app({"type": "lifespan", "asgi": {"version": "3.0"}}, self.receive, self.send)


async def test_a_failing_startup_is_reported_as_lifespan_startup_failed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = App()

    @app.on("startup")
    def boom() -> None:
        raise ConnectionError("database unreachable")

    driver = LifespanDriver("lifespan.startup")
    await driver.run(app)
    assert [m["type"] for m in driver.sent] == ["lifespan.startup.failed"]
    assert "database unreachable" in driver.sent[0]["message"]
    assert "startup failed" in caplog.text


async def test_a_failing_shutdown_is_reported_as_lifespan_shutdown_failed() -> None:
    app = App()
    app.on("shutdown", lambda: 1 / 0)
    driver = LifespanDriver("lifespan.startup", "lifespan.shutdown")
    await driver.run(app)
    assert [m["type"] for m in driver.sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.failed",
    ]


async def test_the_full_lifespan_conversation() -> None:
    driver = LifespanDriver("lifespan.startup", "lifespan.shutdown")
    await driver.run(App())
    assert [m["type"] for m in driver.sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]


def test_the_test_client_raises_when_startup_fails() -> None:
    app = App()
    app.on("startup", lambda: 1 / 0)
    client = TestClient(app)
    with pytest.raises(RuntimeError, match="startup failed"):
        client.__enter__()
    client.close()
