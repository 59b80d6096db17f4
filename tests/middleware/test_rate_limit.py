"""rate_limit over HTTP: headers, keys, algorithms, stores (memory and the real Redis), faults."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest

from scallion import App, HttpError, Router
from scallion.bff.errors import RateLimited
from scallion.middleware import error_handler, rate_limit
from scallion.middleware.rate_limit import RateLimitInfo
from scallion.stores import MemoryStore
from scallion.stores.redis import RedisStore
from scallion.testing import AsyncTestClient, TestClient

from ._helpers_a import app_with, client, closing
from ._helpers_c import REDIS_URL, FakeClock, dead_redis_url, unique_prefix


def statuses(responses: list[Any]) -> list[int]:
    return [r.status_code for r in responses]


# -- basics and headers -------------------------------------------------------------------


def test_allows_limit_then_429_with_headers() -> None:
    c = client(rate_limit(3, 60))
    responses = [c.get("/") for _ in range(4)]
    assert statuses(responses) == [200, 200, 200, 429]
    assert [r.headers["ratelimit-remaining"] for r in responses] == ["2", "1", "0", "0"]
    first = responses[0].headers
    assert first["ratelimit-limit"] == "3"
    assert first["ratelimit-policy"] == "3;w=60"
    assert 59 <= int(first["ratelimit-reset"]) <= 60
    assert re.fullmatch(r"limit=3, remaining=2, reset=\d+", first["ratelimit"])
    refused = responses[3]
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["ratelimit-reset"] == refused.headers["retry-after"]
    assert refused.headers["ratelimit-limit"] == "3"
    assert refused.text == "Too many requests"


def test_headers_survive_error_handler_and_downstream_errors() -> None:
    async def boom(ctx: Any) -> None:
        raise HttpError(404, "no such thing")

    c = client(error_handler(), rate_limit(1, 60), handler=boom)
    r = c.get("/")
    assert r.status_code == 404 and r.json()["message"] == "no such thing"
    assert r.headers["ratelimit-remaining"] == "0"
    refused = c.get("/")
    assert refused.status_code == 429
    assert refused.json() == {"code": 429, "message": "Too many requests"}
    assert refused.headers["retry-after"]
    assert refused.headers["ratelimit-limit"] == "1"


def test_the_error_is_rate_limited() -> None:
    seen: list[BaseException] = []

    async def catch(ctx: Any, next: Any) -> None:
        try:
            await next()
        except RateLimited as err:
            seen.append(err)
            raise

    c = client(catch, rate_limit(1, 10))
    c.get("/")
    assert c.get("/").status_code == 429
    (err,) = seen
    assert isinstance(err, RateLimited) and err.status == 429 and err.retry_after >= 1
    assert err.headers["retry-after"] == str(err.retry_after)


def test_headers_false_still_sends_retry_after() -> None:
    c = client(rate_limit(1, 60, headers=False))
    ok = c.get("/")
    assert not any(h.startswith("ratelimit") for h in ok.headers)
    refused = c.get("/")
    assert refused.status_code == 429 and "retry-after" in refused.headers
    assert not any(h.startswith("ratelimit") for h in refused.headers)


def test_draft_ietf_6_has_no_combined_field() -> None:
    r = client(rate_limit(5, 10, draft="ietf-6")).get("/")
    assert r.headers["ratelimit-limit"] == "5" and "ratelimit" not in r.headers
    assert r.headers["ratelimit-policy"] == "5;w=10"


def test_draft_legacy_sends_x_headers_with_a_unix_reset() -> None:
    import time

    r = client(rate_limit(5, 30, draft="legacy")).get("/")
    assert r.headers["x-ratelimit-limit"] == "5"
    assert r.headers["x-ratelimit-remaining"] == "4"
    assert abs(int(r.headers["x-ratelimit-reset"]) - (time.time() + 30)) <= 2
    assert "ratelimit-limit" not in r.headers


def test_fractional_window_in_policy() -> None:
    r = client(rate_limit(2, 0.5)).get("/")
    assert r.headers["ratelimit-policy"] == "2;w=0.5"


def test_info_on_ctx_state() -> None:
    seen: list[RateLimitInfo] = []

    async def handler(ctx: Any) -> None:
        seen.append(ctx.state.rate_limit)
        ctx.body = "ok"

    client(rate_limit(4, 60), handler=handler).get("/")
    (info,) = seen
    assert info.allowed and info.limit == 4 and info.remaining == 3
    assert info.key == "rl:ip:127.0.0.1"


# -- keys ---------------------------------------------------------------------------------


def test_ip_key_separates_clients() -> None:
    app = app_with(rate_limit(1, 60))
    a = closing(TestClient(app, client=("10.0.0.1", 1234)))
    b = closing(TestClient(app, client=("10.0.0.2", 1234)))
    assert a.get("/").status_code == 200
    assert a.get("/").status_code == 429
    assert b.get("/").status_code == 200


def test_x_forwarded_for_is_ignored_without_proxy() -> None:
    c = client(rate_limit(2, 60))
    responses = [c.get("/", headers={"X-Forwarded-For": f"203.0.113.{i}"}) for i in range(3)]
    assert statuses(responses) == [200, 200, 429]  # spoofed ips share the peer's budget


def test_x_forwarded_for_counts_behind_a_trusted_proxy() -> None:
    c = client(rate_limit(1, 60), proxy=True)
    for i in range(3):
        r = c.get("/", headers={"X-Forwarded-For": f"203.0.113.{i}, 10.0.0.1"})
        assert r.status_code == 200
    again = c.get("/", headers={"X-Forwarded-For": "203.0.113.0"})
    assert again.status_code == 429


def test_user_key_uses_sub_or_id_and_falls_back_to_ip() -> None:
    async def who(ctx: Any, next: Any) -> None:
        name = ctx.get("x-user")
        if name == "obj":

            class User:
                id = 42

            ctx.state.user = User()
        elif name:
            ctx.state.user = {"sub": name}
        await next()

    c = client(who, rate_limit(1, 60, key="user"))
    assert c.get("/", headers={"X-User": "alice"}).status_code == 200
    assert c.get("/", headers={"X-User": "alice"}).status_code == 429
    assert c.get("/", headers={"X-User": "bob"}).status_code == 200
    assert c.get("/", headers={"X-User": "obj"}).status_code == 200
    assert c.get("/", headers={"X-User": "obj"}).status_code == 429
    assert c.get("/").status_code == 200  # anonymous: by ip
    assert c.get("/").status_code == 429


def test_api_key_key_is_hashed_and_separate() -> None:
    store = MemoryStore()
    c = client(rate_limit(1, 60, key="api_key", store=store))
    assert c.get("/", headers={"X-API-Key": "secret-key-one"}).status_code == 200
    assert c.get("/", headers={"X-API-Key": "secret-key-one"}).status_code == 429
    assert c.get("/", headers={"X-API-Key": "secret-key-two"}).status_code == 200
    assert c.get("/").status_code == 200  # no key: by ip
    keys = list(store._data)
    assert not any("secret-key" in k for k in keys)
    assert sum(k.startswith("rl:key:") for k in keys) == 2 and "rl:ip:127.0.0.1" in keys


def test_route_key_is_one_budget_per_route() -> None:
    router = Router()
    limiter = rate_limit(1, 60, key="route")
    router.get("/a", limiter, lambda ctx: setattr(ctx, "body", "a"))
    router.get("/b/:id", limiter, lambda ctx: setattr(ctx, "body", "b"))
    app = App().use(router.routes())
    one = closing(TestClient(app, client=("10.0.0.1", 1)))
    two = closing(TestClient(app, client=("10.0.0.2", 1)))
    assert one.get("/a").status_code == 200
    assert two.get("/a").status_code == 429  # everyone shares the route's budget
    assert one.get("/b/1").status_code == 200
    assert two.get("/b/2").status_code == 429  # same route, other params


def test_callable_keys_sync_and_async() -> None:
    c = client(rate_limit(1, 60, key=lambda ctx: ctx.get("x-tenant") or "none"))
    assert c.get("/", headers={"X-Tenant": "a"}).status_code == 200
    assert c.get("/", headers={"X-Tenant": "a"}).status_code == 429
    assert c.get("/", headers={"X-Tenant": "b"}).status_code == 200

    async def tenant(ctx: Any) -> str:
        await asyncio.sleep(0)
        return "t:" + ctx.get("x-tenant")

    c2 = client(rate_limit(1, 60, key=tenant))
    assert c2.get("/", headers={"X-Tenant": "a"}).status_code == 200
    assert c2.get("/", headers={"X-Tenant": "a"}).status_code == 429


def test_long_keys_are_hashed() -> None:
    store = MemoryStore()
    c = client(rate_limit(1, 60, key=lambda ctx: ctx.get("x-k"), store=store))
    huge = "x" * 5000
    assert c.get("/", headers={"X-K": huge}).status_code == 200
    assert c.get("/", headers={"X-K": huge}).status_code == 429
    assert all(len(k) < 100 for k in store._data)


def test_key_function_returning_a_non_str_is_a_500() -> None:
    c = client(rate_limit(1, 60, key=lambda ctx: 42))
    assert c.get("/").status_code == 500


def test_prefix_separates_limiters_on_one_store() -> None:
    store = MemoryStore()
    c = client(
        rate_limit(1, 60, store=store, prefix="a:"), rate_limit(1, 60, store=store, prefix="b:")
    )
    assert c.get("/").status_code == 200
    assert c.get("/").status_code == 429


# -- skip and on_limited ------------------------------------------------------------------


def test_skip_is_not_counted() -> None:
    c = client(rate_limit(1, 60, skip=lambda ctx: ctx.path == "/health"))
    for _ in range(3):
        r = c.get("/health")
        assert r.status_code == 200 and "ratelimit-limit" not in r.headers
    assert c.get("/").status_code == 200
    assert c.get("/").status_code == 429


def test_on_limited_answers_instead() -> None:
    calls: list[RateLimitInfo] = []

    async def slow_down(ctx: Any, info: RateLimitInfo) -> None:
        calls.append(info)
        ctx.status = 429
        ctx.body = {"error": "slow down", "retry_in": ctx.response.get("retry-after")}

    c = client(rate_limit(1, 60, on_limited=slow_down))
    c.get("/")
    r = c.get("/")
    assert r.status_code == 429 and r.json()["error"] == "slow down"
    assert r.json()["retry_in"] == r.headers["retry-after"]
    assert r.headers["ratelimit-remaining"] == "0"
    assert len(calls) == 1 and not calls[0].allowed


# -- algorithms (a fake clock makes time exact) ------------------------------------------


def test_sliding_window_frees_slots_as_hits_age() -> None:
    clock = FakeClock()
    c = client(rate_limit(2, 10, store=MemoryStore(clock=clock)))
    assert c.get("/").status_code == 200
    clock.advance(4)
    assert c.get("/").status_code == 200
    refused = c.get("/")
    assert refused.status_code == 429 and refused.headers["retry-after"] == "6"
    clock.advance(6)  # the first hit leaves the window
    assert c.get("/").status_code == 200
    assert c.get("/").status_code == 429


def test_gcra_burst_then_steady_rate() -> None:
    clock = FakeClock()
    c = client(rate_limit(10, 1, algorithm="gcra", burst=3, store=MemoryStore(clock=clock)))
    burst = [c.get("/") for _ in range(4)]
    assert statuses(burst) == [200, 200, 200, 429]
    assert [r.headers["ratelimit-remaining"] for r in burst[:3]] == ["2", "1", "0"]
    assert burst[0].headers["ratelimit-limit"] == "3"  # the bucket size
    assert burst[0].headers["ratelimit-policy"] == "10;w=1"
    assert burst[3].headers["retry-after"] == "1"  # 0.1 s, rounded up
    clock.advance(0.1)  # one emission interval: one more request
    assert c.get("/").status_code == 200
    assert c.get("/").status_code == 429
    clock.advance(1.0)  # the bucket refills to its burst, not beyond
    assert statuses([c.get("/") for _ in range(4)]) == [200, 200, 200, 429]


def test_gcra_default_burst_is_limit() -> None:
    clock = FakeClock()
    c = client(rate_limit(5, 1, algorithm="gcra", store=MemoryStore(clock=clock)))
    assert statuses([c.get("/") for _ in range(6)]) == [200] * 5 + [429]


async def test_concurrent_burst_in_memory_allows_exactly_limit() -> None:
    app = app_with(rate_limit(10, 60))
    async with AsyncTestClient(app) as c:
        responses = await asyncio.gather(*(c.get("/") for _ in range(60)))
    assert statuses(responses).count(200) == 10
    assert statuses(responses).count(429) == 50


# -- the real Redis -----------------------------------------------------------------------


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    prefix = unique_prefix("rl")
    yield prefix
    cleaner = RedisStore(REDIS_URL, prefix=prefix)
    await cleaner.clear()
    await cleaner.close()


async def test_two_apps_share_one_redis_limit_exactly(redis_prefix: str) -> None:
    stores = [RedisStore(REDIS_URL, prefix=redis_prefix) for _ in range(2)]
    apps = [app_with(rate_limit(25, 60, store=s)) for s in stores]
    try:
        async with AsyncTestClient(apps[0]) as one, AsyncTestClient(apps[1]) as two:
            calls = [one.get("/") for _ in range(60)] + [two.get("/") for _ in range(60)]
            responses = await asyncio.gather(*calls)
            by_app = [statuses(responses[:60]).count(200), statuses(responses[60:]).count(200)]
            assert sum(by_app) == 25
            assert statuses(responses).count(429) == 95
            assert (await one.get("/")).status_code == 429
            assert (await two.get("/")).status_code == 429
            remaining = {
                r.headers["ratelimit-remaining"] for r in responses if r.status_code == 200
            }
            assert remaining == {str(n) for n in range(25)}  # every slot handed out once
    finally:
        for s in stores:
            await s.close()


async def test_redis_gcra_burst(redis_prefix: str) -> None:
    store = RedisStore(REDIS_URL, prefix=redis_prefix)
    app = app_with(rate_limit(2, 1, algorithm="gcra", burst=4, store=store))
    try:
        async with AsyncTestClient(app) as c:
            burst = await asyncio.gather(*(c.get("/") for _ in range(10)))
            assert statuses(burst).count(200) == 4
            refused = next(r for r in burst if r.status_code == 429)
            assert refused.headers["retry-after"] == "1"  # one 0.5 s interval, rounded up
            await asyncio.sleep(0.6)  # one emission interval (0.5 s) has passed, not two
            later = [await c.get("/") for _ in range(2)]
            assert statuses(later) == [200, 429]
    finally:
        await store.close()


async def test_redis_sliding_window_headers(redis_prefix: str) -> None:
    store = RedisStore(REDIS_URL, prefix=redis_prefix)
    app = app_with(rate_limit(2, 30, store=store))
    try:
        async with AsyncTestClient(app) as c:
            r1, r2, r3 = [await c.get("/") for _ in range(3)]
            assert statuses([r1, r2, r3]) == [200, 200, 429]
            assert (r1.headers["ratelimit-remaining"], r2.headers["ratelimit-remaining"]) == (
                "1",
                "0",
            )
            assert 29 <= int(r3.headers["retry-after"]) <= 30
            assert await store.exists("rl:ip:127.0.0.1")
    finally:
        await store.close()


async def test_store_redis_by_url(redis_prefix: str) -> None:
    limiter = rate_limit(1, 30, store="redis", redis_url=REDIS_URL, prefix=redis_prefix)
    assert isinstance(limiter.store, RedisStore)
    try:
        async with AsyncTestClient(app_with(limiter)) as c:
            assert statuses([await c.get("/"), await c.get("/")]) == [200, 429]
    finally:
        await limiter.store.clear()  # the store's own "scallion:" prefix + ours
        await limiter.store.close()


async def test_redis_down_fails_open_logged_once_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    limiter = rate_limit(1, 60, store=RedisStore(dead_redis_url(), timeout=0.5))
    caplog.set_level(logging.WARNING, logger="scallion.rate_limit")
    async with AsyncTestClient(app_with(limiter)) as c:
        responses = [await c.get("/") for _ in range(3)]
    assert statuses(responses) == [200, 200, 200]
    assert "ratelimit-limit" not in responses[0].headers
    assert limiter.store_failures == 3
    outage_logs = [r for r in caplog.records if "unavailable" in r.getMessage()]
    assert len(outage_logs) == 1
    await limiter.store.close()


async def test_redis_down_fail_closed_is_503() -> None:
    limiter = rate_limit(1, 60, store=RedisStore(dead_redis_url(), timeout=0.5), fail_open=False)
    async with AsyncTestClient(app_with(error_handler(), limiter)) as c:
        r = await c.get("/")
    assert r.status_code == 503
    assert r.json()["message"] == "Rate limit store unavailable"
    await limiter.store.close()


# -- bad options --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        ((0, 60), {}, ValueError),
        ((1.5, 60), {}, ValueError),
        ((True, 60), {}, ValueError),
        ((10, 0), {}, ValueError),
        ((10, -1), {}, ValueError),
        ((10, "60"), {}, ValueError),
        ((10, 60), {"algorithm": "leaky"}, ValueError),
        ((10, 60), {"burst": 5}, ValueError),  # burst needs gcra
        ((10, 60), {"algorithm": "gcra", "burst": 0}, ValueError),
        ((10, 60), {"key": "cookie"}, ValueError),
        ((10, 60), {"key": 42}, TypeError),
        ((10, 60), {"store": "memcached"}, ValueError),
        ((10, 60), {"store": {}}, TypeError),
        ((10, 60), {"store": "redis"}, ValueError),  # no redis_url
        ((10, 60), {"redis_url": "redis://x"}, ValueError),  # url without store="redis"
        ((10, 60), {"draft": "ietf-9"}, ValueError),
        ((10, 60), {"skip": "yes"}, TypeError),
        ((10, 60), {"on_limited": 1}, TypeError),
        ((10, 60), {"headers": "yes"}, TypeError),
        ((10, 60), {"fail_open": None}, TypeError),
        ((10, 60), {"prefix": 1}, TypeError),
    ],
)
def test_bad_options_fail_at_construction(
    args: tuple[Any, ...], kwargs: dict[str, Any], error: type
) -> None:
    with pytest.raises(error, match="rate_limit"):
        rate_limit(*args, **kwargs)


def test_keyword_arguments_and_repr() -> None:
    limiter = rate_limit(limit=5, window=2, algorithm="gcra")
    assert "5/2.0s gcra" in repr(limiter)


def test_from_config_builds_batch_c_middleware_by_seed_names() -> None:
    from scallion.middleware import ConfigError, from_config

    stack = from_config(
        {
            "rateLimit": {"limit": 1, "window": 60},
            "apiKey": {"keys": ["k-0123456789"]},
        }
    )
    assert stack.names == ("rate_limit", "api_key")  # type: ignore[attr-defined]
    c = client(stack)
    assert c.get("/", headers={"X-API-Key": "k-0123456789"}).status_code == 200
    assert c.get("/", headers={"X-API-Key": "k-0123456789"}).status_code == 429
    with pytest.raises(ConfigError, match="algorithms"):
        from_config({"jwt": {"secret": "x" * 32}})
    with pytest.raises(ConfigError, match="windw"):
        from_config({"rateLimit": {"limit": 5, "windw": 1}})
