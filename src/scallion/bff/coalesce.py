"""Request coalescing in one process: N identical concurrent calls share one flight.

A *flight* is one task running the real call for a key. The first caller starts it, later
callers with the same key join it, and all of them get the same result or the same
exception. The call runs in its own task (not in the first caller's), which is what makes
cancellation safe both ways:

- a cancelled waiter only stops *its own* wait; the flight goes on for the others;
- the first caller being cancelled (its client went away, its deadline passed) does not
  strand the rest, because the flight never belonged to it;
- when the *last* waiter leaves, the flight is cancelled: nobody wants the answer, and no
  upstream work should outlive every request that asked for it.

Background flights (``start``) have no waiters and run to completion; ``aclose`` cancels
every flight still running, so no task outlives the owner.

    flights = Coalescer()
    value, joined = await flights.run("GET /users/1", fetch_user)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["Coalescer", "FlightCancelled"]

T = TypeVar("T")


class FlightCancelled(RuntimeError):
    """The shared call was cancelled under a waiter that was not (the owner closed)."""


class _Flight(Generic[T]):
    __slots__ = ("detached", "task", "waiters")

    task: asyncio.Task[T]

    def __init__(self, detached: bool) -> None:
        self.waiters = 0
        self.detached = detached


def _retrieve(task: asyncio.Task[object]) -> None:
    # Mark a failure as seen: a flight whose waiters all left (or a background flight)
    # would otherwise log "Task exception was never retrieved" when collected.
    if not task.cancelled():
        task.exception()


class Coalescer(Generic[T]):
    """At most one in-flight call per key; everyone asking meanwhile shares its outcome."""

    __slots__ = ("_flights",)

    def __init__(self) -> None:
        self._flights: dict[str, _Flight[T]] = {}

    def __len__(self) -> int:
        return len(self._flights)

    def __contains__(self, key: object) -> bool:
        return key in self._flights

    def _launch(self, key: str, factory: Callable[[], Awaitable[T]], detached: bool) -> _Flight[T]:
        flight: _Flight[T] = _Flight(detached)
        self._flights[key] = flight
        flight.task = asyncio.get_running_loop().create_task(self._fly(key, flight, factory))
        flight.task.add_done_callback(_retrieve)
        return flight

    async def _fly(self, key: str, flight: _Flight[T], factory: Callable[[], Awaitable[T]]) -> T:
        try:
            return await factory()
        finally:
            # Leave the table before any waiter wakes, so a caller that reacts to this
            # outcome by asking again starts a fresh flight instead of joining a dead one.
            if self._flights.get(key) is flight:
                del self._flights[key]

    async def run(self, key: str, factory: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """Join the flight for ``key`` or start one with ``factory``.

        Returns ``(result, joined)``: ``joined`` is true when another caller's flight
        answered. Raises what the flight raised.
        """
        flight = self._flights.get(key)
        joined = flight is not None
        if flight is None:
            flight = self._launch(key, factory, detached=False)
        flight.waiters += 1
        try:
            return await asyncio.shield(flight.task), joined
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if flight.task.cancelled() and task is not None and not task.cancelling():
                raise FlightCancelled(f"the shared call for {key!r} was cancelled") from None
            raise
        finally:
            flight.waiters -= 1
            if flight.waiters == 0 and not flight.detached and not flight.task.done():
                flight.task.cancel()

    def start(self, key: str, factory: Callable[[], Awaitable[T]]) -> bool:
        """Start a background flight for ``key`` unless one is running; ``True`` if started.

        Background flights run to completion even with nobody waiting; ``aclose`` stops them.
        """
        if key in self._flights:
            return False
        self._launch(key, factory, detached=True)
        return True

    async def aclose(self) -> None:
        """Cancel every flight still running and wait until they have stopped."""
        tasks = [flight.task for flight in self._flights.values()]
        self._flights.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
