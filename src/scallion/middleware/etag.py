"""Add an ``ETag`` to responses that lack one, for ``conditional_get()`` and caches.

Usage::

    app = App()
    app.use(conditional_get(), etag())   # 304 when If-None-Match matches
    app.use(router.routes())

str, bytes and JSON bodies get a BLAKE2b digest of the encoded body (the bytes are
cached, so ``respond()`` does not encode them twice); file bodies get their size and
modification time, without reading them. Streams and non-2xx responses get none, and an
``ETag`` set by the handler is left alone. Weak tags (``W/"..."``) are the default since
compression or re-encoding downstream must not break revalidation.
"""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING

from .. import response as _r
from ..types import Middleware, Next

if TYPE_CHECKING:
    from ..context import Context

__all__ = ["etag", "etag_for_bytes"]


def etag_for_bytes(data: bytes, *, weak: bool = True) -> str:
    """``W/"<length hex>-<BLAKE2b-96 hex>"`` for ``data``."""
    tag = f'"{len(data):x}-{hashlib.blake2b(data, digest_size=12).hexdigest()}"'
    return "W/" + tag if weak else tag


def _file_etag(file: object, weak: bool) -> str | None:
    fileno = getattr(file, "fileno", None)
    if fileno is None:
        return None
    try:
        stat = os.fstat(fileno())
    except (OSError, ValueError):
        return None
    tag = f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"'
    return "W/" + tag if weak else tag


def etag(*, weak: bool = True) -> Middleware:
    """Set ``ETag`` on 2xx str/bytes/JSON/file responses that have none.

    Args:
        weak: send weak tags (``W/"..."``); strong tags promise byte-identical bodies.
    """
    if not isinstance(weak, bool):
        raise TypeError("etag(weak=...) must be a bool")

    async def etag_middleware(ctx: Context, next: Next) -> None:
        await next()
        res = ctx.response
        if not 200 <= res.status < 300 or "etag" in res.headers:
            return
        kind = res.kind
        if kind == _r.KIND_FILE:
            tag = _file_etag(res.body, weak)
        elif _r.KIND_BYTES <= kind <= _r.KIND_JSON:
            encoded = res.encoded()
            tag = etag_for_bytes(encoded, weak=weak) if encoded is not None else None
        else:
            return
        if tag is not None:
            res.headers["etag"] = tag

    return etag_middleware
