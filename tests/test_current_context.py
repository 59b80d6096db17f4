"""current_context(): the request's Context from anywhere in its task (Koa 3's currentContext)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from _core_helpers import http

from scallion import App, Context, current_context


def deep_helper() -> str:
    """Code far from the middleware signature, with no ctx passed in."""
    return current_context().path


def test_outside_a_request_it_raises_lookup_error() -> None:
    with pytest.raises(LookupError):
        current_context()


def test_it_returns_the_requests_context_anywhere_in_its_task() -> None:
    seen: list[bool] = []

    async def handler(ctx: Context, next: Any) -> None:
        seen.append(current_context() is ctx)
        await asyncio.sleep(0)
        child = await asyncio.create_task(asyncio.sleep(0, result=current_context()))
        seen.append(child is ctx)  # tasks copy the context, so children see it too
        ctx.body = deep_helper()

    assert http(App().use(handler), url="/deep/path").text == "/deep/path"
    assert seen == [True, True]


async def test_concurrent_requests_each_see_their_own() -> None:
    async def handler(ctx: Context, next: Any) -> None:
        await asyncio.sleep(0.001 * (len(ctx.path) % 3))
        ctx.body = {"mine": current_context() is ctx, "path": deep_helper()}

    from scallion.testing import AsyncTestClient

    async with AsyncTestClient(App().use(handler)) as client:
        responses = await asyncio.gather(*(client.get(f"/r{i}") for i in range(30)))
    assert [r.json() for r in responses] == [{"mine": True, "path": f"/r{i}"} for i in range(30)]


def test_it_is_reset_after_the_request() -> None:
    async def handler(ctx: Context, next: Any) -> None:
        ctx.body = "ok"

    http(App().use(handler))
    with pytest.raises(LookupError):
        current_context()


def test_error_listeners_run_inside_the_request() -> None:
    app = App()
    seen: list[str] = []
    app.on("error", lambda err, ctx: seen.append(current_context().path))

    async def boom(ctx: Context, next: Any) -> None:
        raise ValueError

    http(app.use(boom), url="/failing")
    assert seen == ["/failing"]
