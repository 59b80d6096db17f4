"""API key authentication: a key in a header (or query parameter), compared in constant time.

Usage::

    app.use(api_key(keys=os.environ["API_KEYS"].split(",")))  # X-API-Key: <key>
    app.use(api_key(keys={"k-123...": "billing"}))   # ctx.state.api_key == "billing"
    app.use(api_key(keys=lookup_key_in_db))          # fn(key) -> principal or None

With a list or mapping, the presented key is compared with *every* configured key (SHA-256
digests through ``hmac.compare_digest``, results OR-ed, no early exit), so neither the
answer time nor its length says which key, or how much of one, matched. A missing or
wrong key is a 401 with ``WWW-Authenticate: ApiKey``. The raw key is never stored on the
context: ``ctx.state.api_key`` holds the principal (mapping value, callable result) or,
for a plain list, a SHA-256 fingerprint of the key.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import HttpError
from ..response import check_header

if TYPE_CHECKING:
    from ..context import Context
    from ..types import Next

__all__ = ["ApiKeyAuth", "api_key", "fingerprint"]

KEYS_ENV = "SCALLION_API_KEYS"
MAX_KEY_LENGTH = 1024

KeyLookup = Callable[[str], "Any | Awaitable[Any]"]


def fingerprint(key: str) -> str:
    """A stable, non-reversible name for a key, safe to log and to rate-limit by."""
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:32]


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).digest()


class ApiKeyAuth:
    """The middleware ``api_key()`` returns."""

    __slots__ = ("_challenge", "_digests", "_lookup", "header", "query", "state_key")

    def __init__(
        self,
        *,
        digests: list[tuple[bytes, Any]] | None,
        lookup: KeyLookup | None,
        header: str,
        query: str | None,
        state_key: str,
        realm: str,
    ) -> None:
        self._digests = digests
        self._lookup = lookup
        self.header = header
        self.query = query
        self.state_key = state_key
        self._challenge = f'ApiKey realm="{realm}", header="{header}"'

    def __repr__(self) -> str:
        count = "callable" if self._digests is None else f"{len(self._digests)} keys"
        return f"<api_key header={self.header!r} {count}>"

    def _refuse(self, message: str) -> HttpError:
        return HttpError(401, message, headers={"www-authenticate": self._challenge})

    def presented(self, ctx: Context) -> str | None:
        """The key the request carries (header first, then the query parameter)."""
        value = ctx.request.get(self.header)
        if value:
            return value
        if self.query is not None:
            found = ctx.query.get(self.query)
            if isinstance(found, list):
                raise self._refuse("Invalid API key")
            return found or None
        return None

    def match(self, key: str) -> Any:
        """The principal for ``key`` from the configured keys, or ``None``; constant time."""
        assert self._digests is not None
        digest = _digest(key)
        principal: Any = None
        matched = False
        for candidate, value in self._digests:  # every key, every time
            equal = hmac.compare_digest(digest, candidate)
            matched |= equal
            if equal:
                principal = value
        return principal if matched else None

    async def __call__(self, ctx: Context, next: Next) -> None:
        key = self.presented(ctx)
        if key is None:
            raise self._refuse(f"Missing API key: send it in {self.header}")
        if len(key) > MAX_KEY_LENGTH:
            raise self._refuse("Invalid API key")
        if self._lookup is not None:
            principal = self._lookup(key)
            if inspect.isawaitable(principal):
                principal = await principal
        else:
            principal = self.match(key)
        if principal is None or principal is False:
            raise self._refuse("Invalid API key")
        setattr(ctx.state, self.state_key, principal)
        await next()


def _digests(keys: Iterable[str] | Mapping[str, Any]) -> list[tuple[bytes, Any]]:
    pairs: Iterable[tuple[str, Any]]
    if isinstance(keys, Mapping):
        pairs = keys.items()
    else:
        pairs = ((key, fingerprint(key) if isinstance(key, str) else None) for key in keys)
    digests: list[tuple[bytes, Any]] = []
    for key, principal in pairs:
        if not isinstance(key, str) or not key.strip():
            raise ValueError("api_key(keys=...) entries must be non-empty strings")
        if len(key) > MAX_KEY_LENGTH:
            raise ValueError(f"api_key(keys=...) entries must be at most {MAX_KEY_LENGTH} chars")
        if principal is None or principal is False:
            raise ValueError("api_key(keys={...}) principals must not be None or False")
        digests.append((_digest(key), principal))
    if not digests:
        raise ValueError("api_key(keys=...) is empty: no request could ever pass")
    return digests


def api_key(
    keys: Iterable[str] | Mapping[str, Any] | KeyLookup | None = None,
    *,
    header: str = "X-API-Key",
    query: str | None = None,
    state_key: str = "api_key",
    realm: str = "api",
) -> ApiKeyAuth:
    """Require an API key; put who it belongs to on ``ctx.state.<state_key>``.

    Args:
        keys: the accepted keys: a list (``ctx.state.api_key`` is then the key's
            fingerprint), a mapping key -> principal, or ``fn(key) -> principal | None``
            (may be async; do your own constant-time comparison there). ``None`` reads a
            comma-separated list from ``$SCALLION_API_KEYS`` at start-up.
        header: the request header that carries the key.
        query: also accept the key from this query parameter (URLs end up in logs and
            browser history; prefer the header).
        state_key: the ``ctx.state`` attribute for the principal.
        realm: the ``realm`` of the ``WWW-Authenticate: ApiKey`` challenge.
    """
    if not isinstance(header, str) or not header:
        raise TypeError("api_key(header=...) must be a header name")
    check_header(header, "")
    if query is not None and (not isinstance(query, str) or not query):
        raise TypeError("api_key(query=...) must be a parameter name or None")
    if not isinstance(state_key, str) or not state_key.isidentifier():
        raise ValueError(f"api_key(state_key=...) must be an identifier, not {state_key!r}")
    if not isinstance(realm, str) or any(c in realm for c in '"\\\r\n') or not realm.isprintable():
        raise ValueError(f"api_key(realm=...) must be printable text without quotes, not {realm!r}")
    digests: list[tuple[bytes, Any]] | None = None
    lookup: KeyLookup | None = None
    if keys is None:
        configured = [k.strip() for k in os.environ.get(KEYS_ENV, "").split(",") if k.strip()]
        if not configured:
            raise ValueError(f"api_key() needs keys=[...] (or a comma-separated ${KEYS_ENV})")
        digests = _digests(configured)
    elif isinstance(keys, str):
        raise TypeError("api_key(keys=...) must be a list of keys, not one str")
    elif isinstance(keys, Mapping) or not callable(keys):
        digests = _digests(keys)
    else:
        lookup = keys
    return ApiKeyAuth(
        digests=digests,
        lookup=lookup,
        header=header,
        query=query,
        state_key=state_key,
        realm=realm,
    )
