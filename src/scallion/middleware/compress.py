"""Compress responses with brotli, zstd or gzip, negotiated by ``Accept-Encoding``.

Usage::

    app = App()
    app.use(error_handler(), compress(threshold=1024))
    app.use(router.routes())

Whole bodies (str, bytes, JSON) are compressed at once and keep a ``Content-Length``;
streamed bodies (async iterators, iterators, files) are compressed chunk by chunk, each
chunk flushed, so a slow stream still reaches the client as it is produced, and their
``Content-Length`` is removed. Left alone: HEAD, 204/304/206 and other non-content
answers, bodies already encoded (``Content-Encoding`` set), ``Cache-Control:
no-transform``, whole bodies under ``threshold``, and types the filter refuses (images,
video, archives...). ``text/event-stream`` is refused by the default filter: event
streams are small, latency-bound and often cut by proxies that buffer compressed data;
allow it with your own filter and each event is flushed as it is sent. A strong ``ETag``
is weakened (``W/``), since the compressed bytes differ from the ones it named. Set
``ctx.compress = False`` to skip one response, ``True`` to compress despite the filter.

brotli and zstandard are optional: ``pip install 'scallion[compress]'``. With the default
``encodings`` the ones not installed are skipped; naming one explicitly requires it.
"""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, Protocol

from .. import response as _r
from ..types import Middleware, Next
from ._negotiate import preferred_encoding

if TYPE_CHECKING:
    from ..context import Context

__all__ = ["DEFAULT_ENCODINGS", "DEFAULT_LEVELS", "compress", "compressible"]

DEFAULT_ENCODINGS: Final = ("br", "zstd", "gzip")
DEFAULT_LEVELS: Final[Mapping[str, int]] = {"br": 4, "zstd": 3, "gzip": 6}
"""Fast levels fit for per-request work (brotli 11 is for build-time precompression)."""

_LEVEL_RANGES: Final = {"br": (0, 11), "zstd": (-7, 22), "gzip": (0, 9)}
_THREAD_OVER: Final = 256 * 1024  # compress bigger whole bodies off the event loop
_CHUNK: Final = 64 * 1024
_INSTALL = "pip install 'scallion[compress]'"

_COMPRESSIBLE_APPS: Final = frozenset(
    {
        "application/json",
        "application/javascript",
        "application/ecmascript",
        "application/x-javascript",
        "application/xml",
        "application/xhtml+xml",
        "application/rss+xml",
        "application/atom+xml",
        "application/x-ndjson",
        "application/graphql",
        "application/wasm",
        "application/x-www-form-urlencoded",
        "application/vnd.ms-fontobject",
        "application/x-font-ttf",
        "font/ttf",
        "font/otf",
        "image/svg+xml",
        "image/x-icon",
        "image/vnd.microsoft.icon",
        "image/bmp",
    }
)


def compressible(content_type: str) -> bool:
    """The default filter: text (but not event streams), JSON, JS, XML, SVG, ``+json``/``+xml``."""
    mime = content_type.split(";", 1)[0].strip().lower()
    if mime.startswith("text/"):
        return mime != "text/event-stream"
    return mime in _COMPRESSIBLE_APPS or mime.endswith(("+json", "+xml"))


class _Stream(Protocol):
    def chunk(self, data: bytes) -> bytes: ...
    def finish(self) -> bytes: ...


class _Codec(Protocol):
    def whole(self, data: bytes) -> bytes: ...
    def stream(self) -> _Stream: ...


class _GzipStream:
    __slots__ = ("_z",)

    def __init__(self, level: int) -> None:
        self._z = zlib.compressobj(level, zlib.DEFLATED, 31)

    def chunk(self, data: bytes) -> bytes:
        return self._z.compress(data) + self._z.flush(zlib.Z_SYNC_FLUSH)

    def finish(self) -> bytes:
        return self._z.flush(zlib.Z_FINISH)


class _Gzip:
    def __init__(self, level: int) -> None:
        self.level = level

    def whole(self, data: bytes) -> bytes:
        return gzip.compress(data, compresslevel=self.level, mtime=0)

    def stream(self) -> _Stream:
        return _GzipStream(self.level)


class _BrotliStream:
    __slots__ = ("_c",)

    def __init__(self, brotli: Any, level: int) -> None:
        self._c = brotli.Compressor(quality=level)

    def chunk(self, data: bytes) -> bytes:
        return self._c.process(data) + self._c.flush()  # type: ignore[no-any-return]

    def finish(self) -> bytes:
        return self._c.finish()  # type: ignore[no-any-return]


class _Brotli:
    def __init__(self, level: int) -> None:
        import brotli

        self._brotli = brotli
        self.level = level

    def whole(self, data: bytes) -> bytes:
        return self._brotli.compress(data, quality=self.level)  # type: ignore[no-any-return]

    def stream(self) -> _Stream:
        return _BrotliStream(self._brotli, self.level)


class _ZstdStream:
    __slots__ = ("_c", "_flush_block")

    def __init__(self, compressor: Any, flush_block: int) -> None:
        self._c = compressor.compressobj()
        self._flush_block = flush_block

    def chunk(self, data: bytes) -> bytes:
        return self._c.compress(data) + self._c.flush(self._flush_block)  # type: ignore[no-any-return]

    def finish(self) -> bytes:
        return self._c.flush()  # type: ignore[no-any-return]


