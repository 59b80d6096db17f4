"""docs/middleware.md stays true: every self-contained python block runs on its own, the
from_config YAML example builds, and the examples answer what the text says."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from _docs_helpers import Block, block_at, blocks, run_block, runnable

from scallion.middleware import from_config
from scallion.testing import AsyncTestClient

DOC = "middleware.md"
REDIS_URL = os.environ.get("SCALLION_TEST_REDIS", "redis://127.0.0.1:6379/15")


@pytest.fixture(autouse=True)
def _redis_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", REDIS_URL)


async def fetch(app: Any, method: str, url: str, **kwargs: Any) -> httpx.Response:
    async with AsyncTestClient(app) as client:
        return await client.request(method, url, **kwargs)


def test_the_blocks() -> None:
    assert len(runnable(DOC)) >= 20
    fragments = [b for b in blocks(DOC, "python") if b.fragment]
    assert [("serve_static(" in b.source or "from_config(" in b.source) for b in fragments] == [
        True,
        True,
    ]


@pytest.mark.parametrize("block", runnable(DOC), ids=lambda b: b.id)
async def test_block_runs(block: Block) -> None:
    ns = await run_block(block)
    for value in list(ns.values()):
        close = getattr(value, "close", None)
        if type(value).__name__ == "RedisStore" and close is not None:
            await close()


def test_the_config_file_example_builds(tmp_path: Path) -> None:
    (yaml_block,) = blocks(DOC, "yaml")
    path = tmp_path / "middleware.yaml"
    path.write_text(yaml_block.source, encoding="utf-8")
    built = from_config(path)
    assert list(built.names) == ["error_handler", "cors", "timeout"]


async def test_error_handler_problem_details() -> None:
    ns = await run_block(block_at(DOC, "def problem(ctx, payload, err):"))
    r = await fetch(ns["app"], "POST", "/orders", json={"qty": 0})
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json() == {"title": "Validation failed", "status": 400}
    assert (await fetch(ns["app"], "POST", "/orders", json={"qty": 2})).status_code == 201


async def test_unless_and_when() -> None:
    ns = await run_block(block_at(DOC, "app.use(when(audit"))
    app = ns["app"]
    assert (await fetch(app, "GET", "/public/logo.png")).status_code == 404  # no 401
    assert (await fetch(app, "GET", "/login")).status_code == 404
    assert (await fetch(app, "GET", "/LOGIN/")).status_code == 401  # exemptions are exact
    assert (await fetch(app, "GET", "/orders")).status_code == 401
    assert (await fetch(app, "POST", "/public/form")).headers["x-audited"] == "yes"
    assert "x-audited" not in (await fetch(app, "GET", "/public/form")).headers


async def test_timeout_route_and_body_parser() -> None:
    ns = await run_block(block_at(DOC, "set_timeout(60), build_report"))
    assert (await fetch(ns["app"], "GET", "/reports/3")).json() == {"report": "3"}
    ns = await run_block(block_at(DOC, 'json_limit="5mb"'))
    r = await fetch(ns["app"], "POST", "/users", json={"name": "ada"})
    assert r.json() == {"name": "ada"}
    r = await fetch(ns["app"], "POST", "/users", data={"name": "grace"})
    assert r.json() == {"name": "grace"}


async def test_multipart_upload() -> None:
    ns = await run_block(block_at(DOC, "multipart(max_file_size"))
    files = {"avatar": ("me.png", b"\x89PNG fake", "image/png")}
    r = await fetch(ns["app"], "POST", "/avatar/ada", files=files)
    assert r.json() == {"bytes": 9}
    assert (ns["AVATARS"] / "ada.img").read_bytes() == b"\x89PNG fake"
    text = {"avatar": ("me.txt", b"hello", "text/plain")}
    assert (await fetch(ns["app"], "POST", "/avatar/ada", files=text)).status_code == 415


async def test_session_login_flow_on_redis() -> None:
    ns = await run_block(block_at(DOC, 'session("redis"'))
    async with AsyncTestClient(ns["app"]) as client:
        wrong = await client.post("/login", json={"user": "ada", "password": "x"})
        assert wrong.status_code == 401
        r = await client.post(
            "/login", json={"user": "ada", "password": "correct horse battery staple"}
        )
        assert r.json() == {"user": "ada"} and "scallion.sid" in r.cookies
        assert (await client.get("/me")).json() == {"user": "ada"}
        assert (await client.post("/logout")).status_code == 204  # the record is deleted
        assert (await client.get("/me")).json() == {"user": None}


async def test_api_key_and_cors() -> None:
    ns = await run_block(block_at(DOC, "async def lookup_key"))
    r = await fetch(ns["app"], "GET", "/")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'ApiKey realm="api", header="X-API-Key"'
    assert (
        await fetch(ns["app"], "GET", "/", headers={"x-api-key": "k_live_2..."})
    ).status_code == 404
    ns = await run_block(block_at(DOC, "public.use(cors("))
    preflight = {"origin": "https://a.example", "access-control-request-method": "PUT"}
    r = await fetch(ns["public"], "OPTIONS", "/items", headers=preflight)
    assert r.status_code == 204 and r.headers["access-control-allow-origin"] == "*"
    r = await fetch(ns["app"], "GET", "/", headers={"origin": "https://x.example.dev"})
    assert r.headers["access-control-allow-origin"] == "https://x.example.dev"
    assert r.headers["access-control-allow-credentials"] == "true"
