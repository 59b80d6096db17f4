"""A request's total time budget, taken from ``X-Request-Deadline`` and passed downstream.

``X-Request-Deadline`` carries the **milliseconds remaining**, an integer, relative to the
moment the message was sent (like gRPC's ``grpc-timeout``), not an absolute epoch time:
relative budgets need no synchronised clocks between machines, and each hop forwards what
is left of its own budget. Inside the process a deadline is an absolute
``time.monotonic()`` value kept on ``ctx.state.deadline``.

    app.use(deadline(budget=2.0))       # at most 2 s, less if the caller says so
    await users.get("/users/7", ctx=ctx)  # the call ends by ctx.state.deadline, and sends
                                         # X-Request-Deadline: <ms left> to the upstream
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Final

from ..errors import HttpError
from ..types import Middleware, Next

if TYPE_CHECKING:
    from ..context import Context

__all__ = ["DEADLINE_HEADER", "deadline", "parse_deadline", "request_deadline", "start_deadline"]

DEADLINE_HEADER: Final = "x-request-deadline"
_MAX_MS = 24 * 3600 * 1000  # a day: anything larger is a mistake, not a budget


def parse_deadline(value: str) -> float:
    """Seconds from a header value of whole milliseconds; ``ValueError`` if malformed."""
    text = value.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 12:
        raise ValueError(f"{DEADLINE_HEADER} must be whole milliseconds, got {value[:32]!r}")
    return min(int(text), _MAX_MS) / 1000


_CHECKED: Final = "_scallion_deadline_checked"


def request_deadline(ctx: Context, header: str = DEADLINE_HEADER) -> float | None:
    """The request's absolute deadline (``time.monotonic()``), or ``None`` if it has none.

    ``ctx.state.deadline`` when a ``deadline()`` middleware (or you) set it; otherwise
    the incoming header, read once and stored there. A malformed header is ignored here
    (the middleware is where it is rejected).
    """
    # Every upstream call of a fan-out asks: a request without a deadline must not pay a
    # header lookup each time, so "checked, none" is kept on the context, next to the
    # state it would have set (4.7k -> 1.3k instructions a call, callgrind).
    found = ctx.state.__dict__.get("deadline")
    if found is not None:
        return float(found)
    attrs = ctx.__dict__
    if attrs.get(_CHECKED) == header:
        return None
    raw = ctx.request.headers.get(header)
    if raw:
        try:
            at = time.monotonic() + parse_deadline(raw)
        except ValueError:
            at = None
        if at is not None:
            setattr(ctx.state, "deadline", at)  # noqa: B010  (State is a free namespace)
            return at
    attrs[_CHECKED] = header
    return None


def start_deadline(
    ctx: Context, budget: float | None, header: str = DEADLINE_HEADER
) -> float | None:
    """Set ``ctx.state.deadline`` from ``header`` and ``budget``; the seconds allowed.

    ``None`` when neither gives a deadline. A malformed header is a 400, a budget already
    spent a 504 (``HttpError``). The ``deadline()`` middleware and ``bff()`` start here.
    """
    now = time.monotonic()
    seconds = budget
    raw = ctx.request.headers.get(header)
    if raw:
        try:
            given = parse_deadline(raw)
        except ValueError as exc:
            raise HttpError(400, str(exc)) from None
        seconds = given if seconds is None else min(seconds, given)
    if seconds is None:
        ctx.__dict__[_CHECKED] = header  # request_deadline() need not read the header again
        return None
    if seconds <= 0:
        raise HttpError(504, "deadline exceeded before the request started")
    setattr(ctx.state, "deadline", now + seconds)  # noqa: B010  (State is a free namespace)
    return seconds


def deadline(
    budget: float | None = None,
    *,
    header: str = DEADLINE_HEADER,
    enforce: bool = True,
) -> Middleware:
    """Set ``ctx.state.deadline`` from the caller's header and/or a configured budget.

    Args:
        budget: seconds this gateway allows a request at most; the earlier of this and the
            caller's remaining budget wins. ``None``: only the header counts.
        header: the incoming header carrying the remaining milliseconds.
        enforce: also bound the rest of the chain by the deadline (504 when it runs out).

    A malformed header answers 400; a budget already spent on arrival answers 504 without
    calling anything.
    """
    if budget is not None and budget <= 0:
        raise ValueError("deadline budget must be > 0 seconds")

    async def deadline_middleware(ctx: Context, next: Next) -> None:
        seconds = start_deadline(ctx, budget, header)
        if seconds is None or not enforce:
            await next()
            return
        timer = asyncio.timeout(seconds)
        try:
            async with timer:
                await next()
        except TimeoutError:
            if not timer.expired():
                raise  # a TimeoutError of the app's own, not ours
            raise HttpError(504, "deadline exceeded") from None

    return deadline_middleware