class _Zstd:
    def __init__(self, level: int) -> None:
        import zstandard

        self._compressor = zstandard.ZstdCompressor(level=level)
        self._flush_block = zstandard.COMPRESSOBJ_FLUSH_BLOCK

    def whole(self, data: bytes) -> bytes:
        return self._compressor.compress(data)

    def stream(self) -> _Stream:
        return _ZstdStream(self._compressor, self._flush_block)


_CODECS: Final[Mapping[str, Callable[[int], _Codec]]] = {
    "br": _Brotli,
    "zstd": _Zstd,
    "gzip": _Gzip,
}
_MODULES: Final = {"br": "brotli", "zstd": "zstandard"}


def _codecs(
    encodings: Iterable[str], levels: Mapping[str, int], explicit: bool
) -> dict[str, _Codec]:
    codecs: dict[str, _Codec] = {}
    for encoding in encodings:
        if encoding not in _CODECS:
            raise ValueError(
                f"compress(encodings=...): unknown encoding {encoding!r}; use br, zstd or gzip"
            )
        try:
            codecs[encoding] = _CODECS[encoding](levels[encoding])
        except ImportError:
            if explicit:
                raise ImportError(
                    f"compress(encodings=[{encoding!r}]) needs the {_MODULES[encoding]} "
                    f"package: {_INSTALL}"
                ) from None
    return codecs


def compress(
    *,
    threshold: int = 1024,
    encodings: Iterable[str] = DEFAULT_ENCODINGS,
    level: Mapping[str, int] | None = None,
    filter: Callable[[str], bool] | None = None,
) -> Middleware:
    """Compress what the chain answered, if the client accepts an encoding we offer.

    Args:
        threshold: smallest whole body (bytes) worth compressing; streams of unknown
            length are always compressed.
        encodings: what to offer, best first; the client's q-values decide among them,
            ties going to this order.
        level: per-encoding level, merged over ``DEFAULT_LEVELS``
            (``{"gzip": 9, "br": 5}``).
        filter: ``fn(content_type) -> bool``, which responses to compress (default
            ``compressible``).
    """
    if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 0:
        raise TypeError("compress(threshold=...) must be a number of bytes (int >= 0)")
    if isinstance(encodings, str):
        encodings = (encodings,)
    explicit = encodings is not DEFAULT_ENCODINGS
    levels = dict(DEFAULT_LEVELS)
    for name, value in (level or {}).items():
        if name not in _LEVEL_RANGES:
            raise ValueError(f"compress(level=...): unknown encoding {name!r}")
        low, high = _LEVEL_RANGES[name]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"compress(level=...): {name} level must be an int in {low}..{high}")
        levels[name] = value
    if filter is not None and not callable(filter):
        raise TypeError("compress(filter=...) must be callable: fn(content_type) -> bool")
    accept = filter or compressible
    codecs = _codecs(encodings, levels, explicit)
    offered = tuple(codecs)
    if not offered:
        raise ValueError("compress(encodings=...) offers nothing")

    async def compress_middleware(ctx: Context, next: Next) -> Any:
        result = await next()
        res = ctx.response
        kind = res.kind
        if kind == _r.KIND_NONE:
            return result
        status = res.status
        if status < 200 or status in _r.EMPTY_STATUSES or status == 206:
            return result
        headers = res.headers
        if "content-encoding" in headers:
            return result
        encoded: bytes | None = None
        if kind <= _r.KIND_JSON:  # small bodies are the common case: check size first
            encoded = res.encoded()
            if encoded is None or len(encoded) < threshold:
                return result
        forced = ctx.__dict__.get("compress")
        if forced is False:
            return result
        if forced is not True and not accept(res.get("content-type")):
            return result
        if "no-transform" in res.get("cache-control").lower():
            return result
        if kind == _r.KIND_FILE:
            size = _r._file_remaining(res.body)
            if size is not None and size < threshold:
                return result
        res.vary("Accept-Encoding")
        if ctx.method == "HEAD":
            return result
        encoding = preferred_encoding(ctx.request.headers.get("accept-encoding") or "", offered)
        if encoding is None:
            return result
        codec = codecs[encoding]
        if encoded is not None:
            if len(encoded) > _THREAD_OVER:
                res.body = await asyncio.to_thread(codec.whole, encoded)
            else:
                res.body = codec.whole(encoded)
        else:
            headers.pop("content-length", None)
            res.body = _compressed(res.body, kind, codec.stream())
        headers["content-encoding"] = encoding
        headers.pop("accept-ranges", None)
        etag = headers.get("etag")
        if isinstance(etag, str) and etag.startswith('"'):
            headers["etag"] = "W/" + etag
        return result

    return compress_middleware


async def _compressed(source: Any, kind: int, stream: _Stream) -> AsyncIterator[bytes]:
    """Compress a streamed body chunk by chunk, flushing each, and close the source."""
    try:
        if kind == _r.KIND_STREAM:
            async for chunk in source:
                if chunk:
                    out = stream.chunk(_bytes(chunk))
                    if out:
                        yield out
        elif kind == _r.KIND_ITER:
            for chunk in source:
                if chunk:
                    yield stream.chunk(_bytes(chunk))
        else:
            loop = asyncio.get_running_loop()
            while True:
                chunk = await loop.run_in_executor(None, source.read, _CHUNK)
                if not chunk:
                    break
                yield stream.chunk(_bytes(chunk))
        tail = stream.finish()
        if tail:
            yield tail
    finally:
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()
        else:
            close = getattr(source, "close", None)
            if close is not None:
                close()


def _bytes(chunk: Any) -> bytes:
    if isinstance(chunk, bytes):
        return chunk
    if isinstance(chunk, str):
        return chunk.encode("utf-8")
    return bytes(chunk)
