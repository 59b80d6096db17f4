"""The read side of a request, over the ASGI scope and ``receive``.

Everything is parsed lazily: a request that never looks at its query string or headers
pays nothing for them. The body is read once, with its size limit enforced while it
streams in, and cached, so a middleware that reads it does not consume it for the
handler (Starlette #495, #847).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote

import orjson

from . import _mime
from .datastructures import Headers
from .errors import ClientDisconnect, HttpError
from .types import Receive, Scope

if TYPE_CHECKING:
    from .app import App

__all__ = ["DEFAULT_BODY_LIMIT", "Request", "group_pairs", "parse_query", "raw_path_of"]

DEFAULT_BODY_LIMIT = 1024 * 1024
"""1 MiB: a new app is not open to a memory attack (Starlette #2155)."""

_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"})


def parse_query(querystring: str) -> dict[str, str | list[str]]:
    """``a=1&a=2&b=x`` → ``{"a": ["1", "2"], "b": "x"}``; bad encodings never raise."""
    if not querystring:
        return {}
    return group_pairs(parse_qsl(querystring, keep_blank_values=True, errors="replace"))


def group_pairs(pairs: Iterable[tuple[str, str]]) -> dict[str, str | list[str]]:
    """Key/value pairs as a dict: a str per key, or a list of str when the key repeats."""
    result: dict[str, str | list[str]] = {}
    for key, value in pairs:
        existing = result.get(key)
        if existing is None:
            result[key] = value
        elif isinstance(existing, list):
            existing.append(value)
        else:
            result[key] = [existing, value]
    return result


def _first(value: str) -> str:
    return value.split(",", 1)[0].strip()


def raw_path_of(scope: Scope) -> str:
    """The still percent-encoded path of ``scope`` (the router matches on it)."""
    raw = scope.get("raw_path")
    if raw:
        # Decoded first: ``b"?" in raw`` tries the operand as an int, raises and
        # swallows a TypeError, ~700 instructions per request (callgrind).
        path: str = raw.decode("latin-1")
        return path.split("?", 1)[0] if "?" in path else path
    return quote(scope["path"], safe="/:@!$&'()*+,;=-._~%")


class Request:
    """``ctx.request``: method, path, headers, query and the body readers."""

    __slots__ = (
        "_body",
        "_failed",
        "_headers",
        "_json",
        "_query",
        "_receive",
        "_streamed",
        "app",
        "body_limit",
        "parsed",
        "scope",
    )

    def __init__(self, scope: Scope, receive: Receive, app: App | None = None) -> None:
        self.scope = scope
        self._receive = receive
        self.app = app
        self._headers: Headers | None = None
        self._query: dict[str, str | list[str]] | None = None
        self._body: bytes | None = None
        self._json: Any = _UNSET
        self._streamed = False
        self._failed: BaseException | None = None
        self.body_limit: int = app.body_limit if app is not None else DEFAULT_BODY_LIMIT
        self.parsed: Any = None
        """Where a body parser leaves the parsed body (``req.body`` in the Express layer)."""

    # -- line and headers -------------------------------------------------------------

    @property
    def method(self) -> str:
        return self.scope["method"]  # type: ignore[no-any-return]

    @property
    def path(self) -> str:
        """The percent-decoded path."""
        return self.scope["path"]  # type: ignore[no-any-return]

    @property
    def raw_path(self) -> str:
        """The path as the client sent it, still percent-encoded."""
        return raw_path_of(self.scope)

    @property
    def querystring(self) -> str:
        return self.scope.get("query_string", b"").decode("latin-1")  # type: ignore[no-any-return]

    @property
    def search(self) -> str:
        qs = self.querystring
        return "?" + qs if qs else ""

    @property
    def query(self) -> dict[str, str | list[str]]:
        """Query parameters: a str per key, or a list of str when the key repeats."""
        if self._query is None:
            self._query = parse_query(self.querystring)
        return self._query

    @query.setter
    def query(self, value: Mapping[str, str | list[str]]) -> None:
        self._query = dict(value)

    @property
    def url(self) -> str:
        """Path plus query string, as the client sent them (Koa's ``request.url``)."""
        return self.raw_path + self.search

    @property
    def headers(self) -> Headers:
        headers = self._headers
        if headers is None:
            headers = self._headers = Headers(self.scope.get("headers", ()))
        return headers

    def get(self, name: str) -> str:
        """A header's value, or ``""`` when absent (``Referer``/``Referrer`` are one)."""
        key = name.lower()
        if key in ("referer", "referrer"):
            return self.headers.get("referer") or self.headers.get("referrer") or ""
        return self.headers.get(key) or ""

    @property
    def _proxy(self) -> bool:
        return self.app is not None and self.app.proxy

    @property
    def protocol(self) -> str:
        """``http`` or ``https``; ``X-Forwarded-Proto`` counts only behind a trusted proxy."""
        if self._proxy:
            forwarded = self.get("x-forwarded-proto")
            if forwarded:
                return _first(forwarded).lower()
        scheme = self.scope.get("scheme", "http")
        return "https" if scheme in ("https", "wss") else "http"

    @property
    def secure(self) -> bool:
        return self.protocol == "https"

    @property
    def host(self) -> str:
        """``host[:port]``; ``X-Forwarded-Host`` counts only behind a trusted proxy."""
        if self._proxy:
            forwarded = self.get("x-forwarded-host")
            if forwarded:
                return _first(forwarded)
        host = self.get("host")
        if not host:
            server = self.scope.get("server")
            if server:
                host = f"{server[0]}:{server[1]}" if server[1] else str(server[0])
        return host

    @property
    def hostname(self) -> str:
        host = self.host
        if host.startswith("["):  # IPv6 literal
            return host[1 : host.find("]")] if "]" in host else host
        return host.rsplit(":", 1)[0] if host.count(":") == 1 else host

    @property
    def origin(self) -> str:
        return f"{self.protocol}://{self.host}"

    @property
    def href(self) -> str:
        return self.origin + self.url

    @property
    def ips(self) -> list[str]:
        """The ``X-Forwarded-For`` chain, client first, behind a trusted proxy; else ``[]``."""
        if not self._proxy:
            return []
        forwarded = self.get("x-forwarded-for")
        return [ip.strip() for ip in forwarded.split(",") if ip.strip()] if forwarded else []

    @property
    def ip(self) -> str:
        ips = self.ips
        if ips:
            return ips[0]
        client = self.scope.get("client")
        return str(client[0]) if client else ""

    @property
    def idempotent(self) -> bool:
        return self.method in _IDEMPOTENT

    # -- content negotiation ----------------------------------------------------------

    @property
    def content_type(self) -> str:
        """The bare request mime type (``application/json``), or ``""``."""
        return _mime.bare(self.get("content-type"))

    @property
    def charset(self) -> str:
        return _mime.charset_of(self.get("content-type"))

    @property
    def length(self) -> int | None:
        value = self.get("content-length")
        return int(value) if value.isascii() and value.isdigit() else None

    def is_type(self, *types: str) -> str | None:
        """The first of ``types`` the request's Content-Type matches, else ``None``."""
        mime = self.content_type
        if not mime:
            return None
        for candidate in types:
            if _mime.mime_matches(_mime.expand(candidate), mime):
                return candidate
        return None

    def accepts(self, *types: str) -> str | None:
        """The best of ``types`` for this request's ``Accept`` header, else ``None``.

        ``accepts("json", "html")`` returns ``"json"`` or ``"html"`` as given. A missing
        ``Accept`` header accepts anything, so the first type wins.
        """
        header = self.get("accept")
        if not types:
            return None
        if not header:
            return types[0]
        for media, q in _mime.parse_accept(header):
            if q <= 0:
                continue
            for candidate in types:
                full = _mime.expand(candidate)
                if full and (_mime.mime_matches(media, full) or _mime.mime_matches(full, media)):
                    return candidate
        return None

    # -- body ------------------------------------------------------------------------

    def _too_large(self) -> HttpError:
        return HttpError(413, f"Request body is larger than the limit of {self.body_limit} bytes")

    def _check_declared_length(self) -> None:
        declared = self.get("content-length")
        if not declared:
            return
        if not (declared.isascii() and declared.isdigit()):  # "²".isdigit() is True
            raise HttpError(400, "Invalid Content-Length header")
        if int(declared) > self.body_limit:
            raise self._too_large()

    async def stream(self) -> AsyncIterator[bytes]:
        """The body as it arrives, chunk by chunk, with the size limit enforced.

        After ``body()`` this yields the cached bytes; after ``stream()`` the body is
        gone and ``body()`` raises ``RuntimeError``.
        """
        if self._body is not None:
            if self._body:
                yield self._body
            return
        if self._failed is not None:
            raise self._failed  # a later reader sees the same 413/400, not a 500
        if self._streamed:
            raise RuntimeError("The request body was already streamed")
        self._streamed = True
        try:
            self._check_declared_length()
            limit = self.body_limit
            size = 0
            while True:
                message = await self._receive()
                kind = message["type"]
                if kind == "http.request":
                    chunk: bytes = message.get("body", b"")
                    size += len(chunk)
                    if size > limit:
                        raise self._too_large()
                    if chunk:
                        yield chunk
                    if not message.get("more_body", False):
                        return
                elif kind == "http.disconnect":
                    raise ClientDisconnect()
        except (HttpError, ClientDisconnect) as exc:
            self._failed = exc
            raise

    async def body(self) -> bytes:
        """The raw body, read once and cached; 413 past ``body_limit`` (checked as it streams)."""
        if self._body is not None:
            return self._body
        if self._failed is not None:
            raise self._failed
        if self._streamed:
            raise RuntimeError("The request body was already streamed")
        chunks = [chunk async for chunk in self.stream()]
        self._body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        return self._body

    async def text(self) -> str:
        """The body decoded with its charset (UTF-8 by default); 400 when it does not decode."""
        raw = await self.body()
        charset = self.charset
        try:
            return raw.decode(charset)
        except LookupError:
            raise HttpError(415, f"Unsupported charset {charset!r}") from None
        except UnicodeDecodeError:
            raise HttpError(400, f"Request body is not valid {charset}") from None

    async def json(self, *, require_type: bool = True) -> Any:
        """The body parsed as JSON: 415 unless the Content-Type is JSON, 400 when malformed."""
        if self._json is not _UNSET:
            return self._json
        if require_type and not self.is_type("json", "+json"):
            got = self.content_type or "none"
            raise HttpError(415, f"Expected a JSON body (Content-Type application/json), got {got}")
        raw = await self.body()
        if not raw.strip():
            raise HttpError(400, "Request body is empty; expected JSON")
        try:
            self._json = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise HttpError(400, f"Malformed JSON in request body: {exc}") from None
        return self._json

    async def form(self) -> dict[str, str | list[str]]:
        """An ``application/x-www-form-urlencoded`` body as a query-style dict; else 415."""
        if not self.is_type("urlencoded"):
            got = self.content_type or "none"
            hint = " (use scallion.middleware.multipart for uploads)" if "multipart" in got else ""
            raise HttpError(415, f"Expected a urlencoded form body, got {got}{hint}")
        text = await self.text()
        return parse_query(text)

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.url}>"


class _Unset:
    __slots__ = ()


_UNSET: Any = _Unset()
