"""The declarative gateway over real loopback upstreams: HTTP in, HTTP out."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from scallion.bff.gateway import check_gateway

from ._gateway_support import Services, open_gateway, services_fixture  # noqa: F401

DASHBOARD = """\
endpoints:
  - path: /api/dashboard/:user_id
    backends:
      - upstream: users
        path: /users/{user_id}
        group: user
        deny: [internal]
      - upstream: orders
        path: /orders?user={user_id}
        group: orders
        allow: [id, total]
        fallback: []
      - upstream: catalog
        name: recs
        path: /recommendations/{user_id}
        group: recommendations
        allow: [items]
"""


async def test_dashboard_over_three_upstreams(tmp_path: Path, services: Services) -> None:
    async with open_gateway(tmp_path, DASHBOARD, services) as (client, _):
        r = await client.get("/api/dashboard/7")
    assert r.status_code == 200
    assert r.headers["x-scallion-completed"] == "true"
    body = r.json()
    assert body["missing"] == []
    assert body["user"] == {
        "id": 7,
        "name": "Ken #7",
        "email": "ken7@example.com",
        "tier": "pro",
    }
    assert body["orders"][0] == {"id": 700, "total": 27.25}
    assert set(body["recommendations"]) == {"items"}
    assert len(body["recommendations"]["items"]) == 3
    assert list(body) == ["user", "orders", "recommendations", "missing"]


async def test_failed_part_keeps_its_slot_and_is_reported(
    tmp_path: Path, services: Services
) -> None:
    services.controls["orders"].fail_rate = 1.0
    services.controls["catalog"].fail_rate = 1.0
    async with open_gateway(tmp_path, DASHBOARD, services) as (client, _):
        r = await client.get("/api/dashboard/7")
    assert r.status_code == 200
    assert r.headers["x-scallion-completed"] == "false"
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    assert body["orders"] == []  # its fallback
    assert body["recommendations"] is None  # no fallback: null, but the slot is there
    assert body["missing"] == ["orders", "recs"]
    assert body["user"]["id"] == 7


async def test_rename_allow_nested_and_collection(tmp_path: Path, services: Services) -> None:
    text = """\
    endpoints:
      - path: /u/:id
        backends:
          - upstream: users
            path: /users/{id}
            allow: [id, name, internal.risk_score]
            rename: {name: full_name, internal: risk}
          - upstream: orders
            path: /orders?user={id}
            collection: orders
    """
    async with open_gateway(tmp_path, text, services) as (client, _):
        r = await client.get("/u/7")
    body = r.json()
    assert body["id"] == 7 and body["full_name"] == "Ken #7"
    assert body["risk"] == {"risk_score": 0}
    assert "email" not in body and "internal" not in body
    assert isinstance(body["orders"], list) and body["orders"][0]["id"] == 700


async def test_expect_mismatch_names_the_backend(tmp_path: Path, services: Services) -> None:
    text = """\
    endpoints:
      - path: /optional
        backends:
          - {upstream: raw, path: /array, name: numbers, expect: object, group: n}
          - {upstream: users, path: /users/1, group: user}
      - path: /required
        backends:
          - {upstream: raw, path: /array, name: numbers, expect: object, required: true}
      - path: /groupless
        backends:
          - {upstream: raw, path: /array, name: numbers, required: true}
    """
    async with open_gateway(tmp_path, text, services) as (client, gateway):
        r = await client.get("/optional")
        assert r.status_code == 200 and r.json()["missing"] == ["numbers"]
        assert r.json()["n"] is None and r.json()["user"]["id"] == 1
        r = await client.get("/required")
        assert r.status_code == 502
        assert r.json()["message"] == (
            "backend 'numbers' answered a JSON array where a JSON object was expected"
        )
        r = await client.get("/groupless")
        assert r.status_code == 502
        assert "backend 'numbers' answered a JSON array, which cannot be merged" in r.text
        gateway.app.env = "development"
        r = await client.get("/optional")
        assert r.json()["errors"] == {
            "numbers": "backend 'numbers' answered a JSON array where a JSON object was expected"
        }


async def test_pass_status(tmp_path: Path, services: Services) -> None:
    text = """\
    endpoints:
      - path: /passing/:id
        backends:
          - {upstream: users, path: '/users/{id}', group: user, pass_status: [404]}
          - {upstream: orders, path: '/orders?user=1', group: orders}
      - path: /masked/:id
        backends:
          - {upstream: users, path: '/users/{id}', group: user}
          - {upstream: orders, path: '/orders?user=1', group: orders}
      - path: /passing-5xx
        backends:
          - {upstream: raw, path: /status/503, pass_status: all, group: x}
    """
    async with open_gateway(tmp_path, text, services) as (client, _):
        r = await client.get("/passing/5000")
        assert r.status_code == 404
        assert r.headers["x-scallion-passed"] == "user"
        assert "no user '5000'" in r.text
        r = await client.get("/masked/5000")
        assert r.status_code == 200
        assert r.json()["missing"] == ["user"] and r.json()["user"] is None
        r = await client.get("/passing/7")
        assert r.status_code == 200 and r.json()["user"]["id"] == 7
        r = await client.get("/passing-5xx")
        assert r.status_code == 503
        assert r.json() == {"error": "status 503", "server": "raw"}


@pytest.mark.parametrize(
    ("upstream", "path"),
    [
        ("dead", "/users"),  # connection refused
        ("raw", "/hang"),  # never answers: the upstream's 0.3 s timeout
        ("raw", "/status/500"),
        ("raw", "/status/503"),
        ("raw", "/garbage"),
        ("raw", "/truncated"),
        ("raw", "/chunked-cut"),
        ("raw", "/close"),
    ],
)
async def test_one_upstream_fault_degrades_the_endpoint(
    tmp_path: Path, services: Services, upstream: str, path: str
) -> None:
    text = f"""\
    endpoints:
      - path: /page
        backends:
          - {{upstream: users, path: /users/3, group: user}}
          - {{upstream: {upstream}, path: '{path}', group: broken, fallback: {{}}}}
    """
    async with open_gateway(tmp_path, text, services) as (client, _):
        started = time.monotonic()
        r = await client.get("/page")
        elapsed = time.monotonic() - started
    assert r.status_code == 200
    assert r.headers["x-scallion-completed"] == "false"
    body = r.json()
    assert body["missing"] == ["broken"] and body["broken"] == {}
    assert body["user"]["id"] == 3
    assert elapsed < 1.5


async def test_endpoint_timeout_cuts_a_hanging_backend(tmp_path: Path, services: Services) -> None:
    text = """\
    endpoints:
      - path: /page
        timeout: 0.15
        backends:
          - {upstream: users, path: /users/3, group: user}
          - {upstream: raw, path: '/slow?ms=2000', group: slow}
    """
    async with open_gateway(tmp_path, text, services) as (client, _):
        started = time.monotonic()
        r = await client.get("/page")
        elapsed = time.monotonic() - started
    assert 0.1 < elapsed < 0.6
    assert r.json()["missing"] == ["slow"] and r.json()["user"]["id"] == 3


async def test_request_deadline_is_propagated(tmp_path: Path, services: Services) -> None:
    text = """\
    endpoints:
      - path: /echo
        timeout: 0.5
        backends:
          - {upstream: raw, path: /echo, group: echo}
    """
    async with open_gateway(tmp_path, text, services) as (client, _):
        r = await client.get("/echo", headers={"x-request-deadline": "300", "x-request-id": "r-1"})
        sent = r.json()["echo"]["headers"]
        assert 200 <= int(sent["x-request-deadline"]) <= 300
        assert sent["x-request-id"] == "r-1"
        r = await client.get("/echo")
        assert 400 <= int(r.json()["echo"]["headers"]["x-request-deadline"]) <= 500
        r = await client.get("/echo", headers={"x-request-deadline": "soon"})
        assert r.status_code == 400


INJECTIONS = [
    "..",
    ".",
    "%2e%2e",
    "%2E.",
    "..%2F..%2Fadmin",
    "%2Fadmin",
    "a%3Fx%3D1",
    "a%23frag",
    "%40127.0.0.1",
    "http:%2F%2F127.0.0.1",
    "%2F%2F127.0.0.1",
    "a%00b",
    "%5C..%5Cadmin",
    "a%20b%0d%0aX-Injected:%201",
]


@pytest.mark.parametrize("value", INJECTIONS)
async def test_path_parameters_cannot_leave_their_segment(
    tmp_path: Path, services: Services, value: str
) -> None:
    evil = services.evil
    text = """\
    endpoints:
      - path: /api/items/:id
        backends:
          - upstream: raw
            path: /echo/{id}/details?q={query.q}
            group: echo
            pass_status: all
    """
    payload = value.replace("127.0.0.1", f"127.0.0.1:{evil.port}")
    async with open_gateway(tmp_path, text, services) as (client, _):
        r = await client.get(f"/api/items/{payload}?q=x%26admin%3D1")
    assert evil.hits == {} and evil.connections == 0
    if value in ("..", ".", "%2e%2e", "%2E."):
        # refused before any call (404 when the client itself collapsed the dot segment)
        assert r.status_code in (400, 404)
        assert services.raw.requests == []
        return
    (request,) = services.raw.requests
    target = str(request["target"])
    path, _, query = target.partition("?")
    assert path.startswith("/echo/") and path.endswith("/details")
    assert path.count("/") == 3  # the value stayed in its one segment
    assert query == "q=x%26admin%3D1"
    assert "#" not in target and "\r" not in target and "\n" not in target
    assert "x-injected" not in request["headers"]


async def test_cache_hit_on_second_call(tmp_path: Path, services: Services) -> None:
    text = """\
    endpoints:
      - path: /products
        cache: {ttl: 30}
        backends:
          - {upstream: catalog, path: /products, collection: products}
    """
    async with open_gateway(tmp_path, text, services) as (client, _):
        first = await client.get("/products")
        second = await client.get("/products")
    assert first.headers["x-cache"] == "MISS" and second.headers["x-cache"] == "HIT"
    assert first.json() == second.json() and len(first.json()["products"]) == 8
    assert second.headers["x-scallion-completed"] == "true"
    assert services.controls["catalog"].calls["/products"] == 1


async def test_incomplete_answers_are_not_cached(tmp_path: Path, services: Services) -> None:
    text = """\
    endpoints:
      - path: /products
        cache: {ttl: 30}
        backends:
          - {upstream: catalog, path: /products, collection: products}
          - {upstream: users, path: /users/1, group: user}
    """
    services.controls["users"].fail_rate = 1.0
    async with open_gateway(tmp_path, text, services) as (client, _):
        first = await client.get("/products")
        services.controls["users"].fail_rate = 0.0
        second = await client.get("/products")
    assert first.json()["missing"] == ["user"]
    assert second.headers["x-cache"] == "MISS" and second.json()["missing"] == []


async def test_thundering_herd_makes_one_upstream_call(tmp_path: Path, services: Services) -> None:
    text = """\
    endpoints:
      - path: /products
        cache: {ttl: 30}
        backends:
          - {upstream: catalog, path: /products, collection: products}
    """
    services.controls["catalog"].latency_ms = 100
    async with open_gateway(tmp_path, text, services) as (client, _):
        answers = await asyncio.gather(*(client.get("/products") for _ in range(50)))
    assert all(r.status_code == 200 for r in answers)
    assert {len(r.json()["products"]) for r in answers} == {8}
    assert services.controls["catalog"].calls["/products"] == 1


async def test_flapping_upstream_opens_probes_and_closes_the_breaker(
    tmp_path: Path, services: Services
) -> None:
    head = """\
