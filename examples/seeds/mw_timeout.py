"""Seed 001 §8.13: answer 504 "Request timeout" when the work below takes too long.

Koa races ``next()`` against a timer, which leaves the losing work running. scallion's
``timeout()`` cancels it where it stands (an ``asyncio.timeout`` in the request's own
task) and leaves nothing behind; ``set_timeout()`` gives one route its own deadline, and
the SSE route is exempt (a stream is never cut once it starts, either).

Run ``scallion serve examples.seeds.mw_timeout:app``; ``/slow?ms=6000`` answers 504.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from scallion import App, Context, sse
from scallion.middleware import set_timeout, timeout
from scallion.router import Router


def build(seconds: float = 5.0, report_seconds: float = 30.0) -> App:
    router = Router()

    @router.get("/slow")
    async def slow(ctx: Context) -> None:
        await asyncio.sleep(int(str(ctx.query.get("ms", "0"))) / 1000)
        ctx.body = "done"

    async def report(ctx: Context) -> None:
        await asyncio.sleep(int(str(ctx.query.get("ms", "0"))) / 1000)
        ctx.body = {"report": "ready"}

    router.get("/report", set_timeout(report_seconds), report)

    @router.get("/events")
    async def events(ctx: Context) -> None:
        async def ticks() -> AsyncIterator[dict[str, int]]:
            for n in range(3):
                await asyncio.sleep(seconds / 2)
                yield {"tick": n}

        ctx.body = sse(ticks(), ping=None)

    app = App()
    app.use(
        timeout(
            seconds,
            message="Request timeout",
            exempt=lambda ctx: ctx.path.startswith("/events"),
        )
    )
    app.use(router.routes(), router.allowed_methods())
    return app


app = build()
