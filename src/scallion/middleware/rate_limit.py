"""Rate limits per client ip, user, API key or route, in memory or shared through Redis.

Usage::

    app = App(proxy=True)          # trust X-Forwarded-For only behind your own proxy
    app.use(rate_limit(100, 60))   # 100 requests a minute per client ip, sliding window
    app.use(rate_limit(10, 1, key="api_key", store=RedisStore(url), algorithm="gcra", burst=20))

Each request is one atomic hit in the store (``sliding_window_hit`` or ``gcra_hit``: one
critical section in memory, one Lua script in Redis), never read-decide-write, so any
number of workers sharing a Redis share one exact limit (litestar#4681 / #4700). A refused
request raises ``scallion.bff.errors.RateLimited`` (429) carrying ``Retry-After`` and the
``RateLimit-*`` headers, which survive every error handler.
"""

from __future__ import annotations

import inspect
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, cast

from ..bff.errors import RateLimited
from ..errors import HttpError
from ..stores.base import Store, StoreUnavailable
from ._stores import resolve_store
from ._util import add_error_headers
from .api_key import fingerprint

if TYPE_CHECKING:
    from ..context import Context
    from ..types import Next

__all__ = ["RateLimitInfo", "RateLimiter", "rate_limit"]

logger = logging.getLogger("scallion.rate_limit")

KeyFunction = Callable[["Context"], "str | Awaitable[str]"]
_KEYS = ("ip", "user", "api_key", "route")
_DRAFTS = ("ietf-7", "ietf-6", "legacy")
_MAX_KEY = 128  # longer identities are hashed, so a client cannot grow the store's keys


class RateLimitInfo(NamedTuple):
    """One request's standing against the limit (``ctx.state.rate_limit``)."""

    allowed: bool
    limit: int
    """The quota advertised in ``RateLimit-Limit`` (``burst`` for GCRA when given)."""
    remaining: int
    reset: float
    """Seconds until a slot frees up (sliding window) or the bucket is full (GCRA)."""
    retry_after: float
    """Seconds until a refused client may retry; 0.0 when allowed."""
    key: str
    """The store key this request counted against (API keys appear hashed)."""


def _ip(ctx: Context) -> str:
    return "ip:" + (ctx.ip or "unknown")


def _user(ctx: Context) -> str:
    user = ctx.state.get("user")
    if isinstance(user, Mapping):
        uid = user.get("sub")
        if uid is None:
            uid = user.get("id")
    else:
        uid = getattr(user, "sub", None)
        if uid is None:
            uid = getattr(user, "id", None)
    if uid is None:  # anonymous: each client still gets a budget
        return _ip(ctx)
    return f"user:{uid}"


def _api_key(ctx: Context) -> str:
    presented = ctx.request.headers.get("x-api-key")
    if not presented:
        return _ip(ctx)
    return "key:" + fingerprint(presented)


def _route(ctx: Context) -> str:
    return f"route:{ctx.method} {ctx.router_path or ctx.path}"


_BUILTIN_KEYS: dict[str, Callable[[Context], str]] = {
    "ip": _ip,
    "user": _user,
    "api_key": _api_key,
    "route": _route,
}