upstreams:
  users: {url: "${USERS_URL}", retry: false}
  orders:
    url: "${ORDERS_URL}"
    retry: false
    breaker: {failure_rate: 0.5, minimum_calls: 4, window: 4, wait: 0.3, half_open_calls: 1}
status: true
"""
    text = """\
    endpoints:
      - path: /page
        backends:
          - {upstream: users, path: /users/2, group: user}
          - {upstream: orders, path: '/orders?user=2', group: orders, fallback: []}
    """
    orders = services.controls["orders"]

    async def state(client: object) -> str:
        r = await client.get("/_scallion/status")  # type: ignore[attr-defined]
        return str(r.json()["upstreams"]["orders"]["instances"][0]["breaker"]["state"])

    async with open_gateway(tmp_path, text, services, head=head) as (client, _):
        orders.fail_rate = 1.0
        for _ in range(4):
            r = await client.get("/page")
            assert r.json()["missing"] == ["orders"]
        assert await state(client) == "open"
        page = await client.get("/_scallion")  # the live dashboard beside the JSON
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        data = (await client.get("/_scallion/status.json")).json()
        assert "orders" in str(data)
        calls = orders.calls["/orders"]
        for _ in range(5):  # fails fast: the upstream sees nothing
            r = await client.get("/page")
            assert r.status_code == 200 and r.json()["missing"] == ["orders"]
            assert r.json()["user"]["id"] == 2
        assert orders.calls["/orders"] == calls
        orders.fail_rate = 0.0
        await asyncio.sleep(0.35)
        r = await client.get("/page")  # the probe
        assert r.json()["missing"] == [] and orders.calls["/orders"] == calls + 1
        assert await state(client) == "closed"


async def test_redis_unreachable_still_answers(tmp_path: Path, services: Services) -> None:
    head = """\
