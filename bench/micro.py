"""Micro-benchmarks of scallion's per-request costs, in nanoseconds, without a server.

Run: ``python -m bench micro`` or ``.venv/bin/python bench/micro.py`` (``--quick``: fewer
iterations; ``--json FILE``: also write the numbers).

Every figure is the best of several repeats of a tight loop timed with
``time.perf_counter_ns`` and the garbage collector off (as ``timeit`` does): the minimum is
the run least disturbed by the rest of a noisy machine. Coroutines are driven by hand with
``coro.send(None)``, so no event loop cost is included: what is measured is scallion's own
Python, and nothing suspends (the ASGI ``send`` below never waits).

Sections:

* **compose**: a chain of N trivial layers ``async def mw(ctx, next): await next()``
  built with ``scallion.compose.compose``, for N = 1, 10, 50: ns per chain call, ns per
  layer, and the same chain written as plain nested coroutines (the floor CPython allows).
* **context**: ``Context(app, scope, receive, send)`` for a typical GET scope.
* **body**: the body rules for a str, bytes and dict body: assign ``res.body``, encode it
  and build the raw ASGI header list.
* **request**: one whole in-process request through ``App.__call__`` for the benchmark's
  own apps (plaintext, json, mw10, router100, express): the sum of everything above.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from collections.abc import Callable, Coroutine, MutableMapping
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scallion import App
from scallion.compose import compose
from scallion.context import Context
from scallion.response import Response

LAYERS = (1, 10, 50)


def best_ns(fn: Callable[[], None], number: int, repeat: int) -> float:
    """Best-of-``repeat`` nanoseconds per call of ``fn`` over ``number`` calls."""
    fn()  # warm caches, specialise bytecode
    enabled = gc.isenabled()
    gc.disable()
    try:
        best = float("inf")
        loops = range(number)
        for _ in range(repeat):
            start = time.perf_counter_ns()
            for _ in loops:
                fn()
            best = min(best, (time.perf_counter_ns() - start) / number)
        return best
    finally:
        if enabled:
            gc.enable()


def drive(coro: Coroutine[Any, Any, Any]) -> None:
    """Run a coroutine that never suspends to completion, without an event loop."""
    try:
        coro.send(None)
    except StopIteration:
        return
    coro.close()
    raise RuntimeError("the coroutine suspended; the micro-benchmark needs one that does not")


# -- compose --------------------------------------------------------------------------------


class MiniCtx:
    __slots__ = ("hits",)

    def __init__(self) -> None:
        self.hits = 0


async def layer(ctx: Any, next: Callable[[], Any]) -> None:
    await next()


def plain_chain(n: int) -> Callable[[Any], Coroutine[Any, Any, None]]:
    """N nested coroutines without compose: the least a Python onion can cost."""

    async def bottom(ctx: Any) -> None:
        return None

    fn = bottom
    for _ in range(n):

        def wrap(inner: Callable[[Any], Coroutine[Any, Any, None]]) -> Any:
            async def outer(ctx: Any) -> None:
                await inner(ctx)

            return outer

        fn = wrap(fn)
    return fn


def bench_compose(number: int, repeat: int) -> list[dict[str, Any]]:
    rows = []
    ctx = MiniCtx()
    for n in LAYERS:
        composed = compose([layer] * n)
        plain = plain_chain(n)
        t_compose = best_ns(lambda c=composed: drive(c(ctx)), number, repeat)  # type: ignore[misc]
        t_plain = best_ns(lambda p=plain: drive(p(ctx)), number, repeat)  # type: ignore[misc]
        rows.append(
            {
                "layers": n,
                "compose_ns": t_compose,
                "compose_ns_per_layer": t_compose / n,
                "plain_ns": t_plain,
                "plain_ns_per_layer": t_plain / n,
            }
        )
    return rows


# -- context / body -------------------------------------------------------------------------


def typical_scope() -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"host", b"127.0.0.1:8000"),
            (b"user-agent", b"wrk"),
            (b"accept", b"*/*"),
            (b"accept-encoding", b"gzip, deflate"),
            (b"connection", b"keep-alive"),
        ],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: MutableMapping[str, Any]) -> None:
    return None


def bench_context(number: int, repeat: int) -> dict[str, float]:
    app = App()
    scope = typical_scope()

    def make() -> None:
        Context(app, scope, _receive, _send)

    return {"context_ns": best_ns(make, number, repeat)}


BODIES: dict[str, Any] = {
    "str": "Hello, World!",
    "bytes": b"Hello, World!",
    "dict": {"message": "Hello, World!"},
}


def bench_body(number: int, repeat: int) -> dict[str, float]:
    out = {}
    for kind, value in BODIES.items():

        def run(value: Any = value) -> None:
            res = Response()
            res.body = value
            res.encoded()
            res.raw_headers()

        out[f"{kind}_ns"] = best_ns(run, number, repeat)
    return out


# -- whole requests -------------------------------------------------------------------------


def bench_requests(number: int, repeat: int) -> dict[str, float]:
    from bench.apps import scallion_app as apps
    from bench.apps.common import ROUTE_PATH

    cases = {
        "plaintext": (apps.base, "/"),
        "json": (apps.base, "/json"),
        "error": (apps.base, "/error"),
        "mw10": (apps.mw10, "/"),
        "router100": (apps.router100, ROUTE_PATH),
        "express-plaintext": (apps.express, "/"),
        "express-mw10": (apps.express_mw10, "/"),
    }
    out = {}
    for name, (app, path) in cases.items():
        scope = typical_scope()
        scope["path"] = path
        scope["raw_path"] = path.encode()
        sent: list[MutableMapping[str, Any]] = []

        async def send(
            message: MutableMapping[str, Any], sent: list[MutableMapping[str, Any]] = sent
        ) -> None:
            sent.append(message)

        drive(app(dict(scope, state={}), _receive, send))
        status = sent[0]["status"]
        if status != (404 if name == "error" else 200):
            raise RuntimeError(f"{name}: {path} answered {status}")

        def run(
            app: Any = app, scope: dict[str, Any] = scope, send: Any = send, sent: Any = sent
        ) -> None:
            sent.clear()
            drive(app(dict(scope, state={}), _receive, send))

        out[f"{name}_ns"] = best_ns(run, number, repeat)
    return out


# -- main -----------------------------------------------------------------------------------


def report(results: dict[str, Any]) -> str:
    lines = ["compose (N trivial layers, driven without an event loop)"]
    lines.append(
        f"  {'layers':>6}  {'compose ns':>11}  {'ns/layer':>9}  {'plain ns':>9}  {'ns/layer':>9}"
    )
    for r in results["compose"]:
        lines.append(
            f"  {r['layers']:>6}  {r['compose_ns']:>11.0f}  {r['compose_ns_per_layer']:>9.1f}"
            f"  {r['plain_ns']:>9.0f}  {r['plain_ns_per_layer']:>9.1f}"
        )
    lines.append(f"Context creation: {results['context']['context_ns']:.0f} ns")
    lines.append("body rules (assign + encode + raw headers)")
    lines += [f"  {k.removesuffix('_ns'):<6} {v:>7.0f} ns" for k, v in results["body"].items()]
    lines.append("whole in-process request through App.__call__ (bench/apps/scallion_app.py)")
    lines += [f"  {k.removesuffix('_ns'):<18} {v:>8.0f} ns" for k, v in results["requests"].items()]
    return "\n".join(lines)


def main(quick: bool = False, json_out: str | None = None) -> int:
    scale = 0.2 if quick else 1.0
    repeat = 5 if quick else 9

    def n(base: int) -> int:
        return max(100, int(base * scale))

    results = {
        "python": sys.version.split()[0],
        "compose": bench_compose(n(20_000), repeat),
        "context": bench_context(n(100_000), repeat),
        "body": bench_body(n(100_000), repeat),
        "requests": bench_requests(n(10_000), repeat),
    }
    print(report(results))
    if json_out:
        Path(json_out).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    parser.add_argument("--json", dest="json_out", help="also write the results to this file")
    args = parser.parse_args()
    sys.exit(main(quick=args.quick, json_out=args.json_out))
