"""``python -m bench http|bff|scale|micro|instr|hinstr|depth``: see bench/README.md."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import signal
import sys
from typing import Any

from bench.bff.cli import configure as configure_bff
from bench.http_suite.frameworks import ASGI_SERVERS, FRAMEWORKS, QUICK_FRAMEWORKS
from bench.http_suite.scenarios import SCENARIOS


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _pick(
    names: list[str] | None, known: dict[str, Any], default: list[str], what: str
) -> list[str]:
    chosen = names if names is not None else default
    unknown = [n for n in chosen if n not in known]
    if unknown:
        sys.exit(f"unknown {what}: {', '.join(unknown)} (known: {', '.join(known)})")
    return chosen


def _cpus(args: argparse.Namespace) -> tuple[int | None, int | None]:
    if args.no_pin or (os.cpu_count() or 1) < 2:
        if not args.no_pin:
            print("fewer than 2 CPUs: server and wrk are not pinned", file=sys.stderr)
        return None, None
    return args.server_cpu, args.wrk_cpu


def cmd_http(args: argparse.Namespace) -> int:
    from bench.http_suite import report, runner, wrk

    if wrk.wrk_path() is None:
        print(wrk.INSTALL_HINT, file=sys.stderr)
        return 2
    quick = args.quick
    frameworks = _pick(
        args.frameworks, FRAMEWORKS, list(QUICK_FRAMEWORKS if quick else FRAMEWORKS), "framework"
    )
    scenarios = _pick(args.scenarios, SCENARIOS, list(SCENARIOS), "scenario")
    servers = _pick(
        args.servers,
        dict.fromkeys(ASGI_SERVERS),
        ["granian"] if quick else list(ASGI_SERVERS),
        "server",
    )
    server_cpu, wrk_cpu = _cpus(args)
    settings = runner.Settings(
        frameworks=[FRAMEWORKS[f] for f in frameworks],
        scenarios=[SCENARIOS[s] for s in scenarios],
        asgi_servers=tuple(servers),
        duration=args.duration or (2 if quick else 5),
        warmup=args.warmup if args.warmup is not None else 1 if quick else 2,
        reps=args.reps or (1 if quick else 3),
        connections=args.connections,
        server_cpu=server_cpu,
        wrk_cpu=wrk_cpu,
    )
    if args.dry_run:
        jobs, _ = runner.plan(settings)
        for job in jobs:
            names = ", ".join(s.name for s, _ in job.records)
            print(f"{job.framework.name}@{job.server}:{job.variant}  {names}")
        print(f"estimated {runner.estimate_seconds(jobs, settings) / 60:.1f} min")
        return 0
    start_machine = report.machine()
    records = runner.run(settings)
    http_doc: dict[str, Any] = {
        "command": report.command_line(),
        "settings": settings.to_json(),
        "notes": {f.name: f.notes for f in settings.frameworks},
        "records": [r.to_json() for r in records],
    }
    doc: dict[str, Any] = {
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": start_machine | {"load_average_end": list(os.getloadavg())},
        "versions": report.versions(),
        "http": http_doc,
    }
    print()
    print(report.text_table(http_doc))
    stem = args.out or dt.date.today().isoformat() + ("-quick" if quick else "")
    path, md = report.write(doc, stem, latest=not quick and args.out is None)
    print(f"\nwrote {path} and {md}")
    failed = [r for r in records if r.status == "failed"]
    if failed:
        print(f"{len(failed)} endpoint(s) FAILED; see above and the Markdown file", file=sys.stderr)
        return 1
    return 0


def cmd_scale(args: argparse.Namespace) -> int:
    from bench.http_suite import scale

    return scale.main(args)


def cmd_micro(args: argparse.Namespace) -> int:
    from bench import micro

    return micro.main(quick=args.quick)


def cmd_instr(args: argparse.Namespace) -> int:
    from bench import instr

    return instr.main(args.n, args.cases)


def cmd_hinstr(args: argparse.Namespace) -> int:
    from bench import http_instr

    frameworks = _pick(
        args.frameworks, FRAMEWORKS, list(http_instr.DEFAULT_FRAMEWORKS), "framework"
    )
    scenarios = _pick(args.scenarios, SCENARIOS, list(http_instr.DEFAULT_SCENARIOS), "scenario")
    return http_instr.main(frameworks, scenarios, args.n, args.warmup)


def cmd_depth(args: argparse.Namespace) -> int:
    from bench import compose_depth

    return compose_depth.main()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    def timing(p: argparse.ArgumentParser) -> None:
        p.add_argument("--duration", type=int, help="seconds timed per endpoint (quick 2, full 5)")
        p.add_argument(
            "--warmup", type=int, help="seconds of warm-up per endpoint (quick 1, full 2)"
        )
        p.add_argument("--reps", type=int, help="interleaved repetitions (quick 1, full 3)")
        p.add_argument("--connections", type=int, default=64, help="keep-alive connections (64)")
        p.add_argument("--server-cpu", type=int, default=0, help="CPU the server is pinned to (0)")
        p.add_argument("--wrk-cpu", type=int, default=1, help="CPU wrk is pinned to (1)")
        p.add_argument("--no-pin", action="store_true", help="do not use taskset")
        p.add_argument(
            "--out", help="results file stem (default: the date; does not touch latest.md)"
        )

    http = sub.add_parser("http", help="HTTP throughput of scallion and its peers (wrk)")
    http.add_argument(
        "--quick", action="store_true", help=f"{', '.join(QUICK_FRAMEWORKS)} on granian, short runs"
    )
    http.add_argument("--frameworks", type=_csv, help=f"comma list of: {', '.join(FRAMEWORKS)}")
    http.add_argument("--scenarios", type=_csv, help=f"comma list of: {', '.join(SCENARIOS)}")
    http.add_argument(
        "--servers", type=_csv, help="ASGI servers: granian,uvicorn (Node/aiohttp use their own)"
    )
    http.add_argument(
        "--dry-run", action="store_true", help="print the jobs and the time estimate only"
    )
    timing(http)
    http.set_defaults(func=cmd_http)

    configure_bff(sub.add_parser("bff", help="3-upstream fan-out gateways vs Koa + undici (wrk)"))

    scale = sub.add_parser("scale", help="scallion serve --workers 2 against 1 worker")
    scale.add_argument("--quick", action="store_true", help="short runs")
    timing(scale)
    scale.set_defaults(func=cmd_scale)

    micro = sub.add_parser("micro", help="micro-benchmarks: compose, Context, body encoding")
    micro.add_argument("--quick", action="store_true", help="fewer iterations")
    micro.set_defaults(func=cmd_micro)

    instr = sub.add_parser("instr", help="instructions per in-process request (callgrind)")
    instr.add_argument("--n", type=int, default=2000, help="requests per case (2000)")
    instr.add_argument("--cases", type=_csv, help="comma list (default: all)")
    instr.set_defaults(func=cmd_instr)

    hinstr = sub.add_parser(
        "hinstr", help="instructions per HTTP request in the server process (callgrind)"
    )
    hinstr.add_argument("--frameworks", type=_csv, help="comma list (default: ASGI peers)")
    hinstr.add_argument("--scenarios", type=_csv, help="comma list (default: GET scenarios)")
    hinstr.add_argument("--n", type=int, default=2000, help="requests counted (2000)")
    hinstr.add_argument("--warmup", type=int, default=300, help="requests before (300)")
    hinstr.set_defaults(func=cmd_hinstr)

    depth = sub.add_parser(
        "depth", help="per-layer cost for 1/10/50 layers and a 10,000-layer chain"
    )
    depth.set_defaults(func=cmd_depth)

    args = parser.parse_args(argv)
    # SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so every ``finally`` and the
    # atexit handler in servers.py kill the server process groups this run started.
    signal.signal(signal.SIGTERM, _terminate)
    result: int = args.func(args)
    return result


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    sys.exit(main())
