"""A circuit breaker per upstream instance: a pure state machine, storage on the side.

::

                failure or slow-call rate >= threshold
                (over the window, after minimum_calls)
      ┌────────┐ ─────────────────────────────────▶ ┌──────┐
      │ CLOSED │                                    │ OPEN │ ◀─┐ fails fast with
      └────────┘ ◀──────────┐            ┌───────── └──────┘   │ BreakerOpen(retry_after)
                            │            │ wait_duration over  │
          probes' rates below threshold  ▼ (next call)         │ a probe rate reaches
                          ┌───────────────┐                    │ the threshold
                          │   HALF_OPEN   │ ───────────────────┘
                          └───────────────┘
                 at most half_open_calls probes, decided when they are done

The machine itself does no I/O and reads time from an injected monotonic ``clock``:
``try_acquire()`` returns a ``Permit`` or raises ``BreakerOpen``; ``record(permit, failed)``
feeds the outcome back (``failed=None``: the outcome says nothing about the upstream, e.g.
a cancelled call). Results of calls started before a state change are ignored, so a slow
call from the CLOSED era cannot decide a HALF_OPEN probe round.

With a ``storage`` (``RedisBreakerStorage``), a breaker that opens publishes OPEN with its
expiry, and breakers of the same name elsewhere adopt it: a fleet of gateways opens together.
The remote view is cached for ``sync_interval`` seconds and refreshed in the background, so
the hot path never waits for Redis; when Redis is down the breaker works on local state
(logged once per outage, counted in ``metrics().storage_errors``).

Usage::

    breaker = CircuitBreaker("users", failure_rate=0.5, minimum_calls=20, wait_duration=10)
    async with breaker:
        resp = await client.get(url)
    user = await breaker.call(fetch_user, 7)

    @breaker
    async def fetch_orders(uid: int) -> list[dict[str, object]]: ...
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from enum import Enum
from types import TracebackType
from typing import ParamSpec, Protocol, TypeVar

from ..errors import error_status
from .errors import BreakerOpen
from .window import CountWindow, TimeWindow

__all__ = [
    "BreakerMetrics",
    "BreakerState",
    "BreakerStorage",
    "CircuitBreaker",
    "CountWindow",
    "Permit",
    "TimeWindow",
]

logger = logging.getLogger("scallion.bff.breaker")

P = ParamSpec("P")
R = TypeVar("R")


class BreakerState(Enum):
    """Closed passes calls, open fails fast, half-open lets a few probes through."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class BreakerStorage(Protocol):
    """Where breakers of the same name share their OPEN state (see ``RedisBreakerStorage``)."""

    async def publish_open(self, name: str, wait: float) -> None:
        """Announce that ``name`` is open for the next ``wait`` seconds."""
        ...

    async def open_for(self, name: str) -> float | None:
        """Seconds ``name`` stays open according to the others, or ``None``."""
        ...


class Permit:
    """One call let through; hand it back to ``record``."""

    __slots__ = ("generation", "started_at")

    def __init__(self, generation: int, started_at: float) -> None:
        self.generation = generation
        self.started_at = started_at


@dataclass(frozen=True, slots=True)
class BreakerMetrics:
    """A snapshot of a breaker for dashboards and health endpoints."""

    name: str
    state: BreakerState
    calls: int
    failures: int
    slow_calls: int
    failure_rate: float
    slow_call_rate: float
    opened_at: float | None
    retry_after: float
    rejected: int
    storage_errors: int


StateListener = Callable[["CircuitBreaker", BreakerState, BreakerState], object]

_current: contextvars.ContextVar[tuple[Permit, ...]] = contextvars.ContextVar("scallion_breaker")


def is_failure(exc: BaseException) -> bool:
    """Default ``record_exception``: 5xx-ish errors and plain exceptions count, 4xx do not."""
    return error_status(exc) >= 500


