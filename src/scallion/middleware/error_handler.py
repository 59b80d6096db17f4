"""Turn every error raised below into a clean response (the seed's §5.2 mapping).

Usage::

    app = App()
    app.use(error_handler())            # outermost, so it sees every error
    app.use(logger(), router.routes())

What an error becomes (``classify``):

================================================  ======  ================================
error                                             status  body ``message`` / extras
================================================  ======  ================================
``HttpError`` or anything with an int ``status``  its     its message when exposed (4xx by
/ ``status_code`` in 400-599                      own     default), else the reason phrase;
                                                          ``details`` if it has them
``ValidationError`` here, or anything with an     400     ``"Validation failed"`` and
``errors()`` method (pydantic's)                          ``details`` (``loc/msg/type``)
PyJWT's ``jwt.InvalidTokenError``                 401     ``"Authentication failed"``
anything else                                     500     ``"Internal Server Error"``
================================================  ======  ================================

The JSON body is ``{"code": status, "message": ..., "details"?: ..., "request_id"?: ...}``
(``request_id`` when ``request_id()`` or anything else set ``ctx.state.request_id``). The
error's own ``headers`` (CORS, request id, ``WWW-Authenticate``...) are kept; headers set
below before the error are dropped, as Koa's ``ctx.onerror`` does, and headers set above
this middleware before it ran are kept. Stack traces are only shown with
``expose_stack=True``, which defaults to ``app.development``: never in production.

The error is emitted as ``"error"`` on the app (``emit=False`` turns that off). With no
listener, errors that are not exposed (5xx) are logged on the ``scallion`` logger, as the
App itself does; a listener replaces that default.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

import orjson

from ..errors import ClientDisconnect, HttpError, reason_phrase
from ..types import Middleware, Next
from ._util import PENDING_ERROR_HEADERS

if TYPE_CHECKING:
    from ..context import Context

__all__ = ["ErrorInfo", "ValidationError", "classify", "error_handler"]

log = logging.getLogger("scallion")

Formatter = Callable[["Context", dict[str, Any], BaseException], Any]
"""A custom ``format``: ``fn(ctx, payload, err)`` sets ``ctx.body`` (status and headers are set)."""

ERROR_ATTR: Final = "_scallion_error_payload"
"""Where the JSON payload is left on ``ctx`` so ``envelope()`` can recognise it."""

_JWT_HEADERS: Final = {"www-authenticate": 'Bearer error="invalid_token"'}


class ValidationError(HttpError):
    """Input that failed validation: ``raise ValidationError([{"loc": ["name"], "msg": ...}])``.

    Answered as 400 (or ``status``) with ``details`` in the body, as the seed does for Joi.
    """

    details: Any

    def __init__(
        self,
        details: Sequence[Any] | Mapping[str, Any] = (),
        message: str = "Validation failed",
        *,
        status: int = 400,
        headers: Mapping[str, str | list[str]] | None = None,
        **props: Any,
    ) -> None:
        super().__init__(status, message, expose=True, headers=headers, **props)
        self.details = details


@dataclass(slots=True)
class ErrorInfo:
    """What an error means for the client: see the table in the module docstring."""

    status: int
    message: str
    expose: bool
    details: Any = None
    headers: Mapping[str, Any] = field(default_factory=dict)


def _own_status(err: BaseException) -> int | None:
    for attr in ("status", "status_code"):
        value = getattr(err, attr, None)
        if isinstance(value, int) and not isinstance(value, bool) and 400 <= value <= 599:
            return value
    return None


def _jsonable(value: Any) -> Any:
    """``value`` as plain JSON types; anything orjson cannot encode becomes its ``str``."""
    try:
        return orjson.loads(orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS))
    except (TypeError, orjson.JSONEncodeError):
        return str(value)


def _validation_details(err: BaseException) -> Any:
    errors = err.errors  # type: ignore[attr-defined]
    try:  # pydantic v2: leave out the input (it may be a password) and doc URLs
        raw = errors(include_url=False, include_context=False, include_input=False)
    except TypeError:
        raw = errors()
    return _jsonable(raw)


def _is_jwt_error(err: BaseException) -> bool:
    # If PyJWT was never imported, no error can come from it: no import needed.
    jwt = sys.modules.get("jwt")
    invalid = getattr(jwt, "InvalidTokenError", None) if jwt is not None else None
    return isinstance(invalid, type) and isinstance(err, invalid)


def classify(err: BaseException) -> ErrorInfo:
    """The status, message, details and headers ``error_handler`` answers ``err`` with."""
    status = _own_status(err)
    if status is not None:
        expose = getattr(err, "expose", None)
        if not isinstance(expose, bool):
            expose = status < 500
        message = getattr(err, "message", None)
        if not isinstance(message, str):
            message = str(err)
        headers = getattr(err, "headers", None)
        details = getattr(err, "details", None) if expose else None
        return ErrorInfo(
            status,
            message if expose and message else reason_phrase(status),
            expose,
            _jsonable(details) if details is not None else None,
            headers if isinstance(headers, Mapping) else {},
        )
    own = getattr(err, "headers", None)
    headers = own if isinstance(own, Mapping) else {}
    if callable(getattr(err, "errors", None)):
        return ErrorInfo(400, "Validation failed", True, _validation_details(err), headers)
    if _is_jwt_error(err):
        return ErrorInfo(401, "Authentication failed", True, None, {**_JWT_HEADERS, **headers})
    return ErrorInfo(500, reason_phrase(500), False, None, headers)


def _check_format(format: object) -> None:
    if callable(format):
        return
    if not isinstance(format, str):
        raise TypeError(
            f"error_handler(format=...) must be 'json', 'text', 'auto' or a callable, "
            f"not {type(format).__name__}"
        )
    if format not in ("json", "text", "auto"):
        raise ValueError(
            f"error_handler(format={format!r}): use 'json', 'text', 'auto' or a callable"
        )


def error_handler(
    *,
    expose_stack: bool | None = None,
    format: Literal["json", "text", "auto"] | Formatter = "json",
    emit: bool = True,
) -> Middleware:
    """Catch errors from everything below and answer them cleanly.

    Args:
        expose_stack: add the traceback (``"stack"`` in JSON). Defaults to
            ``app.development``, so production never shows one.
        format: ``"json"`` (the default), ``"text"`` (the message as text/plain),
            ``"auto"`` (JSON unless the client's ``Accept`` prefers text or HTML), or a
            callable ``fn(ctx, payload, err)`` that sets ``ctx.body`` itself.
        emit: emit ``"error"`` on the app (``ctx.app.emit("error", err, ctx)``).
    """
    if expose_stack is not None and not isinstance(expose_stack, bool):
        raise TypeError("error_handler(expose_stack=...) must be a bool or None")
    if not isinstance(emit, bool):
        raise TypeError("error_handler(emit=...) must be a bool")
    _check_format(format)
    custom: Formatter | None = format if callable(format) else None
    mode = format if isinstance(format, str) else "custom"

    def answer(ctx: Context, err: Exception, before: dict[str, Any] | None) -> None:
        info = classify(err)
        if emit and not ctx.app.emit("error", err, ctx) and not info.expose:
            log.error("%s %s -> %s: %r", ctx.method, ctx.url, info.status, err, exc_info=err)
        res = ctx.response
        if res.headers_sent or not ctx.respond:
            return  # the response is already on its way: nothing left to answer with
        res.headers = before if before is not None else {}
        pending = ctx.__dict__.pop(PENDING_ERROR_HEADERS, None)
        headers = {**pending, **info.headers} if pending else info.headers
        for name, value in headers.items():
            try:
                res.set(name, value)
            except (TypeError, ValueError):
                log.warning("error_handler dropped invalid error header %r", name)
        res.status = info.status
        payload: dict[str, Any] = {"code": info.status, "message": info.message}
        if info.details is not None:
            payload["details"] = info.details
        request_id = ctx.state.get("request_id")
        if request_id:
            payload["request_id"] = request_id
        show_stack = ctx.app.development if expose_stack is None else expose_stack
        if show_stack:
            payload["stack"] = "".join(traceback.format_exception(err))
        ctx.__dict__[ERROR_ATTR] = payload
        kind = mode
        if kind == "auto":
            res.vary("Accept")
            kind = "text" if ctx.accepts("json", "text", "html") in ("text", "html") else "json"
        if kind == "json":
            res.body = payload
        elif kind == "text":
            res.type = "text/plain; charset=utf-8"
            text = info.message
            if show_stack:
                text += "\n\n" + payload["stack"]
            res.body = text
        else:
            assert custom is not None
            custom(ctx, payload, err)

    async def error_handler_middleware(ctx: Context, next: Next) -> None:
        headers = ctx.response.headers
        before = headers.copy() if headers else None
        try:
            await next()
        except ClientDisconnect:
            raise
        except Exception as err:
            answer(ctx, err, before)

    return error_handler_middleware
