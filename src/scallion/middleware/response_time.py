"""``X-Response-Time``: how long everything below took, in milliseconds.

Usage::

    app = App()
    app.use(error_handler(), response_time())   # e.g. "X-Response-Time: 3.14ms"
    app.use(router.routes())

The time covers the middleware and handlers below it, not the sending of the body (a
streamed body is still being produced when the header leaves). Error responses carry
the header too: it is added to the passing error's ``headers``.
"""

from __future__ import annotations

from time import perf_counter
from typing import TYPE_CHECKING

from ..response import check_header
from ..types import Middleware, Next
from ._util import add_error_headers

if TYPE_CHECKING:
    from ..context import Context

__all__ = ["response_time"]


def response_time(*, header: str = "X-Response-Time", digits: int = 2) -> Middleware:
    """Set ``header`` to the downstream duration, e.g. ``"12.34ms"``.

    Args:
        header: the header name.
        digits: decimals of the millisecond figure (0-6).
    """
    if not isinstance(header, str):
        raise TypeError("response_time(header=...) must be a str")
    check_header(header, "")
    if not isinstance(digits, int) or isinstance(digits, bool):
        raise TypeError("response_time(digits=...) must be an int")
    if not 0 <= digits <= 6:
        raise ValueError(f"response_time(digits={digits}): use 0 to 6 decimals")
    key = header.lower()
    template = f"{{:.{digits}f}}ms"

    async def response_time_middleware(ctx: Context, next: Next) -> None:
        start = perf_counter()
        try:
            await next()
        except Exception as err:
            add_error_headers(
                err, ((header, template.format((perf_counter() - start) * 1e3)),), ctx
            )
            raise
        ctx.response.headers[key] = template.format((perf_counter() - start) * 1e3)

    return response_time_middleware
