"""CSRF protection: a signed double-submit cookie, or a synchronizer token in the session.

Usage::

    app = App(keys=["a long random secret"])
    app.use(error_handler(), csrf())            # templates read ctx.state.csrf_token
    app.use(router.routes())                    # unsafe requests send it back: 403 if not

Safe methods (GET, HEAD, OPTIONS, TRACE) pass and get a token; any other method must send
the token in the ``X-CSRF-Token`` header or the ``_csrf`` form field, else 403.

* ``mode="double-submit"`` (default, no server state): the token lives in a cookie
  (``csrf_token``, readable by your JavaScript, ``SameSite=Lax``). A token is
  ``<random>.<HMAC>``: the cookie must carry a valid signature (so a sibling subdomain
  cannot plant one of its own making) and the submitted token must equal it. The HMAC
  key is ``secret``, else the app's first key.
* ``mode="synchronizer"``: the token lives in ``ctx.session`` (the ``session()``
  middleware must run before this one; without it every request is a clear
  ``RuntimeError`` naming the fix) and the submitted token must equal it.

All comparisons are constant-time (``hmac.compare_digest``). The form field is read from
the body a body parser left in ``ctx.request.parsed``, or from an urlencoded body (read
once and cached, so the handler can still read it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, Literal

from ..errors import HttpError
from ..types import Middleware, Next

if TYPE_CHECKING:
    from ..context import Context

__all__ = ["SAFE_METHODS", "csrf"]

SAFE_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE")
_SESSION_KEY = "csrf_token"
_MAX_TOKEN = 256


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _signature(nonce: str, key: bytes) -> str:
    return _b64(hmac.new(key, b"scallion.csrf:" + nonce.encode(), hashlib.sha256).digest())


def _key(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value


async def _submitted(ctx: Context, header: str, field: str) -> str | None:
    token = ctx.request.headers.get(header)
    if token:
        return str(token)
    request = ctx.request
    parsed = request.parsed
    if isinstance(parsed, Mapping):
        value = parsed.get(field)
    elif request.content_type == "application/x-www-form-urlencoded":
        value = (await request.form()).get(field)
    else:
        return None
    if isinstance(value, list):
        value = value[0] if value else None
    return value if isinstance(value, str) and value else None


def csrf(
    *,
    mode: Literal["double-submit", "synchronizer"] = "double-submit",
    cookie_name: str = "csrf_token",
    header_name: str = "X-CSRF-Token",
    form_field: str = "_csrf",
    safe_methods: Iterable[str] = SAFE_METHODS,
    secret: str | bytes | None = None,
    cookie_secure: bool | None = None,
    cookie_samesite: Literal["lax", "strict", "none"] = "lax",
    cookie_path: str = "/",
    cookie_domain: str | None = None,
    session_key: str = _SESSION_KEY,
) -> Middleware:
    """Refuse unsafe requests without the right CSRF token; see the module docstring.

    Args:
        mode: ``"double-submit"`` (signed cookie) or ``"synchronizer"`` (session).
        cookie_name: the double-submit cookie.
        header_name: the request header that carries the token.
        form_field: the form field that carries the token.
        safe_methods: methods that need no token.
        secret: HMAC key for double-submit tokens; defaults to ``app.keys[0]``.
        cookie_secure: ``Secure`` flag; defaults to whether the request is HTTPS.
        session_key: where the synchronizer token is kept in ``ctx.session``.
    """
    if mode not in ("double-submit", "synchronizer"):
        raise ValueError(f"csrf(mode={mode!r}): use 'double-submit' or 'synchronizer'")
    for label, text in (
        ("cookie_name", cookie_name),
        ("header_name", header_name),
        ("form_field", form_field),
        ("session_key", session_key),
    ):
        if not isinstance(text, str) or not text:
            raise TypeError(f"csrf({label}=...) must be a non-empty str")
    if isinstance(safe_methods, str):
        raise TypeError("csrf(safe_methods=...) must be a list of methods, not a str")
    safe = frozenset(m.upper() for m in safe_methods)
    if secret is not None and not isinstance(secret, str | bytes):
        raise TypeError("csrf(secret=...) must be a str or bytes")
    if secret is not None and len(secret) < 16:
        raise ValueError("csrf(secret=...) must be at least 16 characters long")
    if cookie_samesite not in ("lax", "strict", "none"):
        raise ValueError("csrf(cookie_samesite=...) must be 'lax', 'strict' or 'none'")
    header = header_name.lower()
    fixed_key = _key(secret) if secret is not None else None

    def signing_key(ctx: Context) -> bytes:
        if fixed_key is not None:
            return fixed_key
        keys = ctx.app.keys
        if not keys:
            raise RuntimeError(
                "csrf() needs a secret to sign its tokens: pass csrf(secret=...) "
                "or create the app with App(keys=[...])."
            )
        return _key(keys[0])

    def valid_cookie(token: str | None, key: bytes) -> bool:
        if not token or len(token) > _MAX_TOKEN:
            return False
        nonce, dot, signature = token.partition(".")
        return bool(dot) and hmac.compare_digest(_signature(nonce, key), signature)

    async def double_submit(ctx: Context, next: Next) -> Any:
        key = signing_key(ctx)
        cookie = ctx.cookies.get(cookie_name)
        if not valid_cookie(cookie, key):
            cookie = None
        if ctx.method not in safe:
            sent = await _submitted(ctx, header, form_field)
            if cookie is None:
                raise HttpError(403, "CSRF token cookie missing or invalid")
            if not sent:
                raise HttpError(403, f"CSRF token missing: send it in {header_name}")
            if not hmac.compare_digest(sent.encode(), cookie.encode()):
                raise HttpError(403, "CSRF token mismatch")
        if cookie is None:
            nonce = _b64(secrets.token_bytes(24))
            cookie = f"{nonce}.{_signature(nonce, key)}"
            ctx.cookies.set(
                cookie_name,
                cookie,
                httponly=False,
                secure=cookie_secure,
                samesite=cookie_samesite,
                path=cookie_path,
                domain=cookie_domain,
            )
        vars(ctx.state)["csrf_token"] = cookie
        return await next()

    async def synchronizer(ctx: Context, next: Next) -> Any:
        session = ctx.__dict__.get("session")
        if not isinstance(session, MutableMapping):
            raise RuntimeError(
                "csrf(mode='synchronizer') keeps its token in ctx.session, but there is "
                "no session: add app.use(session(...)) before csrf()."
            )
        stored = session.get(session_key)
        if not isinstance(stored, str) or not stored:
            stored = None
        if ctx.method not in safe:
            sent = await _submitted(ctx, header, form_field)
            if stored is None:
                raise HttpError(403, "CSRF token missing from the session")
            if not sent:
                raise HttpError(403, f"CSRF token missing: send it in {header_name}")
            if not hmac.compare_digest(sent.encode(), stored.encode()):
                raise HttpError(403, "CSRF token mismatch")
        if stored is None:
            stored = _b64(secrets.token_bytes(32))
            session[session_key] = stored
        vars(ctx.state)["csrf_token"] = stored
        return await next()

    return double_submit if mode == "double-submit" else synchronizer
