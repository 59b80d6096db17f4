"""Transports against real loopback servers: answers, faults, pool wait, and pool healing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import orjson
import pytest

from scallion import App
from scallion.bff.transport import (
    AiohttpTransport,
    ASGITransport,
    ConnectFailed,
    H1Transport,
    PoolTimeout,
    PyreqwestTransport,
    ResponseBroken,
    Transport,
    TransportTimeout,
    default_transport,
)
from scallion.router import Router
from scallion.types import Receive, Scope, Send

from ._loopback import LoopbackServer, free_port

AnyTransport = H1Transport | PyreqwestTransport | AiohttpTransport
Factory = Callable[..., AnyTransport]
KINDS: dict[str, Factory] = {
    "h1": H1Transport,
    "pyreqwest": PyreqwestTransport,
    "aiohttp": AiohttpTransport,
}


@pytest.fixture
async def server() -> AsyncIterator[LoopbackServer]:
    srv = await LoopbackServer("a").start()
    yield srv
    await srv.close()


@pytest.fixture(params=sorted(KINDS))
async def make(request: pytest.FixtureRequest) -> AsyncIterator[Factory]:
    made: list[AnyTransport] = []
    kind = KINDS[request.param]

    def factory(**options: object) -> AnyTransport:
        transport = kind(**options)
        made.append(transport)
        return transport

    yield factory
    for transport in made:
        await transport.aclose()


async def test_default_transport_is_the_measured_winner() -> None:
    transport = default_transport()
    try:
        assert isinstance(transport, H1Transport)
        assert isinstance(transport, Transport)
    finally:
        await transport.aclose()


async def test_answer_status_headers_body_and_timings(
    make: Factory, server: LoopbackServer
) -> None:
    t = make()
    resp = await t.request("GET", server.url + "/ok", {"x-request-id": "r1"}, None, 2.0)
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.headers.get("content-type") == "application/json"
    assert orjson.loads(resp.body) == {"ok": True, "server": "a"}
    assert 0 < resp.elapsed < 1.0
    assert resp.pool_wait == 0.0
    assert server.requests[-1]["headers"]["x-request-id"] == "r1"  # type: ignore[index]


async def test_post_body_reaches_the_upstream(make: Factory, server: LoopbackServer) -> None:
    t = make()
    body = b'{"name": "ada"}'
    resp = await t.request(
        "POST", server.url + "/echo?x=1", {"content-type": "application/json"}, body, 2.0
    )
    echoed = orjson.loads(resp.body)
    assert echoed["method"] == "POST"
    assert echoed["query"] == {"x": "1"}
    assert echoed["body"] == body.decode()


async def test_keep_alive_reuses_one_connection(make: Factory, server: LoopbackServer) -> None:
    t = make()
    for _ in range(20):
        assert (await t.request("GET", server.url + "/ok", {}, None, 2.0)).status == 200
    assert server.connections == 1


async def test_refused_connection_fails_fast(make: Factory) -> None:
    t = make()
    start = time.perf_counter()
    with pytest.raises(ConnectFailed):
        await t.request("GET", f"http://127.0.0.1:{free_port()}/", {}, None, 5.0)
    assert time.perf_counter() - start < 1.0


async def test_hanging_upstream_times_out_on_time(make: Factory, server: LoopbackServer) -> None:
    t = make()
    start = time.perf_counter()
    with pytest.raises(TransportTimeout):
        await t.request("GET", server.url + "/hang", {}, None, 0.3)
    assert 0.25 < time.perf_counter() - start < 1.0
    # the transport's own timeout ended the request: the upstream sees its socket close
    for _ in range(40):
        if server.open_connections == 0:
            break
        await asyncio.sleep(0.025)
    assert server.open_connections == 0


async def test_a_body_that_stalls_times_out_on_time(make: Factory, server: LoopbackServer) -> None:
    t = make()
    start = time.perf_counter()
    with pytest.raises(TransportTimeout):
        await t.request("GET", server.url + "/stall-body", {}, None, 0.3)
    assert 0.25 < time.perf_counter() - start < 0.8


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("/truncated", ResponseBroken),
        ("/chunked-cut", ResponseBroken),
        ("/close", ConnectFailed),
    ],
)
async def test_broken_answers_are_typed_errors(
    make: Factory, server: LoopbackServer, path: str, error: type[Exception]
) -> None:
    t = make()
    start = time.perf_counter()
    with pytest.raises(error):
        await t.request("GET", server.url + path, {}, None, 5.0)
    assert time.perf_counter() - start < 1.0
    assert (await t.request("GET", server.url + "/ok", {}, None, 2.0)).status == 200


async def test_error_statuses_and_garbage_are_answers(
    make: Factory, server: LoopbackServer
) -> None:
    t = make()
    resp = await t.request("GET", server.url + "/status/503", {}, None, 2.0)
    assert resp.status == 503
    assert b"status 503" in resp.body
    garbage = await t.request("GET", server.url + "/garbage", {}, None, 2.0)
    assert garbage.status == 200
    assert garbage.body.startswith(b"<html>")


async def test_pool_wait_is_reported_apart_from_request_time(
    make: Factory, server: LoopbackServer
) -> None:
    t = make(max_connections=1)
    url = server.url + "/slow?ms=200"
    first, second = await asyncio.gather(
        t.request("GET", url, {}, None, 3.0), t.request("GET", url, {}, None, 3.0)
    )
    waited = max(first.pool_wait, second.pool_wait)
    assert min(first.pool_wait, second.pool_wait) == 0.0
    assert 0.15 < waited < 0.6
    assert 0.15 < second.elapsed < 0.5  # the request itself, without the wait
    assert 0.15 < first.elapsed < 0.5


async def test_pool_wait_counts_against_the_timeout(make: Factory, server: LoopbackServer) -> None:
    t = make(max_connections=1)
    slow = asyncio.ensure_future(t.request("GET", server.url + "/slow?ms=400", {}, None, 3.0))
    await asyncio.sleep(0.05)
    start = time.perf_counter()
    with pytest.raises(PoolTimeout):
        await t.request("GET", server.url + "/ok", {}, None, 0.15)
    assert 0.1 < time.perf_counter() - start < 0.4
    assert (await slow).status == 200


async def test_cancelled_calls_never_leak_pool_slots(make: Factory, server: LoopbackServer) -> None:
    """Overload with cancellations (httpcore #550): afterwards the pool serves at once."""
    t = make(max_connections=3)
    calls = [
        asyncio.ensure_future(t.request("GET", server.url + "/hang", {}, None, 0.5))
        for _ in range(30)
    ]
    await asyncio.sleep(0.1)
    for call in calls[::2]:
        call.cancel()  # half cancelled while waiting or in flight
    results = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(r, asyncio.CancelledError | TransportTimeout) for r in results)
    start = time.perf_counter()
    oks = await asyncio.gather(
        *(t.request("GET", server.url + "/ok", {}, None, 1.0) for _ in range(6))
    )
    assert [r.status for r in oks] == [200] * 6
    assert time.perf_counter() - start < 0.5


