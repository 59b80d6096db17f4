"""scallion's own CPU per fan-out, with the network and the server taken out.

``.venv/bin/python -m bench.bff.inproc [--n 20000] [--rounds 5] [--callgrind]``

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
(valgrind, noise-free: a run with ``--n 0`` is subtracted).
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
        await app(dict(scope), _receive, _send)
    return time.thread_time() - start


def measure(n: int, rounds: int) -> dict[str, float]:
    import uvloop

    apps = _apps()
    out: dict[str, float] = {}

    async def main() -> None:
        for name, (which, path) in CASES.items():
            await _run(apps[which], path, 200)
            best = min([await _run(apps[which], path, n) for _ in range(rounds)])
            out[name] = best / n * 1e6

    uvloop.run(main())
    return out


def _child(case: str, n: int) -> None:
    import uvloop

    apps = _apps()
    which, path = CASES[case]

    async def main() -> None:
        for w, p in CASES.values():  # every child warms every case up: the same start-up
            await _run(apps[w], p, 1)
        await _run(apps[which], path, n)

    uvloop.run(main())


def callgrind(n: int) -> dict[str, float]:
    import re

    if shutil.which("valgrind") is None:
        sys.exit("valgrind is needed for --callgrind")
    total = re.compile(r"^(?:summary|totals):\s+(\d+)", re.M)

    def count(case: str, reqs: int) -> int:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "cg.out"
            argv = [
                "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                sys.executable, "-m", "bench.bff.inproc", "--child", case, "--n", str(reqs),
            ]  # fmt: skip
            subprocess.run(
                argv,
                cwd=ROOT,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
                capture_output=True,
                check=True,
                timeout=1800,
            )
            found = total.search(out.read_text(errors="replace"))
            assert found is not None
            return int(found.group(1))

    base = count("fanout", 0)
    return {case: (count(case, n) - base) / n for case in CASES}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bff.inproc", description=__doc__)
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--callgrind", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.n)
        return
    if args.callgrind:
        for case, instr in callgrind(args.n).items():
            print(f"{case:<12} {instr:>12,.0f} instructions per request")
        return
    for case, us in measure(args.n, args.rounds).items():
        print(f"{case:<12} {us:8.1f} µs CPU per request (best of {args.rounds})")


if __name__ == "__main__":
    main()
