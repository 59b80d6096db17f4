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
from .cache import Cache
from .cache_middleware import response_cache
from .cache_types import CachedError, CacheEntry, CacheResult, CacheStats
from .context import BffContext, BoundUpstream, bff, bff_of
from .deadline import DEADLINE_HEADER, deadline, request_deadline
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
from .gather import COMPLETED_HEADER, DependencyFailed, Gathered, Part, Step, gather
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
from .upstream import Upstream, UpstreamResponse, Upstreams
from .window import CountWindow, TimeWindow

__all__ = [
    "COMPLETED_HEADER",
    "DEADLINE_HEADER",
    "IDEMPOTENT_METHODS",
    "Backoff",
    "BffContext",
    "BffError",
    "BoundUpstream",
    "BreakerMetrics",
    "BreakerOpen",
    "BreakerState",
    "BreakerStorage",
    "BulkheadFull",
    "Cache",
    "CacheEntry",
    "CacheResult",
    "CacheStats",
    "CachedError",
    "CircuitBreaker",
    "CountWindow",
    "DeadlineExceeded",
    "DependencyFailed",
    "Gathered",
    "Part",
    "Permit",
    "RateLimited",
    "RedisBreakerStorage",
    "RequestInfo",
    "RetryBudget",
    "RetryPolicy",
    "Step",
    "TimeWindow",
    "Upstream",
    "UpstreamBadResponse",
    "UpstreamError",
    "UpstreamResponse",
    "UpstreamStatusError",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "Upstreams",
    "bff",
    "bff_of",
    "constant",
    "deadline",
    "equal_jitter",
    "exponential",
    "full_jitter",
    "gather",
    "is_retryable",
    "no_jitter",
    "request_deadline",
    "response_cache",
]