class CircuitBreaker:
    """Circuit breaker for one upstream instance.

    Args:
        name: identifies the breaker in errors, metrics and shared storage.
        failure_rate: open when failed calls / calls reaches this (0 < rate <= 1).
        minimum_calls: no decision before the window holds this many calls.
        window: the last N calls (int) or a ``CountWindow`` / ``TimeWindow``.
        slow_call_duration: a call lasting at least this many seconds is slow (None: off).
        slow_call_rate: open when slow calls / calls reaches this.
        wait_duration: seconds to stay OPEN before probing.
        half_open_calls: probes let through in HALF_OPEN; decided when all are done.
        half_open_concurrency: probes in flight at once (default ``half_open_calls``).
        record_exception: ``exc -> True`` (a failure), ``False`` (a healthy call) or ``None``
            (does not count); default: status >= 500 fails, a 4xx is healthy.
        clock: monotonic seconds; tests pass a fake.
        storage: share the OPEN state with other processes.
        sync_interval: seconds to trust the cached remote state.
    """

    def __init__(
        self,
        name: str = "",
        *,
        failure_rate: float = 0.5,
        minimum_calls: int = 10,
        window: int | CountWindow | TimeWindow = 100,
        slow_call_duration: float | None = None,
        slow_call_rate: float = 1.0,
        wait_duration: float = 30.0,
        half_open_calls: int = 5,
        half_open_concurrency: int | None = None,
        record_exception: Callable[[BaseException], bool | None] = is_failure,
        clock: Callable[[], float] = time.monotonic,
        storage: BreakerStorage | None = None,
        sync_interval: float = 0.2,
    ) -> None:
        if not 0 < failure_rate <= 1 or not 0 < slow_call_rate <= 1:
            raise ValueError("failure_rate and slow_call_rate must be in (0, 1]")
        if minimum_calls < 1 or half_open_calls < 1 or wait_duration < 0:
            raise ValueError("minimum_calls and half_open_calls must be >= 1, wait >= 0")
        self.name = name
        self.failure_rate = failure_rate
        self.minimum_calls = minimum_calls
        self.window = CountWindow(window) if isinstance(window, int) else window
        self.slow_call_duration = slow_call_duration
        self.slow_call_rate = slow_call_rate
        self.wait_duration = wait_duration
        self.half_open_calls = half_open_calls
        self.half_open_concurrency = half_open_concurrency or half_open_calls
        self.record_exception = record_exception
        self.clock = clock
        self.storage = storage
        self.sync_interval = sync_interval
        self._state = BreakerState.CLOSED
        self._generation = 0
        self._opened_at: float | None = None
        self._open_until = 0.0
        self._probes_started = self._probes_in_flight = 0
        self._probe_calls = self._probe_failures = self._probe_slow = 0
        self._listeners: list[StateListener] = []
        self._rejected = 0
        self._storage_errors = 0
        self._storage_down = False
        self._next_sync = 0.0
        self._tasks: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return f"CircuitBreaker({self.name!r}, state={self._state.value})"

    @property
    def state(self) -> BreakerState:
        """The current state (OPEN turns HALF_OPEN on the first call after the wait)."""
        return self._state

    def on_state_change(self, callback: StateListener) -> StateListener:
        """Call ``callback(breaker, old, new)`` on every transition; usable as a decorator."""
        self._listeners.append(callback)
        return callback

    def metrics(self) -> BreakerMetrics:
        """A snapshot: state, the window's counts and rates, when it opened, rejections."""
        now = self.clock()
        if self._state is BreakerState.HALF_OPEN:
            calls, failures, slow = self._probe_calls, self._probe_failures, self._probe_slow
        else:
            calls, failures, slow = self.window.totals(now)
        retry_after = 0.0
        if self._state is BreakerState.OPEN:
            retry_after = max(0.0, self._open_until - now)
        return BreakerMetrics(
            self.name,
            self._state,
            calls,
            failures,
            slow,
            failures / calls if calls else 0.0,
            slow / calls if calls else 0.0,
            self._opened_at,
            retry_after,
            self._rejected,
            self._storage_errors,
        )

    # -- the state machine (no I/O) ------------------------------------------------------------

    def try_acquire(self) -> Permit:
        """Let one call through or raise ``BreakerOpen`` with the seconds until it may retry."""
        now = self.clock()
        if self.storage is not None and now >= self._next_sync:
            self._spawn_refresh(now)
        state = self._state
        if state is BreakerState.OPEN:
            if now < self._open_until:
                self._rejected += 1
                raise BreakerOpen(upstream=self.name or None, retry_after=self._open_until - now)
            self._transition(BreakerState.HALF_OPEN, now)
            state = BreakerState.HALF_OPEN
        if state is BreakerState.HALF_OPEN:
            if (
                self._probes_started >= self.half_open_calls
                or self._probes_in_flight >= self.half_open_concurrency
            ):
                self._rejected += 1  # probes are busy; their verdict is usually soon
                raise BreakerOpen(
                    upstream=self.name or None, retry_after=min(1.0, self.wait_duration)
                )
            self._probes_started += 1
            self._probes_in_flight += 1
        return Permit(self._generation, now)

    def record(self, permit: Permit, failed: bool | None, duration: float | None = None) -> None:
        """Feed back a call's outcome: failed, succeeded, or ``None`` (does not count)."""
        if permit.generation != self._generation:
            return  # started before the last state change
        now = self.clock()
        if self._state is BreakerState.HALF_OPEN:
            self._probes_in_flight -= 1
            if failed is None:
                self._probes_started -= 1
                return
        elif failed is None:
            return
        if duration is None:
            duration = now - permit.started_at
        slow = self.slow_call_duration is not None and duration >= self.slow_call_duration
        if self._state is BreakerState.CLOSED:
            self.window.record(failed, slow, now)
            # In a count window a good call only lowers the rates, so unless it completes
            # minimum_calls there is nothing to decide (a time window may have shed calls).
            window = self.window
            if (
                failed
                or slow
                or not isinstance(window, CountWindow)
                or (window.calls == self.minimum_calls)
            ):
                calls, failures, slow_calls = window.totals(now)
                if calls >= self.minimum_calls and self._tripped(calls, failures, slow_calls):
                    self._transition(BreakerState.OPEN, now)
        elif self._state is BreakerState.HALF_OPEN:
            self._probe_calls += 1
            self._probe_failures += failed
            self._probe_slow += slow
            if self._tripped(self.half_open_calls, self._probe_failures, self._probe_slow):
                self._transition(BreakerState.OPEN, now)  # already certain, no need to wait
            elif self._probe_calls >= self.half_open_calls:
                # Same denominator as the check above: the probes' rates are below threshold.
                self._transition(BreakerState.CLOSED, now)

    def _tripped(self, calls: int, failures: int, slow: int) -> bool:
        return failures >= self.failure_rate * calls or (
            self.slow_call_duration is not None and slow >= self.slow_call_rate * calls
        )

    def _transition(
        self, new: BreakerState, now: float, *, wait: float | None = None, remote: bool = False
    ) -> None:
        old = self._state
        self._state = new
        self._generation += 1
        self._probes_started = self._probes_in_flight = 0
        self._probe_calls = self._probe_failures = self._probe_slow = 0
        if new is BreakerState.OPEN:
            self._opened_at = now
            self._open_until = now + (self.wait_duration if wait is None else wait)
            self.window.reset()
            if self.storage is not None and not remote:
                self._spawn(self._publish(self._open_until - now))
        elif new is BreakerState.CLOSED:
            self._opened_at = None
            self.window.reset()
        for listener in self._listeners:
            try:
                listener(self, old, new)
            except Exception:
                logger.exception("breaker %r: state change listener failed", self.name)

    # -- async front ends ----------------------------------------------------------------------

    async def call(self, fn: Callable[P, Awaitable[R]], *args: P.args, **kwargs: P.kwargs) -> R:
        """Run ``await fn(*args, **kwargs)`` through the breaker."""
        permit = self.try_acquire()
        try:
            result = await fn(*args, **kwargs)
        except Exception as exc:
            self.record(permit, self.record_exception(exc))
            raise
        except BaseException:
            self.record(permit, None)
            raise
        self.record(permit, False)
        return result

    def __call__(self, fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        """Decorate an async function so every call goes through the breaker."""

        @functools.wraps(fn)
        async def guarded(*args: P.args, **kwargs: P.kwargs) -> R:
            return await self.call(fn, *args, **kwargs)

        return guarded

    async def __aenter__(self) -> CircuitBreaker:
        permit = self.try_acquire()
        # An immutable stack per context: a task spawned inside the block gets its own copy.
        _current.set((*_current.get(()), permit))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack = _current.get()
        _current.set(stack[:-1])
        permit = stack[-1]
        if exc is None:
            self.record(permit, False)
        elif isinstance(exc, Exception):
            self.record(permit, self.record_exception(exc))
        else:
            self.record(permit, None)

    # -- shared state --------------------------------------------------------------------------

    async def sync(self) -> None:
        """Finish pending publishes and read the remote state now (tests, startup)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.storage is not None:
            await self._refresh()

    async def close(self) -> None:
        """Wait for background storage calls to finish."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _spawn(self, coro: Coroutine[object, object, None]) -> None:
        try:
            task = asyncio.get_running_loop().create_task(coro)
        except RuntimeError:  # no running loop: local state only
            coro.close()
            return
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _spawn_refresh(self, now: float) -> None:
        # One refresh per interval; the hot path only checks a float.
        self._next_sync = now + self.sync_interval
        self._spawn(self._refresh())

    async def _publish(self, wait: float) -> None:
        assert self.storage is not None
        try:
            await self.storage.publish_open(self.name, wait)
        except Exception as exc:
            self._storage_failed(exc)
        else:
            self._storage_ok()

    async def _refresh(self) -> None:
        assert self.storage is not None
        try:
            remaining = await self.storage.open_for(self.name)
        except Exception as exc:
            self._storage_failed(exc)
            self._next_sync = self.clock() + max(1.0, self.sync_interval)
            return
        self._storage_ok()
        if remaining is None or remaining <= 0:
            return
        now = self.clock()
        until = now + remaining
        # An OPEN we already know of (our own, echoed back late) is not news.
        if until <= self._open_until + self.sync_interval + 0.05:
            return
        if self._state is BreakerState.OPEN:
            self._open_until = until  # someone re-opened for longer: wait with them
        else:
            self._transition(BreakerState.OPEN, now, wait=remaining, remote=True)

    def _storage_failed(self, exc: Exception) -> None:
        self._storage_errors += 1
        if not self._storage_down:
            self._storage_down = True
            logger.warning("breaker %r: shared state unavailable, using local: %s", self.name, exc)

    def _storage_ok(self) -> None:
        if self._storage_down:
            self._storage_down = False
            logger.info("breaker %r: shared state available again", self.name)