class RateLimiter:
    """The middleware ``rate_limit()`` returns; ``store_failures`` counts store outages."""

    __slots__ = (
        "_async_key",
        "_builtin",
        "_gcra",
        "_key",
        "_logged_outage",
        "_policy",
        "_quota",
        "burst",
        "draft",
        "fail_open",
        "headers",
        "limit",
        "on_limited",
        "prefix",
        "skip",
        "store",
        "store_failures",
        "window",
    )

    def __init__(
        self,
        limit: int,
        window: float,
        *,
        key: Callable[[Context], Any],
        store: Store,
        gcra: bool,
        burst: int | None,
        prefix: str,
        headers: bool,
        draft: str,
        skip: Callable[[Context], bool] | None,
        on_limited: Callable[[Context, RateLimitInfo], Any] | None,
        fail_open: bool,
    ) -> None:
        self.limit = limit
        self.window = window
        self._key = key
        self._async_key = inspect.iscoroutinefunction(key)
        self._builtin = key in _BUILTIN_KEYS.values()
        self.store = store
        self._gcra = gcra
        self.burst = burst
        self.prefix = prefix
        self.headers = headers
        self.draft = draft
        self.skip = skip
        self.on_limited = on_limited
        self.fail_open = fail_open
        self.store_failures = 0
        self._logged_outage = False
        self._quota = burst if gcra and burst is not None else limit
        self._policy = f"{limit};w={_seconds(window)}"

    def __repr__(self) -> str:
        algorithm = "gcra" if self._gcra else "sliding-window"
        return f"<rate_limit {self.limit}/{self.window}s {algorithm} store={self.store!r}>"

    async def _identity(self, ctx: Context) -> str:
        ident = self._key(ctx)
        if not self._builtin:  # the built-in keys are plain functions returning str
            if self._async_key or inspect.isawaitable(ident):
                ident = await ident
            if not isinstance(ident, str):
                raise TypeError(f"rate_limit key function must return a str, not {ident!r}")
        if len(ident) > _MAX_KEY:  # a spoofed X-Forwarded-For can be long too
            ident = "h:" + fingerprint(ident)
        return cast(str, self.prefix + ident)

    async def hit(self, key: str) -> RateLimitInfo:
        """Count one hit against ``key`` (a full store key) and say where it stands."""
        if self._gcra:
            g = await self.store.gcra_hit(key, self.limit, self.window, self.burst)
            reset = g.reset_after if g.allowed else g.retry_after
            return RateLimitInfo(g.allowed, self._quota, g.remaining, reset, g.retry_after, key)
        s = await self.store.sliding_window_hit(key, self.limit, self.window)
        retry = 0.0 if s.allowed else s.reset_after
        return RateLimitInfo(s.allowed, self._quota, s.remaining, s.reset_after, retry, key)

    def header_items(self, info: RateLimitInfo) -> list[tuple[str, str]]:
        """The rate limit headers for ``info`` in this limiter's ``draft``."""
        reset = str(math.ceil(info.reset))
        limit = str(info.limit)
        remaining = str(info.remaining)
        if self.draft == "legacy":
            epoch = str(math.ceil(time.time() + info.reset))
            return [
                ("x-ratelimit-limit", limit),
                ("x-ratelimit-remaining", remaining),
                ("x-ratelimit-reset", epoch),
            ]
        items = [
            ("ratelimit-limit", limit),
            ("ratelimit-remaining", remaining),
            ("ratelimit-reset", reset),
            ("ratelimit-policy", self._policy),
        ]
        if self.draft == "ietf-7":
            items.append(("ratelimit", f"limit={limit}, remaining={remaining}, reset={reset}"))
        return items

    async def __call__(self, ctx: Context, next: Next) -> None:
        if self.skip is not None and self.skip(ctx):
            await next()
            return
        key = await self._identity(ctx)
        try:
            info = await self.hit(key)
        except StoreUnavailable as exc:
            self._outage(exc)
            if not self.fail_open:
                raise HttpError(503, "Rate limit store unavailable", expose=True) from exc
            await next()
            return
        if self._logged_outage:
            self._logged_outage = False
            logger.warning("rate limit store is back: %r", self.store)
        vars(ctx.state)["rate_limit"] = info
        items = self.header_items(info) if self.headers else []
        if not info.allowed:
            await self._refuse(ctx, info, items)
            return
        if items:
            headers = ctx.response.headers
            for name, value in items:
                headers[name] = value
        try:
            await next()
        except Exception as err:
            if items:
                add_error_headers(err, items, ctx)
            raise

    async def _refuse(
        self, ctx: Context, info: RateLimitInfo, items: list[tuple[str, str]]
    ) -> None:
        retry_after = max(1, math.ceil(info.retry_after))
        if self.on_limited is not None:
            headers = ctx.response.headers
            for name, value in items:
                headers[name] = value
            headers["retry-after"] = str(retry_after)
            result = self.on_limited(ctx, info)
            if inspect.isawaitable(result):
                await result
            return
        raise RateLimited("Too many requests", retry_after=retry_after, headers=dict(items))

    def _outage(self, exc: StoreUnavailable) -> None:
        self.store_failures += 1
        if not self._logged_outage:
            self._logged_outage = True
            action = "letting requests through" if self.fail_open else "answering 503"
            logger.warning("rate limit store unavailable (%s): %s", action, exc)


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def rate_limit(
    limit: int,
    window: float,
    *,
    key: Literal["ip", "user", "api_key", "route"] | KeyFunction = "ip",
    store: Literal["memory", "redis"] | Store = "memory",
    algorithm: Literal["sliding-window", "gcra"] = "sliding-window",
    burst: int | None = None,
    prefix: str = "rl:",
    headers: bool = True,
    draft: Literal["ietf-7", "ietf-6", "legacy"] = "ietf-7",
    skip: Callable[[Context], bool] | None = None,
    on_limited: Callable[[Context, RateLimitInfo], Any] | None = None,
    fail_open: bool = True,
    redis_url: str | None = None,
) -> RateLimiter:
    """At most ``limit`` requests per ``window`` seconds per ``key``; 429 beyond it.

    Args:
        limit: requests allowed per window (GCRA: the steady rate is ``limit / window``).
        window: seconds.
        key: ``"ip"`` (``ctx.ip``: ``X-Forwarded-For`` only with ``App(proxy=True)``),
            ``"user"`` (``ctx.state.user["sub"]`` or ``.id``; anonymous requests by ip),
            ``"api_key"`` (the ``X-API-Key`` header, hashed; none: by ip), ``"route"`` (one
            budget per method and route for everyone), or ``fn(ctx) -> str`` (may be async).
        store: ``"memory"`` (this process), ``"redis"`` (with ``redis_url``) or a ``Store``.
        algorithm: ``"sliding-window"`` (exact count over the last ``window`` seconds) or
            ``"gcra"`` (token bucket: a steady rate with bursts of ``burst``).
        burst: GCRA only: how many requests may arrive back to back (default ``limit``).
        prefix: store key prefix; give limiters that share a store different prefixes.
        headers: send the rate limit headers (``Retry-After`` on a 429 is always sent).
        draft: ``"ietf-7"`` (draft-06's ``RateLimit-Limit/-Remaining/-Reset`` and
            ``RateLimit-Policy`` plus draft-07's combined ``RateLimit``), ``"ietf-6"`` (the
            separate fields only) or ``"legacy"`` (``X-RateLimit-*``, reset as a Unix time).
        skip: ``fn(ctx) -> bool``: requests it accepts are not counted.
        on_limited: ``fn(ctx, info)`` (may be async) answers a refused request instead of the
            429 error; the headers and ``Retry-After`` are already set on ``ctx.response``.
        fail_open: when the store is unreachable, let requests through (logged once per
            outage, counted in ``.store_failures``); ``False`` answers 503 instead.
        redis_url: the Redis for ``store="redis"``.
    """
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise ValueError(f"rate_limit(limit=...) must be a positive int, got {limit!r}")
    if isinstance(window, bool) or not isinstance(window, int | float) or not window > 0:
        raise ValueError(f"rate_limit(window=...) must be seconds > 0, got {window!r}")
    if algorithm not in ("sliding-window", "gcra"):
        raise ValueError(
            f"rate_limit(algorithm=...) must be 'sliding-window' or 'gcra', not {algorithm!r}"
        )
    if burst is not None:
        if algorithm != "gcra":
            raise ValueError("rate_limit(burst=...) needs algorithm='gcra'")
        if not isinstance(burst, int) or isinstance(burst, bool) or burst < 1:
            raise ValueError(f"rate_limit(burst=...) must be a positive int, got {burst!r}")
    if isinstance(key, str):
        if key not in _BUILTIN_KEYS:
            raise ValueError(
                f"rate_limit(key=...) must be one of {', '.join(_KEYS)} or a callable, not {key!r}"
            )
        key_fn: Callable[[Context], Any] = _BUILTIN_KEYS[key]
    elif callable(key):
        key_fn = key
    else:
        raise TypeError(
            "rate_limit(key=...) must be 'ip', 'user', 'api_key', 'route' or a callable"
        )
    if not isinstance(prefix, str):
        raise TypeError("rate_limit(prefix=...) must be a str")
    if draft not in _DRAFTS:
        raise ValueError(
            f"rate_limit(draft=...) must be one of {', '.join(_DRAFTS)}, not {draft!r}"
        )
    for name, value in (("skip", skip), ("on_limited", on_limited)):
        if value is not None and not callable(value):
            raise TypeError(f"rate_limit({name}=...) must be a callable or None")
    for name, flag in (("headers", headers), ("fail_open", fail_open)):
        if not isinstance(flag, bool):
            raise TypeError(f"rate_limit({name}=...) must be a bool")
    resolved = resolve_store(
        store, redis_url, who="rate_limit", prefix="scallion:", memory_entries=100_000
    )
    return RateLimiter(
        limit,
        float(window),
        key=key_fn,
        store=resolved,
        gcra=algorithm == "gcra",
        burst=burst,
        prefix=prefix,
        headers=headers,
        draft=draft,
        skip=skip,
        on_limited=on_limited,
        fail_open=fail_open,
    )
