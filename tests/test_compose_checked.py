"""The forgotten ``await next()``: Koa's most common support question, caught by name.

In checked mode (``compose(..., checked=True)``, on under ``App(env="development")``) and
always in the trampolined runner, a middleware that returns while the ``next()`` it called
was never awaited, or is still pending in a task it forgot, raises a RuntimeError naming it.
No "coroutine ... was never awaited" warning escapes instead.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import pytest

from scallion import App, compose
from scallion.compose import DIRECT_MAX
from scallion.testing import AsyncTestClient

pytestmark = pytest.mark.filterwarnings("error")

PAD = DIRECT_MAX + 1


async def passthrough(ctx: Any, next: Any) -> None:
    await next()


async def forgot_await(ctx: Any, next: Any) -> None:
    next()


async def forgot_task(ctx: Any, next: Any) -> None:
    asyncio.create_task(next())  # noqa: RUF006 - the mistake under test


async def handler(ctx: Any, next: Any) -> None:
    await asyncio.sleep(0)


async def test_checked_mode_names_the_middleware_that_forgot_to_await() -> None:
    with pytest.raises(RuntimeError, match="forgot_await") as info:
        await compose([passthrough, forgot_await, handler], checked=True)({})
    assert "missing an `await`" in str(info.value)
    del info
    gc.collect()  # a "never awaited" warning would surface here, as an error


async def test_checked_mode_catches_next_left_pending_in_a_task() -> None:
    with pytest.raises(RuntimeError, match="forgot_task"):
        await compose([forgot_task, handler], checked=True)({})
    await asyncio.sleep(0.01)
    gc.collect()


async def test_checked_mode_leaves_no_failed_task_behind(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(RuntimeError, match="forgot_task"):
        await compose([forgot_task, handler], checked=True)({})
    await asyncio.sleep(0.01)
    gc.collect()
    assert not [r for r in caplog.records if r.name == "asyncio"]


async def test_checked_mode_lets_correct_chains_through() -> None:
    async def returns_early(ctx: Any, next: Any) -> str:
        return "no next at all"

    assert await compose([returns_early, handler], checked=True)({}) == "no next at all"
    assert await compose([passthrough, handler], checked=True)({}) is None


async def test_the_trampolined_runner_always_names_it() -> None:
    with pytest.raises(RuntimeError, match="forgot_await"):
        await compose([*[passthrough] * PAD, forgot_await, handler])({})
    gc.collect()


async def test_the_trampolined_runner_names_next_left_pending_in_a_task() -> None:
    with pytest.raises(RuntimeError, match="forgot_task"):
        await compose([*[passthrough] * PAD, forgot_task, handler])({})


async def test_development_app_answers_500_and_reports_the_name() -> None:
    app = App(env="development")
    errors: list[BaseException] = []
    app.on("error", lambda err, ctx: errors.append(err))
    app.use(passthrough, forgot_await, handler)
    async with AsyncTestClient(app) as client:
        response = await client.get("/")
    assert response.status_code == 500
    assert "forgot_await" in response.text
    assert len(errors) == 1
    assert "forgot_await" in str(errors[0])
    gc.collect()


async def test_development_env_from_the_environment_turns_checking_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SCALLION_ENV", "development")
    with pytest.raises(RuntimeError, match="forgot_await"):
        await compose([forgot_await, handler])({})
    gc.collect()
