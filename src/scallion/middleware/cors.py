"""Cross-origin resource sharing with @koa/cors semantics.

Usage::

    app = App()
    app.use(error_handler(), cors(origin=["https://app.example.com"], credentials=True))
    app.use(router.routes(), router.allowed_methods())

A request without ``Origin`` is not a CORS request and passes untouched. A preflight
(``OPTIONS`` with ``Access-Control-Request-Method``) from an allowed origin is answered
here with 204 and never reaches the routes; other requests run the chain with the CORS
headers set first. A disallowed origin gets no CORS headers at all (the browser then
blocks the read), but a simple request still runs: CORS protects the reader, not the
server. ``Vary: Origin`` is sent whenever the answer depends on the origin, so a shared
cache never hands one origin's answer to another. The headers are added to a passing
error's ``headers`` too, so the browser can read error responses (koa/cors#1).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, TypeAlias

from ..response import check_header
from ..types import Middleware, Next
from ._util import add_error_headers

if TYPE_CHECKING:
    from ..context import Context

__all__ = ["DEFAULT_METHODS", "OriginOption", "cors"]

DEFAULT_METHODS = ("GET", "HEAD", "PUT", "POST", "DELETE", "PATCH")

OriginOption: TypeAlias = (
    str
    | re.Pattern[str]
    | Iterable[str | re.Pattern[str]]
    | Callable[["Context"], str | Awaitable[str | None] | None]
)
"""``"*"``, one origin, a list of origins (strings or compiled patterns), or ``fn(ctx)``."""


def _names(value: Iterable[str] | str | None, option: str) -> str:
    if value is None:
        return ""
    items = [value] if isinstance(value, str) else list(value)
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"cors({option}=...) must hold strings, got {item!r}")
        check_header(option, item)
    return ", ".join(item.strip() for item in items if item.strip())


def cors(
    *,
    origin: OriginOption = "*",
    allow_methods: Iterable[str] | str = DEFAULT_METHODS,
    allow_headers: Iterable[str] | str | None = None,
    expose_headers: Iterable[str] | str = (),
    credentials: bool = False,
    max_age: int | None = None,
    private_network: bool = False,
    keep_headers_on_error: bool = True,
) -> Middleware:
    """Answer preflights and mark responses for cross-origin readers.

    Args:
        origin: ``"*"`` (any origin, not reflected), one exact origin, a list of exact
            origins or compiled regexes (full match), or ``fn(ctx)`` (sync or async)
            returning the origin to allow or ``None``/``""`` to refuse.
        allow_headers: preflight ``Access-Control-Allow-Headers``; ``None`` reflects what
            the browser asked for in ``Access-Control-Request-Headers``.
        credentials: send ``Access-Control-Allow-Credentials: true``; refused with
            ``origin="*"``, which the browser would reject anyway.
        max_age: seconds a browser may cache a preflight answer.
        private_network: answer ``Access-Control-Request-Private-Network: true`` with
            ``Access-Control-Allow-Private-Network: true``.
        keep_headers_on_error: add the CORS headers to a passing error's ``headers``.
    """
    for name, flag in (
        ("credentials", credentials),
        ("private_network", private_network),
        ("keep_headers_on_error", keep_headers_on_error),
    ):
        if not isinstance(flag, bool):
            raise TypeError(f"cors({name}=...) must be a bool")
    if max_age is not None and (
        isinstance(max_age, bool) or not isinstance(max_age, int) or max_age < 0
    ):
        raise TypeError("cors(max_age=...) must be a number of seconds (int >= 0) or None")
    methods = _names(allow_methods, "allow_methods").upper()
    allowed_headers = None if allow_headers is None else _names(allow_headers, "allow_headers")
    exposed = _names(expose_headers, "expose_headers")
    any_origin = origin == "*"
    if any_origin and credentials:
        raise ValueError(
            "cors(origin='*', credentials=True) is refused: browsers ignore credentials with a "
            "wildcard origin. List the trusted origins instead, e.g. "
            "cors(origin=['https://app.example.com'], credentials=True)."
        )
    resolve = _origin_resolver(origin)
    max_age_value = str(max_age) if max_age is not None else None

    async def cors_middleware(ctx: Context, next: Next) -> Any:
        request_origin = ctx.request.headers.get("origin")
        if not request_origin:
            return await next()
        res = ctx.response
        if any_origin:
            allowed = "*"
        else:
            res.vary("Origin")
            resolved = resolve(ctx, request_origin)
            if resolved is not None and not isinstance(resolved, str):
                resolved = await resolved  # an origin function's answer
            if not resolved or not _safe(resolved):
                return await next()
            allowed = resolved
        method = ctx.method
        requested_method = ctx.request.headers.get("access-control-request-method")
        if method == "OPTIONS" and requested_method:
            _preflight(ctx, allowed)
            return None
        headers = [("Access-Control-Allow-Origin", allowed)]
        if credentials:
            headers.append(("Access-Control-Allow-Credentials", "true"))
        if exposed:
            headers.append(("Access-Control-Expose-Headers", exposed))
        for name, value in headers:
            res.headers[name.lower()] = value
        try:
            return await next()
        except Exception as err:
            if keep_headers_on_error:
                if not any_origin:
                    headers.append(("Vary", "Origin"))
                add_error_headers(err, headers, ctx)
            raise

    def _preflight(ctx: Context, allowed: str) -> None:
        res = ctx.response
        headers = res.headers
        headers["access-control-allow-origin"] = allowed
        if credentials:
            headers["access-control-allow-credentials"] = "true"
        if max_age_value is not None:
            headers["access-control-max-age"] = max_age_value
        if methods:
            headers["access-control-allow-methods"] = methods
        if allowed_headers is None:
            asked = ctx.request.headers.get("access-control-request-headers")
            if asked and _safe(asked):
                headers["access-control-allow-headers"] = asked
                res.vary("Access-Control-Request-Headers")
        elif allowed_headers:
            headers["access-control-allow-headers"] = allowed_headers
        if (
            private_network
            and ctx.request.headers.get("access-control-request-private-network", "").lower()
            == "true"
        ):
            headers["access-control-allow-private-network"] = "true"
        res.status = 204

    return cors_middleware


def _safe(value: str) -> bool:
    """A value from the client may be echoed only without CR, LF or NUL."""
    return "\r" not in value and "\n" not in value and "\0" not in value


def _origin_resolver(
    origin: OriginOption,
) -> Callable[[Context, str], str | Awaitable[str | None] | None]:
    """Turn ``origin`` into ``(ctx, request_origin) -> allowed or None``.

    Only an origin function answers with an awaitable; the static cases stay plain calls.
    """
    if isinstance(origin, str):
        if origin != "*":
            check_header("origin", origin)
        exact = origin.rstrip("/")

        def one(ctx: Context, request_origin: str) -> str | None:
            return request_origin if request_origin == exact else None

        return one
    if isinstance(origin, re.Pattern):
        origin = [origin]
    if callable(origin):
        fn = origin

        async def call(ctx: Context, request_origin: str) -> str | None:
            result = fn(ctx)
            if inspect.isawaitable(result):
                result = await result
            if result is not None and not isinstance(result, str):
                raise TypeError(f"cors origin function must return a str or None, not {result!r}")
            return result or None

        return call
    if isinstance(origin, Iterable):
        exacts: set[str] = set()
        patterns: list[re.Pattern[str]] = []
        for item in origin:
            if isinstance(item, str):
                check_header("origin", item)
                exacts.add(item.rstrip("/"))
            elif isinstance(item, re.Pattern):
                patterns.append(item)
            else:
                raise TypeError(f"cors(origin=[...]) items must be str or re.Pattern, got {item!r}")
        if "*" in exacts:
            raise ValueError("cors(origin=[...]) cannot hold '*'; use origin='*' on its own")

        def listed(ctx: Context, request_origin: str) -> str | None:
            if request_origin in exacts:
                return request_origin
            for pattern in patterns:
                if pattern.fullmatch(request_origin):
                    return request_origin
            return None

        return listed
    raise TypeError(f"cors(origin=...) must be '*', a str, a list or a callable, got {origin!r}")
