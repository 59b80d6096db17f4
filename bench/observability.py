"""What observability adds to one request, in nanoseconds, without a server.

Run: ``.venv/bin/python bench/observability.py`` (``--quick``: fewer iterations), or with
``--instr`` to count instructions under valgrind's callgrind instead: noise-free on a busy
machine. Each case runs in two children, one doing ``--n`` requests and one ``2 * --n``,
with ``PYTHONHASHSEED=0``; the difference divided by ``--n`` is the per-request count with
the start-up (imports, app building, warm-up) cancelled exactly.

Each case is the same app (a Router with ``GET /users/:id`` answering a small dict)
with one observability middleware in front; the figure is ns of this process's CPU time
(``time.process_time_ns``: other processes on a busy machine do not count) per in-process
request through ``App.__call__`` (best of several repeats, GC off, coroutines driven by
hand as in ``bench/micro.py``), and the difference to the bare app is the middleware's
cost. ``passthrough`` is an empty ``await next()`` layer: the floor for any middleware.

``metrics-native`` is the same counting done with prometheus-client's own ``Counter`` /
``Histogram`` / ``Gauge`` objects (cached label children), the design ``metrics()`` does
not use: it shows why counts are kept in plain integers and exported by a collector.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``bench`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.micro import _receive, _send, drive, typical_scope
from scallion import App, Router
from scallion.context import Context
from scallion.observability import metrics, status_page, tracing
from scallion.types import Middleware, Next


def app_with(*middleware: Middleware) -> App:
    app = App()
    router = Router()

    @router.get("/users/:id")
    async def user(ctx: Context) -> None:
        ctx.body = {"id": ctx.params["id"]}

    app.use(*middleware, router.routes())
    return app


async def passthrough(ctx: Context, next: Next) -> None:
    await next()


def cpu_ns(fn: Callable[[], None], number: int, repeat: int) -> float:
    """Best-of-``repeat`` CPU nanoseconds per call of ``fn`` over ``number`` calls."""
    fn()
    enabled = gc.isenabled()
    gc.disable()
    try:
        best = float("inf")
        for _ in range(repeat):
            start = time.process_time_ns()
            for _ in range(number):
                fn()
            best = min(best, (time.process_time_ns() - start) / number)
        return best
    finally:
        if enabled:
            gc.enable()


def native_metrics() -> Middleware:
    """prometheus-client's own metric objects, label children cached per series."""
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

    registry = CollectorRegistry()
    labels = ("method", "route", "status")
    requests = Counter("requests", "", labels, registry=registry)
    duration = Histogram("duration_seconds", "", labels, registry=registry)
    in_flight = Gauge("in_flight", "", registry=registry)
    children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def mw(ctx: Context, next: Next) -> None:
        in_flight.inc()
        start = time.perf_counter()
        try:
            await next()
        finally:
            in_flight.dec()
        key = (ctx.method, ctx.router_path or "unmatched", ctx.response.status)
        child = children.get(key)
        if child is None:
            names = (key[0], key[1], str(key[2]))
            child = children[key] = (requests.labels(*names), duration.labels(*names))
        child[0].inc()
        child[1].observe(time.perf_counter() - start)

    return mw


def sdk_provider() -> Any:
    """An SDK provider that records every span and exports nowhere (the span work only)."""
    from opentelemetry.sdk.trace import TracerProvider

    return TracerProvider()


CASES: dict[str, Callable[[], App]] = {
    "bare": lambda: app_with(),
    "passthrough": lambda: app_with(passthrough),
    "metrics": lambda: app_with(metrics()),
    "metrics-native": lambda: app_with(native_metrics()),
    "status_page": lambda: app_with(status_page()),
    "tracing-noop": lambda: app_with(tracing()),
    "tracing-sdk": lambda: app_with(tracing(sdk_provider())),
    "all-three-sdk": lambda: app_with(metrics(), status_page(), tracing(sdk_provider())),
}


def _scope() -> dict[str, Any]:
    scope = typical_scope()
    scope["path"] = "/users/42"
    scope["raw_path"] = b"/users/42"
    return scope


def _child(case: str, n: int) -> None:
    """Build and warm every case (the same start-up for all), then run ``case`` n times."""
    scope = _scope()
    apps = {name: build() for name, build in CASES.items()}
    for app in apps.values():
        for _ in range(3):
            drive(app(dict(scope), _receive, _send))
    app = apps[case]
    for _ in range(n):
        drive(app(dict(scope), _receive, _send))


_TOTAL = re.compile(r"^(?:summary|totals):\s+(\d+)", re.M)


def _count(case: str, n: int, tmp: Path) -> int:
    out = tmp / f"callgrind.{case}.{n}.out"
    argv = [
        "valgrind", "--tool=callgrind", "--cache-sim=no", "--branch-sim=no",
        f"--callgrind-out-file={out}", sys.executable, str(Path(__file__).resolve()),
        "--child", case, str(n),
    ]  # fmt: skip
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    done = subprocess.run(argv, capture_output=True, text=True, timeout=1800, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"callgrind run of {case} failed:\n{done.stderr[-2000:]}")
    match = _TOTAL.search(out.read_text())
    if match is None:
        raise RuntimeError(f"no instruction total in {out}")
    return int(match.group(1))


def instr(n: int, cases: list[str] | None = None) -> int:
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (Debian/Ubuntu: apt-get install -y valgrind)")
        return 2
    print(f"instructions per in-process request (callgrind, {n} requests minus a baseline)")
    print(f"{'case':<16} {'instr/request':>13} {'added':>9}")
    with tempfile.TemporaryDirectory(prefix="scallion-obs-instr-") as name:
        bare = 0.0
        for case in cases or list(CASES):
            per = (_count(case, 2 * n, Path(name)) - _count(case, n, Path(name))) / n
            bare = bare or per
            print(f"{case:<16} {per:>13,.0f} {per - bare:>9,.0f}", flush=True)
    return 0


def main(quick: bool = False) -> int:
    number, repeat = (2_000, 3) if quick else (20_000, 7)
    scope = _scope()
    results: dict[str, float] = {}
    for name, build in CASES.items():
        app = build()

        def one(app: App = app) -> None:
            drive(app(dict(scope), _receive, _send))

        results[name] = cpu_ns(one, number, repeat)
    bare = results["bare"]
    print(f"{'case':<16} {'CPU ns/request':>14} {'added ns':>9}")
    for name, ns in results.items():
        print(f"{name:<16} {ns:>14.0f} {ns - bare:>9.0f}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    parser.add_argument("--instr", action="store_true", help="count instructions (callgrind)")
    parser.add_argument("--n", type=int, default=2000, help="requests per case with --instr")
    parser.add_argument("--cases", help=f"with --instr: a comma list of {', '.join(CASES)}")
    parser.add_argument("--child", nargs=2, metavar=("CASE", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], int(args.child[1]))
        sys.exit(0)
    chosen = args.cases.split(",") if args.cases else None
    sys.exit(instr(args.n, chosen) if args.instr else main(quick=args.quick))
