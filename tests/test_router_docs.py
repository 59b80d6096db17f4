"""docs/router.md stays true: its python blocks run, in order, in one namespace."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from _router_helpers import fetch

DOC = Path(__file__).resolve().parents[1] / "docs" / "router.md"
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def run_doc() -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "router_docs"}
    for number, block in enumerate(BLOCK.findall(DOC.read_text(encoding="utf-8"))):
        exec(compile(block, f"{DOC.name} block {number}", "exec"), namespace)
    return namespace


def test_every_python_block_runs() -> None:
    namespace = run_doc()
    assert namespace["router"].url("user", id=1) == "/api/users/1"


async def test_the_documented_app_answers() -> None:
    ns = run_doc()
    app, router, api = ns["app"], ns["router"], ns["api"]
    assert (await fetch(app, "GET", "/api/users/7")).json() == {"id": "7"}
    assert (await fetch(app, "GET", "/api/pages/home")).headers["x-page"] == "home"
    assert (await fetch(app, "GET", "/api/admin/stats")).status_code == 401
    response = await fetch(app, "GET", "/api/nope")
    assert response.json() == {"error": "no such endpoint", "path": "/api/nope"}
    assert (await fetch(app, "DELETE", "/api/users/7")).status_code == 405
    assert (await fetch(api, "GET", "/api/v1/users/x/posts/8")).status_code == 400
    assert (await fetch(api, "GET", "/api/v1/users/3/posts/8")).json() == {
        "uid": "3",
        "pid": "8",
    }
    assert router.match("/api/users/9", "GET")[0][1] == {"id": "9"}
