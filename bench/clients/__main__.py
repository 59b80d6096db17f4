"""Choose scallion's upstream HTTP client by measurement.

``.venv/bin/python -m bench.clients [--rounds 3] [--only aiohttp,pyreqwest]``

Starts local upstreams in two child processes (raw asyncio + uvloop: three ports answering
at once, three answering after 20/30/40 ms), then, on one uvloop event loop, measures every
candidate client in interleaved rounds (the order rotates each round, so background load
hits everyone alike):

- ``seq``: sequential calls, wall and CPU microseconds per call;
- ``c128``: 128 concurrent callers, calls per second and CPU microseconds per call;
- ``fan0``: 128 concurrent 3-way fan-outs (``asyncio.gather`` of 3 calls to 3 hosts)
  against instant upstreams, fan-outs per second;
- ``fan40``: the same against 20/30/40 ms upstreams (the BFF target scenario; the ceiling
  is 128 / 0.040 s = 3,200 fan-outs/s), fan-outs per second and CPU per fan-out.

CPU is ``time.process_time()`` of the whole process, so a Rust client's runtime threads
count. Medians over rounds are printed and written to ``bench/results/clients-<date>.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from pathlib import Path

from .candidates import ALL, Candidate, version

CONCURRENCY = 128
RESULTS = Path(__file__).resolve().parent.parent / "results"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_upstream(listen: list[str]) -> subprocess.Popen[str]:
    args = [sys.executable, "-m", "bench.clients.upstream"]
    for item in listen:
        args += ["--listen", item]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("ready"):
        proc.kill()
        raise RuntimeError(f"upstream did not start: {line!r}")
    return proc


async def run_seq(client: Candidate, url: str, n: int) -> dict[str, float]:
    get = client.get
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(n):
        if await get(url) != 200:
            raise RuntimeError("bad status")
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return {"seq_us": wall / n * 1e6, "seq_cpu_us": cpu / n * 1e6}


async def run_workers(
    total: int, concurrency: int, one: Callable[[], Awaitable[None]], budget: float
) -> tuple[int, float, int]:
    """Run ``total`` calls of ``one`` on ``concurrency`` workers, stopping early after
    ``budget`` seconds; returns (calls done, wall seconds, errors)."""
    left = total
    done = errors = 0
    stop_at = time.perf_counter() + budget

    async def worker() -> None:
        nonlocal left, done, errors
        while left > 0 and time.perf_counter() < stop_at:
            left -= 1
            try:
                await one()
                done += 1
            except Exception:
                errors += 1

    wall0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done, time.perf_counter() - wall0, errors


async def run_conc(client: Candidate, url: str, n: int, budget: float) -> dict[str, float]:
    get = client.get

    async def one() -> None:
        if await get(url) != 200:
            raise RuntimeError("bad status")

    cpu0 = time.process_time()
    done, wall, errors = await run_workers(n, CONCURRENCY, one, budget)
    cpu = time.process_time() - cpu0
    return {"c128_rps": done / wall, "c128_cpu_us": cpu / max(done, 1) * 1e6, "errors": errors}


async def run_fanout(
    client: Candidate, urls: list[str], n: int, key: str, budget: float
) -> dict[str, float]:
    get = client.get
    a, b, c = urls

    async def one() -> None:
        statuses = await asyncio.gather(get(a), get(b), get(c))
        if statuses != [200, 200, 200]:
            raise RuntimeError(f"bad statuses {statuses}")

    cpu0 = time.process_time()
    done, wall, errors = await run_workers(n, CONCURRENCY, one, budget)
    cpu = time.process_time() - cpu0
    return {
        f"{key}_rps": done / wall,
        f"{key}_cpu_us": cpu / max(done, 1) * 1e6,
        "errors": errors,
    }


async def measure(
    name: str, fast: list[str], slow: list[str], args: argparse.Namespace
) -> dict[str, float]:
    client: Candidate = ALL[name]()
    try:
        # warm up: open the pools to every host and let lazy imports/JITs settle
        for url in fast + slow:
            await client.get(url)
        budget = args.budget
        await run_conc(client, fast[0], 512, budget)
        await run_fanout(client, slow, CONCURRENCY, "warm", budget)
        result: dict[str, float] = {}
        result |= await run_seq(client, fast[0], args.seq)
        errors = 0.0
        for part in (
            await run_conc(client, fast[0], args.calls, budget),
            await run_fanout(client, fast, args.fanouts, "fan0", budget),
            await run_fanout(client, slow, args.slow_fanouts, "fan40", budget),
        ):
            errors += part.pop("errors")
            result |= part
        result["errors"] = errors
        return result
    finally:
        await client.aclose()


COLUMNS = [
    ("seq_us", "seq µs/call", "{:.0f}"),
    ("seq_cpu_us", "seq CPU µs/call", "{:.0f}"),
    ("c128_rps", "c128 calls/s", "{:,.0f}"),
    ("c128_cpu_us", "c128 CPU µs/call", "{:.0f}"),
    ("fan0_rps", "fan-out/s (0 ms)", "{:,.0f}"),
    ("fan0_cpu_us", "CPU µs/fan-out (0 ms)", "{:.0f}"),
    ("fan40_rps", "fan-out/s (20/30/40 ms, max 3,200)", "{:,.0f}"),
    ("fan40_cpu_us", "CPU µs/fan-out (20/30/40 ms)", "{:.0f}"),
    ("errors", "errors", "{:.0f}"),
]


def table(medians: dict[str, dict[str, float]], baseline: str) -> str:
    head = ["client", "version", *(label for _, label, _ in COLUMNS)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, row in medians.items():
        cells = [name, version(ALL[name].dist)]
        cells += [fmt.format(row[key]) if key in row else "error" for key, _, fmt in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    if baseline in medians:
        lines += ["", f"Ratios to {baseline} (throughput: higher is better; CPU: lower is better):"]
        lines += [""]
        ratio_cols = [c for c in COLUMNS if c[0] != "errors"]
        lines += ["| client | " + " | ".join(label for _, label, _ in ratio_cols) + " |"]
        lines += ["|" + "---|" * (len(ratio_cols) + 1)]
        base = medians[baseline]
        for name, row in medians.items():
            cells = [name]
            for key, _, _ in ratio_cols:
                ok = key in row and key in base and base[key]
                cells.append(f"{row[key] / base[key]:.2f}x" if ok else "—")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> dict[str, list[dict[str, float]]]:
    names = [n.strip() for n in args.only.split(",")] if args.only else list(ALL)
    fast_ports = [free_port() for _ in range(3)]
    slow_ports = [free_port() for _ in range(3)]
    procs = [
        start_upstream([str(p) for p in fast_ports]),
        start_upstream([f"{p}:{d}" for p, d in zip(slow_ports, (20, 30, 40), strict=True)]),
    ]
    fast = [f"http://127.0.0.1:{p}/users/42" for p in fast_ports]
    slow = [f"http://127.0.0.1:{p}/users/42" for p in slow_ports]
    runs: dict[str, list[dict[str, float]]] = {n: [] for n in names}
    try:
        for rnd in range(args.rounds):
            order = names[rnd % len(names) :] + names[: rnd % len(names)]
            for name in order:
                try:
                    res = await measure(name, fast, slow, args)
                except Exception as exc:  # a failing client is a result, not a crash
                    print(f"  round {rnd + 1} {name}: ERROR {exc!r}", flush=True)
                    if args.verbose:
                        traceback.print_exc()
                    continue
                runs[name].append(res)
                print(
                    f"  round {rnd + 1} {name:10s} seq {res['seq_us']:6.0f} µs  "
                    f"c128 {res['c128_rps']:7,.0f}/s  fan0 {res['fan0_rps']:6,.0f}/s  "
                    f"fan40 {res['fan40_rps']:6,.0f}/s ({res['fan40_cpu_us']:.0f} µs CPU)  "
                    f"errors {res['errors']:.0f}",
                    flush=True,
                )
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.clients")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seq", type=int, default=2000, help="sequential calls")
    parser.add_argument("--calls", type=int, default=6000, help="calls at 128 concurrency")
    parser.add_argument("--fanouts", type=int, default=2000, help="fan-outs, instant upstreams")
    parser.add_argument("--slow-fanouts", type=int, default=2560, help="fan-outs, 20/30/40 ms")
    parser.add_argument(
        "--budget", type=float, default=8.0, help="max seconds per concurrent scenario"
    )
    parser.add_argument("--only", default="", help="comma-separated subset of candidates")
    parser.add_argument("--baseline", default="aiohttp")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()

    import uvloop

    load0 = os.getloadavg()
    started = datetime.datetime.now()
    runs = uvloop.run(main_async(args))
    load1 = os.getloadavg()
    medians = {
        name: {key: statistics.median(r[key] for r in rs) for key in rs[0]}
        for name, rs in runs.items()
        if rs
    }
    text = table(medians, args.baseline)
    print()
    print(text)
    if args.no_write:
        return
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"clients-{started:%Y-%m-%d}.md"
    header = (
        f"# Upstream HTTP client benchmark — {started:%Y-%m-%d %H:%M}\n\n"
        f"Command: `.venv/bin/python -m bench.clients --rounds {args.rounds} "
        f"--seq {args.seq} --calls {args.calls} --fanouts {args.fanouts} "
        f"--slow-fanouts {args.slow_fanouts} --budget {args.budget}"
        f"{f' --only {args.only}' if args.only else ''}`\n\n"
        f"Python {platform.python_version()}, uvloop {version('uvloop')}, "
        f"{os.cpu_count()} CPUs, load average {load0[0]:.2f} at start / {load1[0]:.2f} at end "
        f"(other work was running on the machine: compare ratios, not absolutes).\n"
        f"Medians of {args.rounds} interleaved rounds; concurrency {CONCURRENCY}; "
        f"CPU = process CPU time (includes a Rust client's runtime threads).\n\n"
    )
    out.write_text(header + text + "\n")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
