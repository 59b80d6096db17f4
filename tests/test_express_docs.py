"""docs/express.md stays true: its python blocks run in order, and what the text says
each block answers is what it answers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx

from scallion import App
from scallion.express import Express
from scallion.testing import AsyncTestClient

DOC = Path(__file__).resolve().parents[1] / "docs" / "express.md"
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def run_doc() -> list[dict[str, Any]]:
    """Run every block in one namespace; return a snapshot of the names after each."""
    namespace: dict[str, Any] = {"__name__": "express_docs"}
    snapshots = []
    for number, block in enumerate(BLOCK.findall(DOC.read_text(encoding="utf-8"))):
        exec(compile(block, f"{DOC.name} block {number}", "exec"), namespace)
        snapshots.append(dict(namespace))
    return snapshots


async def fetch(target: App | Express, method: str, url: str, **kwargs: Any) -> httpx.Response:
    app = target if isinstance(target, App) else App().use(target)
    async with AsyncTestClient(app, lifespan=False) as client:
        return await client.request(method, url, **kwargs)


def test_the_blocks_are_the_ones_these_tests_know() -> None:
    assert len(run_doc()) == 14


async def test_quick_start_and_handlers() -> None:
    blocks = run_doc()
    assert (await fetch(blocks[0]["app"], "GET", "/hello/ada")).json() == {"hello": "ada"}
    assert (await fetch(blocks[0]["app"], "GET", "/nope")).status_code == 404
    assert (await fetch(blocks[1]["ex"], "GET", "/trail")).json() == ["log", "load"]


async def test_errors() -> None:
    blocks = run_doc()
    app = blocks[2]["app"]
    r = await fetch(app, "GET", "/boom")
    assert (r.status_code, r.json()) == (500, {"error": "it broke"})
    r = await fetch(app, "GET", "/missing")
    assert (r.status_code, r.text) == (404, "no such thing")
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    r = await fetch(blocks[3]["ex"], "GET", "/search")
    assert (r.status_code, r.text) == (400, "q is required")
    assert (await fetch(blocks[3]["ex"], "GET", "/search?q=x")).text == "results"


async def test_routing() -> None:
    blocks = run_doc()
    ex = blocks[7]["ex"]
    assert (await fetch(ex, "GET", "/a")).text == "a"
    assert (await fetch(ex, "POST", "/a")).text == "posted"
    assert (await fetch(ex, "PUT", "/items/4")).json() == {"replaced": "4"}
    assert (await fetch(ex, "PATCH", "/anything")).text == "PATCH"
    assert (await fetch(ex, "HEAD", "/a")).status_code == 200
    assert (await fetch(ex, "GET", "/book")).text == "a book"
    assert (await fetch(ex, "POST", "/book")).status_code == 201
    assert (await fetch(ex, "GET", "/orders/12")).json() == {"order": "12"}
    assert (await fetch(ex, "GET", "/orders/x")).status_code == 404
    assert (await fetch(ex, "GET", "/files/a/b.txt")).text == "a/b.txt"
    assert (await fetch(ex, "GET", "/index")).text == "home"
    assert (await fetch(ex, "GET", "/dashboard")).text == "user dashboard"
    admin = await fetch(ex, "GET", "/dashboard", headers={"x-role": "admin"})
    assert admin.text == "admin dashboard"


async def test_use_and_nesting() -> None:
    blocks = run_doc()
    r = await fetch(blocks[8]["ex"], "GET", "/admin/users")
    assert (r.status_code, r.json()) == (403, {"path": "/users", "base": "/admin"})
    assert (
        await fetch(blocks[8]["ex"], "GET", "/admin/users", headers={"x-role": "admin"})
    ).status_code == 404
    r = await fetch(blocks[9]["app"], "GET", "/api/users/7?full=1")
    assert r.json() == {
        "id": "7",
        "path": "/7",
        "url": "/7?full=1",
        "base": "/api/users",
        "original": "/api/users/7?full=1",
    }
    r = await fetch(blocks[10]["orgs"], "GET", "/orgs/acme/repos/web")
    assert r.json() == {"org": "acme", "repo": "web"}


async def test_param() -> None:
    ex = run_doc()[11]["ex"]
    assert (await fetch(ex, "GET", "/users/1")).json() == {"name": "Ada"}
    assert (await fetch(ex, "GET", "/users/1/name")).text == "Ada"
    r = await fetch(ex, "GET", "/users/2")
    assert (r.status_code, r.text) == (404, "no user 2")


async def test_type_hints_block() -> None:
    typed = run_doc()[13]["typed"]
    ex = Express().use(typed).get("/", lambda req, res: res.send("ok"))
    assert (await fetch(ex, "GET", "/")).headers["x-typed"] == "yes"


async def test_sharing_with_the_onion() -> None:
    app = run_doc()[12]["app"]
    r = await fetch(app, "GET", "/private")
    assert (r.status_code, r.headers["location"]) == (302, "/login")
    assert "x-response-time" in r.headers
    r = await fetch(app, "GET", "/private", headers={"authorization": "Bearer ada"})
    assert r.text == "Hello ada!"
    assert "x-response-time" in r.headers
    r = await fetch(app, "GET", "/other")
    assert r.json() == {"fell through": "/other"}
    assert "x-response-time" in r.headers
