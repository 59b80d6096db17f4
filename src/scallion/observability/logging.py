"""Structured logs: one call sets up the ``scallion`` loggers, JSON or human.

    configure_logging("json")                     # before app.use(logger(...))
    app.use(error_handler(), request_id(), logger())

Every record from ``scallion`` and its children (``scallion.access``, ``scallion.bff...``)
goes through one handler. A record logged while a request is handled carries that
request's ``request_id`` (``ctx.state.request_id``, set by ``request_id()``) and, with
``tracing()``, its ``trace_id`` and ``span_id``, found through ``current_context()``, so
your own ``log.info(...)`` lines in a handler can be joined to the access line.

The access line itself is written by ``middleware.logger``; in JSON the formatter emits the
fields that middleware already collected (``record.access``: method, path, status,
duration_ms, bytes, request_id, ip, user_agent, error) instead of parsing its text, so
nothing is formatted twice.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any, Final, Literal, TextIO

import orjson

from ..context import current_context, track_current_context
from .tracing import SPAN_ATTR

__all__ = [
    "HumanFormatter",
    "JsonFormatter",
    "RequestContextFilter",
    "configure_logging",
]

_HANDLER_MARK: Final = "_scallion_handler"
# The attributes every LogRecord has; anything else came in through ``extra=``.
_STANDARD: Final = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()
    | {"message", "asctime", "request_id", "trace_id", "span_id", "access", "taskName"}
)


class RequestContextFilter(logging.Filter):
    """Adds ``request_id``, ``trace_id`` and ``span_id`` (or ``None``) to every record.

    Making one turns on ``track_current_context()``: the filter finds the request through
    ``current_context()``, which apps set only when asked to.
    """

    def __init__(self, name: str = "") -> None:
        super().__init__(name)
        track_current_context()

    def filter(self, record: logging.LogRecord) -> bool:
        rid = trace_id = span_id = None
        try:
            ctx = current_context()
        except LookupError:
            pass
        else:
            rid = ctx.state.get("request_id")
            span = ctx.__dict__.get(SPAN_ATTR)
            if span is not None:
                sc = span.get_span_context()
                if sc.is_valid:
                    trace_id = f"{sc.trace_id:032x}"
                    span_id = f"{sc.span_id:016x}"
        if getattr(record, "request_id", None) is None:
            record.request_id = rid
        record.trace_id = trace_id
        record.span_id = span_id
        return True


class _Clock:
    """ISO 8601 UTC timestamps, the date part formatted once per second."""

    __slots__ = ("prefix", "second")

    def __init__(self) -> None:
        self.second = -1
        self.prefix = ""

    def iso(self, created: float) -> str:
        second = int(created)
        if second != self.second:
            self.prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self.second = second
        return f"{self.prefix}.{int((created - second) * 1000):03d}Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, request ids, extras.

    Access records (``middleware.logger``) are emitted as their fields, with a short
    ``message`` of method, path and status.
    """

    def __init__(self) -> None:
        super().__init__()
        self._clock = _Clock()

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": self._clock.iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
        }
        access = getattr(record, "access", None)
        if isinstance(access, dict):
            out["message"] = f"{access.get('method')} {access.get('path')} {access.get('status')}"
            out.update(access)
            out["time"] = self._clock.iso(record.created)
        else:
            out["message"] = record.getMessage()
        for name in ("request_id", "trace_id", "span_id"):
            value = getattr(record, name, None)
            if value is not None:
                out.setdefault(name, value)
        for name, value in record.__dict__.items():
            if name not in _STANDARD and name not in out:
                out[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            out["error"] = record.exc_info[0].__name__
            out["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exception"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return orjson.dumps(out, default=str).decode()


class HumanFormatter(logging.Formatter):
    """``2025-01-31T12:00:00.123Z INFO  scallion.access [rid] message`` (+ traceback)."""

    def __init__(self) -> None:
        super().__init__()
        self._clock = _Clock()

    def format(self, record: logging.LogRecord) -> str:
        rid = getattr(record, "request_id", None)
        line = (
            f"{self._clock.iso(record.created)} {record.levelname:<5} {record.name}"
            f"{f' [{rid}]' if rid else ''} {record.getMessage()}"
        )
        if record.exc_info and record.exc_info[0] is not None:
            line += "\n" + self.formatException(record.exc_info)
        elif record.exc_text:
            line += "\n" + record.exc_text
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


def configure_logging(
    format: Literal["json", "human"] = "json",
    level: int | str = logging.INFO,
    *,
    stream: TextIO | None = None,
    logger: str = "scallion",
    propagate: bool = False,
) -> logging.Handler:
    """Send the ``logger`` tree (default ``scallion``) to ``stream`` in ``format``.

    Args:
        format: ``"json"`` (one object per line) or ``"human"``.
        level: the level of ``logger`` (``logging.INFO`` or ``"INFO"``).
        stream: where lines go; default ``sys.stderr``.
        logger: the logger to configure; its children (``scallion.access``) follow it.
        propagate: also pass records on to the root logger's handlers.

    Calling it again replaces the handler it installed before (and nothing else). Returns
    the handler, for tests or to add it to other loggers.
    """
    if format not in ("json", "human"):
        raise ValueError(f"configure_logging(format={format!r}): use 'json' or 'human'")
    if isinstance(level, str):
        resolved = logging.getLevelName(level.upper())
        if not isinstance(resolved, int):
            raise ValueError(f"configure_logging(level={level!r}): unknown level name")
        level = resolved
    elif not isinstance(level, int) or isinstance(level, bool):
        raise TypeError("configure_logging(level=...) must be an int or a level name")
    if stream is not None and not callable(getattr(stream, "write", None)):
        raise TypeError("configure_logging(stream=...) must have a write(str) method")
    target = logging.getLogger(logger)
    for old in [h for h in target.handlers if getattr(h, _HANDLER_MARK, False)]:
        target.removeHandler(old)
        old.close()
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(JsonFormatter() if format == "json" else HumanFormatter())
    handler.addFilter(RequestContextFilter())
    target.addHandler(handler)
    target.setLevel(level)
    target.propagate = propagate
    return handler
