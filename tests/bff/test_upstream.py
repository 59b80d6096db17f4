"""Upstream against real loopback servers: balancing, deadlines, retries, breakers, faults."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from scallion import App
from scallion.bff.breaker import BreakerState
from scallion.bff.deadline import deadline as deadline_mw
from scallion.bff.errors import (
    BreakerOpen,
    BulkheadFull,
    DeadlineExceeded,
    UpstreamBadResponse,
    UpstreamStatusError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from scallion.bff.retry import RetryBudget, RetryPolicy, constant, exponential, no_jitter
from scallion.bff.transport import AiohttpTransport, ASGITransport
from scallion.bff.upstream import Upstream, UpstreamResponse, Upstreams
from scallion.router import Router
from scallion.testing import AsyncTestClient

from ._loopback import LoopbackServer, free_port


@pytest.fixture
async def servers() -> AsyncIterator[list[LoopbackServer]]:
    started = [await LoopbackServer(name).start() for name in ("a", "b", "c")]
    yield started
    for srv in started:
        await srv.close()


@pytest.fixture
async def make() -> AsyncIterator[Callable[..., Upstream]]:
    made: list[Upstream] = []

    def factory(*args: Any, **kwargs: Any) -> Upstream:
        upstream = Upstream(*args, **kwargs)
        made.append(upstream)
        return upstream

    yield factory
    for upstream in made:
        await upstream.aclose()


def served_by(resp: UpstreamResponse) -> str:
    return str(resp.json()["server"])


# -- balancing -----------------------------------------------------------------------------------


async def test_round_robin_spreads_calls_evenly(servers: list[LoopbackServer], make: Any) -> None:
    users = make("users", [s.url for s in servers])
    seen = [served_by(await users.get("/ok")) for _ in range(30)]
    assert seen[:3] == ["a", "b", "c"]
    assert {name: seen.count(name) for name in "abc"} == {"a": 10, "b": 10, "c": 10}


async def test_response_says_which_instance_served(
    servers: list[LoopbackServer], make: Any
) -> None:
    users = make("users", [servers[0].url, servers[1].url + "/"])
    first, second = await users.get("/ok"), await users.get("/ok")
    assert first.instance == servers[0].url
    assert second.instance == servers[1].url + "/"
    assert first.status == 200 and first.ok
    assert first.attempts == 1
    assert first.elapsed > 0 and first.pool_wait == 0.0


async def test_least_outstanding_avoids_the_busy_instance(
    servers: list[LoopbackServer], make: Any
) -> None:
    users = make("users", [servers[0].url, servers[1].url], balancer="least_outstanding")
    slow = asyncio.ensure_future(users.get("/slow", params={"ms": 300}))
    await asyncio.sleep(0.05)  # the slow call holds instance a
    seen = [served_by(await users.get("/ok")) for _ in range(6)]
    assert seen == ["b"] * 6
    assert served_by(await slow) == "a"
    after = [served_by(await users.get("/ok")) for _ in range(6)]
    assert sorted(after) == ["a"] * 3 + ["b"] * 3  # equal load again: rotation


async def test_unknown_balancer_and_bad_urls_are_rejected() -> None:
    with pytest.raises(ValueError, match="balancer"):
        Upstream("x", "http://127.0.0.1:1", balancer="random")
    with pytest.raises(ValueError, match="http"):
        Upstream("x", "ftp://127.0.0.1:1")
    with pytest.raises(ValueError, match="userinfo"):
        Upstream("x", "http://user:pw@127.0.0.1:1")
    with pytest.raises(ValueError, match="at least one"):
        Upstream("x", [])


async def test_paths_cannot_change_the_host(servers: list[LoopbackServer], make: Any) -> None:
    users = make("users", servers[0].url)
    with pytest.raises(ValueError, match="start with '/'"):
        await users.get("@evil.example/x")
    with pytest.raises(ValueError):
        await users.get("http://evil.example/x")
    resp = await users.get("//evil.example/echo")
    assert served_by(resp) == "a"  # still our upstream, with the odd path as its target
    assert servers[0].requests[-1]["target"] == "//evil.example/echo"


async def test_params_and_json_body(servers: list[LoopbackServer], make: Any) -> None:
    users = make("users", servers[0].url)
    resp = await users.get("/echo?a=1", params={"b": 2, "tag": ["x", "y"]})
    assert resp.json()["query"] == {"a": "1", "b": "2", "tag": "y"}
    assert servers[0].requests[-1]["path"] == "/echo"
    created = await users.post("/echo", json={"name": "ada"})
    echoed = created.json()
    assert echoed["method"] == "POST"
    assert echoed["body"] == '{"name":"ada"}'
    assert echoed["headers"]["content-type"] == "application/json"
    raw = await users.request("PUT", "/echo", content="plain")
    assert raw.json()["body"] == "plain"


# -- timeouts and deadlines ----------------------------------------------------------------------


async def test_per_call_timeout(servers: list[LoopbackServer], make: Any) -> None:
    users = make("users", servers[0].url, timeout=0.2)
    start = time.perf_counter()
    with pytest.raises(UpstreamTimeout) as info:
        await users.get("/hang")
    assert 0.15 < time.perf_counter() - start < 0.6
    assert not isinstance(info.value, DeadlineExceeded)
    assert info.value.upstream == "users"
    assert info.value.status == 504
    # a per-call override
    start = time.perf_counter()
    with pytest.raises(UpstreamTimeout):
        await users.get("/hang", timeout=0.1)
    assert time.perf_counter() - start < 0.4


async def test_deadline_is_hard_even_with_retries(servers: list[LoopbackServer], make: Any) -> None:
    users = make(
        "users",
        [s.url for s in servers],
        timeout=0.25,
        retry=RetryPolicy(attempts=10, backoff=constant(0.01)),
    )
    start = time.perf_counter()
    with pytest.raises(DeadlineExceeded):
        await users.get("/slow", params={"ms": 400}, deadline=time.monotonic() + 0.6)
    elapsed = time.perf_counter() - start
    assert 0.55 < elapsed < 0.7
    assert sum(s.hits["/slow"] for s in servers) == 3  # 0.25 + 0.25 + cut at 0.6


async def test_budget_bounds_the_whole_call(servers: list[LoopbackServer], make: Any) -> None:
    users = make(
        "users",
        servers[0].url,
        timeout=1.0,
        budget=0.3,
        retry=RetryPolicy(attempts=5, backoff=exponential(0.05)),
    )
    start = time.perf_counter()
    with pytest.raises(DeadlineExceeded):
        await users.get("/hang")
    assert 0.25 < time.perf_counter() - start < 0.45


async def test_spent_deadline_fails_without_calling(
    servers: list[LoopbackServer], make: Any
) -> None:
    users = make("users", servers[0].url)
    with pytest.raises(DeadlineExceeded):
        await users.get("/ok", deadline=time.monotonic() - 1)
    assert servers[0].hits["/ok"] == 0


def _gateway(users: Upstream) -> App:
    app = App()
    router = Router()

    @router.get("/profile")
    async def profile(ctx):  # type: ignore[no-untyped-def]
        resp = await users.get("/echo", ctx=ctx)
        ctx.body = resp.json()

    @router.get("/stuck")
    async def stuck(ctx):  # type: ignore[no-untyped-def]
        await users.get("/hang", ctx=ctx)

    app.use(deadline_mw(budget=2.0), router.routes())
    return app


async def test_incoming_deadline_and_headers_propagate(
    servers: list[LoopbackServer], make: Any
) -> None:
    users = make(
        "users",
        servers[0].url,
        propagate_headers=("x-request-id", "traceparent", "authorization"),
        headers={"x-gateway": "scallion"},
    )
    async with AsyncTestClient(_gateway(users)) as client:
        resp = await client.get(
            "/profile",
            headers={
                "x-request-deadline": "800",
                "x-request-id": "req-42",
                "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                "authorization": "Bearer t0ken",
                "cookie": "session=secret",
            },
        )
    assert resp.status_code == 200
    seen = resp.json()["headers"]
    assert seen["x-request-id"] == "req-42"
    assert seen["traceparent"].startswith("00-0af7651916cd43dd8448eb211c80319c")
    assert seen["authorization"] == "Bearer t0ken"
    assert seen["x-gateway"] == "scallion"
    assert "cookie" not in seen  # only what is configured is forwarded
    assert 600 < int(seen["x-request-deadline"]) <= 800  # the remaining budget


async def test_auth_headers_are_not_propagated_by_default(
    servers: list[LoopbackServer], make: Any
) -> None:
    users = make("users", servers[0].url)
    async with AsyncTestClient(_gateway(users)) as client:
        resp = await client.get("/profile", headers={"authorization": "Bearer t0ken"})
    seen = resp.json()["headers"]
    assert "authorization" not in seen
    assert 1800 < int(seen["x-request-deadline"]) <= 2000  # the gateway's own budget


async def test_incoming_deadline_cuts_the_upstream_call(
    servers: list[LoopbackServer], make: Any
) -> None:
    users = make("users", servers[0].url, timeout=5.0)
    async with AsyncTestClient(_gateway(users)) as client:
        start = time.perf_counter()
        resp = await client.get("/stuck", headers={"x-request-deadline": "250"})
        elapsed = time.perf_counter() - start
        bad = await client.get("/profile", headers={"x-request-deadline": "soon"})
    assert resp.status_code == 504
    assert 0.2 < elapsed < 0.5
    assert bad.status_code == 400


# -- retries -------------------------------------------------------------------------------------


async def test_idempotent_calls_are_retried(servers: list[LoopbackServer], make: Any) -> None:
    users = make("users", servers[0].url, retry=RetryPolicy(attempts=3, backoff=constant(0.01)))
    resp = await users.get("/flaky", params={"fail": 2})
    assert resp.status == 200
    assert resp.attempts == 3
    assert servers[0].hits["/flaky"] == 3


async def test_post_is_not_retried(servers: list[LoopbackServer], make: Any) -> None:
    users = make("users", servers[0].url, retry=RetryPolicy(attempts=3, backoff=constant(0.01)))
    with pytest.raises(UpstreamStatusError) as info:
        await users.post("/flaky?fail=1", json={})
    assert info.value.upstream_status == 503
    assert servers[0].hits["/flaky"] == 1
    keyed = await users.post("/flaky?fail=1", json={}, headers={"Idempotency-Key": "k1"})
    assert keyed.status == 200  # the flaky failure was used up; a key allows retries anyway


async def test_post_with_idempotency_key_is_retried(
    servers: list[LoopbackServer], make: Any
) -> None:
    users = make("users", servers[0].url, retry=RetryPolicy(attempts=3, backoff=constant(0.01)))
    resp = await users.post("/flaky?fail=2", json={}, headers={"Idempotency-Key": "k1"})
    assert resp.status == 200
    assert servers[0].hits["/flaky"] == 3


async def test_retry_goes_to_another_instance(servers: list[LoopbackServer], make: Any) -> None:
    servers[0].fail_status = 503
    users = make(
        "users", [servers[0].url, servers[1].url], retry=RetryPolicy(3, backoff=constant(0))
    )
    for _ in range(4):
        resp = await users.get("/ok")
        assert served_by(resp) == "b"
    assert servers[0].hits["/ok"] == 2  # tried first every other call, then retried on b


async def test_retry_budget_stops_a_retry_storm(servers: list[LoopbackServer], make: Any) -> None:
    servers[0].fail_status = 503
    budget = RetryBudget(0.0, min_per_second=0.1, ttl=10.0)  # one retry in 10 s
    users = make(
        "users", servers[0].url, retry=RetryPolicy(attempts=3, backoff=constant(0), budget=budget)
    )
    for _ in range(10):
        with pytest.raises(UpstreamStatusError):
            await users.get("/ok")
    assert servers[0].hits["/ok"] == 11  # 10 calls + 1 retry, not 30
    assert budget.exhausted == 10


# -- circuit breakers ----------------------------------------------------------------------------

BREAKER = {"failure_rate": 0.5, "minimum_calls": 3, "window": 10, "wait_duration": 30.0}


async def test_breaker_opens_and_balancer_skips_the_instance(
    servers: list[LoopbackServer], make: Any
) -> None:
    servers[0].fail_status = 500
    users = make("users", [servers[0].url, servers[1].url], breaker=BREAKER)
    failures = 0
    for _ in range(20):
        try:
            assert served_by(await users.get("/ok")) == "b"
        except UpstreamStatusError as exc:
            assert exc.upstream_status == 500
            failures += 1
    assert failures == 3
    assert servers[0].hits["/ok"] == 3
    states = {b.name: b.state for b in users.breakers()}
    assert states == {
        f"users@127.0.0.1:{servers[0].port}": BreakerState.OPEN,
        f"users@127.0.0.1:{servers[1].port}": BreakerState.CLOSED,
    }


async def test_all_breakers_open_fails_fast(servers: list[LoopbackServer], make: Any) -> None:
    for srv in servers[:2]:
        srv.fail_status = 503
    users = make("users", [servers[0].url, servers[1].url], breaker=BREAKER)
    for _ in range(6):
        with pytest.raises(UpstreamStatusError):
            await users.get("/ok")
    start = time.perf_counter()
    with pytest.raises(BreakerOpen) as info:
        await users.get("/ok")
    assert time.perf_counter() - start < 0.1
    assert info.value.upstream == "users"
    assert 25 < info.value.retry_after <= 30
    assert info.value.headers["retry-after"] == "30"
    assert servers[0].hits["/ok"] + servers[1].hits["/ok"] == 6


async def test_open_breakers_are_not_retried(servers: list[LoopbackServer], make: Any) -> None:
    servers[0].fail_status = 500
    budget = RetryBudget(0.0, min_per_second=1.0)
    users = make(
        "users",
        servers[0].url,
        breaker=BREAKER,
        retry=RetryPolicy(5, backoff=constant(0.05), jitter=no_jitter, budget=budget),
    )
    for _ in range(3):
        with pytest.raises(UpstreamStatusError):
            await users.get("/ok")  # 500 is not a retryable status
    start = time.perf_counter()
    with pytest.raises(BreakerOpen):
        await users.get("/ok")
    assert time.perf_counter() - start < 0.1  # retrying would sleep 4 x 0.05 s
    assert budget.exhausted == 0 and budget.balance() == 10.0


async def test_a_saturated_pool_times_out_without_blaming_the_instance(
    servers: list[LoopbackServer], make: Any
) -> None:
    users = make("users", servers[0].url, max_connections=1, timeout=0.15, breaker=BREAKER)
    busy = asyncio.ensure_future(users.get("/slow?ms=800", timeout=2.0))
    await asyncio.sleep(0.02)
    for _ in range(3):  # 3 x 0.15 s, well inside the busy call's 0.8 s
        with pytest.raises(UpstreamTimeout, match="no connection to upstream 'users' came free"):
            await users.get("/ok")
    assert users.breakers()[0].state is BreakerState.CLOSED
    assert (await busy).status == 200
    assert (await users.get("/ok")).pool_wait == 0.0


async def test_client_errors_do_not_open_the_breaker(
    servers: list[LoopbackServer], make: Any
) -> None:
    users = make("users", servers[0].url, breaker=BREAKER)
    for _ in range(10):
        resp = await users.get("/status/404")
        assert resp.status == 404
        with pytest.raises(UpstreamStatusError) as info:
            resp.raise_for_status()
        assert info.value.upstream_status == 404
    assert users.breakers()[0].state is BreakerState.CLOSED


async def test_breaker_factory_is_called_per_instance(
    servers: list[LoopbackServer], make: Any
) -> None:
    from scallion.bff.breaker import CircuitBreaker

    names: list[str] = []

    def factory(name: str) -> CircuitBreaker:
        names.append(name)
        return CircuitBreaker(name, minimum_calls=2)

    make("users", [servers[0].url, servers[1].url], breaker=factory)
    assert names == [f"users@127.0.0.1:{servers[0].port}", f"users@127.0.0.1:{servers[1].port}"]


async def test_timeouts_count_as_breaker_failures(servers: list[LoopbackServer], make: Any) -> None:
    users = make("users", servers[0].url, timeout=0.05, breaker=BREAKER)
    for _ in range(3):
        with pytest.raises(UpstreamTimeout):
            await users.get("/hang")
    with pytest.raises(BreakerOpen):
        await users.get("/ok")


# -- bulkhead ------------------------------------------------------------------------------------


async def test_bulkhead_rejects_beyond_max_concurrent(
    servers: list[LoopbackServer], make: Any
) -> None:
    users = make("users", servers[0].url, max_concurrent=2)
    calls = [asyncio.ensure_future(users.get("/slow?ms=200")) for _ in range(2)]
    await asyncio.sleep(0.05)
    start = time.perf_counter()
    with pytest.raises(BulkheadFull) as info:
        await users.get("/ok")
    assert time.perf_counter() - start < 0.12  # waiting would take ~0.2 s
    assert info.value.status == 503
    assert [r.status for r in await asyncio.gather(*calls)] == [200, 200]
    assert (await users.get("/ok")).status == 200  # slots came back


async def test_bulkhead_queue_wait_is_bounded_and_reported(
    servers: list[LoopbackServer], make: Any
) -> None:
    users = make("users", servers[0].url, max_concurrent=1, max_queue_wait=0.5)
    first = asyncio.ensure_future(users.get("/slow?ms=200"))
    await asyncio.sleep(0.02)
    second = await users.get("/ok")
    assert 0.1 < second.pool_wait < 0.4
    assert second.elapsed < 0.1
    await first
    short = make("short", servers[1].url, max_concurrent=1, max_queue_wait=0.1)
    busy = asyncio.ensure_future(short.get("/slow?ms=300"))
    await asyncio.sleep(0.02)
    start = time.perf_counter()
    with pytest.raises(BulkheadFull):
        await short.get("/ok")
    assert 0.08 < time.perf_counter() - start < 0.25
    await busy


# -- faults: each is a typed error, quickly, and the pool is fine afterwards ---------------------


@pytest.mark.parametrize("transport", ["pyreqwest", "aiohttp"])
async def test_every_fault_is_a_quick_typed_error_and_the_pool_heals(
    servers: list[LoopbackServer], make: Any, transport: str
) -> None:
    kwargs: dict[str, Any] = {"timeout": 0.3}
    if transport == "aiohttp":
        kwargs["transport"] = AiohttpTransport()
    users = make("users", servers[0].url, **kwargs)

    async def fails(path: str, error: type[Exception], within: float = 0.5) -> Exception:
        start = time.perf_counter()
        with pytest.raises(error) as info:
            await users.get_json(path)
        assert time.perf_counter() - start < within, path
        assert getattr(info.value, "upstream", None) == "users"
        return info.value

    await fails("/hang", UpstreamTimeout)
    await fails("/stall-body", UpstreamTimeout)
    slow = await fails("/slow?ms=600", UpstreamTimeout)
    assert "0.3s" in str(slow)
    err = await fails("/status/503", UpstreamStatusError)
    assert isinstance(err, UpstreamStatusError)
    assert err.upstream_status == 503 and b"status 503" in err.body
    assert "'users'" in str(await fails("/garbage", UpstreamBadResponse))
    assert "incomplete" in str(await fails("/truncated", UpstreamBadResponse))
    await fails("/chunked-cut", UpstreamBadResponse)
    await fails("/close", UpstreamUnavailable)
    assert (await users.get_json("/slow?ms=50")) == {"ok": True, "server": "a"}
    start = time.perf_counter()
    for _ in range(20):
        assert (await users.get_json("/ok"))["ok"] is True
    assert time.perf_counter() - start < 1.0


async def test_refused_connection_is_unavailable(make: Any) -> None:
    dead = make("dead", f"http://127.0.0.1:{free_port()}")
    start = time.perf_counter()
    with pytest.raises(UpstreamUnavailable) as info:
        await dead.get("/ok")
    assert time.perf_counter() - start < 0.5
    assert "refused" in str(info.value).lower()
    assert info.value.status == 503


async def test_refused_instance_is_retried_elsewhere(
    servers: list[LoopbackServer], make: Any
) -> None:
    users = make(
        "users",
        [f"http://127.0.0.1:{free_port()}", servers[0].url],
        retry=RetryPolicy(2, backoff=constant(0)),
    )
    for _ in range(4):
        assert served_by(await users.get("/ok")) == "a"


async def test_json_shape_errors_name_the_upstream(
    servers: list[LoopbackServer], make: Any
) -> None:
    users = make("users", servers[0].url)
    with pytest.raises(UpstreamBadResponse, match="'users' answered a JSON array where an object"):
        await users.get_json("/array", expect=dict)
    assert await users.get_json("/array", expect=list) == [1, 2, 3]
    with pytest.raises(UpstreamBadResponse, match="a JSON object where an array"):
        await users.get_json("/ok", expect=list)


# -- registry and in-process -----------------------------------------------------------------


async def test_upstreams_registry_is_per_app_and_closes_on_shutdown(
    servers: list[LoopbackServer],
) -> None:
    users = Upstream("users", servers[0].url)
    orders = Upstream("orders", servers[1].url)
    app = App()
    registry = Upstreams(users, orders).install(app)
    router = Router()

    @router.get("/both")
    async def both(ctx):  # type: ignore[no-untyped-def]
        ups = ctx.app.state.upstreams
        u, o = await asyncio.gather(ups.get("users").get("/ok"), ups["orders"].get("/ok"))
        ctx.body = [served_by(u), served_by(o)]

    app.use(router.routes())
    async with AsyncTestClient(app) as client:
        assert (await client.get("/both")).json() == ["a", "b"]
    # the lifespan shutdown closed the pools
    with pytest.raises(UpstreamUnavailable, match="closed"):
        await users.get("/ok")
    assert "users" in registry and len(registry) == 2
    assert [u.name for u in registry] == ["users", "orders"]
    with pytest.raises(KeyError, match="known: orders, users"):
        registry.get("payments")
    with pytest.raises(ValueError, match="already"):
        registry.add(Upstream("users", servers[2].url))


async def test_upstream_over_an_in_process_app() -> None:
    service = App()
    router = Router()

    @router.get("/users/:id")
    async def user(ctx):  # type: ignore[no-untyped-def]
        ctx.body = {"id": int(ctx.params["id"]), "rid": ctx.get("x-request-id")}

    service.use(router.routes())
    users = Upstream("users", "http://users.internal", transport=ASGITransport(service))
    try:
        got = await users.get_json("/users/7", headers={"X-Request-ID": "r1"}, expect=dict)
        assert got == {"id": 7, "rid": "r1"}
        missing = await users.get("/nope")
        assert missing.status == 404
    finally:
        await users.aclose()


async def test_in_process_upstream_is_bounded_by_a_timer() -> None:
    """A transport that does not enforce its own timeout gets one from the Upstream."""
    service = App()

    async def slow(ctx, next):  # type: ignore[no-untyped-def]
        await asyncio.sleep(5)

    service.use(slow)
    users = Upstream("users", "http://users.internal", transport=ASGITransport(service))
    try:
        start = time.perf_counter()
        with pytest.raises(UpstreamTimeout):
            await users.get("/x", timeout=0.2)
        assert time.perf_counter() - start < 0.5
        start = time.perf_counter()
        with pytest.raises(DeadlineExceeded):
            await users.get("/x", deadline=time.monotonic() + 0.15)
        assert time.perf_counter() - start < 0.4
    finally:
        await users.aclose()


async def test_flapping_instance_breaker_opens_probes_and_closes(
    servers: list[LoopbackServer], make: Any
) -> None:
    breaker = {**BREAKER, "wait_duration": 0.2, "half_open_calls": 2}
    users = make("users", servers[0].url, breaker=breaker)
    (state,) = [b for b in users.breakers()]
    servers[0].fail_status = 500
    for _ in range(3):
        with pytest.raises(UpstreamStatusError):
            await users.get("/ok")
    assert state.state is BreakerState.OPEN
    with pytest.raises(BreakerOpen):
        await users.get("/ok")
    servers[0].fail_status = 0  # the instance recovers
    await asyncio.sleep(0.25)
    for _ in range(2):
        assert (await users.get("/ok")).status == 200  # the probes
    assert state.state is BreakerState.CLOSED
    assert servers[0].hits["/ok"] == 5


async def test_bulkhead_wait_never_outlives_the_deadline(
    servers: list[LoopbackServer], make: Any
) -> None:
    users = make("users", servers[0].url, max_concurrent=1, max_queue_wait=5.0)
    busy = asyncio.ensure_future(users.get("/slow?ms=500"))
    await asyncio.sleep(0.02)
    start = time.perf_counter()
    with pytest.raises(DeadlineExceeded):
        await users.get("/ok", deadline=time.monotonic() + 0.15)
    assert time.perf_counter() - start < 0.35
    start = time.perf_counter()
    with pytest.raises(UpstreamTimeout) as info:
        await users.get("/ok", timeout=0.1)
    assert not isinstance(info.value, DeadlineExceeded)
    assert time.perf_counter() - start < 0.3
    await busy
    assert (await users.get("/ok")).status == 200


async def test_concurrent_fan_out_over_three_upstreams(servers: list[LoopbackServer]) -> None:
    ups = Upstreams(*(Upstream(s.name, s.url, breaker={}) for s in servers))
    try:
        for srv in servers:
            srv.default_delay = 0.1
        start = time.perf_counter()
        got = await asyncio.gather(*(u.get_json("/ok") for u in ups for _ in range(20)))
        assert time.perf_counter() - start < 0.6  # 60 calls at once, not one after another
        assert sorted({g["server"] for g in got}) == ["a", "b", "c"]
    finally:
        await ups.aclose()


async def test_get_json_raises_on_a_4xx_instead_of_returning_the_error_body() -> None:
    from scallion import App
    from scallion.bff.errors import UpstreamStatusError
    from scallion.bff.transport import ASGITransport
    from scallion.bff.upstream import Upstream

    service = App()

    async def not_found(ctx: Any) -> None:
        ctx.status = 404
        ctx.body = {"error": "no such user"}

    service.use(not_found)
    users = Upstream("users", "http://users.internal", transport=ASGITransport(service))
    with pytest.raises(UpstreamStatusError) as info:
        await users.get_json("/users/9")
    assert info.value.upstream_status == 404
    await users.aclose()

