"""Instructions per in-process request, counted by valgrind's callgrind: the noise-free gauge.

Run: ``python -m bench instr`` (``--n``: requests per case, ``--cases``: a comma list).

Wall-clock numbers on a shared 2-core machine swing by tens of percent; the number of
instructions CPython executes for one request does not. For each case a child process
runs ``n`` in-process requests through ``App.__call__`` (driven with ``coro.send(None)``,
as in micro.py) under ``valgrind --tool=callgrind``; a baseline child, run just before it,
does everything but those requests (imports, app building, one warm-up request of every
case). The difference divided by ``n`` is the per-request instruction count, start-up
excluded. Under valgrind Python runs
some 50 times slower: each child takes 10-20 s, the whole set a few minutes.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CASES = (
    "plaintext", "json", "error", "mw10", "router100", "express-plaintext", "express-mw10",
    "raw-plaintext", "raw-mw10", "starlette-plaintext", "starlette-mw10",
)  # fmt: skip
_TOTAL = re.compile(r"^(?:summary|totals):\s+(\d+)", re.M)


def _child(case: str, n: int) -> None:
    """Build the apps, warm every case up once, then run ``case`` ``n`` times (``n`` may be 0).

    Every child does the same start-up work, so one baseline (``n`` = 0) serves all cases.
    """
    sys.path.insert(0, str(ROOT))
    from bench.micro import _receive, drive, typical_scope

    sent: list[Any] = []

    async def send(message: Any) -> None:
        sent.append(message)

    scopes = {}
    for name, (app, path) in _cases().items():
        scope = typical_scope()
        scope["path"] = path
        scope["raw_path"] = path.encode()
        scopes[name] = (app, scope)
        sent.clear()
        drive(app(dict(scope, state={}), _receive, send))
        want = 404 if name == "error" else 200
        if sent[0]["status"] != want:
            raise SystemExit(f"{name}: answered {sent[0]['status']}, want {want}")
    app, scope = scopes[case]
    for _ in range(n):
        sent.clear()
        drive(app(dict(scope, state={}), _receive, send))


def _cases() -> dict[str, tuple[Any, str]]:
    from bench.apps import raw_asgi, starlette_app
    from bench.apps import scallion_app as apps
    from bench.apps.common import ROUTE_PATH

    return {
        "plaintext": (apps.base, "/"),
        "json": (apps.base, "/json"),
        "error": (apps.base, "/error"),
        "mw10": (apps.mw10, "/"),
        "router100": (apps.router100, ROUTE_PATH),
        "express-plaintext": (apps.express, "/"),
        "express-mw10": (apps.express_mw10, "/"),
        # The hand-written ASGI callables: what the same request costs with no framework.
        "raw-plaintext": (raw_asgi.base, "/"),
        "raw-mw10": (raw_asgi.mw10, "/"),
        # The nearest Python peer, the same request through its own routing/middleware.
        "starlette-plaintext": (starlette_app.base, "/"),
        "starlette-mw10": (starlette_app.mw10, "/"),
    }


def count(case: str, n: int, tmp: Path) -> int:
    """Total instructions of one child process under callgrind."""
    out = tmp / f"callgrind.{case}.{n}.out"
    argv = [
        "valgrind", "--tool=callgrind", "--cache-sim=no", "--branch-sim=no",
        f"--callgrind-out-file={out}", sys.executable, str(Path(__file__).resolve()),
        "--child", case, str(n),
    ]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=900, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"callgrind run of {case} failed:\n{done.stderr[-2000:]}")
    match = _TOTAL.search(out.read_text())
    if match is None:
        raise RuntimeError(f"no instruction total in {out}")
    return int(match.group(1))


def _compile_first(case: str) -> None:
    """Run the child once natively so every ``.pyc`` is fresh before anything is counted.

    Otherwise a source file edited since the last run is compiled inside whichever
    counted child imports it first, and millions of compile instructions land in one
    side of the difference.
    """
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", case, "0"]
    subprocess.run(argv, check=True, capture_output=True, timeout=300, cwd=ROOT)


def main(n: int = 2000, cases: list[str] | None = None) -> int:
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (Debian/Ubuntu: apt-get install -y valgrind)")
        return 2
    chosen = cases or list(CASES)
    print(f"instructions per in-process request (callgrind, {n} requests minus a baseline)")
    with tempfile.TemporaryDirectory(prefix="scallion-instr-") as name:
        tmp = Path(name)
        previous: int | None = None
        for case in chosen:
            # Baseline and case run back to back, so an edit to the code under test between
            # cases cannot pair one version's start-up with another's.
            _compile_first(case)
            base = count(case, 0, tmp)
            total = count(case, n, tmp)
            note = ""
            if previous is not None and abs(base - previous) > previous * 0.01:
                note = "  (start-up changed since the previous case: code edited meanwhile?)"
            previous = base
            print(f"  {case:<18} {(total - base) / n:>10,.0f} instructions{note}", flush=True)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--child", nargs=2, metavar=("CASE", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--n", type=int, default=2000, help="requests per case (2000)")
    parser.add_argument("--cases", help=f"comma list of: {', '.join(CASES)}")
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], int(args.child[1]))
        sys.exit(0)
    sys.exit(main(args.n, args.cases.split(",") if args.cases else None))
