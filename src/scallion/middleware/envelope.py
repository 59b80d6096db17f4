"""The seeds' unified response format: ``{code, data, message, request_id, timestamp}``.

Usage::

    app = App()
    app.use(envelope(), error_handler(), request_id())   # envelope outermost
    app.use(router.routes())   # ctx.body = {"id": 1} -> {"code": 0, "data": {"id": 1}, ...}

Only JSON bodies (``dict``, ``list`` and other JSON values, with a JSON content type) are
wrapped; text, bytes, files, streams (SSE) and empty responses pass unchanged. A 2xx
response gets ``code_ok`` (0) and ``message_ok``; another status gets the status as its
code and the reason phrase as its message, with the body as ``data``.

Error responses: when ``envelope()`` sits *outside* ``error_handler()``, the error
handler's payload (``{"code", "message", "details"?}``) is recognised and re-shaped into
the same envelope with ``data: null`` (and ``details`` kept), so clients see one format
for everything. Inside ``error_handler()`` it never sees errors, which pass it by.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final

from .. import response as _r
from ..types import Middleware, Next
from ._util import iso_now
from .error_handler import ERROR_ATTR

if TYPE_CHECKING:
    from ..context import Context

__all__ = ["FIELDS", "envelope"]

FIELDS: Final = ("code", "data", "message", "request_id", "timestamp")


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


def envelope(
    *,
    code_ok: int = 0,
    message_ok: str = "success",
    include: Iterable[str] = FIELDS,
    key_names: Mapping[str, str] | None = None,
    when: Callable[[Context], bool] | None = None,
    errors: bool = True,
) -> Middleware:
    """Wrap JSON bodies as ``{code, data, message, request_id, timestamp}``.

    Args:
        code_ok: the ``code`` of 2xx responses (the seeds use 0).
        message_ok: the ``message`` of 2xx responses.
        include: which fields to send, in order (``request_id`` is left out when no
            request id is set).
        key_names: rename fields, e.g. ``{"request_id": "requestId"}``.
        when: ``fn(ctx) -> bool``; only matching responses are wrapped.
        errors: also re-shape ``error_handler`` payloads (see the module docstring).
    """
    if isinstance(code_ok, bool) or not isinstance(code_ok, int):
        raise TypeError("envelope(code_ok=...) must be an int")
    if not isinstance(message_ok, str):
        raise TypeError("envelope(message_ok=...) must be a str")
    if isinstance(include, str):
        raise TypeError("envelope(include=...) must be a list of field names, not a str")
    fields = tuple(include)
    unknown = [field for field in fields if field not in FIELDS]
    if unknown:
        raise ValueError(f"envelope(include=...): unknown fields {unknown}; known: {list(FIELDS)}")
    names = dict(zip(FIELDS, FIELDS, strict=True))
    if key_names is not None:
        if not isinstance(key_names, Mapping):
            raise TypeError("envelope(key_names=...) must be a mapping of field -> name")
        for field, name in key_names.items():
            if field not in FIELDS:
                raise ValueError(f"envelope(key_names=...): unknown field {field!r}")
            if not isinstance(name, str) or not name:
                raise TypeError(f"envelope(key_names=...): name for {field!r} must be a str")
            names[field] = name
    if when is not None and not callable(when):
        raise TypeError("envelope(when=...) must be a callable fn(ctx) -> bool")
    if not isinstance(errors, bool):
        raise TypeError("envelope(errors=...) must be a bool")
    plan = tuple((field, names[field]) for field in fields)

    def wrap(ctx: Context) -> None:
        res = ctx.response
        body = res.body
        status = res.status
        error: dict[str, Any] | None = ctx.__dict__.get(ERROR_ATTR)
        if error is not None and body is error:
            if not errors:
                return
            values: dict[str, Any] = {"code": error["code"], "data": None}
            values["message"] = error["message"]
        elif 200 <= status < 300:
            values = {"code": code_ok, "data": body, "message": message_ok}
        else:
            values = {"code": status, "data": body, "message": res.message}
        out: dict[str, Any] = {}
        for field, name in plan:
            if field == "request_id":
                rid = ctx.state.get("request_id")
                if rid:
                    out[name] = rid
            elif field == "timestamp":
                out[name] = iso_now()
            else:
                out[name] = values[field]
        if error is not None and body is error:
            for extra in ("details", "stack"):
                if extra in error:
                    out[extra] = error[extra]
        res.body = out

    async def envelope_middleware(ctx: Context, next: Next) -> None:
        await next()
        res = ctx.response
        if res.kind != _r.KIND_JSON or not ctx.respond or not _is_json(res.type):
            return
        if when is not None and not when(ctx):
            return
        wrap(ctx)

    return envelope_middleware
