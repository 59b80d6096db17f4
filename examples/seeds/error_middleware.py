"""Seed 002 §2.3.2 (异常处理): error middleware has four parameters ``(err, req, res, next)``;
it only runs while an error is passing, handles what it can, and hands the rest on with
``next(err)``. An error nobody handles reaches the App, which answers 500.
"""

from __future__ import annotations

from typing import Any

from scallion import App
from scallion.express import Express


class ValidationError(Exception):
    pass


ex = Express()


@ex.get("/ok")
def ok(req: Any, res: Any) -> None:
    res.send("fine")


@ex.get("/invalid")
def invalid(req: Any, res: Any) -> None:
    raise ValidationError("name is required")


@ex.get("/next-err")
def passes_error(req: Any, res: Any, next: Any) -> None:
    next(ValidationError("passed with next(err)"))


@ex.get("/crash")
def crash(req: Any, res: Any) -> None:
    raise RuntimeError("unexpected")


def skipped_when_failing(req: Any, res: Any, next: Any) -> None:
    print("never runs while an error is passing")
    next()


def validation_errors(err: Exception, req: Any, res: Any, next: Any) -> None:
    print(f"error middleware saw: {err}")
    if isinstance(err, ValidationError):
        res.status(400).json({"error": str(err)})
    else:
        next(err)  # not ours: on to the next error middleware (or the App)


ex.use(skipped_when_failing, validation_errors)

errors_seen: list[BaseException] = []
app = App(env="production").use(ex)
app.on("error", lambda err, ctx: errors_seen.append(err))
