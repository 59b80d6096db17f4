"""Server-side sessions behind a signed cookie (Koa's ``koa-session`` with an external store).

Usage::

    app = App(keys=["a long random secret"])     # signs the session cookie
    app.use(session(store="redis", redis_url="redis://127.0.0.1:6379/0"))
    async def login(ctx): ctx.session.regenerate(); ctx.session["user"] = "alice"

``ctx.session`` is a ``SessionData`` (a dict). The data lives in a ``Store`` (memory or
Redis) under a random id (``secrets.token_urlsafe(32)``); the cookie carries only that id,
signed with ``app.keys``. A session is saved only when its data changed (or with
``rolling``/``renew``); a cookie that is unsigned, tampered with, malformed or names an
unknown id starts a fresh, empty session (never an error, never the client's id). When
the store is unreachable the request fails with 503 rather than silently losing the user's
session.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

import orjson

from ..errors import HttpError
from ..stores.base import Store, StoreError, StoreUnavailable
from ._stores import resolve_store
from ._util import add_error_headers

if TYPE_CHECKING:
    from ..context import Context
    from ..types import Next

__all__ = ["SessionData", "SessionMiddleware", "session"]

logger = logging.getLogger("scallion.session")

_SID = re.compile(r"[A-Za-z0-9_-]{43}")  # what secrets.token_urlsafe(32) makes
DEFAULT_MAX_SIZE = 64 * 1024


class SessionData(dict[str, Any]):
    """``ctx.session``: a dict that knows whether it is new and whether it changed.

    Values must be JSON-serializable (they are stored with orjson). Changes inside nested
    values count too: the data is compared with what was loaded when the response goes out.
    """

    __slots__ = ("_destroyed", "_expires", "_loaded", "_regenerate", "_sid")

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        sid: str | None = None,
        loaded: bytes | None = None,
        expires: float = 0.0,
    ) -> None:
        super().__init__(data or {})
        self._sid = sid
        self._loaded = loaded
        self._expires = expires
        self._regenerate = False
        self._destroyed = False

    @property
    def is_new(self) -> bool:
        """True when no stored session came with this request."""
        return self._sid is None

    @property
    def changed(self) -> bool:
        """True when the data differs from what was loaded (or it was regenerated)."""
        if self._regenerate:
            return True
        if self._loaded is None:
            return bool(self)
        try:
            return orjson.dumps(dict(self), option=orjson.OPT_SORT_KEYS) != self._loaded
        except TypeError:
            return True  # unserializable: saving will say so

    def regenerate(self) -> None:
        """Move the data to a fresh id when the response goes out (do it at login).

        The old id stops working, so an id planted before login (session fixation) is
        worthless afterwards.
        """
        self._regenerate = True
        self._destroyed = False

    def destroy(self) -> None:
        """Forget the session: delete it from the store and expire the cookie."""
        self.clear()
        self._destroyed = True
        self._regenerate = False

    def __repr__(self) -> str:
        return f"SessionData({dict.__repr__(self)}, new={self.is_new})"


def _encode(data: dict[str, Any], limit: int) -> bytes:
    try:
        raw = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
    except TypeError as exc:
        raise HttpError(
            500, f"session values must be JSON-serializable: {exc}", expose=False
        ) from exc
    if len(raw) > limit:
        raise HttpError(
            500,
            f"session data is {len(raw)} bytes, over the {limit}-byte limit "
            "(session(max_size=...))",
            expose=False,
        )
    return raw


class SessionMiddleware:
    """The middleware ``session()`` returns; ``store`` is where sessions live."""

    __slots__ = (
        "_cookie",
        "_sig",
        "domain",
        "httponly",
        "key",
        "max_age",
        "max_size",
        "path",
        "prefix",
        "renew",
        "rolling",
        "samesite",
        "secure",
        "signed",
        "store",
    )

    def __init__(
        self,
        store: Store,
        *,
        key: str,
        max_age: float,
        rolling: bool,
        renew: bool,
        signed: bool,
        httponly: bool,
        samesite: Literal["lax", "strict", "none"] | None,
        secure: bool | None,
        domain: str | None,
        path: str,
        prefix: str,
        max_size: int,
    ) -> None:
        self.store = store
        self.key = key
        self.max_age = max_age
        self.rolling = rolling
        self.renew = renew
        self.signed = signed
        self.httponly = httponly
        self.samesite = samesite
        self.secure = secure
        self.domain = domain
        self.path = path
        self.prefix = prefix
        self.max_size = max_size

    def __repr__(self) -> str:
        return f"<session key={self.key!r} store={self.store!r}>"

    # -- loading ----------------------------------------------------------------------------

    def _cookie_sid(self, ctx: Context) -> str | None:
        if not self.signed:
            sid = ctx.cookies.get(self.key)
        elif not ctx.app.keys:
            raise RuntimeError(
                "session(signed=True) signs its cookie with app.keys: create the app with "
                "App(keys=['a long random secret']) (or pass signed=False)"
            )
        else:
            sid = ctx.cookies.get(self.key, signed=True)
        if sid is None or _SID.fullmatch(sid) is None:
            return None
        return sid

    async def load(self, ctx: Context) -> SessionData:
        """The session named by the request's cookie, or a new empty one."""
        sid = self._cookie_sid(ctx)
        if sid is None:
            return SessionData()
        try:
            raw = await self.store.get(self.prefix + sid)
        except StoreUnavailable as exc:
            raise HttpError(503, "Session store unavailable", expose=True) from exc
        except StoreError:
            return SessionData()  # the key holds something else: start afresh
        if raw is None:
            return SessionData()
        try:
            record = orjson.loads(raw)
            data = record["d"]
            expires = float(record["e"])
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            logger.warning("dropping an unreadable session record")
            return SessionData()
        if not isinstance(data, dict):
            return SessionData()
        loaded = orjson.dumps(data, option=orjson.OPT_SORT_KEYS)
        return SessionData(data, sid=sid, loaded=loaded, expires=expires)

    # -- saving -----------------------------------------------------------------------------

    def _set_cookie(self, ctx: Context, sid: str | None) -> None:
        cookies = ctx.cookies
        options: dict[str, Any] = {
            "path": self.path,
            "domain": self.domain,
            "secure": self.secure,
            "httponly": self.httponly,
            "samesite": self.samesite,
        }
        if sid is None:
            cookies.set(self.key, None, **options)
            if self.signed:
                cookies.set(self.key + ".sig", None, **options)
            return
        cookies.set(self.key, sid, max_age=int(self.max_age), signed=self.signed, **options)

    async def commit(self, ctx: Context, data: SessionData | None) -> None:
        """Save, renew, move or delete the session as the request left it."""
        had_cookie = self.key in ctx.cookies
        if data is None or data._destroyed:
            sid = data._sid if data is not None else ctx.__dict__.get("_scallion_sid")
            if sid is not None:
                await self._store_op(self.store.delete(self.prefix + sid))
            if had_cookie:
                self._set_cookie(ctx, None)
            return
        now = time.time()
        sid = data._sid
        if data._regenerate or sid is None:
            if sid is None and not data:
                return  # a new, empty session is never stored
            raw = _encode(dict(data), self.max_size)
            if sid is not None:
                await self._store_op(self.store.delete(self.prefix + sid))
            await self._save(secrets.token_urlsafe(32), raw, now + self.max_age, ctx, cookie=True)
            return
        left = data._expires - now
        refresh = self.rolling or (self.renew and left < self.max_age / 2)
        if refresh:
            raw = _encode(dict(data), self.max_size)
            await self._save(sid, raw, now + self.max_age, ctx, cookie=True)
        elif left > 0:  # else it expired while the request ran: the next one starts afresh
            raw = _encode(dict(data), self.max_size)
            if raw != data._loaded:
                await self._save(sid, raw, data._expires, ctx, cookie=False)

    async def _save(
        self, sid: str, raw: bytes, expires: float, ctx: Context, *, cookie: bool
    ) -> None:
        record = b'{"e":' + repr(expires).encode() + b',"d":' + raw + b"}"
        ttl = max(1.0, expires - time.time())
        await self._store_op(self.store.set(self.prefix + sid, record, ttl))
        if cookie:
            self._set_cookie(ctx, sid)

    async def _store_op(self, op: Any) -> None:
        try:
            await op
        except StoreUnavailable as exc:
            raise HttpError(503, "Session store unavailable", expose=True) from exc

    # -- the middleware ---------------------------------------------------------------------

    async def __call__(self, ctx: Context, next: Next) -> None:
        data = await self.load(ctx)
        env = ctx.__dict__
        env["session"] = data
        if data._sid is not None:
            env["_scallion_sid"] = data._sid
        try:
            await next()
        except Exception as err:
            await self._commit_on_error(ctx, err)
            raise
        await self.commit(ctx, self._current(ctx))

    def _current(self, ctx: Context) -> SessionData | None:
        value = ctx.__dict__.get("session")
        if value is None or isinstance(value, SessionData):
            return value
        if isinstance(value, Mapping):  # ``ctx.session = {...}`` replaces the data
            old = ctx.__dict__.get("_scallion_sid")
            replaced = SessionData(value, sid=old, loaded=None)
            if old is not None:
                replaced.regenerate()
            return replaced
        raise TypeError(f"ctx.session must be a dict or None, not {type(value).__name__}")

    async def _commit_on_error(self, ctx: Context, err: Exception) -> None:
        """Save what the request changed before failing, and carry the cookie on the error."""
        before = list(_set_cookie_lines(ctx))
        try:
            await self.commit(ctx, self._current(ctx))
        except Exception as exc:  # the request's own error is the one to report
            logger.warning("could not save the session of a failed request: %s", exc)
            return
        lines = [line for line in _set_cookie_lines(ctx) if line not in before]
        if not lines:
            return
        headers = getattr(err, "headers", None)
        if isinstance(headers, dict):  # the error may carry cookies of its own: add ours
            for name, value in headers.items():
                if isinstance(name, str) and name.lower() == "set-cookie":
                    own = [value] if isinstance(value, str) else list(value)
                    headers[name] = own + lines
                    return
        add_error_headers(err, (("set-cookie", lines),), ctx)  # type: ignore[arg-type]


