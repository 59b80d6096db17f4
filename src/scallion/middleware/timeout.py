"""Cut off slow requests: cancel the work below and answer 504, leaving no task behind.

Usage::

    app = App()
    app.use(error_handler(), timeout(5, exempt=lambda ctx: ctx.path.startswith("/events")))
    router.get("/report", set_timeout(30), build_report)   # this route gets 30 s in all

The deadline is an ``asyncio.timeout`` around ``await next()`` in the request's own task,
not ``asyncio.wait_for`` (which would run the chain in another task, see STYLE "What to
avoid" 1): when it passes, the awaiting code gets ``CancelledError`` where it stands,
``finally`` blocks and ``async with`` exits run, child tasks made with ``TaskGroup`` or
``gather`` are cancelled with it, and the middleware raises ``HttpError(504)`` for the
error handler to answer. A ``TimeoutError`` raised by the code below for its own reasons
(an upstream client's timeout) passes through untouched.

Per route: ``set_timeout(seconds)`` placed on a route (or anywhere below ``timeout()``)
moves the deadline to ``seconds`` after the request started; ``set_timeout(None)`` lifts
it. ``exempt=fn(ctx)`` skips the deadline for matching requests altogether.

Streaming bodies (``ctx.body = sse(...)``, async iterators, files) are sent after the
chain returns, so a long-lived stream is never cut by ``timeout()``: only producing the
response is timed, not sending it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from ..errors import HttpError
from ..types import Middleware, Next

if TYPE_CHECKING:
    from ..context import Context

__all__ = ["set_timeout", "timeout"]

_ATTR: Final = "_scallion_timeout"


def _check_seconds(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number of seconds, not {type(value).__name__}")
    if not value > 0 or value != value or value == float("inf"):
        raise ValueError(f"{name} must be a positive, finite number of seconds, got {value!r}")
    return float(value)


def timeout(
    seconds: float,
    *,
    status: int = 504,
    message: str = "Request timed out",
    exempt: Callable[[Context], bool] | None = None,
) -> Middleware:
    """Give everything below ``seconds`` to produce the response, else answer ``status``.

    Args:
        seconds: the deadline, counted from when this middleware runs.
        status: the error status raised when the deadline passes (504).
        message: the (exposed) error message.
        exempt: ``fn(ctx) -> bool``; matching requests get no deadline.
    """
    limit = _check_seconds(seconds, "timeout(seconds)")
    if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
        raise ValueError(f"timeout(status={status!r}) must be an int in 400-599")
    if not isinstance(message, str):
        raise TypeError("timeout(message=...) must be a str")
    if exempt is not None and not callable(exempt):
        raise TypeError("timeout(exempt=...) must be a callable fn(ctx) -> bool")

    async def timeout_middleware(ctx: Context, next: Next) -> Any:
        if exempt is not None and exempt(ctx):
            return await next()
        deadline = asyncio.timeout(limit)
        store = ctx.__dict__
        outer = store.get(_ATTR)
        try:
            async with deadline:
                store[_ATTR] = (deadline, asyncio.get_running_loop().time())
                result = await next()
        except TimeoutError:
            if deadline.expired():
                raise HttpError(status, message, expose=True) from None
            raise
        finally:
            store[_ATTR] = outer
        if deadline.expired():  # the code below swallowed its cancellation
            raise HttpError(status, message, expose=True)
        return result

    return timeout_middleware


def set_timeout(seconds: float | None) -> Middleware:
    """Move the enclosing ``timeout()``'s deadline to ``seconds`` after the request began.

    ``None`` removes the deadline (a download or a stream that is produced slowly).
    Without an enclosing ``timeout()`` it does nothing.
    """
    limit = None if seconds is None else _check_seconds(seconds, "set_timeout(seconds)")

    async def set_timeout_middleware(ctx: Context, next: Next) -> Any:
        entry = ctx.__dict__.get(_ATTR)
        if entry is not None:
            deadline, started = entry
            deadline.reschedule(None if limit is None else started + limit)
        return await next()

    return set_timeout_middleware
