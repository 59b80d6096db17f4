"""scallion's BFF layer: upstreams, breakers, retries, caching, aggregation, the gateway."""

from __future__ import annotations

from .errors import (
    BffError,
    BreakerOpen,
    BulkheadFull,
    DeadlineExceeded,
    RateLimited,
    RequestInfo,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamStatusError,
    UpstreamTimeout,
    UpstreamUnavailable,
)

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
