"""current_context(): the request's Context from anywhere in its task (Koa 3's currentContext).

Opt-in as in Koa 3: ``App(track_context=True)``, or ``track_current_context()`` (which
``configure_logging()`` calls) for apps that leave it unset.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from _core_helpers import http

from scallion import App, Context, current_context
from scallion.context import _Tracking, track_current_context


@pytest.fixture(autouse=True)
def _untracked() -> Any:
    """Start from the default (another test may have configured logging) and put it back."""
    before = _Tracking.enabled
    _Tracking.enabled = False
    yield
    _Tracking.enabled = before


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

    assert http(App(track_context=True).use(handler), url="/deep/path").text == "/deep/path"
    assert seen == [True, True]


async def test_concurrent_requests_each_see_their_own() -> None:
    async def handler(ctx: Context, next: Any) -> None:
        await asyncio.sleep(0.001 * (len(ctx.path) % 3))
        ctx.body = {"mine": current_context() is ctx, "path": deep_helper()}

    from scallion.testing import AsyncTestClient

    async with AsyncTestClient(App(track_context=True).use(handler)) as client:
        responses = await asyncio.gather(*(client.get(f"/r{i}") for i in range(30)))
    assert [r.json() for r in responses] == [{"mine": True, "path": f"/r{i}"} for i in range(30)]


def test_it_is_reset_after_the_request() -> None:
    async def handler(ctx: Context, next: Any) -> None:
        ctx.body = "ok"

    http(App(track_context=True).use(handler))
    with pytest.raises(LookupError):
        current_context()


def test_error_listeners_run_inside_the_request() -> None:
    app = App(track_context=True)
    seen: list[str] = []
    app.on("error", lambda err, ctx: seen.append(current_context().path))

    async def boom(ctx: Context, next: Any) -> None:
        raise ValueError

    http(app.use(boom), url="/failing")
    assert seen == ["/failing"]


def _seen(app: App) -> str:
    async def handler(ctx: Context, next: Any) -> None:
        try:
            ctx.body = "tracked" if current_context() is ctx else "other"
        except LookupError as err:
            ctx.body = str(err)

    return http(app.use(handler)).text


def test_untracked_by_default_with_a_message_that_says_how() -> None:
    text = _seen(App())
    assert "App(track_context=True)" in text and "configure_logging()" in text


def test_the_process_switch_covers_apps_that_leave_it_unset() -> None:
    track_current_context()
    assert _seen(App()) == "tracked"
    assert _seen(App(track_context=False)) != "tracked"  # an explicit no stays no
    track_current_context(False)
    assert _seen(App()) != "tracked"


def test_configure_logging_turns_tracking_on(capsys: pytest.CaptureFixture[str]) -> None:
    import logging

    from scallion.observability.logging import configure_logging

    handler = configure_logging("json")
    try:
        assert _seen(App()) == "tracked"
    finally:
        logging.getLogger("scallion").removeHandler(handler)
