"""Seed 004 (koa 中间件实现方式) and seed 000 (Koa组合引擎实现): how compose works inside.

``teaching_compose`` is the seed's ``dispatch(i)`` algorithm written out in Python: an
``index`` remembers the last layer started, so calling ``next()`` twice is refused with
"next() called multiple times"; past the last layer it runs the outer ``next``, if any.
``scallion.compose`` keeps exactly these rules (and adds a runner for very deep chains),
so ``app`` below uses it; ``run()`` shows both agree.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from scallion import App, Context, compose
from scallion.types import Next

Fn = Callable[[Any, Callable[[], Awaitable[Any]]], Awaitable[Any]]


def teaching_compose(middleware: Sequence[Fn]) -> Callable[..., Awaitable[Any]]:
    if not isinstance(middleware, list | tuple):  # check the stack's type up front
        raise TypeError("Middleware stack must be an array!")
    for fn in middleware:  # every element must be a function
        if not callable(fn):
            raise TypeError("Middleware must be composed of functions!")

    def composed(context: Any, next: Callable[[], Awaitable[Any]] | None = None) -> Any:
        index = -1  # a closure remembers the last layer started

        async def dispatch(i: int) -> Any:
            nonlocal index
            if i <= index:  # next() called twice in one layer
                raise RuntimeError("next() called multiple times")
            index = i
            fn: Any = middleware[i] if i < len(middleware) else next
            if fn is None:
                return None
            if i == len(middleware):
                return await fn()
            return await fn(context, lambda: dispatch(i + 1))

        return dispatch(0)

    return composed


async def m1(ctx: Any, next: Next) -> None:
    print("m1 start")
    await next()
    print("m1 end")


async def m2(ctx: Any, next: Next) -> None:
    print("m2 start")
    await next()
    print("m2 end")


async def m3(ctx: Any, next: Next) -> str:
    print("m3 run")
    return "end"


async def twice(ctx: Any, next: Next) -> None:
    await next()
    await next()


async def run(compose_fn: Callable[..., Callable[..., Awaitable[Any]]]) -> str:
    """Run m1, m2, m3 and then the next()-twice mistake through ``compose_fn``."""
    await compose_fn([m1, m2, m3])({})
    try:
        await compose_fn([twice, m3])({})
    except RuntimeError as err:
        print(f"refused: {err}")
        return str(err)
    return "not refused"


async def handler(ctx: Context, next: Next) -> None:
    ctx.body = "Hello World"


app = App().use(compose([m1, m2]), handler)

if __name__ == "__main__":
    asyncio.run(run(teaching_compose))
    asyncio.run(run(compose))
