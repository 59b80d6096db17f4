"""Cookies read from the request and written to the response, optionally signed.

Signing follows Koa's ``app.keys`` (keygrip): a signed cookie ``name`` travels with a
``name.sig`` cookie holding an HMAC of ``name=value``. Verification tries every key, so
keys can rotate: put the new key first, and a cookie signed with an older key is still
accepted and re-signed with the first key on the way out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import format_datetime
from http.cookies import SimpleCookie
from typing import TYPE_CHECKING, Literal

from .response import check_header

if TYPE_CHECKING:
    from .context import Context

__all__ = ["Cookies", "parse_cookie_header", "sign", "verify"]

_SAFE_VALUE = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'()*+-./:<=>?@[]^_`{|}~"
)


def sign(data: str, key: str | bytes) -> str:
    raw_key = key.encode() if isinstance(key, str) else key
    digest = hmac.new(raw_key, data.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def verify(data: str, signature: str, keys: Sequence[str | bytes]) -> int:
    """Index of the key that signed ``data``, or -1."""
    if not signature.isascii():  # compare_digest raises TypeError on non-ASCII str
        return -1
    for index, key in enumerate(keys):
        if hmac.compare_digest(sign(data, key), signature):
            return index
    return -1


def parse_cookie_header(header: str) -> dict[str, str]:
    """A `Cookie` header as a dict; the first value of a repeated name wins."""
    cookies: dict[str, str] = {}
    for chunk in header.split(";"):
        name, sep, value = chunk.partition("=")
        if not sep:
            continue
        name = name.strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        if name and name not in cookies:
            cookies[name] = value
    return cookies


class Cookies:
    """``ctx.cookies``: ``get(name, signed=False)`` and ``set(name, value, ...)``."""

    __slots__ = ("_ctx", "_parsed")

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._parsed: dict[str, str] | None = None

    @property
    def _all(self) -> dict[str, str]:
        if self._parsed is None:
            self._parsed = parse_cookie_header(self._ctx.request.get("cookie"))
        return self._parsed

    def _keys(self) -> Sequence[str | bytes]:
        keys = self._ctx.app.keys
        if not keys:
            raise RuntimeError("Signed cookies need App(keys=[...])")
        return keys

    def get(self, name: str, *, signed: bool = False) -> str | None:
        """The cookie's value; for ``signed=True``, only if its signature verifies."""
        value = self._all.get(name)
        if value is None or not signed:
            return value
        signature = self._all.get(name + ".sig")
        if signature is None:
            return None
        keys = self._keys()
        index = verify(f"{name}={value}", signature, keys)
        if index < 0:
            return None
        if index > 0:  # signed with an older key: re-sign with the current one
            self._append(name + ".sig", sign(f"{name}={value}", keys[0]), path="/")
        return value

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __contains__(self, name: str) -> bool:
        return name in self._all

    def set(
        self,
        name: str,
        value: str | None,
        *,
        max_age: int | None = None,
        expires: datetime | None = None,
        path: str = "/",
        domain: str | None = None,
        secure: bool | None = None,
        httponly: bool = True,
        samesite: Literal["lax", "strict", "none"] | None = "lax",
        signed: bool = False,
        partitioned: bool = False,
    ) -> None:
        """Add a ``Set-Cookie`` line; ``value=None`` deletes the cookie.

        ``secure`` defaults to whether the request came over HTTPS. ``samesite="none"``
        forces ``Secure``, as browsers require.
        """
        if value is None:
            value = ""
            max_age = 0
            expires = datetime(1970, 1, 1, tzinfo=UTC)
        if secure is None:
            secure = self._ctx.request.secure
        if samesite == "none":
            secure = True
        options = dict(
            max_age=max_age,
            expires=expires,
            path=path,
            domain=domain,
            secure=secure,
            httponly=httponly,
            samesite=samesite,
            partitioned=partitioned,
        )
        self._append(name, value, **options)  # type: ignore[arg-type]
        if signed:
            signature = sign(f"{name}={value}", self._keys()[0])
            self._append(name + ".sig", signature, **options)  # type: ignore[arg-type]

    def _append(
        self,
        name: str,
        value: str,
        *,
        max_age: int | None = None,
        expires: datetime | None = None,
        path: str | None = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = False,
        samesite: str | None = None,
        partitioned: bool = False,
    ) -> None:
        if not name or any(c in name for c in ' \t\r\n;,="()<>@:\\/[]?{}'):
            raise ValueError(f"Invalid cookie name {name!r}")
        if not all(c in _SAFE_VALUE for c in value):
            # Quote-free encoding keeps odd characters from splitting the header.
            morsel = SimpleCookie()
            morsel[name] = value
            value = morsel[name].coded_value
        parts = [f"{name}={value}"]
        if path:
            parts.append(f"Path={path}")
        if domain:
            parts.append(f"Domain={domain}")
        if max_age is not None:
            parts.append(f"Max-Age={int(max_age)}")
        if expires is not None:
            when = expires if expires.tzinfo else expires.replace(tzinfo=UTC)
            parts.append("Expires=" + format_datetime(when.astimezone(UTC), usegmt=True))
        if secure:
            parts.append("Secure")
        if httponly:
            parts.append("HttpOnly")
        if samesite:
            parts.append(f"SameSite={samesite.capitalize()}")
        if partitioned:
            parts.append("Partitioned")
        line = "; ".join(parts)
        check_header("set-cookie", line)
        self._ctx.response.append("set-cookie", line)
