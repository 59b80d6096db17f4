"""Retries for upstream calls: small composable policies in tenacity's vocabulary.

    policy = RetryPolicy(attempts=3, backoff=exponential(base=0.05, max=2.0), jitter=full_jitter)
    user = await policy.run(lambda attempt: fetch_user(7), method="GET", deadline=deadline)

- A **backoff** maps the retry number (0 for the first retry) to a delay cap:
  ``exponential(base, max)`` gives ``min(max, base * 2**n)``; ``constant(d)``; backoffs add
  (``exponential() + constant(0.01)``).
- A **jitter** turns the cap into the actual sleep. ``full_jitter`` (the default) sleeps
  ``uniform(0, cap)``, which spreads a herd of clients best (AWS Architecture Blog,
  "Exponential Backoff And Jitter"); ``equal_jitter`` and ``no_jitter`` also exist.
- Only **idempotent** calls are retried: GET HEAD OPTIONS PUT DELETE (and TRACE), plus POST
  and PATCH when they carry an ``Idempotency-Key`` header or ``idempotent_only=False``.
- A **deadline** (absolute, on the policy's monotonic clock) is never slept past: when the
  next sleep would cross it, the last error is raised at once.
- A **RetryBudget** shared by every call to an upstream caps retries at a fraction of recent
  requests (plus a small floor), so retries cannot multiply load during an outage.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from .errors import (
    BulkheadFull,
    DeadlineExceeded,
    UpstreamStatusError,
    UpstreamTimeout,
    UpstreamUnavailable,
)

__all__ = [
    "IDEMPOTENT_METHODS",
    "Backoff",
    "RetryBudget",
    "RetryPolicy",
    "constant",
    "equal_jitter",
    "exponential",
    "full_jitter",
    "is_retryable",
    "no_jitter",
]

T = TypeVar("T")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
_KEYED_METHODS = frozenset({"POST", "PATCH"})
RETRYABLE_STATUSES = frozenset({502, 503, 504})


class Backoff:
    """A delay cap per retry number; ``a + b`` adds two backoffs."""

    def __call__(self, retry: int) -> float:
        raise NotImplementedError

    def __add__(self, other: Backoff) -> Backoff:
        return _Sum(self, other)


class _Sum(Backoff):
    def __init__(self, a: Backoff, b: Backoff) -> None:
        self.a, self.b = a, b

    def __call__(self, retry: int) -> float:
        return self.a(retry) + self.b(retry)

    def __repr__(self) -> str:
        return f"{self.a!r} + {self.b!r}"


class exponential(Backoff):  # lowercase: reads like tenacity at the call site
    """``min(max, base * factor**retry)`` seconds."""

    def __init__(self, base: float = 0.05, max: float = 2.0, factor: float = 2.0) -> None:
        if base < 0 or max < 0 or factor < 1:
            raise ValueError("exponential() needs base >= 0, max >= 0 and factor >= 1")
        self.base, self.max, self.factor = base, max, factor

    def __call__(self, retry: int) -> float:
        # Cap the exponent so huge retry numbers cannot overflow a float.
        return min(self.max, self.base * self.factor ** min(retry, 64))

    def __repr__(self) -> str:
        return f"exponential(base={self.base}, max={self.max}, factor={self.factor})"


class constant(Backoff):
    """The same delay before every retry."""

    def __init__(self, delay: float) -> None:
        if delay < 0:
            raise ValueError("constant() needs delay >= 0")
        self.delay = delay

    def __call__(self, retry: int) -> float:
        return self.delay

    def __repr__(self) -> str:
        return f"constant({self.delay})"


def full_jitter(cap: float) -> float:
    """Sleep anywhere in ``[0, cap]``."""
    return random.uniform(0.0, cap)


def equal_jitter(cap: float) -> float:
    """Sleep at least half the cap: ``cap/2 + uniform(0, cap/2)``."""
    return cap / 2 + random.uniform(0.0, cap / 2)


def no_jitter(cap: float) -> float:
    """Sleep exactly the cap (tests, or a single client)."""
    return cap


def is_retryable(exc: BaseException) -> bool:
    """Default ``retry_on``: timeouts, unreachable upstreams and 502/503/504 answers.

    Never a deadline that ran out, nor a full bulkhead (retrying would add to the overload).
    """
    if isinstance(exc, DeadlineExceeded | BulkheadFull):
        return False
    if isinstance(exc, UpstreamStatusError):
        return exc.upstream_status in RETRYABLE_STATUSES
    return isinstance(exc, UpstreamTimeout | UpstreamUnavailable | OSError | TimeoutError)


class RetryBudget:
    """Caps retries at ``ratio`` of the requests of the last ``ttl`` seconds, plus a floor.

    One budget is shared by all calls to an upstream. Each call deposits ``ratio`` tokens,
    each retry withdraws one, and ``min_per_second * ttl`` tokens are always available, so
    a quiet service can still retry and a failing busy one adds at most ``ratio`` more load.
    """

    __slots__ = (
        "_ids",
        "_requests",
        "_retries",
        "buckets",
        "clock",
        "exhausted",
        "min_per_second",
        "ratio",
        "ttl",
        "width",
    )

    def __init__(
        self,
        ratio: float = 0.2,
        *,
        min_per_second: float = 10.0,
        ttl: float = 10.0,
        buckets: int = 10,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ratio < 0 or min_per_second < 0 or ttl <= 0 or buckets < 1:
            raise ValueError("RetryBudget needs ratio >= 0, min_per_second >= 0, ttl > 0")
        self.ratio = ratio
        self.min_per_second = min_per_second
        self.ttl = ttl
        self.buckets = buckets
        self.width = ttl / buckets
        self.clock = clock
        self.exhausted = 0
        self._ids = [-1] * buckets
        self._requests = [0] * buckets
        self._retries = [0] * buckets

    def _slot(self, now: float) -> int:
        bucket = int(now // self.width)
        i = bucket % self.buckets
        if self._ids[i] != bucket:
            self._ids[i] = bucket
            self._requests[i] = self._retries[i] = 0
        return i

    def balance(self) -> float:
        """Tokens available now; a retry needs one."""
        now = self.clock()
        oldest = int(now // self.width) - self.buckets
        requests = retries = 0
        for i in range(self.buckets):
            if self._ids[i] > oldest:
                requests += self._requests[i]
                retries += self._retries[i]
        return self.ratio * requests + self.min_per_second * self.ttl - retries

    def deposit(self) -> None:
        """Count one original request."""
        self._requests[self._slot(self.clock())] += 1

    def try_withdraw(self) -> bool:
        """Take a token for one retry; ``False`` (and counted) when the budget is spent."""
        if self.balance() < 1:
            self.exhausted += 1
            return False
        self._retries[self._slot(self.clock())] += 1
        return True

    def __repr__(self) -> str:
        return f"RetryBudget(ratio={self.ratio}, balance={self.balance():.1f})"


class RetryPolicy:
    """When and how long to wait before calling an upstream again.

    Args:
        attempts: total tries, the first one included (1 disables retries).
        backoff: delay cap per retry number.
        jitter: turns the cap into the sleep.
        retry_on: exception types, or a predicate, that deserve another try.
        idempotent_only: retry only methods safe to repeat (see the module docstring).
        budget: a ``RetryBudget`` shared by the calls to one upstream.
        clock, sleep: monotonic clock and sleep; tests inject fakes.
    """

    __slots__ = (
        "attempts",
        "backoff",
        "budget",
        "clock",
        "idempotent_only",
        "jitter",
        "retry_on",
        "sleep",
    )

    def __init__(
        self,
        attempts: int = 3,
        *,
        backoff: Callable[[int], float] | None = None,
        jitter: Callable[[float], float] = full_jitter,
        retry_on: tuple[type[BaseException], ...] | Callable[[BaseException], bool] = is_retryable,
        idempotent_only: bool = True,
        budget: RetryBudget | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if attempts < 1:
            raise ValueError(f"attempts must be >= 1 (1 means no retries), got {attempts!r}")
        self.attempts = attempts
        self.backoff = exponential() if backoff is None else backoff
        self.jitter = jitter
        self.retry_on = retry_on
        self.idempotent_only = idempotent_only
        self.budget = budget
        self.clock = clock
        self.sleep = sleep

    def __repr__(self) -> str:
        return f"RetryPolicy(attempts={self.attempts}, backoff={self.backoff!r})"

    def allows(self, method: str, headers: Mapping[str, str] | None = None) -> bool:
        """Whether a ``method`` call (with these headers) may be retried at all."""
        if not self.idempotent_only:
            return True
        method = method.upper()
        if method in IDEMPOTENT_METHODS:
            return True
        if method in _KEYED_METHODS and headers:
            return any(k.lower() == "idempotency-key" for k in headers)
        return False

    def next_delay(
        self, exc: BaseException, retry: int, deadline: float | None = None
    ) -> float | None:
        """The sleep before retry number ``retry`` (0-based) after ``exc``, or ``None``: stop.

        Checks attempts, ``retry_on``, the deadline and the budget, in that order; a budget
        token is taken only when the answer is a delay.
        """
        if retry + 1 >= self.attempts:
            return None
        retry_on = self.retry_on
        if isinstance(retry_on, tuple):
            if not isinstance(exc, retry_on):
                return None
        elif not retry_on(exc):
            return None
        delay = max(0.0, self.jitter(self.backoff(retry)))
        if deadline is not None and self.clock() + delay >= deadline:
            return None
        if self.budget is not None and not self.budget.try_withdraw():
            return None
        return delay

    async def run(
        self,
        fn: Callable[[int], Awaitable[T]],
        *,
        method: str = "GET",
        headers: Mapping[str, str] | None = None,
        deadline: float | None = None,
    ) -> T:
        """``await fn(attempt)`` until it succeeds or the policy says stop; then re-raise.

        ``attempt`` counts from 0, so a client can pick another instance for a retry.
        """
        if self.budget is not None:
            self.budget.deposit()
        retryable = self.allows(method, headers)
        attempt = 0
        while True:
            try:
                return await fn(attempt)
            except Exception as exc:
                delay = self.next_delay(exc, attempt, deadline) if retryable else None
                if delay is None:
                    raise
            if delay > 0:
                await self.sleep(delay)
            attempt += 1
