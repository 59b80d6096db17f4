"""Typing checks for the App's decorator-style APIs, run by mypy in tests/test_typing.py.

Never executed: mypy reads it and ``assert_type`` must hold (Click's tests/typing/).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, assert_type

from scallion import App, Context, HttpError, compose, current_context, sse

app = App()


async def timing(ctx: Context, next: Callable[[], Awaitable[Any]]) -> None:
    await next()


assert_type(app.use(timing), App)
assert_type(app.use(timing).use(timing, timing), App)


@app.on("startup")
async def open_pool() -> None: ...


# The decorator hands back the function itself, signature and all (not Any).
assert_type(open_pool, Callable[[], Coroutine[Any, Any, None]])


@app.on("error")
def report(err: BaseException, ctx: Context) -> None: ...


assert_type(report(ValueError(), current_context()), None)


def listener(value: int) -> str:
    return str(value)


assert_type(app.on("custom", listener)(1), str)
assert_type(app.on("custom")(listener)(2), str)
assert_type(app.emit("custom", 1), bool)
assert_type(app.development, bool)
assert_type(compose([timing]), Callable[..., Awaitable[Any]])
assert_type(current_context(), Context)
assert_type(HttpError(404).status, int)
assert_type(HttpError(404).headers, dict[str, str | list[str]])


async def handler(ctx: Context, next: Callable[[], Awaitable[Any]]) -> None:
    assert_type(ctx.status, int)
    assert_type(ctx.type, str)
    assert_type(ctx.length, int | None)
    assert_type(ctx.get("x"), str)
    assert_type(ctx.query, dict[str, str | list[str]])
    assert_type(await ctx.request.body(), bytes)
    assert_type(await ctx.request.text(), str)
    assert_type(ctx.cookies.get("sid"), str | None)
    ctx.state.user = {"id": 1}  # the state namespace takes any attribute
    assert_type(ctx.state.user, Any)
    ctx.body = sse(_events())


async def _events() -> Any:
    yield "x"
