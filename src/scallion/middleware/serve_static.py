"""Serve files from a directory, after koa-static and koa-send, hardened against traversal.

Usage::

    app = App()
    app.use(error_handler(), serve_static("public", max_age=3600))
    app.use(router.routes())                 # paths with no file fall through to here

Only GET and HEAD are served; a path with no file behind it goes on to ``next()``
(or 404 with ``fallthrough=False``). Responses carry ``ETag``, ``Last-Modified``,
``Cache-Control`` and ``Accept-Ranges``; conditional requests get 304, a single
``Range`` gets 206 (416 with ``Content-Range: bytes */size`` when unsatisfiable), and
several ranges at once get the whole file with 200, which RFC 9110 allows and which
spares clients a multipart/byteranges parser. A malformed ``Range`` is ignored (200).
With ``precompressed=True`` a ``x.br``/``x.zst``/``x.gz`` next to ``x`` is sent instead
when the client accepts that encoding.

Paths are decoded here, strictly, from the raw request path: a ``..`` segment (however
encoded: ``%2e%2e``, ``..%2f``), a backslash, a NUL, or bytes that are not valid UTF-8
(overlong forms included) answer 400; a symlink that resolves outside ``root`` and a
path with a segment starting with ``.`` (unless ``hidden=True``) are not found. Nothing
outside ``root`` is ever opened.
"""

from __future__ import annotations

import asyncio
import mimetypes
import os
import stat as stat_module
from collections.abc import AsyncIterator, Callable, Iterable
from email.utils import formatdate
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import unquote_to_bytes

from .._fresh import is_fresh
from .._mime import content_type_for
from ..errors import HttpError
from ..types import Middleware, Next
from ._negotiate import preferred_encoding

if TYPE_CHECKING:
    from ..context import Context

__all__ = ["serve_static"]

_VARIANTS: Final = (("br", ".br"), ("zstd", ".zst"), ("gzip", ".gz"))
_TYPES: Final = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".wasm": "application/wasm",
    ".svg": "image/svg+xml",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".md": "text/markdown",
}
_CHUNK: Final = 64 * 1024
_HUGE: Final = 1 << 62

SetHeaders = Callable[["Context", str, os.stat_result], Any]


class _Found:
    __slots__ = ("encoding", "name", "path", "stat")

    def __init__(self, path: str, name: str, stat: os.stat_result, encoding: str | None) -> None:
        self.path = path  # what is opened (a precompressed variant, maybe)
        self.name = name  # what the client asked for: decides the content type
        self.stat = stat
        self.encoding = encoding


