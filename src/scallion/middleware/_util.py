"""Helpers shared by the middleware modules (not public API)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..context import Context

__all__ = ["PENDING_ERROR_HEADERS", "add_error_headers", "iso_now", "snake_case"]

from ..app import PENDING_ERROR_HEADERS


def add_error_headers(
    err: BaseException, headers: Iterable[tuple[str, str]], ctx: Context | None = None
) -> None:
    """Put ``headers`` on a passing error so the error response carries them too.

    The App (and ``error_handler``) drop headers set before an error and send the
    error's own ``headers`` instead (DESIGN §2), so middleware that must mark every
    response (request id, security headers) adds them here. Headers the error already
    has win. For errors that cannot take attributes (pydantic's ``ValidationError``) the
    headers wait on ``ctx`` instead, where ``error_handler`` picks them up.
    """
    current = getattr(err, "headers", None)
    if current is None:
        current = {}
        try:
            err.headers = current  # type: ignore[attr-defined]
        except (AttributeError, TypeError):
            current = None
    if isinstance(current, dict):
        _fill(current, headers)
    elif ctx is not None:
        _fill(ctx.__dict__.setdefault(PENDING_ERROR_HEADERS, {}), headers)


def _fill(target: dict[str, object], headers: Iterable[tuple[str, str]]) -> None:
    lowered = {str(name).lower() for name in target}
    for name, value in headers:
        if name.lower() not in lowered:
            target[name] = value


_CAMEL = re.compile(r"(?<=[a-z0-9])([A-Z])")


def snake_case(name: str) -> str:
    """``bodyParser`` -> ``body_parser``; ``serve-static`` -> ``serve_static``."""
    return _CAMEL.sub(r"_\1", name).replace("-", "_").lower()


_second = -1
_prefix = ""


def iso_now(suffix: str = "Z") -> str:
    """Now in UTC as ISO 8601 with milliseconds (``2025-01-31T12:00:00.123Z``).

    The date-and-time part is formatted once per second: ``datetime.isoformat`` per
    request costs more than the rest of an access-log line.
    """
    global _second, _prefix
    now = time.time()
    second = int(now)
    if second != _second:
        _prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _second = second
    return f"{_prefix}.{int((now - second) * 1000):03d}{suffix}"