redis: redis://127.0.0.1:1/0
upstreams:
  catalog: {url: "${CATALOG_URL}", retry: false}
  users: {url: "${USERS_URL}", retry: false}
"""
    text = """\
    endpoints:
      - path: /products
        cache: {ttl: 30}
        backends:
          - {upstream: catalog, path: /products, collection: products}
      - path: /user
        backends:
          - {upstream: users, path: /users/1, group: user}
    """
    async with open_gateway(tmp_path, text, services, head=head) as (client, _):
        started = time.monotonic()
        for _ in range(3):
            r = await client.get("/products")
            assert r.status_code == 200 and len(r.json()["products"]) == 8
            r = await client.get("/user")
            assert r.status_code == 200 and r.json()["user"]["id"] == 1
        assert time.monotonic() - started < 5
    assert r.json()["missing"] == []


async def test_steps_and_fan_out(tmp_path: Path, services: Services) -> None:
    text = """\
    endpoints:
      - path: /first-order/:uid
        backends:
          - {upstream: orders, path: '/orders?user={uid}', group: orders, expect: array}
          - {upstream: orders, name: order, depends_on: orders, path: '/orders/{orders.0.id}',
             group: order}
          - {upstream: catalog, name: items, over: order.items, path: '/items/{item}',
             group: items, concurrency: 2}
    """
    async with open_gateway(tmp_path, text, services) as (client, _):
        r = await client.get("/first-order/6")
        body = r.json()
        assert body["missing"] == []
        assert body["order"]["id"] == 600
        assert [i["sku"] for i in body["items"]] == body["order"]["items"]
        services.controls["orders"].fail_rate = 1.0
        r = await client.get("/first-order/6")
        assert r.json()["missing"] == ["orders", "order", "items"]
        assert r.json()["items"] is None


async def test_fan_out_item_failures_keep_their_slots(tmp_path: Path, services: Services) -> None:
    text = """\
    endpoints:
      - path: /skus/:uid
        backends:
          - {upstream: orders, path: '/orders?user={uid}', group: orders}
          - {upstream: catalog, name: items, over: orders, path: '/items/{item.id}',
             group: items}
    """
    async with open_gateway(tmp_path, text, services) as (client, _):
        r = await client.get("/skus/1")
    body = r.json()
    # order ids are not skus: every item 404s, each keeps its slot
    assert body["items"] == [None, None]
    assert body["missing"] == ["items[0]", "items[1]"]
    assert r.headers["x-scallion-completed"] == "false"


async def test_merge_rules_at_runtime(tmp_path: Path, services: Services) -> None:
    text = """\
    endpoints:
      - path: /error
        backends:
          - {upstream: users, path: /users/1, name: a}
          - {upstream: users, path: /users/2, name: b}
      - path: /deep
        merge: deep
        backends:
          - {upstream: users, path: /users/1, name: a}
          - {upstream: users, path: /users/2, name: b}
      - path: /shallow
        merge: shallow
        backends:
          - {upstream: users, path: /users/2, name: b}
          - {upstream: users, path: /users/1, name: a}
    """
    async with open_gateway(tmp_path, text, services) as (client, _):
        r = await client.get("/error")
        assert r.status_code == 502
        assert r.json()["message"] == (
            "backends 'a' and 'b' both answered the key 'id' (the endpoint says merge: error)"
        )
        for _ in range(3):  # declaration order decides, never arrival order
            r = await client.get("/deep")
            assert r.json()["id"] == 2 and r.json()["internal"]["risk_score"] == 2
            r = await client.get("/shallow")
            assert r.json()["id"] == 1


async def test_post_forwards_the_body(tmp_path: Path, services: Services) -> None:
    text = """\
    endpoints:
      - path: /orders
        method: POST
        backends:
          - {upstream: raw, path: /echo, method: POST, group: echo}
    """
    async with open_gateway(tmp_path, text, services) as (client, _):
        r = await client.post("/orders", json={"sku": "sku-1"})
        assert r.status_code == 200
        echo = r.json()["echo"]
        assert echo["method"] == "POST" and echo["body"] == '{"sku":"sku-1"}'
        assert echo["headers"]["content-type"] == "application/json"
        r = await client.get("/orders")
        assert r.status_code == 405


async def test_openapi_lists_endpoints(tmp_path: Path, services: Services) -> None:
    text = """\
    title: shop
    version: "2.1"
    endpoints:
      - path: /api/dashboard/:user_id
        name: dashboard
        summary: the dashboard
        backends:
          - {upstream: users, path: '/users/{user_id}?lang={query.lang}', group: user,
             pass_status: [404]}
      - path: /api/orders
        method: POST
        backends: [{upstream: orders, path: /orders, method: POST}]
    """
    async with open_gateway(tmp_path, text, services) as (client, _):
        r = await client.get("/openapi.json")
    spec = r.json()
    assert spec["openapi"].startswith("3.1") and spec["info"] == {"title": "shop", "version": "2.1"}
    assert set(spec["paths"]) == {"/api/dashboard/{user_id}", "/api/orders"}
    op = spec["paths"]["/api/dashboard/{user_id}"]["get"]
    assert op["operationId"] == "dashboard" and op["summary"] == "the dashboard"
    params = [(p["name"], p["in"]) for p in op["parameters"]]
    assert params == [("user_id", "path"), ("lang", "query")]
    assert {"200", "404", "502", "503", "504"} <= set(op["responses"])
    props = op["responses"]["200"]["content"]["application/json"]["schema"]["properties"]
    assert {"user", "missing", "stale"} <= set(props)
    assert "post" in spec["paths"]["/api/orders"]
    assert "127.0.0.1" not in r.text  # no upstream addresses leak


async def test_status_page_is_off_unless_asked(tmp_path: Path, services: Services) -> None:
    text = "endpoints: [{path: /u, backends: [{upstream: users, path: /users/1}]}]\n"
    async with open_gateway(tmp_path, text, services) as (client, _):
        assert (await client.get("/_scallion/status")).status_code == 404


def test_check_gateway_reports_without_serving(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(
        "upstreams: {a: {url: 'http://127.0.0.1:1'}}\n"
        "endpoints: [{path: /x, backends: [{upstream: a, path: /x}]}]\n"
    )
    assert check_gateway(good) == []
    bad = tmp_path / "bad.yaml"
    bad.write_text("upstreams: {a: {url: 'http://127.0.0.1:1'}}\nendpoints: [{path: /x}]\n")
    (error,) = check_gateway(bad)
    assert str(error) == f"{bad}:2: endpoints[0]: missing required field 'backends'"
    missing = check_gateway(tmp_path / "nope.yaml")
    assert "cannot read the file" in str(missing[0])


def test_auth_and_rate_limit_compile_to_library_middleware(tmp_path: Path) -> None:
    from importlib.util import find_spec

    path = tmp_path / "g.yaml"
    path.write_text(
        "upstreams: {a: {url: 'http://127.0.0.1:1'}}\n"
        "endpoints:\n"
        "  - path: /x\n"
        "    auth: {type: jwt, secret: s3cret-s3cret-s3cret-s3cret-s3cret, algorithms: [HS256]}\n"
        "    backends: [{upstream: a, path: /x}]\n"
        "  - path: /y\n"
        "    rate_limit: {limit: 5, window: 1}\n"
        "    backends: [{upstream: a, path: /y}]\n"
    )
    messages = [str(e) for e in check_gateway(path)]
    for module, line, field in [("jwt_auth", 3, "auth"), ("rate_limit", 6, "rate_limit")]:
        mentioned = [m for m in messages if f"scallion.middleware.{module}" in m]
        if find_spec(f"scallion.middleware.{module}") is None:
            # Not in this install: said clearly, at config time, with the line.
            (message,) = mentioned
            index = 0 if field == "auth" else 1
            assert message.startswith(f"{path}:{line}: endpoints[{index}].{field}: ")
            assert "does not provide" in message
        else:
            assert mentioned == []
