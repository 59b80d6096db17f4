"""How the onion's cost grows with depth, and proof that a 10,000-layer chain completes.

Run: ``python -m bench depth`` or ``.venv/bin/python bench/compose_depth.py``.

Each layer does a little work on both sides of ``await next()`` (a counter goes up on
the way in and down on the way out), so a chain that skipped or repeated a layer would be
caught. Chains run inside one asyncio event loop, as under a server: ``await chain(ctx)``
in a loop, best of several repeats, nanoseconds per layer. Up to
``scallion.compose.DIRECT_MAX`` layers the chain is plain nested awaits; longer chains
are trampolined (see compose.py), so depth 10,000 runs without ``RecursionError``.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scallion.compose import DIRECT_MAX, compose

DEPTHS = (1, 10, 50)
DEEP = 10_000


class Ctx:
    __slots__ = ("deepest", "depth")

    def __init__(self) -> None:
        self.depth = 0
        self.deepest = 0


async def layer(ctx: Ctx, next: Callable[[], Any]) -> None:
    ctx.depth += 1
    await next()
    if ctx.depth > ctx.deepest:
        ctx.deepest = ctx.depth
    ctx.depth -= 1


async def per_layer_ns(n: int, number: int, repeat: int) -> float:
    chain = compose([layer] * n)
    ctx = Ctx()
    await chain(ctx)
    if ctx.deepest != n or ctx.depth != 0:
        raise RuntimeError(f"chain of {n}: reached depth {ctx.deepest}, left {ctx.depth}")
    best = float("inf")
    gc.disable()
    try:
        for _ in range(repeat):
            start = time.perf_counter_ns()
            for _ in range(number):
                await chain(ctx)
            best = min(best, (time.perf_counter_ns() - start) / number)
    finally:
        gc.enable()
    return best / n


async def deep_chain() -> float:
    chain = compose([layer] * DEEP)
    ctx = Ctx()
    start = time.perf_counter()
    await chain(ctx)
    elapsed = time.perf_counter() - start
    if ctx.deepest != DEEP or ctx.depth != 0:
        raise RuntimeError(f"chain of {DEEP}: reached depth {ctx.deepest}, left {ctx.depth}")
    return elapsed


async def run() -> None:
    print(f"compose: per-layer cost inside an event loop (direct up to {DIRECT_MAX} layers)")
    for n in DEPTHS:
        ns = await per_layer_ns(n, number=max(200, 20_000 // n), repeat=7)
        print(f"  {n:>6} layers  {ns:8.1f} ns/layer")
    elapsed = await deep_chain()
    per = elapsed / DEEP * 1e9
    print(f"  {DEEP:>6} layers  completed in {elapsed * 1000:.1f} ms ({per:.0f} ns/layer)")


def main() -> int:
    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
