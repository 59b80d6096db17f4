"""The benchmark's apps answer every scenario correctly, and its plumbing works.

Every Python app variant is called in process (ASGI) with the same checks the suite runs
before timing; aiohttp runs on its own in-process test server; the Node peers and one
app on each ASGI server are started for real, as the suite starts them, and killed.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp.test_utils import TestClient as AiohttpClient
from aiohttp.test_utils import TestServer as AiohttpServer

# bench/ is a top-level package of the repository, not of the installed distribution.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.http_suite import check, report, runner, servers, wrk
from bench.http_suite.frameworks import FRAMEWORKS, NA, Framework
from bench.http_suite.scenarios import SCENARIOS, Answer, Scenario

# litestar's static router sends an ETag but answers If-None-Match with 200 (the suite
# times it with a warning); everyone else must revalidate to 304.
NO_304 = {"litestar"}


def _cases(kind: str) -> list[Any]:
    """(framework, variant, scenarios) for every app variant of one kind of framework."""
    out = []
    for fw in FRAMEWORKS.values():
        if fw.kind != kind:
            continue
        by_variant: dict[str, list[Scenario]] = {}
        for sc in SCENARIOS.values():
            variant = fw.variant(sc.name)
            if not isinstance(variant, NA):
                by_variant.setdefault(variant, []).append(sc)
        for variant, scs in by_variant.items():
            out.append(pytest.param(fw, variant, scs, id=f"{fw.name}-{variant}"))
    return out


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[None]:
    """Run the ASGI lifespan protocol around the block (BlackSheep needs its startup)."""
    import asyncio

    inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
    task = asyncio.create_task(app(scope, inbox.get, outbox.put))
    await inbox.put({"type": "lifespan.startup"})
    started = await asyncio.wait_for(outbox.get(), 10)
    assert started["type"] == "lifespan.startup.complete", started
    try:
        yield
    finally:
        await inbox.put({"type": "lifespan.shutdown"})
        await asyncio.wait_for(outbox.get(), 10)
        await asyncio.wait_for(task, 10)


async def _answer(client: Any, sc: Scenario, extra: dict[str, str] | None = None) -> Answer:
    headers = {**sc.headers, **(extra or {})}
    resp = await client.request(sc.method, sc.path, content=sc.body or None, headers=headers)
    return Answer(resp.status_code, {k.lower(): v for k, v in resp.headers.items()}, resp.content)


async def _check(client: Any, fw: Framework, sc: Scenario, read: Any) -> None:
    first = await read(client, sc)
    assert sc.check(first) == [], (fw.name, sc.name, first.status, first.body[:200])
    if sc.conditional:
        again = await read(client, sc, {"If-None-Match": first.headers["etag"]})
        if fw.name not in NO_304:
            assert again.status == 304, (fw.name, again.status)


@pytest.mark.parametrize(("fw", "variant", "scenarios"), _cases("asgi"))
async def test_asgi_app_answers_its_scenarios(
    fw: Framework, variant: str, scenarios: list[Scenario]
) -> None:
    app = getattr(importlib.import_module(fw.target), variant)
    transport = httpx.ASGITransport(app=app)
    async with lifespan(app), httpx.AsyncClient(transport=transport, base_url="http://x") as client:
        for sc in scenarios:
            await _check(client, fw, sc, _answer)


async def _aiohttp_answer(
    client: AiohttpClient[Any, Any], sc: Scenario, extra: dict[str, str] | None = None
) -> Answer:
    headers = {**sc.headers, **(extra or {})}
    async with client.request(sc.method, sc.path, data=sc.body or None, headers=headers) as resp:
        body = await resp.read()
        return Answer(resp.status, {k.lower(): v for k, v in resp.headers.items()}, body)


@pytest.mark.parametrize(("fw", "variant", "scenarios"), _cases("aiohttp"))
async def test_aiohttp_app_answers_its_scenarios(
    fw: Framework, variant: str, scenarios: list[Scenario]
) -> None:
    module = importlib.import_module(fw.target)
    async with AiohttpClient(AiohttpServer(module.VARIANTS[variant](), host="127.0.0.1")) as client:
        for sc in scenarios:
            await _check(client, fw, sc, _aiohttp_answer)


def _node_jobs() -> list[Any]:
    settings = runner.Settings(
        frameworks=[f for f in FRAMEWORKS.values() if f.kind == "node"],
        scenarios=list(SCENARIOS.values()),
        asgi_servers=(),
        duration=1,
        warmup=0,
        reps=1,
    )
    jobs, _ = runner.plan(settings)
    return [pytest.param(job, id=f"{job.framework.name}-{job.variant}") for job in jobs]


def _start(job: runner.Job) -> servers.Server:
    port = servers.free_port()
    argv = servers.command(job.framework, job.server, job.variant, port)
    return servers.start(argv, port, timeout=40)


def _check_and_stop(job: runner.Job, server: servers.Server) -> None:
    try:
        for sc, _ in job.records:
            errors, warnings = check.problems(server.port, sc)
            assert errors == [], (job.framework.name, sc.name, errors)
            assert warnings == [] or job.framework.name in NO_304, warnings
    finally:
        servers.stop(server)
    assert not server.alive()
    with pytest.raises(ProcessLookupError):
        os.killpg(server.pid, 0)  # the whole process group is gone


@pytest.fixture(scope="module")
def node_servers() -> Iterator[dict[str, servers.Server]]:
    """Every Node peer variant, started together (starting them one by one is slow)."""
    problem = servers.ensure_node_modules(log=False)
    assert problem is None, problem
    jobs = {p.id: p.values[0] for p in _node_jobs()}
    started: dict[str, servers.Server] = {}
    try:
        with ThreadPoolExecutor(len(jobs)) as pool:
            futures = {key: pool.submit(_start, job) for key, job in jobs.items()}
            for key, future in futures.items():
                started[key] = future.result()
        yield started
    finally:
        for server in started.values():
            servers.stop(server)


@pytest.mark.parametrize("job", _node_jobs())
def test_node_peer_answers_scenarios(
    job: runner.Job, node_servers: dict[str, servers.Server]
) -> None:
    _check_and_stop(job, node_servers[f"{job.framework.name}-{job.variant}"])


@pytest.mark.parametrize(("name", "server"), [("raw", "granian"), ("scallion", "uvicorn")])
def test_asgi_server_command_serves_and_is_killed(name: str, server: str) -> None:
    fw = FRAMEWORKS[name]
    scs = [SCENARIOS["plaintext"], SCENARIOS["json"], SCENARIOS["error"]]
    records = [(sc, runner.Record(name, server, sc.name)) for sc in scs]
    job = runner.Job(fw, server, "base", records)
    _check_and_stop(job, _start(job))


def test_plan_marks_scenarios_a_peer_cannot_run() -> None:
    settings = runner.Settings(
        frameworks=[FRAMEWORKS["starlette-bhm"], FRAMEWORKS["koa"]],
        scenarios=list(SCENARIOS.values()),
        asgi_servers=("granian", "uvicorn"),
        duration=1,
        warmup=0,
        reps=1,
    )
    jobs, records = runner.plan(settings)
    by_key = {(r.framework, r.server, r.scenario): r for r in records}
    assert by_key["starlette-bhm", "uvicorn", "plaintext"].status == "n/a"
    assert by_key["koa", "node", "express-mw10"].status == "n/a"
    assert "scallion" in by_key["koa", "node", "express-mw10"].reason
    assert {(j.framework.name, j.server, j.variant) for j in jobs} >= {
        ("starlette-bhm", "granian", "mw10_bhm"),
        ("koa", "node", "base"),
        ("koa", "node", "static"),
    }


WRK_OUTPUT = """\
Running 2s test @ http://127.0.0.1:8000/
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.07ms  412.33us  12.01ms   91.20%
    Req/Sec    31.01k     1.20k   32.50k    80.00%
  Latency Distribution
     50%    1.98ms
     75%    2.10ms
     90%    2.41ms
     99%  850.00us
  61714 requests in 2.00s, 7.59MB read
  Socket errors: connect 0, read 3, write 0, timeout 1
  Non-2xx or 3xx responses: 12
