"""Access log: one line per request, human or JSON, with secrets redacted.

Usage::

    app = App()
    app.use(error_handler(), logger(format="json"))   # to the "scallion.access" logger
    app.use(router.routes())

Each line has the method, the path as sent with secret query values redacted, the final
status, the duration in ms, the response size when known, the request id
(``ctx.state.request_id``), the client ip and the user agent. When an error passes
through, the line shows the status ``error_handler`` will answer with (a pydantic error
is 400, ``HttpError(403)`` is 403, anything else 500; 499 when the client went away) and
the error's type, and the error goes on up. Put ``logger()`` inside ``error_handler()``
(the seed's ordering) so ``request_id`` is set and the mapping matches.

Human lines look like::

    127.0.0.1 "GET /search?q=x&token=[REDACTED]" 200 42 1.23ms rid=9f0c... "curl/8.5"
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from time import perf_counter
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import unquote_plus

import orjson

from ..errors import ClientDisconnect
from ..types import Middleware, Next
from ._util import iso_now
from .error_handler import classify

if TYPE_CHECKING:
    from ..context import Context

__all__ = [
    "DEFAULT_REDACT_HEADERS",
    "DEFAULT_REDACT_QUERY",
    "REDACTED",
    "logger",
    "redact_querystring",
]

REDACTED = "[REDACTED]"
DEFAULT_REDACT_HEADERS = (
    "authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "proxy-authorization",
)
DEFAULT_REDACT_QUERY = (
    "token",
    "access_token",
    "api_key",
    "key",
    "password",
    "secret",
    "signature",
)

# Control characters, DEL and quotes are escaped in human lines (no forged log lines).
_ESCAPES = {i: f"\\x{i:02x}" for i in (*range(32), 127)}
_ESCAPES[ord('"')] = '\\"'
_ESCAPES[ord("\\")] = "\\\\"


class TextStream(Protocol):
    def write(self, text: str, /) -> Any: ...


def _names(value: Iterable[str], option: str) -> frozenset[str]:
    if isinstance(value, str) or not all(isinstance(item, str) for item in value):
        raise TypeError(f"logger({option}=...) must be a list of str")
    return frozenset(item.lower() for item in value)


def _length(ctx: Context) -> int | None:
    try:
        return ctx.response.length
    except TypeError:  # a body JSON cannot encode: the App answers 500 for it
        return None


def redact_querystring(querystring: str, secret: frozenset[str]) -> str:
    """The query string with the values of ``secret`` keys replaced by ``[REDACTED]``."""
    parts = querystring.split("&")
    changed = False
    for index, part in enumerate(parts):
        name, sep, _ = part.partition("=")
        if name and unquote_plus(name).lower() in secret:
            parts[index] = f"{name}={REDACTED}" if sep else name
            changed = True
    return "&".join(parts) if changed else querystring


def logger(
    *,
    format: Literal["human", "json"] = "human",
    stream: TextStream | None = None,
    logger: logging.Logger | str | None = None,
    level: int = logging.INFO,
    redact_headers: Iterable[str] = DEFAULT_REDACT_HEADERS,
    redact_query: Iterable[str] = DEFAULT_REDACT_QUERY,
    include_headers: bool = False,
) -> Middleware:
    """Log one access line per request.

    Args:
        format: ``"human"`` (a combined-log-like line) or ``"json"`` (one JSON object).
        stream: write lines to this text stream (``sys.stdout``) instead of a logger.
        logger: a ``logging.Logger`` or its name; default ``"scallion.access"``. The
            record also carries the fields as ``record.access`` for structured handlers.
        level: the logging level of access lines.
        redact_headers: header names whose values never appear (with ``include_headers``).
        redact_query: query keys whose values are replaced by ``[REDACTED]``.
        include_headers: add the request and response headers (redacted).
    """
    if format not in ("human", "json"):
        raise ValueError(f"logger(format={format!r}): use 'human' or 'json'")
    if stream is not None and logger is not None:
        raise ValueError("logger(): give either stream= or logger=, not both")
    if stream is not None and not callable(getattr(stream, "write", None)):
        raise TypeError("logger(stream=...) must have a write(str) method")
    if isinstance(logger, str):
        logger = logging.getLogger(logger)
    elif logger is None:
        logger = logging.getLogger("scallion.access")
    elif not isinstance(logger, logging.Logger):
        raise TypeError("logger(logger=...) must be a logging.Logger or a logger name")
    if not isinstance(level, int) or isinstance(level, bool):
        raise TypeError("logger(level=...) must be an int logging level")
    if not isinstance(include_headers, bool):
        raise TypeError("logger(include_headers=...) must be a bool")
    hidden_headers = _names(redact_headers, "redact_headers")
    hidden_query = _names(redact_query, "redact_query")
    log = logger
    as_json = format == "json"

    def headers_of(items: Iterable[tuple[str, Any]]) -> dict[str, Any]:
        return {
            name: REDACTED if name.lower() in hidden_headers else value for name, value in items
        }

    def write(ctx: Context, start: float, status: int, error: BaseException | None) -> None:
        duration = (perf_counter() - start) * 1e3
        request = ctx.request
        query = request.querystring
        path = request.raw_path
        if query:
            path += "?" + (redact_querystring(query, hidden_query) if hidden_query else query)
        size = _length(ctx) if error is None else None
        rid = ctx.state.get("request_id")
        user_agent = request.headers.get("user-agent") or ""
        record: dict[str, Any] = {
            "method": request.method,
            "path": path,
            "status": status,
            "duration_ms": round(duration, 3),
            "bytes": size,
            "request_id": rid,
            "ip": request.ip,
            "user_agent": user_agent,
        }
        if error is not None:
            record["error"] = type(error).__name__
        if include_headers:
            record["headers"] = headers_of(request.headers.items())
            record["response_headers"] = headers_of(ctx.response.headers.items())
        if as_json:
            record["time"] = iso_now("+00:00")
            line = orjson.dumps(record).decode()
        else:
            line = (
                f'{record["ip"] or "-"} "{record["method"]} {path.translate(_ESCAPES)}" '
                f"{status} {'-' if size is None else size} {duration:.2f}ms "
                f"rid={str(rid).translate(_ESCAPES) if rid else '-'} "
                f'"{user_agent.translate(_ESCAPES)}"'
            )
            if error is not None:
                line += f" error={record['error']}"
            if include_headers:
                line += " headers=" + orjson.dumps(record["headers"]).decode()
        if stream is not None:
            stream.write(line + "\n")
        else:
            # makeRecord + handle instead of log.log(): the same record and handlers,
            # without findCaller's stack walk, which names this function every time anyway
            # (it was a fifth of the recommended stack's cost in bench/).
            log.handle(
                log.makeRecord(
                    log.name, level, __file__, 0, line, (), None, extra={"access": record}
                )
            )

    async def logger_middleware(ctx: Context, next: Next) -> None:
        if stream is None and not log.isEnabledFor(level):
            await next()
            return
        start = perf_counter()
        try:
            await next()
        except (ClientDisconnect, asyncio.CancelledError) as err:
            write(ctx, start, 499, err)
            raise
        except Exception as err:
            write(ctx, start, classify(err).status, err)
            raise
        write(ctx, start, ctx.response.status, None)

    return logger_middleware
