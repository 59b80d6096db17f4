"""The vocabulary of scallion: ASGI aliases and the middleware shapes.

A middleware is ``async def mw(ctx, next)``; ``await next()`` runs the rest of the
chain. A route handler may also take only ``(ctx)``. Anything whose call returns an
awaitable counts, and a call that returns a plain value is simply done.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias

if TYPE_CHECKING:
    from .context import Context

Scope: TypeAlias = MutableMapping[str, Any]
Message: TypeAlias = MutableMapping[str, Any]
Receive: TypeAlias = Callable[[], Awaitable[Message]]
Send: TypeAlias = Callable[[Message], Awaitable[None]]
ASGIApp: TypeAlias = Callable[[Scope, Receive, Send], Awaitable[None]]

Next: TypeAlias = Callable[[], Awaitable[Any]]
"""What a middleware receives as ``next``: call it once and await the result."""


class Middleware(Protocol):
    """``async def mw(ctx, next)``; the onion's only shape."""

    def __call__(self, ctx: Context, next: Next, /) -> Awaitable[Any] | Any: ...


MiddlewareLike: TypeAlias = Callable[..., Any]
"""A middleware as users write it; checked for callability at ``use()`` time."""

Handler: TypeAlias = Callable[..., Any]
"""A route handler: ``(ctx)`` or ``(ctx, next)``, sync or async."""
