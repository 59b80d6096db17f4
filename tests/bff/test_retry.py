"""Retry policies with a fake clock and sleep: backoff, jitter, budget, deadline, methods."""

from __future__ import annotations

import random

import pytest

from scallion.bff.errors import (
    BulkheadFull,
    DeadlineExceeded,
    UpstreamBadResponse,
    UpstreamStatusError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from scallion.bff.retry import (
    RetryBudget,
    RetryPolicy,
    constant,
    equal_jitter,
    exponential,
    full_jitter,
    is_retryable,
    no_jitter,
)

from ._fake_clock import FakeClock


class Flaky:
    """An upstream call that fails ``failures`` times, then answers."""

    def __init__(self, failures: int, exc: Exception | None = None) -> None:
        self.failures = failures
        self.exc = exc or UpstreamUnavailable(upstream="users")
        self.attempts: list[int] = []

    async def __call__(self, attempt: int) -> str:
        self.attempts.append(attempt)
        if len(self.attempts) <= self.failures:
            raise self.exc
        return "ok"


def policy(clock: FakeClock, **options: object) -> RetryPolicy:
    return RetryPolicy(clock=clock, sleep=clock.sleep, **options)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_exponential_backoff_grows_and_caps() -> None:
    backoff = exponential(base=0.05, max=2.0)
    assert [backoff(n) for n in range(8)] == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    assert backoff(10_000) == 2.0  # no overflow
    assert (exponential(base=1, max=10) + constant(0.5))(2) == 4.5


def test_full_jitter_stays_within_zero_and_cap() -> None:
    random.seed(7)
    samples = [full_jitter(1.6) for _ in range(2000)]
    assert all(0 <= s <= 1.6 for s in samples)
    assert min(samples) < 0.1 and max(samples) > 1.5  # really spread over the range
    assert all(0.8 <= equal_jitter(1.6) <= 1.6 for _ in range(500))
    assert no_jitter(1.6) == 1.6


async def test_retries_until_success_with_backoff_bounds(clock: FakeClock) -> None:
    flaky = Flaky(3)
    retry = policy(clock, attempts=4, backoff=exponential(base=0.05, max=2.0))
    assert await retry.run(flaky) == "ok"
    assert flaky.attempts == [0, 1, 2, 3]
    caps = [0.05, 0.1, 0.2]
    assert len(clock.sleeps) == 3
    assert all(0 <= s <= cap for s, cap in zip(clock.sleeps, caps, strict=True))


async def test_gives_up_after_attempts_with_the_last_error(clock: FakeClock) -> None:
    flaky = Flaky(10)
    with pytest.raises(UpstreamUnavailable):
        await policy(clock, attempts=3, jitter=no_jitter).run(flaky)
    assert flaky.attempts == [0, 1, 2]
    assert clock.sleeps == [0.05, 0.1]


async def test_attempts_one_means_no_retry(clock: FakeClock) -> None:
    flaky = Flaky(1)
    with pytest.raises(UpstreamUnavailable):
        await policy(clock, attempts=1).run(flaky)
    assert flaky.attempts == [0]


@pytest.mark.parametrize("method", ["POST", "PATCH", "CONNECT"])
async def test_non_idempotent_methods_are_not_retried(clock: FakeClock, method: str) -> None:
    flaky = Flaky(1)
    with pytest.raises(UpstreamUnavailable):
        await policy(clock).run(flaky, method=method)
    assert flaky.attempts == [0]


@pytest.mark.parametrize("method", ["GET", "head", "OPTIONS", "PUT", "DELETE"])
async def test_idempotent_methods_are_retried(clock: FakeClock, method: str) -> None:
    flaky = Flaky(1)
    assert await policy(clock).run(flaky, method=method) == "ok"


async def test_post_with_idempotency_key_or_explicit_allowance(clock: FakeClock) -> None:
    keyed = Flaky(1)
    headers = {"Idempotency-Key": "8e03978e-40d5-43e8-bc93-6894a57f9324"}
    assert await policy(clock).run(keyed, method="POST", headers=headers) == "ok"
    allowed = Flaky(1)
    assert await policy(clock, idempotent_only=False).run(allowed, method="POST") == "ok"


@pytest.mark.parametrize(
    ("exc", "retried"),
    [
        (UpstreamTimeout(upstream="u"), True),
        (UpstreamUnavailable(upstream="u"), True),
        (ConnectionRefusedError(), True),
        (UpstreamStatusError(503, upstream="u"), True),
        (UpstreamStatusError(500, upstream="u"), False),
        (UpstreamStatusError(404, upstream="u"), False),
        (UpstreamBadResponse(upstream="u"), False),
        (DeadlineExceeded(upstream="u"), False),
        (BulkheadFull(upstream="u"), False),
        (ValueError("bug"), False),
    ],
)
def test_default_retryable_errors(exc: Exception, retried: bool) -> None:
    assert is_retryable(exc) is retried


async def test_retry_on_exception_types(clock: FakeClock) -> None:
    flaky = Flaky(1, KeyError("x"))
    assert await policy(clock, retry_on=(KeyError,)).run(flaky) == "ok"
    other = Flaky(1, UpstreamTimeout())
    with pytest.raises(UpstreamTimeout):
        await policy(clock, retry_on=(KeyError,)).run(other)


async def test_never_sleeps_past_the_deadline(clock: FakeClock) -> None:
    flaky = Flaky(10)
    retry = policy(clock, attempts=10, backoff=constant(0.3), jitter=no_jitter)
    deadline = clock.now + 1.0
    with pytest.raises(UpstreamUnavailable):
        await retry.run(flaky, deadline=deadline)
    assert clock.sleeps == [0.3, 0.3, 0.3]  # a 4th sleep would end at +1.2
    assert clock.now <= deadline


async def test_deadline_already_passed_means_no_retry(clock: FakeClock) -> None:
    flaky = Flaky(1)
    with pytest.raises(UpstreamUnavailable):
        await policy(clock).run(flaky, deadline=clock.now - 1)
    assert clock.sleeps == []


def test_budget_floor_then_ratio(clock: FakeClock) -> None:
    budget = RetryBudget(0.2, min_per_second=0.5, ttl=10, clock=clock)
    assert budget.balance() == 5  # the floor
    for _ in range(100):
        budget.deposit()
    assert budget.balance() == pytest.approx(25)
    assert sum(budget.try_withdraw() for _ in range(40)) == 25
    assert budget.exhausted == 15
    clock.advance(11)  # everything has left the window: back to the floor
    assert budget.balance() == 5


async def test_budget_caps_retries_during_an_outage(clock: FakeClock) -> None:
    budget = RetryBudget(0.2, min_per_second=1, ttl=10, clock=clock)
    retry = RetryPolicy(
        attempts=3, jitter=no_jitter, budget=budget, clock=clock, sleep=FakeClock().sleep
    )
    upstream_calls = 0

    async def down(attempt: int) -> None:
        nonlocal upstream_calls
        upstream_calls += 1
        raise UpstreamUnavailable(upstream="users")

    for _ in range(500):  # a burst of failing requests within one window
        with pytest.raises(UpstreamUnavailable):
            await retry.run(down)
    retries = upstream_calls - 500
    assert retries == 0.2 * 500 + 1 * 10  # ratio of requests + floor, not 2 x 500
    assert budget.exhausted > 0


def test_invalid_options() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError):
        exponential(base=-1)
    with pytest.raises(ValueError):
        RetryBudget(ttl=0)
