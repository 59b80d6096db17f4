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
from .retry import (
    IDEMPOTENT_METHODS,
    Backoff,
    RetryBudget,
    RetryPolicy,
    constant,
    equal_jitter,
    exponential,
    full_jitter,
    is_retryable,
    no_jitter,
)
from .window import CountWindow, TimeWindow

__all__ = [
    "IDEMPOTENT_METHODS",
    "Backoff",
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
    "RetryBudget",
    "RetryPolicy",
    "TimeWindow",
    "UpstreamBadResponse",
    "UpstreamError",
    "UpstreamStatusError",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "constant",
    "equal_jitter",
    "exponential",
    "full_jitter",
    "is_retryable",
    "no_jitter",
]
