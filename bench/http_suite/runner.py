"""The HTTP run: build the job list, then rep 1 of everything, rep 2 of everything, ...

A *job* is one framework's app variant on one server; it is started fresh for every
repetition, each of its scenarios is checked, warmed up and timed, and the process group
is killed before the next job starts. Rotating the job order between repetitions keeps
a slow drift of the machine from always landing on the same framework.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any

from bench.apps.common import ensure_static_file
from bench.http_suite import check, servers, wrk
from bench.http_suite.frameworks import NA, Framework
from bench.http_suite.scenarios import SCENARIOS, Scenario


@dataclass
class Settings:
    frameworks: list[Framework]
    scenarios: list[Scenario]
    asgi_servers: tuple[str, ...]
    duration: int
    warmup: int
    reps: int
    connections: int = 64
    server_cpu: int | None = 0
    wrk_cpu: int | None = 1

    def to_json(self) -> dict[str, Any]:
        return {
            "frameworks": [f.name for f in self.frameworks],
            "scenarios": [s.name for s in self.scenarios],
            "asgi_servers": list(self.asgi_servers),
            "duration_s": self.duration,
            "warmup_s": self.warmup,
            "reps": self.reps,
            "connections": self.connections,
            "wrk_threads": 1,
            "server_cpu": self.server_cpu,
            "wrk_cpu": self.wrk_cpu,
        }


@dataclass
class Record:
    """Everything measured (or refused) for one framework x server x scenario."""

    framework: str
    server: str
    scenario: str
    status: str = "ok"  # ok | n/a | failed
    reason: str = ""
    reps: list[wrk.WrkResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def rps(self) -> float | None:
        if self.status != "ok" or not self.reps:
            return None
        return statistics.median(r.rps for r in self.reps)

    @property
    def p99_ms(self) -> float | None:
        if self.status != "ok" or not self.reps:
            return None
        return statistics.median(r.p99_ms for r in self.reps)

    def fail(self, reason: str) -> None:
        self.status = "failed"
        self.reason = reason
        print(
            f"!!! FAILED {self.framework}@{self.server} {self.scenario}: {reason.rstrip()}",
            flush=True,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "framework": self.framework,
            "server": self.server,
            "scenario": self.scenario,
            "status": self.status,
            "reason": self.reason,
            "rps_median": self.rps,
            "p99_ms_median": self.p99_ms,
            "warnings": self.warnings,
            "reps": [r.to_json() for r in self.reps],
        }


@dataclass
class Job:
    framework: Framework
    server: str
    variant: str
    records: list[tuple[Scenario, Record]]


def plan(settings: Settings) -> tuple[list[Job], list[Record]]:
    jobs: list[Job] = []
    records: list[Record] = []
    for fw in settings.frameworks:
        for server in fw.servers(settings.asgi_servers):
            by_variant: dict[str, list[tuple[Scenario, Record]]] = {}
            for sc in settings.scenarios:
                rec = Record(fw.name, server, sc.name)
                records.append(rec)
                variant = fw.variant(sc.name)
                if isinstance(variant, NA):
                    rec.status, rec.reason = "n/a", variant.reason
                    continue
                by_variant.setdefault(variant, []).append((sc, rec))
            jobs.extend(Job(fw, server, v, recs) for v, recs in by_variant.items())
    return jobs, records


def estimate_seconds(jobs: list[Job], settings: Settings) -> float:
    timed = sum(len(j.records) for j in jobs)
    per_start = 1.5  # start + checks + stop, measured on a loaded 2-core machine
    return settings.reps * (
        timed * (settings.duration + settings.warmup + 0.3) + len(jobs) * per_start
    )


def _measure(job: Job, settings: Settings, rep: int) -> None:
    live = [(sc, rec) for sc, rec in job.records if rec.status == "ok"]
    if not live:
        return
    port = servers.free_port()
    argv = servers.pin(settings.server_cpu) + servers.command(
        job.framework, job.server, job.variant, port
    )
    label = f"{job.framework.name}@{job.server}"
    try:
        server = servers.start(argv, port)
    except servers.ServerError as exc:
        for _, rec in live:
            rec.fail(f"server did not start: {exc}")
        return
    try:
        for sc, rec in live:
            found, warnings = check.problems(port, sc)
            if found:
                rec.fail("wrong answer before timing: " + "; ".join(found))
                continue
            for warning in warnings:
                if warning not in rec.warnings:
                    rec.warnings.append(warning)
                    print(f"  warning: {label} {sc.name}: {warning}", flush=True)
            url = f"http://{servers.HOST}:{port}{sc.path}"
            kwargs: dict[str, Any] = {
                "connections": settings.connections,
                "script": sc.wrk_script(),
                "cpu": settings.wrk_cpu,
            }
            try:
                if settings.warmup > 0:
                    wrk.run(url, duration=settings.warmup, **kwargs)
                result = wrk.run(url, duration=settings.duration, **kwargs)
            except (wrk.WrkError, OSError) as exc:
                rec.fail(f"wrk: {exc}")
                continue
            if not server.alive():
                rec.fail(f"server died while timed:\n{server.output()}")
                break
            bad = _suspicious(sc, result)
            if bad:
                rec.fail(bad)
                continue
            rec.reps.append(result)
            errs = sum(result.socket_errors.values())
            note = f"  socket errors {result.socket_errors}" if errs else ""
            print(
                f"  rep {rep}  {label:<26} {sc.name:<18} {result.rps:>10,.0f} req/s"
                f"  p99 {result.p99_ms:7.2f} ms{note}",
                flush=True,
            )
    finally:
        servers.stop(server)


def _suspicious(sc: Scenario, result: wrk.WrkResult) -> str:
    if result.requests == 0:
        return "wrk completed no request"
    if sc.expect_error_status:
        if result.non_2xx < result.requests * 0.99:
            return f"only {result.non_2xx} of {result.requests} answers were the expected error"
    elif result.non_2xx:
        return f"{result.non_2xx} of {result.requests} answers were non-2xx/3xx while timed"
    if result.socket_errors.get("timeout", 0) > result.requests * 0.01:
        return f"{result.socket_errors['timeout']} requests timed out"
    return ""


def run(settings: Settings) -> list[Record]:
    ensure_static_file()
    jobs, records = plan(settings)
    if any(j.framework.kind == "node" for j in jobs):
        problem = servers.ensure_node_modules()
        if problem:
            for job in jobs:
                if job.framework.kind == "node":
                    for _, rec in job.records:
                        rec.fail(problem)
    eta = estimate_seconds(jobs, settings)
    print(
        f"{len(jobs)} server jobs, {sum(len(j.records) for j in jobs)} timed endpoints, "
        f"{settings.reps} reps of {settings.duration}s (+{settings.warmup}s warm-up): "
        f"about {eta / 60:.1f} min",
        flush=True,
    )
    started = time.monotonic()
    for rep in range(1, settings.reps + 1):
        shift = (rep - 1) * len(jobs) // settings.reps if jobs else 0
        print(f"-- repetition {rep}/{settings.reps}", flush=True)
        for job in jobs[shift:] + jobs[:shift]:
            _measure(job, settings, rep)
    print(f"done in {(time.monotonic() - started) / 60:.1f} min", flush=True)
    return records


__all__ = ["SCENARIOS", "Record", "Settings", "estimate_seconds", "plan", "run"]
