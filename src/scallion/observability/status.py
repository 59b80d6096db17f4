"""The live status page: breaker states, cache counters, upstream load and request rate.

    app.use(status_page(upstreams=upstreams, caches={"gateway": cache}, token=secret))

- ``GET /_scallion`` — a self-contained HTML page (``dashboard.html``: no external
  scripts, styles or fonts) that polls ``status.json`` every second and colours each
  breaker by state.
- ``GET /_scallion/status.json`` — the snapshot: version, uptime, requests in the last
  minute (total, 5xx, per second) and in flight, each upstream's instances with their
  breaker, each cache's counters, and any other breakers.

It is read-only (GET and HEAD; anything else is 405), never cached, and reads counters
only (no I/O), so polling it is cheap. It names upstream URLs: on a public gateway keep it
off (``enabled=False``) or set ``token``, which it then requires as
``Authorization: Bearer <token>`` or ``?token=<token>`` (the page passes it on).

``status_snapshot(upstreams, cache)`` and ``status_route(upstreams, cache)`` are the
gateway's ``GET /_scallion/status`` (one cache, no request counts).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from importlib import resources
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl

from ..bff.breaker import CircuitBreaker
from ..bff.cache import Cache
from ..bff.upstream import Upstream
from ..errors import ClientDisconnect, error_status
from ..types import Middleware, Next

if TYPE_CHECKING:
    from ..bff.balancer import Instance
    from ..bff.upstream import Upstreams
    from ..context import Context

__all__ = ["RequestRate", "StatusPage", "status_page", "status_route", "status_snapshot"]

_WINDOW: Final = 60  # seconds of request counts kept
_READ_METHODS: Final = ("GET", "HEAD")


# -- snapshots -----------------------------------------------------------------------------


def _breaker_entry(breaker: CircuitBreaker) -> dict[str, Any]:
    m = breaker.metrics()
    return {
        "state": m.state.value,
        "calls": m.calls,
        "failures": m.failures,
        "failure_rate": round(m.failure_rate, 4),
        "slow_call_rate": round(m.slow_call_rate, 4),
        "retry_after": round(m.retry_after, 3),
        "rejected": m.rejected,
    }


def _instance_entry(instance: Instance) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "url": instance.url,
        "in_flight": instance.outstanding,
        "calls": instance.calls,
    }
    if instance.breaker is not None:
        entry["breaker"] = _breaker_entry(instance.breaker)
    return entry


def _upstreams_entry(upstreams: Iterable[Upstream]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for upstream in upstreams:
        instances = [_instance_entry(i) for i in upstream.instances]
        out[upstream.name] = {
            "in_flight": sum(i["in_flight"] for i in instances),
            "instances": instances,
        }
    return out


def _cache_entry(cache: Cache) -> dict[str, Any]:
    return {**cache.stats.as_dict(), "l1_entries": len(cache.l1), "l1_bytes": cache.l1.bytes}


def status_snapshot(upstreams: Upstreams | None, cache: Cache | None) -> dict[str, Any]:
    """Every upstream's instances (calls, in flight, breaker) and the cache's counters."""
    out: dict[str, Any] = {"time": time.time(), "upstreams": _upstreams_entry(upstreams or ())}
    if cache is not None:
        out["cache"] = _cache_entry(cache)
    return out


def status_route(
    upstreams: Upstreams | None, cache: Cache | None
) -> Callable[[Context], Awaitable[None]]:
    """A route handler answering ``status_snapshot`` (never cached)."""

    async def status(ctx: Context) -> None:
        ctx.set("cache-control", "no-store")
        ctx.body = status_snapshot(upstreams, cache)

    return status


# -- request rate --------------------------------------------------------------------------


class RequestRate:
    """Requests and 5xx answers per second over the last minute, in 60 one-second slots.

    ``hit()`` costs a clock read and two additions; nothing is allocated per request.
    """

    __slots__ = ("_counts", "_errors", "_seconds", "clock", "in_flight")

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._seconds = [-1] * _WINDOW  # which second each slot holds
        self._counts = [0] * _WINDOW
        self._errors = [0] * _WINDOW
        self.in_flight = 0

    def hit(self, error: bool) -> None:
        second = int(self.clock())
        slot = second % _WINDOW
        if self._seconds[slot] != second:
            self._seconds[slot] = second
            self._counts[slot] = 0
            self._errors[slot] = 0
        self._counts[slot] += 1
        if error:
            self._errors[slot] += 1

    def last_minute(self) -> tuple[int, int]:
        """(requests, 5xx) answered in the last 60 seconds."""
        since = int(self.clock()) - _WINDOW
        requests = errors = 0
        for second, count, failed in zip(self._seconds, self._counts, self._errors, strict=True):
            if second > since:
                requests += count
                errors += failed
        return requests, errors


# -- the middleware ------------------------------------------------------------------------

_SCRIPT: Final = re.compile(r"<script>(.*?)</script>", re.S)
_STYLE: Final = re.compile(r"<style>(.*?)</style>", re.S)


def _csp_hash(source: str) -> str:
    digest = hashlib.sha256(source.encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


def _load_page() -> tuple[bytes, str]:
    """The dashboard and a CSP allowing exactly its inline script and style."""
    html = resources.files(__package__).joinpath("dashboard.html").read_text("utf-8")
    scripts = " ".join(_csp_hash(s) for s in _SCRIPT.findall(html))
    styles = " ".join(_csp_hash(s) for s in _STYLE.findall(html))
    csp = (
        f"default-src 'none'; script-src {scripts}; style-src {styles}; "
        "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )
    return html.encode(), csp


class StatusPage:
    """The ``status_page()`` middleware (see the module docstring)."""

    __slots__ = (
        "_breakers",
        "_caches",
        "_caches_given",
        "_csp",
        "_html",
        "_json_path",
        "_page_paths",
        "_started",
        "_token",
        "_upstreams",
        "path",
        "rate",
    )

    def __init__(
        self,
        path: str,
        upstreams: Upstreams | Iterable[Upstream] | None,
        caches: Mapping[str, Cache] | None,
        breakers: list[CircuitBreaker],
        token: str | None,
        clock: Callable[[], float],
    ) -> None:
        self.path = path
        self._page_paths = (path, path + "/")
        self._json_path = path + "/status.json"
        self._upstreams = upstreams
        self._caches = dict(caches or {})
        self._caches_given = caches is not None
        self._breakers = breakers
        self._token = token.encode() if token is not None else None
        self._html, self._csp = _load_page()
        self._started = clock()
        self.rate = RequestRate(clock)

    async def __call__(self, ctx: Context, next: Next) -> None:
        path: str = ctx._scope["path"]
        if path == self._json_path or path in self._page_paths:
            self._answer(ctx, path)
            return
        rate = self.rate
        rate.in_flight += 1
        try:
            await next()
        except ClientDisconnect:
            rate.in_flight -= 1
            rate.hit(False)
            raise
        except Exception as err:
            rate.in_flight -= 1
            rate.hit(error_status(err) >= 500)
            raise
        except BaseException:  # cancelled: counted, not as a server error
            rate.in_flight -= 1
            rate.hit(False)
            raise
        rate.in_flight -= 1
        rate.hit(ctx.response.status >= 500)

    def _answer(self, ctx: Context, path: str) -> None:
        ctx.set("cache-control", "no-store")
        ctx.set("x-content-type-options", "nosniff")
        if ctx.method not in _READ_METHODS:
            ctx.status = 405
            ctx.set("allow", "GET, HEAD")
            ctx.body = "Method Not Allowed"
            return
        if self._token is not None and not self._authorized(ctx):
            ctx.status = 401
            ctx.set("www-authenticate", 'Bearer realm="scallion status"')
            ctx.body = "Unauthorized"
            return
        if path == self._json_path:
            ctx.body = self.snapshot(ctx)
            return
        ctx.body = self._html
        ctx.set("content-type", "text/html; charset=utf-8")
        ctx.set("content-security-policy", self._csp)
        ctx.set("referrer-policy", "no-referrer")
        ctx.set("x-frame-options", "DENY")

    def _authorized(self, ctx: Context) -> bool:
        assert self._token is not None
        given = ""
        auth = ctx.get("authorization")
        if auth[:7].lower() == "bearer ":
            given = auth[7:].strip()
        else:
            for key, value in parse_qsl(ctx.request.querystring, max_num_fields=20):
                if key == "token":
                    given = value
                    break
        return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), self._token)

    def snapshot(self, ctx: Context | None = None) -> dict[str, Any]:
        """What ``status.json`` answers."""
        from .. import __version__

        now = self.rate.clock()
        uptime = now - self._started
        requests, errors = self.rate.last_minute()
        upstreams = self._upstreams
        caches = self._caches
        if ctx is not None and (upstreams is None or not self._caches_given):
            found_upstreams, found_caches = _app_sources(ctx)
            if upstreams is None:
                upstreams = found_upstreams
            if not self._caches_given:
                caches = found_caches
        return {
            "version": __version__,
            "time": time.time(),
            "uptime": round(uptime, 3),
            "requests": {
                "last_minute": requests,
                "errors_last_minute": errors,
                "per_second": round(requests / max(1.0, min(uptime, float(_WINDOW))), 3),
                "in_flight": self.rate.in_flight,
            },
            "upstreams": _upstreams_entry(upstreams or ()),
            "caches": {name: _cache_entry(cache) for name, cache in caches.items()},
            "breakers": {b.name: _breaker_entry(b) for b in self._breakers},
        }

    def __repr__(self) -> str:
        return f"<StatusPage {self.path!r}>"


def _app_sources(ctx: Context) -> tuple[Iterable[Upstream] | None, dict[str, Cache]]:
    """The app's own upstreams and cache: ``app.state.upstreams`` (``Upstreams.install``),
    or those of a compiled gateway (``app.state.gateway``)."""
    state = ctx.app.state
    upstreams = getattr(state, "upstreams", None)
    gateway = getattr(state, "gateway", None)
    if upstreams is None and gateway is not None:
        upstreams = getattr(gateway, "upstreams", None)
    cache = getattr(gateway, "cache", None)
    return upstreams, {"gateway": cache} if isinstance(cache, Cache) else {}


async def _passthrough(ctx: Context, next: Next) -> None:
    await next()


def status_page(
    path: str = "/_scallion",
    *,
    upstreams: Upstream | Upstreams | Iterable[Upstream] | None = None,
    caches: Cache | Mapping[str, Cache] | None = None,
    breakers: Iterable[CircuitBreaker] = (),
    token: str | None = None,
    enabled: bool = True,
    clock: Callable[[], float] = time.monotonic,
) -> Middleware:
    """Serve the live dashboard at ``GET {path}`` and its data at ``GET {path}/status.json``.

    Args:
        path: where the page lives (``status.json`` goes under it).
        upstreams: an ``Upstream``, an ``Upstreams`` or a list; default the app's
            ``app.state.upstreams`` (``Upstreams.install``) or, on a compiled gateway,
            its upstreams, looked up at each poll.
        caches: a ``Cache`` (shown as ``default``) or caches by name; default a compiled
            gateway's cache (shown as ``gateway``).
        breakers: more ``CircuitBreaker`` objects to show (those of the upstreams are
            shown with their instance already).
        token: when set, required as ``Authorization: Bearer <token>`` or ``?token=``
            (compared in constant time); 401 otherwise.
        enabled: ``False`` turns it into a pass-through (a config switch).
        clock: monotonic seconds, for uptime and the request rate (tests pass a fake).

    Put it outermost to count every request in the rate; the page's own requests are
    not counted.
    """
    if not isinstance(enabled, bool):
        raise TypeError("status_page(enabled=...) must be a bool")
    if not isinstance(path, str) or not path.startswith("/") or path.endswith("/"):
        raise ValueError(f"status_page(path=...) must start and not end with '/': {path!r}")
    if token is not None and (not isinstance(token, str) or len(token) < 8):
        raise ValueError("status_page(token=...) must be a str of at least 8 characters")
    if isinstance(caches, Cache):
        caches = {"default": caches}
    elif caches is not None:
        caches = dict(caches)
    for name, cache in (caches or {}).items():
        if not isinstance(cache, Cache):
            raise TypeError(f"status_page(caches=...): {name!r} is not a Cache")
    breaker_list = list(breakers)
    for breaker in breaker_list:
        if not isinstance(breaker, CircuitBreaker):
            raise TypeError("status_page(breakers=...) takes CircuitBreaker objects")
    if isinstance(upstreams, Upstream):
        upstreams = [upstreams]
    if not enabled:
        return _passthrough
    return StatusPage(path, upstreams, caches, breaker_list, token, clock)
