"""``python -m bench bff``: arguments and the command (bench/__main__.py hooks it in)."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from typing import Any


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def configure(p: argparse.ArgumentParser) -> None:
    from bench.bff.gateways import GATEWAYS

    p.add_argument(
        "--quick", action="store_true", help="every gateway, 1 rep of 3 s (+6 s warm-up): ~2-3 min"
    )
    p.add_argument("--gateways", type=_csv, help=f"comma list of: {', '.join(GATEWAYS)}")
    p.add_argument("--duration", type=int, help="seconds timed per endpoint (quick 3, full 10)")
    p.add_argument("--warmup", type=int, help="seconds of warm-up per endpoint (quick 6, full 10)")
    p.add_argument("--reps", type=int, help="interleaved repetitions (quick 1, full 3)")
    p.add_argument("--connections", type=int, default=128, help="keep-alive connections (128)")
    p.add_argument("--burst", type=int, default=128, help="coalescing: concurrent requests (128)")
    p.add_argument("--server-cpu", type=int, default=0, help="CPU the gateway is pinned to (0)")
    p.add_argument("--wrk-cpu", type=int, default=1, help="CPU of wrk and the upstreams (1)")
    p.add_argument("--no-pin", action="store_true", help="do not use taskset")
    p.add_argument("--out", help="results file stem after bff- (default: the date)")
    p.add_argument("--dry-run", action="store_true", help="print the plan and the time estimate")
    p.set_defaults(func=main)


def main(args: argparse.Namespace) -> int:
    from bench.bff import report, runner
    from bench.bff.gateways import GATEWAYS, QUICK_GATEWAYS
    from bench.http_suite import report as http_report
    from bench.http_suite import wrk
    from bench.http_suite.servers import ROOT

    if wrk.wrk_path() is None:
        print(wrk.INSTALL_HINT, file=sys.stderr)
        return 2
    quick = args.quick
    names = args.gateways or list(QUICK_GATEWAYS if quick else GATEWAYS)
    unknown = [n for n in names if n not in GATEWAYS]
    if unknown:
        sys.exit(f"unknown gateway: {', '.join(unknown)} (known: {', '.join(GATEWAYS)})")
    server_cpu: int | None = args.server_cpu
    wrk_cpu: int | None = args.wrk_cpu
    if args.no_pin or (os.cpu_count() or 1) < 2:
        if not args.no_pin:
            print("fewer than 2 CPUs: nothing is pinned", file=sys.stderr)
        server_cpu = wrk_cpu = None
    settings = runner.Settings(
        gateways=[GATEWAYS[n] for n in names],
        duration=args.duration or (3 if quick else 10),
        warmup=args.warmup if args.warmup is not None else 6 if quick else 10,
        reps=args.reps or (1 if quick else 3),
        connections=args.connections,
        server_cpu=server_cpu,
        wrk_cpu=wrk_cpu,
        burst=args.burst,
    )
    if args.dry_run:
        for gw in settings.gateways:
            print(f"{gw.name}@{gw.server}: {', '.join(s.name for s in gw.scenarios)}")
        print(f"estimated {runner.estimate_seconds(settings) / 60:.1f} min")
        return 0
    start_machine = http_report.machine()
    records, coalescing = runner.run(settings)
    doc: dict[str, Any] = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "command": http_report.command_line(),
        "machine": start_machine | {"load_average_end": list(os.getloadavg())},
        "versions": report.versions(),
        "settings": settings.to_json(),
        "notes": {g.name: g.notes for g in settings.gateways},
        "records": [r.to_json() for r in records],
        "coalescing": coalescing,
    }
    print()
    print("\n".join(report.table(doc, markdown=False)))
    for row in report.targets(doc):
        print(f"target: {row[0]}: {row[1]} -> {row[2]} (goal {row[3]}): {row[4].strip('*')}")
    stem = args.out or dt.date.today().isoformat() + ("-quick" if quick else "")
    path, md = report.write(doc, stem, latest=not quick and args.out is None)
    print(f"\nwrote {path.relative_to(ROOT)} and {md.relative_to(ROOT)}")
    bad = [r for r in records if r.status != "ok"]
    bad_co = [
        c for c in coalescing if c.get("error") or any(t["wrong_answers"] for t in c["trials"])
    ]
    if bad or bad_co:
        problems = len(bad) + len(bad_co)
        print(f"{problems} problem(s); see above and the Markdown file", file=sys.stderr)
        return 1
    return 0
