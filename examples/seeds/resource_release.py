"""Seed 001 §8.12 (确保资源释放): a connection opened before ``next()`` is closed in ``finally``,
whether the inner layers succeed or raise.
"""

from __future__ import annotations

import asyncio
import itertools

from scallion import App, Context
from scallion.types import Next


class Connection:
    """A stand-in for a database connection: it only records that it was closed."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.closed = False

    async def close(self) -> None:
        await asyncio.sleep(0)
        self.closed = True


class Db:
    def __init__(self) -> None:
        self.opened: list[Connection] = []
        self._numbers = itertools.count(1)

    async def connect(self) -> Connection:
        connection = Connection(next(self._numbers))
        self.opened.append(connection)
        return connection


db = Db()


async def with_connection(ctx: Context, next: Next) -> None:
    connection = await db.connect()
    try:
        ctx.state.db = connection
        await next()
    finally:
        await connection.close()  # released, whatever happened downstream


async def routes(ctx: Context, next: Next) -> None:
    if ctx.path == "/fail":
        raise RuntimeError("query failed")
    ctx.body = {"connection": ctx.state.db.number}


app = App().use(with_connection, routes)
app.on("error", lambda err, ctx: None)
