"""scallion's BFF layer: upstreams, breakers, retries, caching, aggregation, the gateway."""

from __future__ import annotations

from .breaker import (
    BreakerMetrics,
    BreakerState,
    BreakerStorage,
    CircuitBreaker,
    Permit,
)
from .breaker_redis import RedisBreakerStorage
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
from .window import CountWindow, TimeWindow

__all__ = [
    "BffError",
    "BreakerMetrics",
    "BreakerOpen",
    "BreakerState",
    "BreakerStorage",
    "BulkheadFull",
    "CircuitBreaker",
    "CountWindow",
    "DeadlineExceeded",
    "Permit",
    "RateLimited",
    "RedisBreakerStorage",
    "RequestInfo",
    "TimeWindow",
    "UpstreamBadResponse",
    "UpstreamError",
    "UpstreamStatusError",
    "UpstreamTimeout",
    "UpstreamUnavailable",
]
