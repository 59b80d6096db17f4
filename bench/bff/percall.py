"""Instructions per fan-out, layer by layer, over real loopback sockets (or in-process).

``python -m bench.bff.percall [--n 1000] [--cases pyreqwest,transport,...] [--instant]``

Each case runs one fan-out (three upstream calls at once, each body parsed with orjson)
``n`` times in a child process under ``valgrind --tool=callgrind``, after 50 warm-up
fan-outs; a second child runs only the warm-up, and the difference over ``n`` is the
figure. Callgrind counts every thread of the child, so with the real client it includes
pyreqwest's tokio thread (the HTTP client in Rust) as well as the Python side; the
upstream services run in their own process, outside valgrind
(``bench.bff.upstream --latency-ms 0``: they answer at once).

The cases add one layer at a time:

- ``pyreqwest``: the floor, ``asyncio.gather`` over three bare pyreqwest calls
  (``client.request(...).build().send()``, ``await resp.bytes()``, ``orjson.loads``);
- ``transport``: the same calls through the default transport's ``request``
  (``H1Transport``, scallion's own HTTP/1.1 pool);
- ``upstream``: three ``Upstream.get_json`` calls (no request context);
- ``gather``: ``scallion.bff.gather`` over the three ``Upstream.get_json`` calls;
- ``app-bare``: a scallion ``App`` + ``Router`` route doing ``asyncio.gather`` over the
  transport (the framework around a fan-out, without the BFF layer);
- ``app``: the benchmark's gateway (``bench/bff/scallion_app.py``: ``ctx.bff.gather``
  over three ``Upstream``s, ``got.to_response(ctx)``), called through ``App.__call__``;
- ``yaml``: ``bench/bff/gateway.yaml`` compiled by ``load_gateway`` (retries with a
  budget, a breaker per instance, request ids), through ``App.__call__``.

``--instant`` swaps the client for an in-memory transport that answers at once
(``bench.bff.inproc.Instant``): what is left is scallion's own Python per fan-out.

Instruction counts are deterministic where wall-clock time on this shared machine is
not; over real sockets they move by about 0.5 % between runs (how the three answers
land in the event loop's polls varies a little). A child takes 30-60 s under valgrind.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson

from bench.bff.common import FANOUT_PATH, SERVICES, check_dashboard

ROOT = Path(__file__).resolve().parents[2]
CASES = ("pyreqwest", "transport", "upstream", "gather", "app-bare", "app", "yaml")
WARMUP = 50
_TOTAL = re.compile(r"^(?:summary|totals):\s+(\d+)", re.M)

Fanout = Callable[[], Awaitable[Any]]


def _urls() -> list[str]:
    return [os.environ[s.env] + s.path for s in SERVICES]


def _transports(instant: bool) -> list[Any]:
    if instant:
        from bench.bff.inproc import Instant

        return [Instant() for _ in SERVICES]
    from scallion.bff.transport import default_transport

    return [default_transport(max_connections=256) for _ in SERVICES]


def _upstreams(instant: bool) -> list[Any]:
    from scallion.bff.upstream import Upstream

    transports = _transports(instant) if instant else [None] * len(SERVICES)
    return [
        Upstream(s.name, os.environ[s.env], timeout=2.0, max_connections=256, transport=t)
        for s, t in zip(SERVICES, transports, strict=True)
    ]


def _floor() -> Fanout:
    """Three bare pyreqwest calls: what the client itself costs."""
    import asyncio

    import orjson
    from pyreqwest.client import ClientBuilder

    def client() -> Any:
        return (
            ClientBuilder()
            .connect_timeout(timedelta(seconds=2))
            .follow_redirects(False)
            .max_connections(256)
            .http1_only()
            .build()
        )

    pairs = [(client(), url) for url in _urls()]

    async def call(c: Any, url: str) -> Any:
        resp = await c.request("GET", url).build().send()
        return orjson.loads((await resp.bytes()).to_bytes())

    async def fanout() -> Any:
        return await asyncio.gather(*[call(c, url) for c, url in pairs])

    return fanout


def _transport(instant: bool) -> Fanout:
    import asyncio

    import orjson

    pairs = list(zip(_transports(instant), _urls(), strict=True))

    async def call(t: Any, url: str) -> Any:
        resp = await t.request("GET", url, {}, None, 2.0)
        return orjson.loads(resp.body)

    async def fanout() -> Any:
        return await asyncio.gather(*[call(t, url) for t, url in pairs])

    return fanout


def _upstream(instant: bool) -> Fanout:
    import asyncio

    pairs = [(u, s.path) for u, s in zip(_upstreams(instant), SERVICES, strict=True)]

    async def fanout() -> Any:
        return await asyncio.gather(*[u.get_json(path) for u, path in pairs])

    return fanout


def _gather(instant: bool) -> Fanout:
    from scallion.bff import gather

    pairs = [(s.part, u, s.path) for u, s in zip(_upstreams(instant), SERVICES, strict=True)]

    async def fanout() -> Any:
        return await gather({part: u.get_json(path) for part, u, path in pairs})

    return fanout


def _app_bare(instant: bool) -> Any:
    import asyncio

    import orjson

    from scallion import App, Router

    pairs = list(zip(_transports(instant), _urls(), strict=True))

    async def call(t: Any, url: str) -> Any:
        resp = await t.request("GET", url, {}, None, 2.0)
        return orjson.loads(resp.body)

    async def dashboard(ctx: Any) -> None:
        user, orders, recs = await asyncio.gather(*[call(t, url) for t, url in pairs])
        ctx.body = {"user": user, "orders": orders, "recs": recs, "missing": []}

    app = App()
    router = Router()
    router.get("/dashboard/:id", dashboard)
    app.use(router.routes())
    return app


def _through_app(app: Any) -> Fanout:
    from bench.bff.inproc import _receive, _scope

    scope = _scope(FANOUT_PATH)
    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def fanout() -> Any:
        sent.clear()
        await app(dict(scope, state={}), _receive, send)
        return sent

    return fanout


def _check(case: str, result: Any) -> None:
    """The warm-up's answers must be the merged document (a failing part is no fan-out)."""
    if case in ("app-bare", "app", "yaml"):
        start, body = result[0], b"".join(m.get("body", b"") for m in result[1:])
        headers = dict(start.get("headers", []))
        problems = check_dashboard(
            start["status"], headers.get(b"content-type", b"").decode(), body
        )
    elif case == "gather":
        problems = [] if result.complete else [repr(result.errors)]
    else:
        want = [orjson.loads(s.body) for s in SERVICES]
        problems = [] if list(result) == want else [repr(result)[:300]]
    if problems:
        raise SystemExit(f"{case}: {'; '.join(problems)}")


