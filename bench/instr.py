"""Instructions per in-process request, counted by valgrind's callgrind: the noise-free gauge.

Run: ``python -m bench instr`` (``--n``: requests per case, ``--cases``: a comma list).

Wall-clock numbers on a shared 2-core machine swing by tens of percent; the number of
instructions CPython executes for one request does not. For each case a child process
runs ``n`` in-process requests through ``App.__call__`` (driven with ``coro.send(None)``,
as in micro.py) under ``valgrind --tool=callgrind``; a baseline child does everything but
those requests (imports, app building, one warm-up request). The difference divided by
``n`` is the per-request instruction count, startup excluded. Under valgrind Python runs
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
CASES = ("plaintext", "json", "error", "mw10", "router100", "express-plaintext", "express-mw10")
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


def main(n: int = 2000, cases: list[str] | None = None) -> int:
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (Debian/Ubuntu: apt-get install -y valgrind)")
        return 2
    chosen = cases or list(CASES)
    print(f"instructions per in-process request (callgrind, {n} requests minus a baseline)")
    with tempfile.TemporaryDirectory(prefix="scallion-instr-") as name:
        tmp = Path(name)
        base = count(chosen[0], 0, tmp)
        for case in chosen:
            total = count(case, n, tmp)
            print(f"  {case:<18} {(total - base) / n:>10,.0f} instructions", flush=True)
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
