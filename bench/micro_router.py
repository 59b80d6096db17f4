"""Micro-benchmark of Router matching: nanoseconds per lookup for 10, 100 and 1000 routes.

Run: ``.venv/bin/python bench/micro_router.py`` (``--quick`` for a short run).

The route looked up is always the one registered *last*, the worst case for a router that
scans its routes in order. Three views per size:

* **find**: the compiled table's lookup alone (``RouteTable.find``): static routes are one
  dict probe, parametrised routes walk a segment trie, then the one candidate is
  confirmed with its own pattern (and its params decoded);
* **dispatch**: the whole ``router.routes()`` middleware on a real ``Context``, handler
  included, driven without an event loop (the handler never suspends);
* **linear**: for comparison only, what a linear scan of one compiled regex per route
  costs for the same lookup (what the router deliberately does not do).

Flat ``find``/``dispatch`` columns across 10 -> 1000 routes, next to a ``linear`` column
that grows with the route count, are the point of the exercise.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    # Run as a script, sys.path[0] is bench/, whose http/ package would shadow the
    # standard library's; import from the repository's src/ instead.
    _here = str(Path(__file__).resolve().parent)
    sys.path[:] = [p for p in sys.path if p not in ("", _here)]
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from scallion import App
from scallion.context import Context
from scallion.router import Router

SIZES = (10, 100, 1000)


def _handler(ctx: Context) -> None:
    ctx.body = "ok"


def build(kind: str, count: int) -> tuple[Router, str]:
    """A router with ``count`` routes of ``kind`` and the path of the last one."""
    router = Router()
    for i in range(count):
        if kind == "static":
            router.get(f"/api/resource{i}/list", _handler)
        else:
            router.get(f"/api/resource{i}/:id/items/:item", _handler)
    last = count - 1
    path = f"/api/resource{last}/list" if kind == "static" else f"/api/resource{last}/42/items/7"
    return router, path


def per_call_ns(fn: Callable[[], Any], seconds: float) -> float:
    """Best-of-5 nanoseconds per call, each round sized to take about ``seconds / 5``."""
    loops = 1
    while True:
        start = time.perf_counter_ns()
        for _ in range(loops):
            fn()
        elapsed = time.perf_counter_ns() - start
        if elapsed > 20_000_000 or loops >= 1 << 24:
            break
        loops *= 2
    loops = max(1, int(loops * (seconds / 5) * 1e9 / max(elapsed, 1)))
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter_ns()
        for _ in range(loops):
            fn()
        best = min(best, (time.perf_counter_ns() - start) / loops)
    return best


def find_fn(router: Router, path: str) -> Callable[[], Any]:
    router.match(path)  # build the table
    table = router._table
    assert table is not None
    find = table.find
    hits = find(path)
    assert len(hits) == 1, hits

    def run() -> Any:
        return find(path)

    return run


def dispatch_fn(router: Router, path: str) -> Callable[[], Any]:
    app = App()
    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [],
    }
    dispatch = router.routes()

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: Any) -> None:
        return None

    async def downstream() -> None:
        raise AssertionError("the route should have answered")

    def run() -> None:
        ctx = Context(app, scope, receive, send)
        awaitable = dispatch(ctx, downstream)
        try:  # noqa: SIM105 - contextlib.suppress would add its own cost to the loop
            awaitable.__await__().send(None)
        except StopIteration:
            pass
        assert ctx.response.status == 200

    run()
    return run


def context_only_fn(path: str) -> Callable[[], Any]:
    app = App()
    scope = {"type": "http", "method": "GET", "path": path, "raw_path": path.encode()}

    async def receive() -> dict[str, Any]:
        return {}

    async def send(message: Any) -> None:
        return None

    def run() -> None:
        Context(app, scope, receive, send)

    return run


def linear_fn(kind: str, count: int, path: str) -> Callable[[], Any]:
    regexes = []
    for i in range(count):
        if kind == "static":
            source = rf"/api/resource{i}/list/?"
        else:
            source = rf"/api/resource{i}/(?P<id>[^/]+)/items/(?P<item>[^/]+)/?"
        regexes.append(re.compile(source, re.IGNORECASE).fullmatch)

    def run() -> Any:
        for match in regexes:
            found = match(path)
            if found is not None:
                return found.groupdict()
        return None

    assert run() is not None
    return run


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter rounds")
    args = parser.parse_args(argv)
    seconds = 0.1 if args.quick else 0.5

    print(f"python {sys.version.split()[0]}; ns per lookup, best of 5; route registered last")
    ctx_ns = per_call_ns(context_only_fn("/x"), seconds)
    print(f"(Context construction alone, included in 'dispatch': {ctx_ns:.0f} ns)\n")
    header = f"{'kind':<7} {'routes':>6} {'find':>10} {'dispatch':>10} {'linear':>10}"
    print(header)
    print("-" * len(header))
    for kind in ("static", "param"):
        for count in SIZES:
            router, path = build(kind, count)
            find_ns = per_call_ns(find_fn(router, path), seconds)
            dispatch_ns = per_call_ns(dispatch_fn(router, path), seconds)
            linear_ns = per_call_ns(linear_fn(kind, count, path), seconds)
            print(
                f"{kind:<7} {count:>6} {find_ns:>8.0f}ns {dispatch_ns:>8.0f}ns {linear_ns:>8.0f}ns"
            )


if __name__ == "__main__":
    main()
