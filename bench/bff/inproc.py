"""scallion's own CPU per fan-out, with the network and the server taken out.

``.venv/bin/python -m bench.bff.inproc [--n 20000] [--rounds 5] [--callgrind] [--cases a,b]``

The benchmark's app (``scallion_app.build``, and the YAML gateway) is called in-process
through ``App.__call__`` on uvloop, with an in-memory transport that answers each
upstream call at once with the upstream's real body. What is left is everything scallion
does per fan-out: the onion, the router, ``ctx.bff``, ``gather`` and its tasks, three
``Upstream`` calls (headers, deadline, bookkeeping), three JSON decodes and the encode of
the merged answer. Requests run one after another, without the GC cost of 128 requests
in flight. ``bare-fanout`` is the floor: the same route in a scallion
``App`` with ``asyncio.gather`` over the transport directly (no ``ctx.bff``, no
``Upstream``), so ``fanout`` minus ``bare-fanout`` is what the BFF layer costs.

Thread CPU per request, best of ``--rounds``; ``--callgrind`` counts instructions instead
(valgrind, noise-free: a run with ``--n 0`` is subtracted). Every child warms every case
up twice, so ``cached`` and ``yaml-cached`` are counted on ``response_cache`` hits (the
warm-up checks that the second answer says ``X-Cache: HIT``). The issue #5 target: a
cached hit within about plaintext + 15-20k instructions in-process, since the HTTP server
adds a fixed cost per request on top of both (``python -m bench.bff.inproc --callgrind
--n 2000 --cases plaintext,cached,yaml-cached``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench.bff.common import CACHED_PATH, FANOUT_PATH, PLAIN_PATH, SERVICES

ROOT = Path(__file__).resolve().parents[2]
BY_PORT = {18000 + i: s for i, s in enumerate(SERVICES)}


def _env() -> None:
    for port, service in BY_PORT.items():
        os.environ[service.env] = f"http://127.0.0.1:{port}"


class Instant:
    """Answers every call at once with the service's body (ends by its own timeout)."""

    enforces_timeout = True

    def __init__(self) -> None:
        from scallion.bff.transport import TransportResponse

        self.answers = {
            f"http://127.0.0.1:{port}{s.path}": TransportResponse(
                200, {"content-type": "application/json"}, s.body, 0.0001
            )
            for port, s in BY_PORT.items()
        }

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float | None,
    ) -> Any:
        return self.answers[url]

    async def aclose(self) -> None:
        return None


def _apps() -> dict[str, Any]:
    _env()
    from bench.bff import scallion_app
    from scallion.bff.gateway import load_gateway

    instant = Instant()
    apps = {
        "scallion": scallion_app.build(),
        "scallion-yaml": load_gateway(ROOT / "bench" / "bff" / "gateway.yaml"),
        "bare": _bare(instant),
    }
    _swap(instant)
    return apps


def _bare(transport: Instant) -> Any:
    """The floor: the same route in a scallion App, ``asyncio.gather`` over the transport."""
    import asyncio

    import orjson

    from scallion import App, Router

    urls = list(transport.answers)

    async def get(url: str) -> Any:
        resp = await transport.request("GET", url, {}, None, 2.0)
        return orjson.loads(resp.body)

    async def dashboard(ctx: Any) -> None:
        user, orders, recs = await asyncio.gather(get(urls[0]), get(urls[1]), get(urls[2]))
        ctx.body = {"user": user, "orders": orders, "recs": recs, "missing": []}

    app = App()
    router = Router()
    router.get("/dashboard/:id", dashboard)
    app.use(router.routes())
    return app


def _swap(transport: Instant) -> None:
    """Point every upstream instance built so far at the in-memory transport."""
    import gc

    from scallion.bff.upstream import Upstream

    for upstream in [o for o in gc.get_objects() if isinstance(o, Upstream)]:
        for instance in upstream.instances:
            instance.transport = transport