def build(case: str, instant: bool) -> Fanout:
    if case == "pyreqwest":
        if instant:
            raise SystemExit("pyreqwest is the real client: not an --instant case")
        return _floor()
    if case == "transport":
        return _transport(instant)
    if case == "upstream":
        return _upstream(instant)
    if case == "gather":
        return _gather(instant)
    if case == "app-bare":
        return _through_app(_app_bare(instant))
    if case in ("app", "yaml"):
        if case == "app":
            from bench.bff import scallion_app

            app = scallion_app.build()
        else:
            from scallion.bff.gateway import load_gateway

            app = load_gateway(ROOT / "bench" / "bff" / "gateway.yaml")
        if instant:
            from bench.bff.inproc import Instant, _swap

            _swap(Instant())
        return _through_app(app)
    raise SystemExit(f"unknown case {case!r}; cases: {', '.join(CASES)}")


def _child(case: str, n: int, instant: bool) -> None:
    import asyncio

    import uvloop

    async def main() -> None:
        fanout = build(case, instant)
        for _ in range(WARMUP):
            _check(case, await fanout())
        for _ in range(n):
            await fanout()
        await asyncio.sleep(0)

    uvloop.run(main())


def _child_argv(case: str, n: int, instant: bool) -> list[str]:
    argv = [sys.executable, "-m", "bench.bff.percall", "--child", case, "--n", str(n)]
    return [*argv, "--instant"] if instant else argv


def _prepare(case: str, instant: bool, env: dict[str, str]) -> None:
    """Run the case once outside valgrind: its answers are checked, and every module it
    imports is compiled to ``__pycache__`` before the two counted runs (a compile in only
    one of them would be counted as the fan-outs' work)."""
    subprocess.run(
        _child_argv(case, 0, instant),
        cwd=ROOT,
        env={**os.environ, **env},
        check=True,
        timeout=600,
    )


def _count(case: str, n: int, instant: bool, env: dict[str, str]) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "cg.out"
        argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"]
        subprocess.run(
            [*argv, *_child_argv(case, n, instant)],
            cwd=ROOT,
            env={**os.environ, **env},
            capture_output=True,
            check=True,
            timeout=3600,
        )
        found = _TOTAL.search(out.read_text(errors="replace"))
        assert found is not None
        return int(found.group(1))


def measure(cases: list[str], n: int, instant: bool) -> dict[str, float]:
    """Instructions per fan-out for each case (its own warm-up-only run subtracted)."""
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is needed (apt-get install valgrind)")
    src = str(ROOT / "src")
    env = {"PYTHONPATH": os.pathsep.join([str(ROOT), src])}
    upstreams = None
    if instant:
        env.update({s.env: f"http://127.0.0.1:{18000 + i}" for i, s in enumerate(SERVICES)})
    else:
        from bench.bff.runner import Upstreams

        upstreams = Upstreams(None, latency_ms=0)
        env.update(upstreams.env)
    try:
        out: dict[str, float] = {}
        for case in cases:
            _prepare(case, instant, env)
            base = _count(case, 0, instant, env)
            out[case] = (_count(case, n, instant, env) - base) / n
            print(f"{case:<10} {out[case]:>10,.0f} instructions per fan-out", flush=True)
        return out
    finally:
        if upstreams is not None:
            upstreams.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bff.percall", description=__doc__)
    parser.add_argument("--n", type=int, default=1000, help="fan-outs per child (default 1000)")
    parser.add_argument("--cases", default=",".join(CASES), help="comma list (default: all)")
    parser.add_argument("--instant", action="store_true", help="in-memory transport, no sockets")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.n, args.instant)
        return
    cases = [c for c in args.cases.split(",") if c]
    if args.instant and "pyreqwest" in cases:
        cases.remove("pyreqwest")
    measure(cases, args.n, args.instant)


if __name__ == "__main__":
    main()
