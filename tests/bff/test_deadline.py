"""The deadline middleware: X-Request-Deadline in, ctx.state.deadline out, hard 504s."""

from __future__ import annotations

import asyncio
import time

import pytest

from scallion import App
from scallion.bff.deadline import deadline, parse_deadline, request_deadline
from scallion.testing import AsyncTestClient


def _app(*middleware: object) -> App:
    app = App()

    async def report(ctx, next):  # type: ignore[no-untyped-def]
        at = request_deadline(ctx)
        nap = float(ctx.query.get("sleep", "0"))
        if nap:
            await asyncio.sleep(nap)
        ctx.body = {"left_ms": None if at is None else round((at - time.monotonic()) * 1000)}

    app.use(*middleware, report)  # type: ignore[arg-type]
    return app


@pytest.mark.parametrize(
    ("value", "seconds"), [("250", 0.25), (" 1000 ", 1.0), ("0", 0.0), ("9" * 12, 86400.0)]
)
def test_parse_deadline(value: str, seconds: float) -> None:
    assert parse_deadline(value) == seconds


@pytest.mark.parametrize("value", ["", "-5", "1.5", "soon", "1e3", "9" * 13, "٣"])
def test_parse_deadline_rejects_malformed(value: str) -> None:
    with pytest.raises(ValueError, match="whole milliseconds"):
        parse_deadline(value)


async def test_header_sets_the_deadline() -> None:
    async with AsyncTestClient(_app(deadline())) as client:
        resp = await client.get("/", headers={"x-request-deadline": "500"})
        none = await client.get("/")
    assert 400 < resp.json()["left_ms"] <= 500
    assert none.json()["left_ms"] is None


async def test_budget_caps_the_callers_deadline() -> None:
    async with AsyncTestClient(_app(deadline(budget=0.3))) as client:
        capped = await client.get("/", headers={"x-request-deadline": "60000"})
        shorter = await client.get("/", headers={"x-request-deadline": "100"})
        own = await client.get("/")
    assert 200 < capped.json()["left_ms"] <= 300
    assert 0 < shorter.json()["left_ms"] <= 100
    assert 200 < own.json()["left_ms"] <= 300


async def test_malformed_header_is_a_400_and_spent_budget_a_504() -> None:
    async with AsyncTestClient(_app(deadline(budget=1.0))) as client:
        bad = await client.get("/", headers={"x-request-deadline": "tomorrow"})
        spent = await client.get("/", headers={"x-request-deadline": "0"})
    assert bad.status_code == 400
    assert "whole milliseconds" in bad.text
    assert spent.status_code == 504


async def test_enforced_deadline_cuts_the_chain() -> None:
    async with AsyncTestClient(_app(deadline(budget=0.2))) as client:
        start = time.perf_counter()
        resp = await client.get("/?sleep=2")
        elapsed = time.perf_counter() - start
    assert resp.status_code == 504
    assert elapsed < 0.5


async def test_unenforced_deadline_only_informs() -> None:
    async with AsyncTestClient(_app(deadline(budget=0.1, enforce=False))) as client:
        resp = await client.get("/?sleep=0.15")
    assert resp.status_code == 200
    assert resp.json()["left_ms"] < 0


async def test_an_apps_own_timeout_error_is_not_a_deadline() -> None:
    app = App()

    async def own_timeout(ctx, next):  # type: ignore[no-untyped-def]
        raise TimeoutError("database")

    app.use(deadline(budget=5.0), own_timeout)
    async with AsyncTestClient(app) as client:
        resp = await client.get("/")
    assert resp.status_code == 500  # the app's error, not a 504 from us


async def test_request_deadline_reads_the_header_without_middleware() -> None:
    async with AsyncTestClient(_app()) as client:
        resp = await client.get("/", headers={"x-request-deadline": "300"})
        ignored = await client.get("/", headers={"x-request-deadline": "junk"})
    assert 200 < resp.json()["left_ms"] <= 300
    assert ignored.json()["left_ms"] is None


def test_budget_must_be_positive() -> None:
    with pytest.raises(ValueError):
        deadline(budget=0)