def _scope(path: str) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000"), (b"accept", b"*/*")],
        "server": ("127.0.0.1", 8000),
        "client": ("127.0.0.1", 50000),
        "state": {},
    }


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _send(message: Any) -> None:
    return None


class _Recorder:
    """An ASGI ``send`` that keeps the response start, to check a warm-up's answer."""

    def __init__(self) -> None:
        self.start: dict[str, Any] = {}

    async def __call__(self, message: Any) -> None:
        if message["type"] == "http.response.start":
            self.start = message


CASES = {
    "bare-fanout": ("bare", FANOUT_PATH),
    "fanout": ("scallion", FANOUT_PATH),
    "cached": ("scallion", CACHED_PATH),
    "plaintext": ("scallion", PLAIN_PATH),
    "yaml-fanout": ("scallion-yaml", FANOUT_PATH),
    "yaml-cached": ("scallion-yaml", CACHED_PATH),
}


async def _run(app: Any, path: str, n: int) -> float:
    scope = _scope(path)
    start = time.thread_time()
    for _ in range(n):
        await app(dict(scope, state={}), _receive, _send)
    return time.thread_time() - start


def measure(n: int, rounds: int, cases: list[str]) -> dict[str, float]:
    import uvloop

    apps = _apps()
    out: dict[str, float] = {}

    async def main() -> None:
        for name in cases:
            which, path = CASES[name]
            await _run(apps[which], path, 200)
            best = min([await _run(apps[which], path, n) for _ in range(rounds)])
            out[name] = best / n * 1e6

    uvloop.run(main())
    return out


async def _warm(app: Any, name: str, path: str) -> None:
    """Two requests; the second of a cached case must be a cache hit."""
    for _ in range(2):
        seen = _Recorder()
        await app(_scope(path), _receive, seen)
        if seen.start.get("status") != 200:
            raise SystemExit(f"{name}: answered {seen.start.get('status')}, want 200")
    if "cached" in name:
        headers = dict(seen.start["headers"])
        if headers.get(b"x-cache") != b"HIT":
            raise SystemExit(f"{name}: the warm-up's second answer is not a cache hit")


def _freeze_caches() -> None:
    """Stop the clock of every ``Cache`` built so far, so no entry expires mid-count.

    Under valgrind on a busy machine a child can outlive the 60 s TTL; a hit would turn
    into a fan-out now and then, at a time-dependent rate. A C callable stands in for
    ``time.monotonic`` (a Python one would add its own frame to every read).
    """
    import gc
    import itertools
    import time

    from scallion.bff.cache import Cache

    frozen = itertools.repeat(time.monotonic()).__next__
    for cache in [o for o in gc.get_objects() if isinstance(o, Cache)]:
        cache._clock = cache.l1._clock = frozen  # type: ignore[assignment]


def _child(case: str, n: int) -> None:
    import uvloop

    apps = _apps()
    _freeze_caches()
    which, path = CASES[case]

    async def main() -> None:
        for name, (w, p) in CASES.items():  # every child warms every case: the same start-up
            await _warm(apps[w], name, p)
        await _run(apps[which], path, n)

    uvloop.run(main())


def _child_env() -> dict[str, str]:
    # The worktree's own src/ first (the venv may carry an installed scallion), then bench.
    paths = [str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")]
    # A fixed hash seed: with a random one, start-up alone moves by a few million
    # instructions between two children (dict and set layouts), ~1k per request at n=2000.
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in paths if p),
        "PYTHONHASHSEED": "0",
    }


def callgrind(n: int, cases: list[str]) -> dict[str, float]:
    import re

    if shutil.which("valgrind") is None:
        sys.exit("valgrind is needed for --callgrind")
    total = re.compile(r"^(?:summary|totals):\s+(\d+)", re.M)
    child = [sys.executable, "-m", "bench.bff.inproc", "--child"]

    def count(case: str, reqs: int) -> int:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "cg.out"
            argv = [
                "valgrind", "--tool=callgrind", "--cache-sim=no", "--branch-sim=no",
                f"--callgrind-out-file={out}", *child, case, "--n", str(reqs),
            ]  # fmt: skip
            subprocess.run(
                argv, cwd=ROOT, env=_child_env(), capture_output=True, check=True, timeout=1800
            )
            found = total.search(out.read_text(errors="replace"))
            assert found is not None
            return int(found.group(1))

    # One native run first, so every .pyc is fresh before anything is counted (a source
    # edited since the last run would otherwise be compiled inside one counted child).
    subprocess.run(
        [*child, cases[0], "--n", "0"],
        cwd=ROOT,
        env=_child_env(),
        capture_output=True,
        check=True,
        timeout=300,
    )
    base = count(cases[0], 0)  # every child does the same start-up: one baseline serves all
    return {case: (count(case, n) - base) / n for case in cases}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bff.inproc", description=__doc__)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--callgrind", action="store_true")
    parser.add_argument("--cases", help=f"comma list of: {', '.join(CASES)} (all)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.n)
        return
    cases = [c.strip() for c in args.cases.split(",")] if args.cases else list(CASES)
    unknown = [c for c in cases if c not in CASES]
    if unknown:
        sys.exit(f"unknown cases: {', '.join(unknown)} (known: {', '.join(CASES)})")
    if args.callgrind:
        for case, instr in callgrind(args.n, cases).items():
            print(f"{case:<12} {instr:>12,.0f} instructions per request", flush=True)
        return
    for case, us in measure(args.n, args.rounds, cases).items():
        print(f"{case:<12} {us:8.1f} µs CPU per request (best of {args.rounds})")


if __name__ == "__main__":
    main()
