"""What can go wrong between the gateway and its upstreams, as one small tree.

Every class is an ``HttpError``, so the app's error handling maps it to a response with no
special cases: the status comes from the class, ``expose`` is true (a gateway failure is
safe to show; messages name the upstream, never a URL, header or credential), and
``BreakerOpen`` / ``RateLimited`` carry a ``Retry-After`` header.

    HttpError
    └── BffError                      base of everything in scallion.bff
        ├── UpstreamError (502)       an upstream call failed
        │   ├── UpstreamTimeout (504)        no answer within the call's timeout
        │   │   └── DeadlineExceeded (504)   the request's total deadline ran out
        │   ├── UpstreamUnavailable (503)    could not be called (refused, reset, DNS)
        │   │   ├── BreakerOpen (503)        the circuit breaker fails fast (retry_after)
        │   │   └── BulkheadFull (503)       too many calls in flight to that upstream
        │   ├── UpstreamStatusError (502)    answered with an error status (kept + body)
        │   └── UpstreamBadResponse (502)    garbage, truncated or wrongly shaped body
        └── RateLimited (429)         a rate limit refused the request (retry_after)

Each error has ``.upstream`` (the upstream's name, or ``None``) and ``.request``
(a ``RequestInfo(method, url)`` with credentials removed from the URL, or ``None``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..errors import HttpError

__all__ = [
    "BffError",
    "BreakerOpen",
    "BulkheadFull",
    "DeadlineExceeded",
    "RateLimited",
    "RequestInfo",
    "UpstreamBadResponse",
    "UpstreamError",
    "UpstreamStatusError",
    "UpstreamTimeout",
    "UpstreamUnavailable",
]

_SECRET_PARAM = re.compile(r"key|token|secret|pass|auth|sig|session|credential", re.IGNORECASE)


def _safe_url(url: str) -> str:
    """``url`` without userinfo, and with the values of secret-looking query params hidden."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid url>"
    netloc = parts.netloc.rpartition("@")[2]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(_SECRET_PARAM.search(k) for k, _ in pairs):
            query = urlencode([(k, "REDACTED" if _SECRET_PARAM.search(k) else v) for k, v in pairs])
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """The upstream request an error belongs to; the URL is cleaned of credentials."""

    method: str
    url: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", self.method.upper())
        object.__setattr__(self, "url", _safe_url(self.url))

    def __str__(self) -> str:
        return f"{self.method} {self.url}"


def _retry_after_header(seconds: float) -> str:
    # Retry-After is whole seconds; round up so a client never comes back too early.
    return str(max(0, math.ceil(seconds)))


class BffError(HttpError):
    """Base of the BFF errors: an ``HttpError`` with the upstream and request attached."""

    status_code_default: ClassVar[int] = 502
    default_message: ClassVar[str] = "upstream {upstream} failed"

    upstream: str | None
    request: RequestInfo | None

    def __init__(
        self,
        message: str | None = None,
        *,
        upstream: str | None = None,
        request: RequestInfo | None = None,
        status: int | None = None,
        headers: Mapping[str, str | list[str]] | None = None,
        **props: Any,
    ) -> None:
        self.upstream = upstream
        self.request = request
        if message is None:
            message = self.default_message.format(upstream=repr(upstream) if upstream else "")
            message = " ".join(message.split())
        super().__init__(
            self.status_code_default if status is None else status,
            message,
            expose=True,
            headers=headers,
            **props,
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, message={self.message!r}, "
            f"upstream={self.upstream!r}, request={self.request})"
        )


class UpstreamError(BffError):
    """An upstream call failed (502 Bad Gateway)."""


class UpstreamTimeout(UpstreamError):
    """The upstream gave no (complete) answer within the call's timeout (504)."""

    status_code_default = 504
    default_message = "upstream {upstream} timed out"


class DeadlineExceeded(UpstreamTimeout):
    """The incoming request's total deadline ran out before the upstream answered (504)."""

    default_message = "deadline exceeded waiting for upstream {upstream}"


class UpstreamUnavailable(UpstreamError):
    """The upstream could not be called at all: refused, reset, unresolvable (503)."""

    status_code_default = 503
    default_message = "upstream {upstream} is unavailable"


class BreakerOpen(UpstreamUnavailable):
    """The circuit breaker refused the call; try again after ``retry_after`` seconds (503)."""

    default_message = "upstream {upstream} is failing; circuit breaker is open"

    retry_after: float

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after: float = 0.0,
        upstream: str | None = None,
        request: RequestInfo | None = None,
        headers: Mapping[str, str | list[str]] | None = None,
        **props: Any,
    ) -> None:
        merged = {"retry-after": _retry_after_header(retry_after), **(headers or {})}
        super().__init__(message, upstream=upstream, request=request, headers=merged, **props)
        self.retry_after = retry_after


class BulkheadFull(UpstreamUnavailable):
    """The upstream's bulkhead (max concurrent calls) is full; the call was not made (503)."""

    default_message = "too many concurrent calls to upstream {upstream}"


class UpstreamStatusError(UpstreamError):
    """The upstream answered with an error status.

    ``upstream_status`` and ``body`` keep what it said. The gateway answers 502 unless
    ``status=`` says otherwise (an endpoint that passes the upstream's status through).
    """

    upstream_status: int
    body: bytes

    def __init__(
        self,
        upstream_status: int,
        body: bytes = b"",
        message: str | None = None,
        *,
        upstream: str | None = None,
        request: RequestInfo | None = None,
        status: int | None = None,
        headers: Mapping[str, str | list[str]] | None = None,
        **props: Any,
    ) -> None:
        if message is None:
            name = f"upstream {upstream!r}" if upstream else "upstream"
            message = f"{name} answered {upstream_status}"
        super().__init__(
            message, upstream=upstream, request=request, status=status, headers=headers, **props
        )
        self.upstream_status = upstream_status
        self.body = body


class UpstreamBadResponse(UpstreamError):
    """The upstream's body was garbage, truncated, or not the shape expected (502).

    Say what was wrong in the message, naming the backend: "upstream 'users' answered
    a JSON array where an object was expected".
    """

    default_message = "upstream {upstream} sent a response that could not be used"


class RateLimited(BffError):
    """A rate limit refused the request; retry after ``retry_after`` seconds (429)."""

    status_code_default = 429
    default_message = "rate limit exceeded"

    retry_after: float

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after: float = 0.0,
        upstream: str | None = None,
        request: RequestInfo | None = None,
        headers: Mapping[str, str | list[str]] | None = None,
        **props: Any,
    ) -> None:
        merged = {"retry-after": _retry_after_header(retry_after), **(headers or {})}
        super().__init__(message, upstream=upstream, request=request, headers=merged, **props)
        self.retry_after = retry_after