def serve_static(
    root: str | os.PathLike[str],
    *,
    prefix: str = "/",
    index: str | None = "index.html",
    max_age: int = 0,
    immutable: bool = False,
    hidden: bool = False,
    precompressed: bool = True,
    etag: bool = True,
    last_modified: bool = True,
    extensions: Iterable[str] | None = None,
    fallthrough: bool = True,
    defer: bool = False,
    set_headers: SetHeaders | None = None,
) -> Middleware:
    """Serve the files under ``root`` for GET and HEAD requests under ``prefix``.

    Args:
        prefix: URL path the files live under (``"/static"``), stripped before lookup.
        index: file served for a directory; ``None`` serves no directories.
        max_age: ``Cache-Control: max-age`` in seconds (koa-send takes milliseconds).
        immutable: add ``immutable`` to ``Cache-Control`` (for fingerprinted names).
        hidden: serve paths with a segment starting with ``.``.
        precompressed: serve ``x.br``/``x.zst``/``x.gz`` when present and accepted.
        extensions: extensions tried for a name without one (``["html"]``: ``/about``
            serves ``about.html``).
        fallthrough: pass requests with no file to ``next()``; ``False`` answers 404.
        defer: run ``next()`` first and serve only if nothing downstream answered.
        set_headers: ``fn(ctx, path, stat)`` to add headers to a file response.
    """
    base = os.path.realpath(os.fspath(root))
    if not os.path.isdir(base):
        raise ValueError(f"serve_static root {os.fspath(root)!r} is not a directory")
    if not isinstance(prefix, str) or not prefix.startswith("/"):
        raise ValueError(f"serve_static(prefix=...) must start with '/', got {prefix!r}")
    mount = prefix.rstrip("/")
    if isinstance(max_age, bool) or not isinstance(max_age, int) or max_age < 0:
        raise TypeError("serve_static(max_age=...) must be a number of seconds (int >= 0)")
    if index is not None and (not isinstance(index, str) or "/" in index or not index):
        raise ValueError("serve_static(index=...) must be a file name or None")
    exts = tuple(ext.lstrip(".") for ext in (extensions or ()))
    if set_headers is not None and not callable(set_headers):
        raise TypeError("serve_static(set_headers=...) must be callable")
    cache_control = f"max-age={max_age}" + (", immutable" if immutable else "")
    inside = base if base.endswith(os.sep) else base + os.sep

    def contained(path: str) -> str | None:
        real = os.path.realpath(path)
        return real if real.startswith(inside) or real == base else None

    def regular(path: str, st: os.stat_result | None = None) -> tuple[str, os.stat_result] | None:
        """``(real path, stat)`` of a regular file inside root; stat first, as misses are
        the common case and cost one system call, ``realpath`` only for hits."""
        if st is None:
            st = _stat(path)
        if st is None or not stat_module.S_ISREG(st.st_mode):
            return None
        real = contained(path)
        return (real, st) if real is not None else None

    def lookup(parts: list[str], directory: bool) -> tuple[str, os.stat_result] | None:
        path = os.path.join(base, *parts)
        st = _stat(path)
        if not directory:
            if st is not None and stat_module.S_ISREG(st.st_mode):
                return regular(path, st)
            if st is None and exts and parts and "." not in parts[-1]:
                for ext in exts:
                    found = regular(f"{path}.{ext}")
                    if found is not None:
                        return found
            if st is None or not stat_module.S_ISDIR(st.st_mode):
                return None
        return regular(os.path.join(path, index)) if index else None

    def variant(ctx: Context, found: tuple[str, os.stat_result]) -> _Found:
        path, st = found
        accept = ctx.request.headers.get("accept-encoding")
        if precompressed and accept:
            present: dict[str, tuple[str, os.stat_result]] = {}
            for encoding, suffix in _VARIANTS:
                candidate = regular(path + suffix)
                if candidate is not None:
                    present[encoding] = candidate
            if present:
                ctx.response.vary("Accept-Encoding")
                chosen = preferred_encoding(accept, tuple(present))
                if chosen is not None:
                    real, vst = present[chosen]
                    return _Found(real, path, vst, chosen)
        return _Found(path, path, st, None)

    def resolve(ctx: Context) -> _Found | None:
        raw = ctx.request.raw_path
        if mount:
            if raw != mount and not raw.startswith(mount + "/"):
                return None
            raw = raw[len(mount) :]
        parts = _safe_parts(raw, hidden)
        if parts is None:
            return None
        found = lookup(parts, directory=raw.endswith("/") or not parts)
        return variant(ctx, found) if found is not None else None

    async def serve_static_middleware(ctx: Context, next: Next) -> Any:
        method = ctx.method
        if method != "GET" and method != "HEAD":
            return await next()
        if defer:
            result = await next()
            res = ctx.response
            if res.body is not None or res.status != 404 or res.explicit_null:
                return result
            found = resolve(ctx)
            if found is None:
                if not fallthrough:
                    raise HttpError(404)
                return result
            _send(ctx, found)
            return result
        found = resolve(ctx)
        if found is None:
            if fallthrough:
                return await next()
            raise HttpError(404)
        _send(ctx, found)
        return None

    def _send(ctx: Context, found: _Found) -> None:
        res = ctx.response
        headers = res.headers
        st = found.stat
        size = st.st_size
        headers["content-type"] = _content_type(found.name)
        if found.encoding is not None:
            headers["content-encoding"] = found.encoding
        headers["accept-ranges"] = "bytes"
        headers["cache-control"] = cache_control
        tag = f'"{size:x}-{st.st_mtime_ns:x}"'
        if etag:
            headers["etag"] = tag
        if last_modified:
            headers["last-modified"] = formatdate(st.st_mtime, usegmt=True)
        if set_headers is not None:
            set_headers(ctx, found.path, st)
        res.status = 200
        request_headers = ctx.request.headers
        if is_fresh(request_headers, res):
            res.status = 304
            return
        span = _range(request_headers, size, tag, headers.get("last-modified"))
        if span is False:
            raise HttpError(416, headers={"Content-Range": f"bytes */{size}"})
        if span is None:
            try:
                res.body = open(found.path, "rb")  # noqa: SIM115 - respond() streams and closes it
            except OSError:
                raise HttpError(404) from None
            headers["content-length"] = str(size)
            return
        start, end = span
        res.body = _read(found.path, start, end - start + 1)
        res.status = 206
        headers["content-range"] = f"bytes {start}-{end}/{size}"
        headers["content-length"] = str(end - start + 1)

    return serve_static_middleware


