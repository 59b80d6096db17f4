"""Server-sent events as a first-class streaming body: ``ctx.body = sse(events)``.

``events`` is an async iterable of ``str`` (one ``data:`` event), ``dict``/``list`` (sent
as JSON data) or ``Event`` (with ``event``, ``id``, ``retry``). A comment line is sent every
``ping`` seconds while the source is quiet, so proxies keep the connection open. When the
client goes away, the App cancels the stream and closes the source generator at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson

__all__ = ["Event", "EventStream", "sse"]


@dataclass(frozen=True, slots=True)
class Event:
    """One server-sent event."""

    data: Any = ""
    event: str | None = None
    id: str | None = None
    retry: int | None = None

    def encode(self) -> bytes:
        lines: list[str] = []
        if self.event is not None:
            lines.append(f"event: {_one_line(self.event)}")
        if self.id is not None:
            lines.append(f"id: {_one_line(self.id)}")
        if self.retry is not None:
            lines.append(f"retry: {int(self.retry)}")
        data = self.data
        text = data if isinstance(data, str) else orjson.dumps(data).decode()
        lines.extend(f"data: {line}" for line in text.splitlines() or [""])
        return ("\n".join(lines) + "\n\n").encode("utf-8")


def _one_line(value: str) -> str:
    if "\n" in value or "\r" in value:
        raise ValueError("SSE event names and ids must be a single line")
    return value


class EventStream:
    """An async iterator of encoded events; its ``content_type`` tells the body rules."""

    content_type = "text/event-stream; charset=utf-8"
    extra_headers = (("cache-control", "no-cache"), ("x-accel-buffering", "no"))

    def __init__(self, events: AsyncIterable[Any], *, ping: float | None = 15.0) -> None:
        self._events = events
        self._ping = ping
        self._iterator: AsyncIterator[Any] | None = None

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._generate()

    async def _generate(self) -> AsyncIterator[bytes]:
        iterator = self._iterator = aiter(self._events)
        pending: asyncio.Future[Any] | None = None
        try:
            while True:
                if self._ping is None:
                    try:
                        item = await anext(iterator)
                    except StopAsyncIteration:
                        return
                else:
                    if pending is None:
                        pending = asyncio.ensure_future(anext(iterator))
                    done, _ = await asyncio.wait({pending}, timeout=self._ping)
                    if not done:
                        yield b": ping\n\n"
                        continue
                    task, pending = pending, None
                    try:
                        item = task.result()
                    except StopAsyncIteration:
                        return
                yield item.encode() if isinstance(item, Event) else Event(item).encode()
        finally:
            if pending is not None:
                pending.cancel()
                with contextlib.suppress(BaseException):
                    await pending
            await self.aclose()

    async def aclose(self) -> None:
        """Close the source generator (the App calls this when the client disconnects)."""
        close = getattr(self._iterator or self._events, "aclose", None)
        if close is not None:
            with contextlib.suppress(RuntimeError):
                await close()


def sse(events: AsyncIterable[Any], *, ping: float | None = 15.0) -> EventStream:
    """Wrap ``events`` as a ``text/event-stream`` body."""
    return EventStream(events, ping=ping)
