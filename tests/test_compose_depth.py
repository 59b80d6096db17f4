"""A 10,000-layer onion runs in CPython without touching the recursion limit (issue 2, item 1).

A naive await-chain dies with RecursionError near 500 layers; these tests hold the
trampolined runner to Koa's semantics at depth: order, errors, finally blocks, timeouts
that run ``next()`` in another task, contextvars and cancellation.
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
from typing import Any

import pytest

from scallion import compose

DEPTH = 10_000
MIDDLE = DEPTH // 2


@pytest.fixture(autouse=True)
def recursion_limit_untouched() -> Any:
    before = sys.getrecursionlimit()
    yield
    assert sys.getrecursionlimit() == before


def recording_layers(log: list[int]) -> list[Any]:
    def layer(n: int) -> Any:
        async def mw(ctx: Any, next: Any) -> None:
            log.append(n)
            await next()
            log.append(-n)

        return mw

    return [layer(n) for n in range(DEPTH)]


async def test_ten_thousand_layers_run_before_in_order_and_after_in_reverse() -> None:
    log: list[int] = []
    await compose(recording_layers(log))({})
    assert log == list(range(DEPTH)) + [-n for n in reversed(range(DEPTH))]


async def test_an_error_at_the_bottom_passes_every_finally_up_to_a_catching_layer() -> None:
    finals: list[int] = []
    excepts: list[int] = []

    def layer(n: int) -> Any:
        async def mw(ctx: Any, next: Any) -> None:
            try:
                await next()
            except LookupError:
                excepts.append(n)
                if n == MIDDLE:
                    ctx["caught"] = n
                    return
                raise
            finally:
                finals.append(n)

        return mw

    async def bottom(ctx: Any, next: Any) -> None:
        raise KeyError("deep")

    ctx: dict[str, Any] = {}
    await compose([*(layer(n) for n in range(DEPTH)), bottom])(ctx)
    assert ctx["caught"] == MIDDLE
    assert excepts == list(range(DEPTH - 1, MIDDLE - 1, -1))
    assert finals == list(range(DEPTH - 1, -1, -1))


async def test_an_uncaught_deep_error_reaches_the_caller() -> None:
    async def bottom(ctx: Any, next: Any) -> None:
        raise ValueError("from the bottom")

    with pytest.raises(ValueError, match="from the bottom"):
        await compose([*recording_layers([]), bottom])({})


async def test_a_middle_layer_awaiting_next_with_wait_for() -> None:
    log: list[int] = []
    layers = recording_layers(log)

    async def bounded(ctx: Any, next: Any) -> None:
        await asyncio.wait_for(next(), 5)
        ctx["bounded"] = True

    layers.insert(MIDDLE, bounded)
    ctx: dict[str, Any] = {}
    await compose(layers)(ctx)
    assert ctx["bounded"] is True
    assert log == list(range(DEPTH)) + [-n for n in reversed(range(DEPTH))]


async def test_a_middle_layer_with_asyncio_timeout() -> None:
    log: list[int] = []
    layers = recording_layers(log)

    async def bounded(ctx: Any, next: Any) -> None:
        async with asyncio.timeout(5):
            await next()

    async def slow(ctx: Any, next: Any) -> None:
        await asyncio.sleep(0.001)
        await next()

    layers.insert(MIDDLE, bounded)
    layers.insert(DEPTH - 1, slow)
    await compose(layers)({})
    assert log == list(range(DEPTH)) + [-n for n in reversed(range(DEPTH))]


async def test_a_timeout_that_fires_in_a_deep_chain_cancels_the_inner_layers() -> None:
    finals: list[str] = []

    async def bounded(ctx: Any, next: Any) -> None:
        try:
            async with asyncio.timeout(0.01):
                await next()
        except TimeoutError:
            ctx["timed out"] = True

    async def hang(ctx: Any, next: Any) -> None:
        try:
            await asyncio.sleep(30)
        finally:
            finals.append("hang")

    ctx: dict[str, Any] = {}
    layers = recording_layers([])
    await compose([*layers[:MIDDLE], bounded, *layers[MIDDLE:], hang])(ctx)
    assert ctx["timed out"] is True
    assert finals == ["hang"]


async def test_contextvars_set_in_a_deep_chain_are_seen_downstream() -> None:
    var: contextvars.ContextVar[int] = contextvars.ContextVar("depth_test")
    seen: list[int] = []

    async def setter(ctx: Any, next: Any) -> None:
        var.set(7)
        await next()

    async def reader(ctx: Any, next: Any) -> None:
        seen.append(var.get())
        await asyncio.sleep(0)
        seen.append(var.get())

    layers = recording_layers([])
    await compose([*layers[:10], setter, *layers[10:], reader])({})
    assert seen == [7, 7]


async def test_cancelling_a_deep_chain_runs_every_finally() -> None:
    finals: list[int] = []
    started = asyncio.Event()

    def layer(n: int) -> Any:
        async def mw(ctx: Any, next: Any) -> None:
            try:
                await next()
            finally:
                finals.append(n)

        return mw

    async def bottom(ctx: Any, next: Any) -> None:
        started.set()
        await asyncio.sleep(30)

    task = asyncio.ensure_future(compose([*(layer(n) for n in range(DEPTH)), bottom])({}))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert finals == list(range(DEPTH - 1, -1, -1))


async def test_next_called_twice_deep_in_the_chain() -> None:
    async def twice(ctx: Any, next: Any) -> None:
        await next()
        await next()

    layers = recording_layers([])
    with pytest.raises(RuntimeError, match=r"next\(\) called multiple times"):
        await compose([*layers[:MIDDLE], twice, *layers[MIDDLE:]])({})
