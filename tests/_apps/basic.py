"""A small app for real-server tests: every observable event goes to ``$SCALLION_TEST_EVENTS``.

Routes: ``/`` (hello), ``/env`` (the app's env), ``/pid?block=0.05`` (the worker's PID,
after blocking its loop), ``/slow?s=1`` (sleeps, for graceful drain), ``/sse`` (an endless
event stream whose ``finally`` is recorded), ``/echo`` (POST, body limit 1 KiB).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator

from scallion import App, Context, sse
from scallion.types import Next

app = App(body_limit=1024)


def record(line: str) -> None:
    """Append one line to the events file (one ``write`` per line, so workers do not mix)."""
    path = os.environ.get("SCALLION_TEST_EVENTS")
    if path:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{line} {os.getpid()}\n".encode())
        finally:
            os.close(fd)


@app.on("startup")
def started() -> None:
    record("startup")


@app.on("shutdown")
async def stopped() -> None:
    await asyncio.sleep(0)
    record("shutdown")


async def ticks() -> AsyncIterator[dict[str, int]]:
    n = 0
    try:
        while True:
            yield {"n": n}
            n += 1
            await asyncio.sleep(0.05)
    finally:
        record("sse-finally")


async def routes(ctx: Context, next: Next) -> None:
    path = ctx.path
    if path == "/":
        ctx.body = "hello from scallion"
    elif path == "/pid":
        # ``block`` holds this worker's event loop, so concurrent clients reach the others.
        time.sleep(float(ctx.query.get("block", "0")))
        ctx.body = {"pid": os.getpid()}
    elif path == "/env":
        ctx.body = {"env": ctx.app.env}
    elif path == "/slow":
        record("slow-begin")
        await asyncio.sleep(float(ctx.query.get("s", "1")))
        record("slow-end")
        ctx.body = "slept"
    elif path == "/sse":
        ctx.body = sse(ticks())
    elif path == "/echo" and ctx.method == "POST":
        ctx.body = await ctx.request.body()
    else:
        await next()


app.use(routes)