Requests/sec:  30857.17
Transfer/sec:      3.79MB
"""


def test_wrk_output_is_read() -> None:
    result = wrk.parse(WRK_OUTPUT)
    assert result.rps == pytest.approx(30857.17)
    assert result.requests == 61714
    assert result.p50_ms == pytest.approx(1.98)
    assert result.p99_ms == pytest.approx(0.85)
    assert result.non_2xx == 12
    assert result.socket_errors == {"connect": 0, "read": 3, "write": 0, "timeout": 1}
    with pytest.raises(wrk.WrkError):
        wrk.parse("garbage")


def test_report_renders_ratios_and_targets() -> None:
    def rec(fw: str, server: str, sc: str, rps: float | None, status: str = "ok") -> dict[str, Any]:
        return {
            "framework": fw, "server": server, "scenario": sc, "status": status,
            "reason": "" if status == "ok" else "why", "rps_median": rps,
            "p99_ms_median": 2.0 if rps else None, "reps": [], "warnings": [],
        }  # fmt: skip

    http = {
        "command": "python -m bench http",
        "settings": {
            "scenarios": ["plaintext", "mw10"],
            "asgi_servers": ["granian"],
            "server_cpu": 0,
            "wrk_cpu": 1,
            "connections": 64,
            "warmup_s": 1,
            "duration_s": 2,
            "reps": 1,
        },
        "records": [
            rec("raw", "granian", "plaintext", 30000.0),
            rec("raw", "granian", "mw10", 25000.0),
            rec("scallion", "granian", "plaintext", 28500.0),
            rec("scallion", "granian", "mw10", 24000.0),
            rec("starlette", "granian", "plaintext", 20000.0),
            rec("starlette", "granian", "mw10", None, "failed"),
            rec("koa", "node", "plaintext", 15000.0),
            rec("koa", "node", "mw10", 14000.0),
        ],
    }
    table = report.text_table(http)
    assert "28.5k (0.95)" in table and "FAILED" in table
    targets = {row[0]: row for row in report.targets(http)}
    assert targets["plaintext@granian vs raw ASGI"][-1] == "yes"
    assert targets["mw10@granian vs own plaintext"][3] == "0.84"
    assert targets["mw10@granian vs own plaintext"][-1] == "**no**"
    assert targets["plaintext@granian vs Koa"][-1] == "yes"
    doc = {
        "date": "2026-01-01T00:00:00",
        "machine": {"cpu_model": "cpu", "cpus": 2, "kernel": "6", "load_average": [0.1, 0, 0]},
        "versions": {
            "python": "3.11",
            "packages": {"scallion": "0.1"},
            "node": {"node": "v20"},
            "wrk": "wrk 4.1",
            "scallion_commit": "abc",
        },
        "http": http,
    }
    md = report.markdown(doc)
    assert "| scallion @ granian | 28.5k (0.95) | 24.0k (0.96) |" in md
    assert "starlette @ granian `mw10`: failed" in md


def test_hinstr_client_reads_keep_alive_answers_from_a_real_server() -> None:
    """bench hinstr's client: many requests on one connection, each answer whole and checked."""
    from bench import http_instr

    fw = FRAMEWORKS["scallion"]
    port = servers.free_port()
    server = servers.start(servers.command(fw, "granian", "base", port), port)
    try:
        for name in ("plaintext", "json", "error"):
            scenario = SCENARIOS[name]
            client = http_instr.Client(port, scenario)
            try:
                answers = [client.one() for _ in range(5)]
            finally:
                client.close()
            for answer in answers:
                assert scenario.check(answer) == []
        # The server's process tree holds the server itself (granian's worker is a child).
        assert http_instr._tree(server.pid)[0] == server.pid
    finally:
        servers.stop(server)
