"""``python -m bench scale``: ``scallion serve --workers 2`` against one worker (issue #4 §4).

This machine has two cores, and wrk needs one of them. Three setups, so the numbers can
be read honestly:

* ``1 worker, pinned``: the HTTP suite's own setting (server on CPU 0, wrk on CPU 1);
* ``1 worker, unpinned`` and ``2 workers, unpinned``: nothing pinned, wrk with two threads
  on the same two cores as the server. The 2-worker row's ratio is against the 1-worker
  row with the same (lack of) pinning; whatever extra throughput it shows was won from a
  load generator competing for the same cores, which a real deployment would not have.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
from dataclasses import dataclass, field
from typing import Any

from bench.apps.common import ensure_static_file
from bench.http_suite import check, report, servers, wrk
from bench.http_suite.scenarios import SCENARIOS

TARGET = "bench.apps.scallion_app:base"
SCALE_SCENARIOS = ("plaintext", "json")


@dataclass(frozen=True)
class Setup:
    name: str
    workers: int
    pinned: bool


SETUPS = (
    Setup("1 worker, pinned (server CPU 0, wrk CPU 1)", 1, True),
    Setup("1 worker, unpinned (wrk shares the cores)", 1, False),
    Setup("2 workers, unpinned (wrk shares the cores)", 2, False),
)


@dataclass
class ScaleRecord:
    setup: Setup
    scenario: str
    status: str = "ok"
    reason: str = ""
    processes: int = 0
    reps: list[wrk.WrkResult] = field(default_factory=list)

    @property
    def rps(self) -> float | None:
        return statistics.median(r.rps for r in self.reps) if self.reps else None

    @property
    def p99(self) -> float | None:
        return statistics.median(r.p99_ms for r in self.reps) if self.reps else None


def serve_command(workers: int, port: int) -> list[str]:
    return [
        sys.executable, "-m", "scallion", "serve", TARGET, "--workers", str(workers),
        "--host", servers.HOST, "--port", str(port), "--server", "granian",
        "--log-level", "warning",
    ]  # fmt: skip


def group_size(pgid: int) -> int:
    """How many live processes are in the process group we started (workers + manager)."""
    count = 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getpgid(int(entry)) == pgid:
                    count += 1
            except (ProcessLookupError, PermissionError):
                continue
    return count


def run(
    duration: int, warmup: int, reps: int, cpus: tuple[int | None, int | None]
) -> list[ScaleRecord]:
    ensure_static_file()
    records = [ScaleRecord(s, sc) for s in SETUPS for sc in SCALE_SCENARIOS]
    server_cpu, wrk_cpu = cpus
    for rep in range(1, reps + 1):
        print(f"-- repetition {rep}/{reps}", flush=True)
        for setup in SETUPS:
            mine = [r for r in records if r.setup is setup and r.status == "ok"]
            if not mine:
                continue
            port = servers.free_port()
            pin_server = servers.pin(server_cpu if setup.pinned else None)
            try:
                server = servers.start(pin_server + serve_command(setup.workers, port), port)
            except servers.ServerError as exc:
                for r in mine:
                    r.status, r.reason = "failed", f"scallion serve did not start: {exc}"
                print(f"!!! FAILED {setup.name}: {exc}", flush=True)
                continue
            try:
                for r in mine:
                    sc = SCENARIOS[r.scenario]
                    errors, _ = check.problems(port, sc)
                    if errors:
                        r.status, r.reason = "failed", "; ".join(errors)
                        print(f"!!! FAILED {setup.name} {sc.name}: {r.reason}", flush=True)
                        continue
                    r.processes = group_size(server.pid)
                    url = f"http://{servers.HOST}:{port}{sc.path}"
                    kw: dict[str, Any] = {
                        "connections": 64,
                        "threads": 1 if setup.pinned else 2,
                        "cpu": wrk_cpu if setup.pinned else None,
                    }
                    if warmup:
                        wrk.run(url, duration=warmup, **kw)
                    result = wrk.run(url, duration=duration, **kw)
                    if result.non_2xx:
                        r.status, r.reason = "failed", f"{result.non_2xx} non-2xx answers"
                        continue
                    r.reps.append(result)
                    print(
                        f"  rep {rep}  {setup.name:<44} {sc.name:<10} {result.rps:>10,.0f} req/s"
                        f"  p99 {result.p99_ms:7.2f} ms  ({r.processes} processes)",
                        flush=True,
                    )
            finally:
                servers.stop(server)
    return records


def to_json(records: list[ScaleRecord], command: str, settings: dict[str, Any]) -> dict[str, Any]:
    by = {(r.setup.name, r.scenario): r for r in records}
    out = []
    for r in records:
        ratio = None
        if r.setup.workers == 2 and r.rps:
            one = by.get((SETUPS[1].name, r.scenario))
            ratio = r.rps / one.rps if one and one.rps else None
        out.append(
            {
                "setup": r.setup.name,
                "workers": r.setup.workers,
                "pinned": r.setup.pinned,
                "scenario": r.scenario,
                "status": r.status,
                "reason": r.reason,
                "processes": r.processes,
                "rps_median": r.rps,
                "p99_ms_median": r.p99,
                "ratio_to_1_worker": ratio,
                "reps": [x.to_json() for x in r.reps],
            }
        )
    when = dt.datetime.now().isoformat(timespec="seconds")
    return {"command": command, "date": when, "settings": settings, "records": out}


def main(args: argparse.Namespace) -> int:
    if wrk.wrk_path() is None:
        print(wrk.INSTALL_HINT, file=sys.stderr)
        return 2
    duration = args.duration or (2 if args.quick else 5)
    warmup = args.warmup if args.warmup is not None else 1 if args.quick else 2
    reps = args.reps or (1 if args.quick else 3)
    cpus = (None, None) if args.no_pin else (args.server_cpu, args.wrk_cpu)
    print(
        f"scale: {len(SETUPS)} setups x {len(SCALE_SCENARIOS)} scenarios x {reps} reps, "
        f"about {len(SETUPS) * len(SCALE_SCENARIOS) * reps * (duration + warmup + 1) / 60:.1f} min",
        flush=True,
    )
    records = run(duration, warmup, reps, cpus)
    settings = {"duration_s": duration, "warmup_s": warmup, "reps": reps, "connections": 64}
    scale_doc = to_json(records, report.command_line(), settings)
    doc: dict[str, Any] = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": report.machine(),
        "versions": report.versions(),
        "scale": scale_doc,
    }
    for line in report.render_scale(scale_doc):
        print(line)
    stem = args.out or dt.date.today().isoformat() + ("-quick" if args.quick else "")
    path, md = report.write(doc, stem, latest=not args.quick and args.out is None, primary=False)
    print(f"wrote {path.relative_to(servers.ROOT)} and {md.relative_to(servers.ROOT)}")
    return 1 if any(r.status != "ok" for r in records) else 0
