"""The fan-out run: upstreams up once, then every gateway rep after rep, then coalescing.

Reuses the HTTP suite's process handling (``bench.http_suite.servers``: own session per
process, killed by process group, atexit cleanup) and its wrk runner. Each repetition
starts every gateway afresh, in a rotated order, so a drift of the shared machine does
not always land on the same gateway.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.bff import burst
from bench.bff.common import FANOUT_PATH, HELLO, SERVICES, SLOWEST_MS, check_dashboard
from bench.bff.gateways import CACHED, NODE_DIR, Gateway, Scenario
from bench.http_suite import servers, wrk

CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass
class Settings:
    gateways: list[Gateway]
    duration: int
    warmup: int
    reps: int
    connections: int = 128
    server_cpu: int | None = 0
    wrk_cpu: int | None = 1
    burst: int = 128

    def to_json(self) -> dict[str, Any]:
        return {
            "gateways": [g.name for g in self.gateways],
            "duration_s": self.duration,
            "warmup_s": self.warmup,
            "reps": self.reps,
            "connections": self.connections,
            "wrk_threads": 1,
            "server_cpu": self.server_cpu,
            "wrk_cpu": self.wrk_cpu,
            "upstream_cpu": self.wrk_cpu,
            "upstream_latency_ms": {s.name: s.latency_ms for s in SERVICES},
            "slowest_upstream_ms": SLOWEST_MS,
            "ceiling_rps": self.connections / (SLOWEST_MS / 1000),
            "burst": self.burst,
        }


@dataclass
class Rep:
    wrk: wrk.WrkResult
    cpu_us_per_request: float | None

    def to_json(self) -> dict[str, Any]:
        return {**self.wrk.to_json(), "cpu_us_per_request": self.cpu_us_per_request}


@dataclass
class Record:
    gateway: str
    server: str
    scenario: str
    status: str = "ok"  # ok | failed
    reason: str = ""
    reps: list[Rep] = field(default_factory=list)

    def median(self, attr: str) -> float | None:
        if self.status != "ok" or not self.reps:
            return None
        if attr == "cpu_us_per_request":
            values = [r.cpu_us_per_request for r in self.reps if r.cpu_us_per_request]
            return statistics.median(values) if values else None
        return float(statistics.median(getattr(r.wrk, attr) for r in self.reps))

    def fail(self, reason: str) -> None:
        self.status = "failed"
        self.reason = reason
        print(f"!!! FAILED {self.gateway} {self.scenario}: {reason.rstrip()}", flush=True)

    def to_json(self) -> dict[str, Any]:
        return {
            "gateway": self.gateway,
            "server": self.server,
            "scenario": self.scenario,
            "status": self.status,
            "reason": self.reason,
            "rps_median": self.median("rps"),
            "p50_ms_median": self.median("p50_ms"),
            "p99_ms_median": self.median("p99_ms"),
            "cpu_us_per_request_median": self.median("cpu_us_per_request"),
            "reps": [r.to_json() for r in self.reps],
        }


# -- processes ----------------------------------------------------------------------------


class Upstreams:
    """The three mock services in one process, pinned next to wrk (not the gateway).

    ``latency_ms`` overrides every service's delay (0: answer at once).
    """

    def __init__(self, cpu: int | None, latency_ms: int | None = None) -> None:
        self.ports = {s.name: servers.free_port() for s in SERVICES}
        argv = [
            *servers.pin(cpu),
            sys.executable,
            "-m",
            "bench.bff.upstream",
            *(f"--listen={name}:{port}" for name, port in self.ports.items()),
            *([] if latency_ms is None else [f"--latency-ms={latency_ms}"]),
        ]
        self.server = servers.start(argv, self.ports[SERVICES[-1].name])
        self.env = {s.env: f"http://{servers.HOST}:{self.ports[s.name]}" for s in SERVICES}

    def stop(self) -> None:
        servers.stop(self.server)


def group_cpu_seconds(pgid: int) -> float | None:
    """utime + stime of every process in the process group (threads included)."""
    total = 0
    seen = False
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        if int(fields[2]) != pgid:  # field 5: pgrp
            continue
        seen = True
        total += int(fields[11]) + int(fields[12])  # fields 14, 15: utime, stime
    return total / CLK_TCK if seen else None


def start_gateway(gw: Gateway, env: dict[str, str], cpu: int | None) -> servers.Server:
    port = servers.free_port()
    return servers.start(servers.pin(cpu) + gw.command(port), port, env=env)


def check(port: int, sc: Scenario) -> list[str]:
    import http.client

    conn = http.client.HTTPConnection(servers.HOST, port, timeout=10)
    try:
        conn.request("GET", sc.path)
        resp = conn.getresponse()
        body = resp.read()
        ctype = resp.getheader("content-type") or ""
    except (OSError, http.client.HTTPException) as exc:
        return [f"request failed: {exc!r}"]
    finally:
        conn.close()
    if sc.check == "dashboard":
        return check_dashboard(resp.status, ctype, body)
    if resp.status != 200 or body != HELLO.encode():
        return [f"answered {resp.status} {body[:100]!r}, expected 200 {HELLO!r}"]
    return []


def _suspicious(result: wrk.WrkResult) -> str:
    if result.requests == 0:
        return "wrk completed no request"
    if result.non_2xx:
        return f"{result.non_2xx} of {result.requests} answers were non-2xx/3xx while timed"
    if result.socket_errors.get("timeout", 0) > result.requests * 0.01:
        return f"{result.socket_errors['timeout']} requests timed out"
    return ""


def measure(
    gw: Gateway, records: dict[str, Record], settings: Settings, env: dict[str, str], rep: int
) -> None:
    live = [sc for sc in gw.scenarios if records[sc.name].status == "ok"]
    if not live:
        return
    try:
        server = start_gateway(gw, env, settings.server_cpu)
    except servers.ServerError as exc:
        for sc in live:
            records[sc.name].fail(f"server did not start: {exc}")
        return
    try:
        for sc in live:
            rec = records[sc.name]
            found = check(server.port, sc)
            if found:
                rec.fail("wrong answer before timing: " + "; ".join(found))
                continue
            url = f"http://{servers.HOST}:{server.port}{sc.path}"
            opts: dict[str, Any] = {"connections": settings.connections, "cpu": settings.wrk_cpu}
            try:
                if settings.warmup > 0:
                    wrk.run(url, duration=settings.warmup, **opts)
                before = group_cpu_seconds(server.pid)
                result = wrk.run(url, duration=settings.duration, **opts)
                after = group_cpu_seconds(server.pid)
            except (wrk.WrkError, OSError) as exc:
                rec.fail(f"wrk: {exc}")
                continue
            if not server.alive():
                rec.fail(f"server died while timed:\n{server.output()}")
                break
            bad = _suspicious(result)
            if bad:
                rec.fail(bad)
                continue
            cpu = None
            if before is not None and after is not None and result.requests:
                cpu = (after - before) / result.requests * 1e6
            rec.reps.append(Rep(result, cpu))
            errs = sum(result.socket_errors.values())
            note = f"  socket errors {result.socket_errors}" if errs else ""
            cpu_note = f"  cpu {cpu:6.0f} µs/req" if cpu is not None else ""
            print(
                f"  rep {rep}  {gw.name:<14} {sc.name:<10} {result.rps:>9,.0f} req/s"
                f"  p50 {result.p50_ms:7.2f} ms  p99 {result.p99_ms:7.2f} ms{cpu_note}{note}",
                flush=True,
            )
    finally:
        servers.stop(server)


# -- coalescing ---------------------------------------------------------------------------


def coalescing(gw: Gateway, ups: Upstreams, settings: Settings) -> dict[str, Any]:
    """N identical concurrent requests on a cold key; upstream calls with and without."""
    n = settings.burst
    out: dict[str, Any] = {"gateway": gw.name, "requests": n, "trials": []}
    try:
        server = start_gateway(gw, ups.env, settings.server_cpu)
    except servers.ServerError as exc:
        out["error"] = f"server did not start: {exc}"
        print(f"!!! coalescing {gw.name}: {out['error']}", flush=True)
        return out
    trials = [("fan-out, no cache", FANOUT_PATH, False)]
    if gw.name == "scallion":
        trials.append(("cache-aside dict, no coalescing", "/naive" + FANOUT_PATH, True))
    trials.append(("response cache (coalescing)", CACHED.path, True))
    try:
        burst.run_burst(server.port, FANOUT_PATH, 8)  # open the upstream pools first
        for label, path, cold in trials:
            target = f"{path}?cold={uuid.uuid4().hex}" if cold else path
            burst.upstream_calls(ups.ports, reset=True)
            started = time.perf_counter()
            answers = burst.run_burst(server.port, target, n)
            took = time.perf_counter() - started
            calls = burst.upstream_calls(ups.ports)
            wrong = [p for a in answers for p in check_dashboard(a.status, a.content_type, a.body)]
            trial = {
                "label": label,
                "path": target,
                "upstream_calls": calls,
                "total_calls": sum(calls.values()),
                "wall_ms": took * 1000,
                "wrong_answers": len(wrong),
                "first_problem": wrong[0] if wrong else "",
            }
            out["trials"].append(trial)
            print(
                f"  coalescing {gw.name:<14} {label:<34} {n} requests -> "
                f"{trial['total_calls']:>4} upstream calls {calls}"
                + (f"  {len(wrong)} WRONG: {wrong[0]}" if wrong else ""),
                flush=True,
            )
    except (OSError, TimeoutError, ValueError) as exc:
        out["error"] = repr(exc)
        print(f"!!! coalescing {gw.name}: {exc!r}", flush=True)
    finally:
        servers.stop(server)
    return out


# -- the run ------------------------------------------------------------------------------


def ensure_node_modules() -> str | None:
    """``npm ci`` into bench/bff/node when needed; an error string or None."""
    import shutil
    import subprocess

    version = servers.node_version()
    if version is None or version < (20, 18, 1):
        return "Node.js >= 20.18.1 is needed for the Node peers (undici 7)"
    lock = NODE_DIR / "package-lock.json"
    marker = NODE_DIR / "node_modules" / ".package-lock.json"
    if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
        return None
    npm = shutil.which("npm")
    if npm is None:
        return "npm is needed to install the Node peers (apt-get install -y npm)"
    print("installing the Node peers into bench/bff/node (npm ci) ...", flush=True)
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        return f"npm ci failed in bench/bff/node:\n{done.stderr[-2000:]}"
    return None


def estimate_seconds(settings: Settings) -> float:
    timed = sum(len(g.scenarios) for g in settings.gateways)
    per_start = 2.0
    coalesce = 8.0 * sum(g.name.startswith("scallion") for g in settings.gateways)
    return (
        settings.reps
        * (timed * (settings.duration + settings.warmup + 0.5) + len(settings.gateways) * per_start)
        + coalesce
        + 3
    )


def run(settings: Settings) -> tuple[list[Record], list[dict[str, Any]]]:
    records = {
        g.name: {sc.name: Record(g.name, g.server, sc.name) for sc in g.scenarios}
        for g in settings.gateways
    }
    if any(g.kind == "node" for g in settings.gateways):
        problem = ensure_node_modules()
        if problem:
            for g in settings.gateways:
                if g.kind == "node":
                    for rec in records[g.name].values():
                        rec.fail(problem)
    print(
        f"{len(settings.gateways)} gateways, "
        f"{sum(len(r) for r in records.values())} timed endpoints, {settings.reps} reps of "
        f"{settings.duration}s (+{settings.warmup}s warm-up) at -c{settings.connections}: "
        f"about {estimate_seconds(settings) / 60:.1f} min",
        flush=True,
    )
    started = time.monotonic()
    ups = Upstreams(settings.wrk_cpu)
    coalesce: list[dict[str, Any]] = []
    try:
        order = list(settings.gateways)
        for rep in range(1, settings.reps + 1):
            shift = (rep - 1) * len(order) // settings.reps if order else 0
            print(f"-- repetition {rep}/{settings.reps}", flush=True)
            for gw in order[shift:] + order[:shift]:
                measure(gw, records[gw.name], settings, ups.env, rep)
        if settings.burst > 0:
            print(f"-- coalescing: {settings.burst} identical concurrent requests", flush=True)
            for gw in settings.gateways:
                if any(sc.name == "cached" for sc in gw.scenarios):
                    coalesce.append(coalescing(gw, ups, settings))
    finally:
        ups.stop()
    print(f"done in {(time.monotonic() - started) / 60:.1f} min", flush=True)
    flat = [rec for by_sc in records.values() for rec in by_sc.values()]
    return flat, coalesce