async def test_waiters_get_freed_slots_in_order_and_a_cancelled_one_is_skipped(
    make: Factory, server: LoopbackServer
) -> None:
    """One connection: the slot goes to the waiters first come, first served; a waiter
    cancelled while queued neither gets it nor blocks the next one."""
    t = make(max_connections=1)
    done: list[str] = []

    async def call(name: str, ms: int) -> None:
        resp = await t.request("GET", server.url + f"/slow?ms={ms}", {}, None, 3.0)
        assert resp.status == 200
        done.append(name)

    first = asyncio.ensure_future(call("first", 150))
    await asyncio.sleep(0.03)
    second = asyncio.ensure_future(call("second", 10))
    await asyncio.sleep(0.01)
    third = asyncio.ensure_future(call("third", 10))
    await asyncio.sleep(0.01)
    fourth = asyncio.ensure_future(call("fourth", 10))
    await asyncio.sleep(0.01)
    second.cancel()
    await asyncio.gather(first, third, fourth, return_exceptions=False)
    assert second.cancelled()
    assert done == ["first", "third", "fourth"]
    start = time.perf_counter()
    assert (await t.request("GET", server.url + "/ok", {}, None, 1.0)).status == 200
    assert time.perf_counter() - start < 0.3  # no slot was lost on the way


async def test_a_slot_handed_to_a_waiter_that_is_cancelled_passes_on() -> None:
    """The race the limiter must survive: a slot is released to a waiter, and that
    waiter is cancelled before it runs. The slot goes to the next waiter, not nowhere."""
    from scallion.bff.transport import _Limiter

    limiter = _Limiter(1)
    limiter.free -= 1  # one call holds the only slot
    a = asyncio.ensure_future(limiter.wait(None))
    b = asyncio.ensure_future(limiter.wait(None))
    await asyncio.sleep(0)
    limiter.release()  # handed to a ...
    a.cancel()  # ... which leaves before it could take it
    assert await b == pytest.approx(0.0, abs=0.5)
    with pytest.raises(asyncio.CancelledError):
        await a
    assert limiter.free == 0 and not [w for w in limiter.waiters if not w.done()]
    limiter.release()  # b is done
    assert limiter.free == 1
    timed = asyncio.ensure_future(limiter.wait(0.05))
    assert await timed == 0.0  # a free slot is taken at once
    with pytest.raises(PoolTimeout):
        await limiter.wait(0.05)  # none left: the wait ends by its timeout
    assert not limiter.waiters


