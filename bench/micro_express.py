"""Micro-benchmark of the Express layer: nanoseconds per request, in-process, no server.

Run: ``.venv/bin/python -m bench.micro_express`` (or ``python bench/micro_express.py``).

Two views:

* **direct**: ``await ex(ctx, next)`` on a fresh scallion ``Context`` per request, for an
  Express stack of 0 and 10 pass-through layers plus a route, next to the same shape
  written as onion middleware (``compose``) for reference. This is the Express layer's
  own cost, with only the Context construction around it.
* **asgi**: a whole ``App`` called as ASGI (scope in, messages out, no sockets) for
  scallion's plain Router route and for the same answer through the Express layer with
  0 and 10 layers. The ratios are what the HTTP ``express`` scenario measures, minus the
  server's share (which only brings them closer to 1).

Times are process CPU time (``time.process_time_ns``), so other processes competing for
the CPU inflate them far less than wall-clock time; each figure is the best of
``--repeat`` interleaved rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from scallion import App, compose
from scallion.context import Context
from scallion.express import Express, ExpressRequest, ExpressResponse, NextFunction
from scallion.router import Router

HELLO = "Hello, World!"
LAYERS = 10


def _scope(path: str = "/") -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench"), (b"accept", b"*/*")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: Any) -> None:
    return None


async def _end() -> None:
    return None


# -- the stacks ---------------------------------------------------------------------------


def ex_layer(req: ExpressRequest, res: ExpressResponse, next: NextFunction) -> None:
    locals_ = res.locals
    locals_["depth"] = locals_.get("depth", 0) + 1
    next()


def ex_hello(req: ExpressRequest, res: ExpressResponse) -> None:
    res.type("text/plain").send(HELLO)


def express_stack(layers: int) -> Express:
    ex = Express()
    for _ in range(layers):
        ex.use(ex_layer)
    ex.get("/", ex_hello)
    return ex


async def onion_layer(ctx: Any, next: Callable[[], Awaitable[Any]]) -> None:
    state = ctx.state
    state.depth = getattr(state, "depth", 0) + 1
    await next()


def onion_stack(layers: int) -> Any:
    router = Router()

    @router.get("/")
    async def hello(ctx: Any) -> None:
        ctx.type = "text/plain"
        ctx.body = HELLO

    return compose([*([onion_layer] * layers), router.routes()])


def plain_app() -> App:
    router = Router()

    @router.get("/")
    async def plaintext(ctx: Any) -> None:
        ctx.body = HELLO

    return App().use(router.routes()).use(router.allowed_methods())


def express_app(layers: int) -> App:
    return App().use(express_stack(layers))


# -- timing -------------------------------------------------------------------------------


async def _time_direct(mw: Any, app: App, n: int) -> float:
    scope = _scope()
    start = time.process_time_ns()
    for _ in range(n):
        ctx = Context(app, dict(scope), _receive, _send)
        await mw(ctx, _end)
    return (time.process_time_ns() - start) / n


async def _time_asgi(app: App, n: int) -> float:
    scope = _scope()
    start = time.process_time_ns()
    for _ in range(n):
        await app(dict(scope), _receive, _send)
    return (time.process_time_ns() - start) / n


_Timer = Callable[[], Awaitable[float]]


async def _interleaved(cands: dict[str, _Timer], repeat: int) -> dict[str, float]:
    """Run every candidate once per round, ``repeat`` rounds, keeping each one's best.

    Interleaving spreads background load evenly over the candidates, and the minimum is
    the run least disturbed by it.
    """
    best = dict.fromkeys(cands, float("inf"))
    for _ in range(repeat):
        for name, fn in cands.items():
            best[name] = min(best[name], await fn())
    return best


async def main(n: int, repeat: int) -> None:
    app = App()
    direct = {
        "express 0 layers + route": express_stack(0),
        f"express {LAYERS} layers + route": express_stack(LAYERS),
        "onion   0 layers + router": onion_stack(0),
        f"onion   {LAYERS} layers + router": onion_stack(LAYERS),
    }
    runs: dict[str, _Timer] = {}
    for name, mw in direct.items():
        await _time_direct(mw, app, 1000)  # warm up

        async def run(mw: Any = mw) -> float:
            return await _time_direct(mw, app, n)

        runs[name] = run
    print(f"direct: ns per request ({n} requests, best of {repeat}), fresh Context each")
    for name, ns in (await _interleaved(runs, repeat)).items():
        print(f"  {name:32s} {ns:9.0f} ns")

    apps = {
        "plain router route": plain_app(),
        "express plaintext": express_app(0),
        f"express mw{LAYERS}": express_app(LAYERS),
    }
    runs = {}
    for name, asgi in apps.items():
        await _time_asgi(asgi, 1000)

        async def run_app(asgi: App = asgi) -> float:
            return await _time_asgi(asgi, n)

        runs[name] = run_app
    results = await _interleaved(runs, repeat)
    base = results["plain router route"]
    print(f"asgi: ns per request through App.__call__ ({n} requests, best of {repeat})")
    for name, ns in results.items():
        print(f"  {name:32s} {ns:9.0f} ns   throughput ratio to plain {base / ns:5.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=2000, help="requests per timing run")
    parser.add_argument("--repeat", type=int, default=30, help="runs; the best is reported")
    args = parser.parse_args()
    asyncio.run(main(args.n, args.repeat))
