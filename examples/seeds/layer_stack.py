"""Seed 000 (Express中间件原理: ``Layer`` and ``processStack``): a stack of layers, each matching
a method and a path; ``next()`` walks to the next matching layer, ``next(err)`` or an
exception in ``handle_request`` jumps to ``done(err)``, and running out calls ``done()``.

``scallion.express.Express`` is that stack. Its routes are the seed's ``Layer(method, fn)``,
a trailing four-parameter handler plays ``done(err)``, and a request no layer answers
falls through to the next onion layer, which plays ``done()``.
"""

from __future__ import annotations

from typing import Any

from scallion import App, Context
from scallion.express import Express
from scallion.types import Next

ex = Express()
ex.get("/users", lambda req, res: res.json([{"id": 1}]))  # Layer("GET", fn)
ex.post("/users", lambda req, res: res.status(201).json({"created": True}))  # Layer("POST", fn)


@ex.get("/broken")
def broken(req: Any, res: Any) -> None:
    raise ValueError("handle_request caught this and called next(err)")


def done_with_error(err: Exception, req: Any, res: Any, next: Any) -> None:
    res.status(500).send(f"done(err): {err}")


ex.use(done_with_error)


async def done(ctx: Context, next: Next) -> None:
    """The stack ran out without an answer: ``done()``."""
    ctx.status = 404
    ctx.body = f"done(): no layer for {ctx.method} {ctx.path}"


app = App().use(ex, done)
