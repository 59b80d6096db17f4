"""Seed 004 (node 中间件核心原理实现) and seed 002 §2.2.1 (请求前中间件): Express-style
``(req, res, next)`` middleware run in a line; each calls ``next()`` to pass control on.

Prints ``This is executed first.``, then ``m1 run``, ``m2 run``, ``m3 run``.
"""

from __future__ import annotations

from typing import Any

from scallion import App
from scallion.express import Express

ex = Express()


def first(req: Any, res: Any, next: Any) -> None:
    print("This is executed first.")
    next()  # hand control to the next middleware or route


def m1(req: Any, res: Any, next: Any) -> None:
    print("m1 run")
    next()


def m2(req: Any, res: Any, next: Any) -> None:
    print("m2 run")
    next()


def m3(req: Any, res: Any, next: Any) -> None:
    print("m3 run")
    next()


middlewares = [m1, m2, m3]  # the middleware collection
ex.use(first, *middlewares)


@ex.get("/")
def home(req: Any, res: Any) -> None:
    res.send("Hello World")


app = App().use(ex)
