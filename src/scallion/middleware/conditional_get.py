"""Answer 304 Not Modified when the client's cached copy is still fresh.

Usage::

    app = App()
    app.use(conditional_get(), etag())   # conditional_get first: it looks at the ETag
    app.use(router.routes())             # that etag() adds on the way out

For GET and HEAD requests whose response is 2xx, ``ctx.fresh`` compares the request's
``If-None-Match`` with the response ``ETag`` (weakly), or ``If-Modified-Since`` with
``Last-Modified`` (RFC 9110 §13). When it is fresh the status becomes 304 and the body
is dropped; the validators (``ETag``, ``Last-Modified``, ``Cache-Control``...) stay.
"""

from __future__ import annotations

import contextlib
import inspect
from typing import TYPE_CHECKING, Any

from ..types import Middleware, Next

if TYPE_CHECKING:
    from ..context import Context

__all__ = ["conditional_get"]


async def _close(body: Any) -> None:
    """Close a file or stream body that will not be sent now."""
    close = getattr(body, "aclose", None) or getattr(body, "close", None)
    if close is None or isinstance(body, str | bytes | bytearray | memoryview | dict | list):
        return
    with contextlib.suppress(Exception):
        result = close()
        if inspect.isawaitable(result):
            await result


def conditional_get() -> Middleware:
    """Turn fresh GET/HEAD 2xx responses into ``304 Not Modified`` with no body."""

    async def conditional_get_middleware(ctx: Context, next: Next) -> None:
        await next()
        headers = ctx.request.headers
        if "if-none-match" not in headers and "if-modified-since" not in headers:
            return  # the usual case: nothing to compare
        if ctx.fresh:
            res = ctx.response
            body = res.body
            res.status = 304  # drops the body and its content headers
            await _close(body)

    return conditional_get_middleware
