"""Fixtures for the observability tests: apps with a router, upstreams with breakers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import pytest

from scallion import App, HttpError, Router
from scallion.bff.breaker import CircuitBreaker
from scallion.bff.upstream import Upstream
from scallion.context import Context
from scallion.types import Middleware


def routed_app(*middleware: Middleware) -> App:
    """``middleware`` in front of a router with a few typical routes."""
    app = App()
    router = Router()

    @router.get("/users/:id")
    async def user(ctx: Context) -> None:
        ctx.body = {"id": ctx.params["id"]}

    @router.get("/hello")
    async def hello(ctx: Context) -> None:
        ctx.body = "hello"

    @router.get("/forbidden")
    async def forbidden(ctx: Context) -> None:
        raise HttpError(403, "no")

    @router.get("/boom")
    async def boom(ctx: Context) -> None:
        raise RuntimeError("kaput")

    @router.get("/unavailable")
    async def unavailable(ctx: Context) -> None:
        ctx.status = 503
        ctx.body = "down"

    @router.get("/stream")
    async def stream(ctx: Context) -> None:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"a"
            yield b"b"

        ctx.body = chunks()

    @router.post("/items")
    async def create(ctx: Context) -> None:
        ctx.status = 201
        ctx.body = {"ok": True}

    app.use(*middleware, router.routes(), router.allowed_methods())
    return app


def trip(breaker: CircuitBreaker, failures: int = 2) -> None:
    """Open ``breaker`` by feeding it failed calls (no I/O involved)."""
    for _ in range(failures):
        breaker.record(breaker.try_acquire(), True)


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    """Two instances with breakers that open after two failed calls."""
    up = Upstream(
        "users",
        ["http://127.0.0.1:9", "http://127.0.0.1:10"],
        breaker={"failure_rate": 0.5, "minimum_calls": 2, "window": 4, "wait_duration": 30},
    )
    yield up


@pytest.fixture
def restore_scallion_logger() -> Iterator[None]:
    """Put the ``scallion`` logger back as it was (configure_logging changes it)."""
    target = logging.getLogger("scallion")
    saved = (list(target.handlers), target.level, target.propagate)
    yield
    for handler in list(target.handlers):
        if handler not in saved[0]:
            target.removeHandler(handler)
            handler.close()
    target.setLevel(saved[1])
    target.propagate = saved[2]