def _stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except (OSError, ValueError):
        return None


def _safe_parts(raw: str, hidden: bool) -> list[str] | None:
    """The path segments of a raw (percent-encoded) path; 400 for anything hostile."""
    try:
        decoded = unquote_to_bytes(raw).decode("utf-8")  # strict: overlong forms fail here
    except UnicodeDecodeError:
        raise HttpError(400, "Malformed path: not valid UTF-8") from None
    if "\0" in decoded or "\\" in decoded:
        raise HttpError(400, "Malformed path")
    parts: list[str] = []
    for segment in decoded.split("/"):
        if not segment or segment == ".":
            continue
        if segment == "..":
            raise HttpError(400, "Malformed path: '..' is not allowed")
        if segment[0] == "." and not hidden:
            return None
        parts.append(segment)
    return parts


def _content_type(name: str) -> str:
    ext = os.path.splitext(name)[1].lower()
    mime = _TYPES.get(ext) or mimetypes.guess_type(name, strict=False)[0]
    return content_type_for(mime) if mime else "application/octet-stream"


def _number(text: str) -> int | None:
    if not text.isascii() or not text.isdigit():
        return None
    return int(text) if len(text) <= 18 else _HUGE


def _range(
    headers: Any, size: int, tag: str, modified: str | list[str] | None
) -> tuple[int, int] | Literal[False] | None:
    """``(start, end)`` to send, ``None`` for the whole file, ``False`` for 416."""
    value = headers.get("range")
    if not value:
        return None
    if_range = headers.get("if-range")
    if if_range:
        if_range = if_range.strip()
        if if_range.startswith(('"', "W/")):
            if if_range != tag:  # strong comparison; a weak tag never matches
                return None
        elif if_range != modified:
            return None
    unit, _, spec = value.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None  # another unit, or several ranges: the whole file
    first, dash, last = spec.strip().partition("-")
    first, last = first.strip(), last.strip()
    if not dash:
        return None
    if not first:
        suffix = _number(last)
        if suffix is None:
            return None
        if suffix == 0 or size == 0:
            return False
        return max(0, size - suffix), size - 1
    start = _number(first)
    if start is None:
        return None
    end = size - 1
    if last:
        stop = _number(last)
        if stop is None or stop < start:
            return None
        end = min(stop, size - 1)
    if start >= size:
        return False
    return start, end


async def _read(path: str, start: int, length: int) -> AsyncIterator[bytes]:
    """``length`` bytes of ``path`` from ``start``, read off the event loop."""
    loop = asyncio.get_running_loop()
    file = await loop.run_in_executor(None, open, path, "rb")
    try:
        await loop.run_in_executor(None, file.seek, start)
        remaining = length
        while remaining > 0:
            chunk = await loop.run_in_executor(None, file.read, min(_CHUNK, remaining))
            if not chunk:
                return
            remaining -= len(chunk)
            yield chunk
    finally:
        file.close()