async def test_response_headers_are_a_case_insensitive_mapping(
    make: Factory, server: LoopbackServer
) -> None:
    """pyreqwest's headers are converted only when read: every way of reading works."""
    t = make()
    resp = await t.request("GET", server.url + "/ok", {}, None, 2.0)
    assert "CONTENT-TYPE" in resp.headers and "x-missing" not in resp.headers
    assert {k.lower(): v for k, v in resp.headers.items()}["content-type"] == "application/json"
    assert len(resp.headers) == len(list(resp.headers)) >= 1
    assert resp.headers.get("x-missing") is None
    assert "application/json" in repr(resp.headers)


async def test_pool_heals_after_the_upstream_comes_back(make: Factory) -> None:
    """Connection failures in a row replace the pool; the next calls go to the new server."""
    srv = await LoopbackServer("first").start()
    port = srv.port
    t = make(heal_after=3, heal_interval=0.0)
    assert (await t.request("GET", srv.url + "/ok", {}, None, 2.0)).status == 200
    await srv.close()  # every keep-alive connection dies with it
    for _ in range(3):
        with pytest.raises(ConnectFailed):
            await t.request("GET", f"http://127.0.0.1:{port}/ok", {}, None, 2.0)
    assert t.heals == 1
    again = LoopbackServer("second")
    again._server = await asyncio.start_server(again._handle, "127.0.0.1", port)
    again.port = port
    try:
        for _ in range(5):
            resp = await t.request("GET", again.url + "/ok", {}, None, 2.0)
            assert orjson.loads(resp.body)["server"] == "second"
    finally:
        await again.close()


async def test_stale_keep_alive_connections_are_not_an_error(make: Factory) -> None:
    """The upstream restarts between calls: the idle pooled connection is dead, not the call."""
    srv = await LoopbackServer("one").start()
    port = srv.port
    t = make()
    assert (await t.request("GET", srv.url + "/ok", {}, None, 2.0)).status == 200
    await srv.close()
    await asyncio.sleep(0.05)
    again = LoopbackServer("two")
    again._server = await asyncio.start_server(again._handle, "127.0.0.1", port)
    again.port = port
    try:
        resp = await t.request("GET", again.url + "/ok", {}, None, 2.0)
        assert orjson.loads(resp.body)["server"] == "two"
    finally:
        await again.close()


async def test_closed_transport_refuses_calls(make: Factory, server: LoopbackServer) -> None:
    t = make()
    await t.aclose()
    await t.aclose()  # idempotent
    with pytest.raises(ConnectFailed):
        await t.request("GET", server.url + "/ok", {}, None, 1.0)


# -- in-process ----------------------------------------------------------------------------------


def _service() -> App:
    app = App()
    router = Router()

    @router.get("/users/:id")
    async def user(ctx):  # type: ignore[no-untyped-def]
        ctx.body = {"id": ctx.params["id"], "rid": ctx.get("x-request-id"), "host": ctx.host}

    @router.post("/users")
    async def create(ctx):  # type: ignore[no-untyped-def]
        ctx.status = 201
        ctx.body = await ctx.request.json()

    @router.get("/boom")
    async def boom(ctx):  # type: ignore[no-untyped-def]
        raise RuntimeError("kaput")

    app.use(router.routes())
    return app


async def test_asgi_transport_calls_a_scallion_app_in_process() -> None:
    t = ASGITransport(_service())
    resp = await t.request(
        "GET", "http://users.internal/users/7", {"x-request-id": "r9"}, None, 1.0
    )
    assert resp.status == 200
    assert resp.headers["content-type"].startswith("application/json")
    assert orjson.loads(resp.body) == {"id": "7", "rid": "r9", "host": "users.internal"}
    created = await t.request(
        "POST",
        "http://users.internal/users",
        {"content-type": "application/json"},
        b'{"name": "ada"}',
        1.0,
    )
    assert created.status == 201
    assert orjson.loads(created.body) == {"name": "ada"}
    crashed = await t.request("GET", "http://users.internal/boom", {}, None, 1.0)
    assert crashed.status == 500  # the App answers for its own errors
    await t.aclose()


async def test_asgi_transport_reports_an_app_that_breaks() -> None:
    async def broken(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("no")

    async def silent(scope: Scope, receive: Receive, send: Send) -> None:
        return None

    with pytest.raises(ResponseBroken):
        await ASGITransport(broken).request("GET", "http://x/", {}, None, 1.0)
    with pytest.raises(ResponseBroken):
        await ASGITransport(silent).request("GET", "http://x/", {}, None, 1.0)
