"""A monotonic clock and sleep that move only when told to (breaker and retry tests)."""

from __future__ import annotations


class FakeClock:
    """``clock()`` returns ``now``; ``await clock.sleep(s)`` advances it and records ``s``."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
