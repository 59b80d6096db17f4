"""``python -m bench bff`` smoke test: every Python gateway answers the fan-out correctly.

Real loopback processes, as the benchmark runs them (the upstream service process, then
each gateway on granian or aiohttp's server); no timing. Also: coalescing on a cold key
is counted by the upstreams, and the report renders from a run's document.
"""

from __future__ import annotations

import http.client
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.bff import burst, report, runner
from bench.bff.common import CACHED_PATH, EXPECTED, FANOUT_PATH, SERVICES, check_dashboard
from bench.bff.gateways import GATEWAYS, Gateway
from bench.http_suite import servers

pytestmark = pytest.mark.timeout(60)

PYTHON_GATEWAYS = [g for g in GATEWAYS.values() if g.language == "python"]


@pytest.fixture(scope="module")
def upstreams() -> Iterator[runner.Upstreams]:
    ups = runner.Upstreams(cpu=None)
    try:
        yield ups
    finally:
        ups.stop()


def test_upstreams_answer_and_count(upstreams: runner.Upstreams) -> None:
    burst.upstream_calls(upstreams.ports, reset=True)
    for service in SERVICES:
        conn = http.client.HTTPConnection("127.0.0.1", upstreams.ports[service.name], timeout=5)
        conn.request("GET", service.path)
        resp = conn.getresponse()
        assert resp.status == 200
        assert resp.read() == service.body
        conn.request("GET", "/elsewhere")
        resp = conn.getresponse()
        assert resp.status == 404
        resp.read()
        conn.close()
    assert burst.upstream_calls(upstreams.ports) == {s.name: 1 for s in SERVICES}


@pytest.mark.parametrize("gateway", PYTHON_GATEWAYS, ids=lambda g: g.name)
def test_gateway_answers_every_endpoint(gateway: Gateway, upstreams: runner.Upstreams) -> None:
    server = runner.start_gateway(gateway, upstreams.env, None)
    try:
        for scenario in gateway.scenarios:
            assert runner.check(server.port, scenario) == [], (gateway.name, scenario.name)
    finally:
        servers.stop(server)
    assert not server.alive()


def test_coalescing_is_counted(upstreams: runner.Upstreams) -> None:
    server = runner.start_gateway(GATEWAYS["scallion"], upstreams.env, None)
    try:
        burst.upstream_calls(upstreams.ports, reset=True)
        answers = burst.run_burst(server.port, f"{CACHED_PATH}?cold=test", 16)
        coalesced = burst.upstream_calls(upstreams.ports)
        burst.upstream_calls(upstreams.ports, reset=True)
        plain = burst.run_burst(server.port, FANOUT_PATH, 16)
        uncached = burst.upstream_calls(upstreams.ports)
    finally:
        servers.stop(server)
    for answer in [*answers, *plain]:
        assert check_dashboard(answer.status, answer.content_type, answer.body) == []
    assert coalesced == {s.name: 1 for s in SERVICES}
    assert uncached == {s.name: 16 for s in SERVICES}


def test_check_rejects_a_wrong_merge() -> None:
    assert check_dashboard(200, "application/json", b'{"user": null}')
    assert check_dashboard(502, "text/plain", b"bad gateway")
    assert check_dashboard(200, "application/json", orjson.dumps(EXPECTED)) == []


def test_report_renders_targets_and_coalescing() -> None:
    def rec(gw: str, sc: str, rps: float, p50: float) -> dict[str, object]:
        rep = {"rps": rps, "p50_ms": p50, "p99_ms": p50 * 2}
        return {
            "gateway": gw,
            "server": "x",
            "scenario": sc,
            "status": "ok",
            "reason": "",
            "rps_median": rps,
            "p50_ms_median": p50,
            "p99_ms_median": p50 * 2,
            "cpu_us_per_request_median": 300.0,
            "reps": [rep, rep],
        }

    settings = runner.Settings(gateways=PYTHON_GATEWAYS, duration=1, warmup=0, reps=2)
    doc = {
        "date": "2026-01-01T00:00:00",
        "command": "python -m bench bff",
        "machine": {
            "cpu_model": "cpu",
            "cpus": 2,
            "kernel": "6",
            "load_average": [1.0, 1.0, 1.0],
            "load_average_end": [1.0, 1.0, 1.0],
        },
        "versions": {
            "python": "3.11",
            "packages": {"scallion": "0"},
            "node": {"node": "v20"},
            "wrk": "wrk 4",
            "scallion_commit": "abc",
        },
        "settings": settings.to_json(),
        "notes": {"scallion": "n", "koa": "k"},
        "records": [
            rec("scallion", "fanout", 2600, 43.0),
            rec("koa", "fanout", 2500, 48.0),
            rec("scallion", "cached", 9000, 10.0),
            rec("scallion", "plaintext", 10000, 9.0),
            {**rec("express", "fanout", 0, 0), "status": "failed", "reason": "npm missing"},
        ],
        "coalescing": [
            {
                "gateway": "scallion",
                "requests": 128,
                "trials": [
                    {
                        "label": "cache-aside dict, no coalescing",
                        "upstream_calls": {"users": 128, "orders": 128, "catalog": 128},
                        "total_calls": 384,
                        "wrong_answers": 0,
                    },
                    {
                        "label": "response cache (coalescing)",
                        "upstream_calls": {"users": 1, "orders": 1, "catalog": 1},
                        "total_calls": 3,
                        "wrong_answers": 0,
                    },
                ],
            }
        ],
    }
    text = report.markdown(doc)
    assert "| scallion fan-out ≥ Koa + undici | 2,600 vs 2,500 req/s | 1.04 |" in text
    assert "+3.0 ms" in text  # p50 43 ms against the 40 ms upstream
    assert "| 0.90 | ≥ 0.80 | yes |" in text  # cached 9,000 / plaintext 10,000
    assert "381 (cache-aside dict, no coalescing)" in text
    assert "express `fanout`: failed — npm missing" in text
    assert shutil.which("wrk") is None or "wrk" in text
