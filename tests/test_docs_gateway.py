"""docs/gateway.md stays true: every complete YAML example passes ``check_gateway``, the
documented answers are what the gateway answers over the mock services, and the error
listing is what ``check_gateway`` reports."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from _docs_helpers import Block, block_at, blocks, runnable

from scallion.bff.gateway import check_gateway, load_gateway
from scallion.bff.mocks import RunningServer, control_of, mock_services, serve_app
from scallion.testing import AsyncTestClient

DOC = "gateway.md"
LOOPBACK_ENV = {
    "USERS_URL": "http://127.0.0.1:8001",
    "ORDERS_URL": "http://127.0.0.1:8002",
    "CATALOG_URL": "http://127.0.0.1:8003",
    "WAREHOUSE_URL": "http://127.0.0.1:8004",
}


def write(tmp_path: Path, block: Block) -> Path:
    path = tmp_path / "gateway.yaml"
    path.write_text(block.source, encoding="utf-8")
    return path


def test_the_blocks() -> None:
    assert len(runnable(DOC, "yaml")) == 6
    assert runnable(DOC, "python") == []  # the API block is a fragment: it needs a file


@pytest.mark.parametrize("block", runnable(DOC, "yaml"), ids=lambda b: b.id)
def test_yaml_example_is_valid(block: Block, tmp_path: Path) -> None:
    assert check_gateway(write(tmp_path, block), env=LOOPBACK_ENV) == []


def test_fragments_are_valid_inside_a_gateway(tmp_path: Path) -> None:
    backends, template = [b for b in blocks(DOC, "yaml") if b.fragment]
    indented = "\n".join("    " + line for line in backends.source.splitlines())
    text = (
        "upstreams:\n  users: {url: 'http://127.0.0.1:8001'}\n"
        "  orders: {url: 'http://127.0.0.1:8002'}\n"
        "endpoints:\n  - path: /api/users/:user_id\n" + indented + "\n"
        "  - path: /api/orders/:order_id\n    backends:\n"
        + "\n".join("      " + line for line in template.source.splitlines())
        + "\n"
    )
    path = tmp_path / "gateway.yaml"
    path.write_text(text, encoding="utf-8")
    assert check_gateway(path) == []


APPS = mock_services()


@pytest.fixture
async def services() -> AsyncIterator[dict[str, RunningServer]]:
    async with AsyncExitStack() as stack:
        running = {}
        for name, app in mock_services().items():
            server = await serve_app(app)
            stack.push_async_callback(server.stop)
            running[name] = server
            APPS[name] = app
        yield running


def env_for(services: dict[str, RunningServer]) -> dict[str, str]:
    return {f"{name.upper()}_URL": server.url for name, server in services.items()}


async def test_the_complete_example_answers_as_documented(
    services: dict[str, RunningServer], tmp_path: Path
) -> None:
    path = write(tmp_path, block_at(DOC, "path: /api/dashboard/:user_id", "yaml"))
    async with AsyncTestClient(load_gateway(path, env=env_for(services))) as client:
        r = await client.get("/api/dashboard/7")
        body = r.json()
        assert r.status_code == 200 and r.headers["x-scallion-completed"] == "true"
        assert list(body) == ["user", "orders", "recommendations", "missing"]
        assert body["missing"] == [] and "internal" not in body["user"]
        assert body["recommendations"]["items"]

        r = await client.get("/api/dashboard/100000")  # the users service's own 404
        assert r.status_code == 404 and "no user" in r.text

        control_of(APPS["orders"]).update({"fail_rate": 1.0})
        r = await client.get("/api/dashboard/7")
        body = r.json()
        assert r.status_code == 200 and r.headers["x-scallion-completed"] == "false"
        assert (body["orders"], body["missing"]) == ([], ["orders"])
        assert r.headers["cache-control"] == "no-store"

        await services["users"].stop()
        assert (await client.get("/api/dashboard/7")).status_code in (502, 503, 504)


async def test_steps_and_fan_out_example(
    services: dict[str, RunningServer], tmp_path: Path
) -> None:
    path = write(tmp_path, block_at(DOC, "path: /api/users/:user_id/first-order", "yaml"))
    async with AsyncTestClient(load_gateway(path, env=env_for(services))) as client:
        body = (await client.get("/api/users/7/first-order")).json()
    assert body["missing"] == []
    assert body["order"] == body["orders"][0]
    assert [item["sku"] for item in body["items"]] == body["order"]["items"]


async def test_backend_cache_example(services: dict[str, RunningServer], tmp_path: Path) -> None:
    path = write(tmp_path, block_at(DOC, "path: /api/users/:user_id/card", "yaml"))
    async with AsyncTestClient(load_gateway(path, env=env_for(services))) as client:
        user = (await client.get("/api/users/7")).json()
        card = (await client.get("/api/users/7/card")).json()
        again = (await client.get("/api/users/7/card")).json()
        french = await client.get("/api/users/7", headers={"accept-language": "fr"})
    assert user["missing"] == card["missing"] == [] and again == card
    assert "internal" not in user["user"] and set(card["user"]) == {"id", "name"}
    assert card["recommendations"]["user_id"] == 7 and french.status_code == 200
    users = control_of(APPS["users"]).calls
    assert users["/users/7"] == 2  # the page and the card share one entry; French is its own
    assert control_of(APPS["catalog"]).calls["/recommendations/7"] == 1


BAD = """\
upstreams:
  users:
    url: http://127.0.0.1:8001
    retry:
      backof: 0.1
  orders:
    url: http://127.0.0.1:8002
    breaker: {failure_rate: 2}
endpoints:
  - path: /api/x/:user_id
    backends:
      - upstream: users
        path: /users/{user_id}
        group: user
      - upstream: orders
        name: orders
        path: /orders
        group: user
      - upstream: ordrs
        path: /x/{idd}
  - path: /api/y
    backends:
      - upstream: users
        name: a
        name: b
        path: /u
"""


def test_the_error_listing_is_what_check_reports(tmp_path: Path) -> None:
    (listing,) = [b for b in blocks(DOC, "") if "unknown field 'backof'" in b.source]
    documented = [
        re.sub(r"^gateway\.yaml:\d+: ", "", line)
        for line in listing.source.splitlines()
        if re.match(r"gateway\.yaml:\d+: ", line)
    ]
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD, encoding="utf-8")
    broken = tmp_path / "broken.yaml"
    broken.write_text("upstreams: {a: 1\n", encoding="utf-8")
    reported = [str(e) for e in check_gateway(bad) + check_gateway(broken)]
    reported = [re.sub(r"^\S+\.yaml:\d+: ", "", line) for line in reported]
    # the line numbers differ (the listing comes from a longer file), the messages do not
    assert [re.sub(r"line \d+", "line N", m) for m in reported] == [
        re.sub(r"line \d+", "line N", m) for m in documented
    ]