def _set_cookie_lines(ctx: Context) -> list[str]:
    value = ctx.response.headers.get("set-cookie")
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def session(
    store: Literal["memory", "redis"] | Store = "memory",
    *,
    key: str = "scallion.sid",
    max_age: float = 86400,
    rolling: bool = False,
    renew: bool = False,
    signed: bool = True,
    httponly: bool = True,
    samesite: Literal["lax", "strict", "none"] | None = "lax",
    secure: bool | None = None,
    domain: str | None = None,
    path: str = "/",
    prefix: str = "sess:",
    redis_url: str | None = None,
    max_size: int = DEFAULT_MAX_SIZE,
) -> SessionMiddleware:
    """Put a ``SessionData`` on ``ctx.session``, kept server-side under a signed cookie id.

    Args:
        store: ``"memory"`` (this process only), ``"redis"`` (with ``redis_url``; every
            worker sees every session) or a ``Store``.
        key: the cookie name (the signature travels in ``<key>.sig``).
        max_age: seconds a session lives from when it was saved (cookie ``Max-Age`` and the
            store's TTL). Without ``rolling``/``renew`` that expiry is fixed: changing the
            data does not push it back.
        rolling: save the session and reset its expiry on every response.
        renew: reset the expiry when less than half of ``max_age`` is left.
        signed: sign the cookie with ``app.keys`` (needs ``App(keys=[...])``).
        httponly, samesite, secure, domain, path: cookie attributes; ``secure=None`` means
            ``Secure`` exactly when the request came over HTTPS.
        prefix: store key prefix for session records.
        redis_url: the Redis for ``store="redis"``.
        max_size: largest JSON encoding of the data, in bytes; saving more is a 500 that
            says so (a cookie id never grows, but the store should not either).
    """
    if not isinstance(key, str) or not key or any(c in key for c in ' \t\r\n;,="()<>@:\\/[]?{}'):
        raise ValueError(f"session(key=...) must be a valid cookie name, not {key!r}")
    if isinstance(max_age, bool) or not isinstance(max_age, int | float) or not max_age >= 1:
        raise ValueError(f"session(max_age=...) must be at least 1 second, got {max_age!r}")
    for name, flag in (
        ("rolling", rolling),
        ("renew", renew),
        ("signed", signed),
        ("httponly", httponly),
    ):
        if not isinstance(flag, bool):
            raise TypeError(f"session({name}=...) must be a bool")
    if samesite not in ("lax", "strict", "none", None):
        raise ValueError(
            f"session(samesite=...) must be 'lax', 'strict', 'none' or None, not {samesite!r}"
        )
    if secure is not None and not isinstance(secure, bool):
        raise TypeError("session(secure=...) must be a bool or None")
    if domain is not None and not isinstance(domain, str):
        raise TypeError("session(domain=...) must be a str or None")
    if not isinstance(path, str) or not path.startswith("/"):
        raise ValueError(f"session(path=...) must start with '/', not {path!r}")
    if not isinstance(prefix, str):
        raise TypeError("session(prefix=...) must be a str")
    if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 2:
        raise ValueError(f"session(max_size=...) must be a positive int, got {max_size!r}")
    resolved = resolve_store(
        store, redis_url, who="session", prefix="scallion:", memory_entries=100_000
    )
    return SessionMiddleware(
        resolved,
        key=key,
        max_age=float(max_age),
        rolling=rolling,
        renew=renew,
        signed=signed,
        httponly=httponly,
        samesite=samesite,
        secure=secure,
        domain=domain,
        path=path,
        prefix=prefix,
        max_size=max_size,
    )
