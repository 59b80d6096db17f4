"""Parse JSON, urlencoded form and text request bodies, after koa-bodyparser.

Usage::

    app = App()
    app.use(error_handler(), body_parser(enable_types=["json", "form"], json_limit="5mb"))
    app.use(router.routes())                 # handlers read ctx.request.parsed

The result goes to ``ctx.request.parsed`` (Koa's ``ctx.request.body``, Express's
``req.body``): a dict or list for JSON, a dict of str (a list of str for a repeated key)
for a form, a str for text and XML. A body whose type is not enabled is left alone
(``parsed`` stays ``None``) unless ``require=True``, which answers 415. The body is read
with the type's limit enforced while it streams in (413, before the limit is passed) and
stays cached, so ``await ctx.request.body()`` still gives the raw bytes afterwards, and a
middleware that read the raw body *before* the parser does not starve it.

Bad input is a clear 4xx: malformed JSON, a JSON scalar at the top level in strict mode,
nesting deeper than 1024 levels, or bytes that do not decode in the declared charset are
400; a body over its limit or a form with more than ``max_fields`` fields is 413; an
unknown charset is 415.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import parse_qsl

import orjson

from .. import _mime
from .._mime import charset_of
from ..errors import HttpError
from ..request import group_pairs
from ..types import Middleware, Next
from ._sizes import parse_size

if TYPE_CHECKING:
    from ..context import Context
    from ..request import Request

__all__ = ["DEFAULT_TYPES", "body_parser"]

DEFAULT_TYPES: Final[Mapping[str, tuple[str, ...]]] = {
    "json": (
        "application/json",
        "application/json-patch+json",
        "application/vnd.api+json",
        "application/csp-report",
        "+json",
    ),
    "form": ("application/x-www-form-urlencoded",),
    "text": ("text/plain",),
    "xml": ("text/xml", "application/xml", "+xml"),
}
"""Content types each ``enable_types`` name covers (``extend_types`` adds more)."""

_NO_BODY_METHODS: Final = frozenset({"GET", "HEAD", "DELETE", "OPTIONS", "TRACE"})

ErrorHook = Callable[[HttpError, "Context"], Awaitable[None] | None]


def body_parser(
    *,
    enable_types: Iterable[str] = ("json", "form", "text"),
    json_limit: int | str = "1mb",
    form_limit: int | str = "56kb",
    text_limit: int | str = "1mb",
    xml_limit: int | str = "1mb",
    strict: bool = True,
    encoding: str = "utf-8",
    extend_types: Mapping[str, Iterable[str]] | None = None,
    on_error: ErrorHook | None = None,
    require: bool = False,
    max_fields: int = 1000,
) -> Middleware:
    """Parse the request body by its Content-Type into ``ctx.request.parsed``.

    Args:
        enable_types: which of ``json``, ``form``, ``text``, ``xml`` to parse.
        json_limit, form_limit, text_limit, xml_limit: byte limits per type, as an int
            or a size like ``"5mb"``/``"100kb"`` (koa-bodyparser's defaults).
        strict: JSON must be an object or an array at the top level (400 otherwise).
        encoding: charset for form and text bodies that do not declare one.
        extend_types: more content types per name, ``{"json": ["application/x-json"]}``.
        on_error: ``fn(err, ctx)`` (sync or async) called with the 4xx ``HttpError``
            instead of raising it; raise from it to answer your own way, or return to go
            on with ``parsed`` left ``None`` (koa-bodyparser's ``onerror``).
        require: answer 415 when a request that may carry a body has none of the
            enabled types (for one route: ``router.post("/x", body_parser(require=True),
            handler)``).
        max_fields: most fields a form may have (413 past it).
    """
    names = [enable_types] if isinstance(enable_types, str) else list(enable_types)
    for name in names:
        if name not in DEFAULT_TYPES:
            known = ", ".join(DEFAULT_TYPES)
            raise ValueError(f"body_parser(enable_types=...): unknown type {name!r}; use {known}")
    for flag_name, flag in (("strict", strict), ("require", require)):
        if not isinstance(flag, bool):
            raise TypeError(f"body_parser({flag_name}=...) must be a bool")
    if isinstance(max_fields, bool) or not isinstance(max_fields, int) or max_fields < 1:
        raise TypeError("body_parser(max_fields=...) must be a positive int")
    try:
        "".encode(encoding)
    except (LookupError, TypeError):
        raise ValueError(f"body_parser(encoding=...): unknown encoding {encoding!r}") from None
    if on_error is not None and not callable(on_error):
        raise TypeError("body_parser(on_error=...) must be callable")
    limits = {
        "json": parse_size(json_limit, "json_limit"),
        "form": parse_size(form_limit, "form_limit"),
        "text": parse_size(text_limit, "text_limit"),
        "xml": parse_size(xml_limit, "xml_limit"),
    }
    patterns = {name: list(DEFAULT_TYPES[name]) for name in names}
    for name, extra in (extend_types or {}).items():
        if name not in DEFAULT_TYPES:
            raise ValueError(f"body_parser(extend_types=...): unknown type {name!r}")
        items = [extra] if isinstance(extra, str) else list(extra)
        if not all(isinstance(item, str) for item in items):
            raise TypeError("body_parser(extend_types=...) values must be lists of str")
        if name in patterns:
            patterns[name].extend(items)
    table = tuple(
        (name, tuple(_mime.expand(t) or t.lower() for t in found))
        for name, found in patterns.items()
    )
    kinds: dict[str, str | None] = {}  # bare content type -> enabled name (bounded cache)

    def kind_of(mime: str) -> str | None:
        try:
            return kinds[mime]
        except KeyError:
            pass
        found = None
        for name, types in table:
            if any(_mime.mime_matches(t, mime) for t in types):
                found = name
                break
        if len(kinds) < 256:
            kinds[mime] = found
        return found

    expected = ", ".join(names) or "none"

    async def body_parser_middleware(ctx: Context, next: Next) -> Any:
        request = ctx.request
        if request.method in _NO_BODY_METHODS and not _has_body(request):
            return await next()
        mime = request.content_type
        kind = kind_of(mime) if mime else None
        if kind is None:
            if require:
                got = request.content_type or "none"
                err = HttpError(415, f"Unsupported Media Type {got}; expected {expected}")
                await _fail(err, ctx)
        elif request.parsed is None:  # a parser earlier in the chain may have done it
            try:
                request.parsed = await _parse(request, kind, limits[kind])
            except HttpError as err:
                await _fail(err, ctx)
        return await next()

    async def _fail(err: HttpError, ctx: Context) -> None:
        if on_error is None:
            raise err
        result = on_error(err, ctx)
        if inspect.isawaitable(result):
            await result

    async def _parse(request: Request, kind: str, limit: int) -> Any:
        request.body_limit = limit
        raw = await request.body()
        if len(raw) > limit:  # read (and cached) earlier, under another limit
            raise HttpError(413, f"Request body is larger than the limit of {limit} bytes")
        if kind == "json":
            return _json(raw, request.charset, strict)
        text = _decode(raw, charset_of(request.get("content-type"), encoding))
        if kind == "form":
            return _form(text, max_fields)
        return text

    return body_parser_middleware


def _has_body(request: Request) -> bool:
    headers = request.headers
    if "transfer-encoding" in headers:
        return True
    length = headers.get("content-length")
    return bool(length) and length != "0"


def _json(raw: bytes, charset: str, strict: bool) -> Any:
    start = raw.lstrip(b" \t\r\n")
    if not start:
        return {}
    if charset not in ("utf-8", "utf8"):
        raw = _decode(raw, charset).encode("utf-8")
        start = raw.lstrip(b" \t\r\n")
    if strict and start[:1] not in (b"{", b"["):
        raise HttpError(
            400, "Invalid JSON: strict mode accepts only an object or an array at the top level"
        )
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise HttpError(400, f"Malformed JSON in request body: {exc}") from None


def _decode(raw: bytes, charset: str) -> str:
    try:
        return raw.decode(charset)
    except LookupError:
        raise HttpError(415, f"Unsupported charset {charset!r}") from None
    except UnicodeDecodeError:
        raise HttpError(400, f"Request body is not valid {charset}") from None


def _form(text: str, max_fields: int) -> dict[str, str | list[str]]:
    try:
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=max_fields)
    except UnicodeDecodeError:
        raise HttpError(400, "Form body has percent-escapes that are not valid UTF-8") from None
    except ValueError:
        raise HttpError(413, f"Too many form fields (the limit is {max_fields})") from None
    return group_pairs(pairs)
