"""The seeds' auth, rate limit, cache and validation examples (batch C) answer as the seed says."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import jwt
import pytest
from _seed_loader import load

from scallion.stores import MemoryStore
from scallion.stores.redis import RedisStore
from scallion.testing import AsyncTestClient, TestClient

REDIS_URL = os.environ.get("SCALLION_TEST_REDIS", "redis://127.0.0.1:6379/15")


@pytest.fixture
def client_of() -> Iterator[Any]:
    opened: list[TestClient] = []

    def make(app: Any, **kw: Any) -> TestClient:
        c = TestClient(app, **kw)
        opened.append(c)
        return c

    yield make
    for c in opened:
        c.close()


@pytest.fixture
async def redis_store() -> AsyncIterator[RedisStore]:
    store = RedisStore(REDIS_URL, prefix=f"scallion-test:seeds-c:{uuid.uuid4().hex}:")
    yield store
    await store.clear()
    await store.close()


# -- §3.3 rate limit factory ----------------------------------------------------------------


class TestRateLimitStore:
    def test_module_app_is_the_seeds_100_per_minute(self, client_of: Any) -> None:
        r = client_of(load("rate_limit_store").app).get("/")
        assert r.text == "Hello World"
        assert r.headers["ratelimit-limit"] == "100"
        assert r.headers["ratelimit-policy"] == "100;w=60"

    def test_memory_store_refuses_past_max(self, client_of: Any) -> None:
        c = client_of(load("rate_limit_store").build(interval=60_000, max=3))
        responses = [c.get("/") for _ in range(4)]
        assert [r.status_code for r in responses] == [200, 200, 200, 429]
        assert responses[3].json() == {"code": 429, "message": "Too many requests"}
        assert int(responses[3].headers["retry-after"]) <= 60

    async def test_redis_store_is_shared_by_two_apps(self, redis_store: RedisStore) -> None:
        seed = load("rate_limit_store")
        other = RedisStore(REDIS_URL, prefix=redis_store.prefix)
        apps = [seed.build(max=5, store=redis_store), seed.build(max=5, store=other)]
        try:
            async with AsyncTestClient(apps[0]) as a, AsyncTestClient(apps[1]) as b:
                calls = [a.get("/") for _ in range(8)] + [b.get("/") for _ in range(8)]
                responses = await asyncio.gather(*calls)
            assert [r.status_code for r in responses].count(200) == 5
        finally:
            await other.close()

    async def test_by_redis_url(self) -> None:
        app = load("rate_limit_store").build(max=1, redis_url=REDIS_URL)
        limiter = app.middleware[1]
        assert isinstance(limiter.store, RedisStore)
        limiter.prefix = f"scallion-test:seeds-c:{uuid.uuid4().hex}:"
        try:
            async with AsyncTestClient(app) as c:
                assert [(await c.get("/")).status_code for _ in range(2)] == [200, 429]
        finally:
            await limiter.store.delete_all(limiter.prefix)
            await limiter.store.close()


# -- §2.3 JWT auth -----------------------------------------------------------------------------


class TestAuthJwt:
    def test_login_then_profile(self, client_of: Any) -> None:
        c = client_of(load("auth_jwt").app)
        token = c.post("/login").json()["token"]
        r = c.get("/profile", headers={"Authorization": f"Bearer {token}"})
        assert r.json() == {"user": "alice"}

    def test_no_token_bad_token_expired_token(self, client_of: Any) -> None:
        seed = load("auth_jwt")
        c = client_of(seed.app)
        missing = c.get("/profile")
        assert missing.status_code == 401
        assert missing.json() == {"code": 401, "message": "Missing bearer token"}
        assert missing.headers["www-authenticate"] == 'Bearer realm="api"'
        bad = c.get("/profile", headers={"Authorization": "Bearer forged.token.here"})
        assert bad.status_code == 401 and "invalid_token" in bad.headers["www-authenticate"]
        old = seed.issue("alice", ttl=-10)
        expired = c.get("/profile", headers={"Authorization": f"Bearer {old}"})
        assert expired.json()["message"] == "Token expired"

    def test_alg_none_is_refused(self, client_of: Any) -> None:
        c = client_of(load("auth_jwt").app)
        unsigned = jwt.encode(
            {"sub": "admin", "exp": int(time.time()) + 60}, None, algorithm="none"
        )
        r = c.get("/profile", headers={"Authorization": f"Bearer {unsigned}"})
        assert r.status_code == 401


# -- §7.3.1 / §8.9 cache on Redis ---------------------------------------------------------------


class TestCacheRedis:
    async def test_second_get_is_served_from_redis(self, redis_store: RedisStore) -> None:
        app = load("cache_redis").build(redis_store, ttl=30)
        async with AsyncTestClient(app) as c:
            first = await c.get("/products")
            second = await c.get("/products")
        assert first.headers["x-cache"] == "MISS" and second.headers["x-cache"] == "HIT"
        assert first.json() == second.json() == {"items": ["tea", "rice"], "computed": 1}
        assert app.state.calls["products"] == 1
        ttl = await redis_store.expires_in("cache:/products")
        assert ttl is not None and 0 < ttl <= 30

    async def test_errors_credentials_and_other_methods_are_not_cached(
        self, redis_store: RedisStore
    ) -> None:
        app = load("cache_redis").build(redis_store)
        async with AsyncTestClient(app) as c:
            assert (await c.get("/missing")).status_code == 404
            assert (await c.get("/missing")).status_code == 404
            assert not await redis_store.exists("cache:/missing")
            await c.get("/products", headers={"Authorization": "Bearer x"})
            assert not await redis_store.exists("cache:/products")
            await c.post("/products")
            assert not await redis_store.exists("cache:/products")
        assert app.state.calls["products"] == 1

    async def test_redis_down_serves_from_the_route(self) -> None:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        dead = RedisStore(f"redis://127.0.0.1:{port}/0", timeout=0.5)
        app = load("cache_redis").build(dead)
        async with AsyncTestClient(app) as c:
            responses = [await c.get("/products") for _ in range(2)]
        assert [r.status_code for r in responses] == [200, 200]
        assert app.state.calls["products"] == 2
        await dead.close()


# -- §7.2.4 user auth + permission check -----------------------------------------------------------


class TestUserPermission:
    def test_no_user_is_401(self, client_of: Any) -> None:
        r = client_of(load("user_permission").app).get("/me")
        assert r.status_code == 401 and r.json() == {"code": 401, "message": "Unauthorized"}

    def test_user_passes_and_roles_are_checked(self, client_of: Any) -> None:
        seed = load("user_permission")
        c = client_of(seed.app)
        user = {"Authorization": f"Bearer {seed.token_for('bob')}"}
        admin = {"Authorization": f"Bearer {seed.token_for('root', role='admin')}"}
        assert c.get("/me", headers=user).json() == {"user": "bob", "role": "user"}
        assert c.get("/admin", headers=user).status_code == 403
        assert c.get("/admin", headers=admin).json() == {"panel": "admin"}

    def test_a_bad_token_is_401_not_anonymous(self, client_of: Any) -> None:
        c = client_of(load("user_permission").app)
        r = c.get("/me", headers={"Authorization": "Bearer nope"})
        assert r.status_code == 401 and r.json()["message"] == "Invalid token"


# -- §8.10 request validation ----------------------------------------------------------------------


class TestRequestValidation:
    def test_api_key_required_then_checked(self, client_of: Any) -> None:
        c = client_of(load("request_validation").build(["k-1", "k-2"]))
        missing = c.post("/upload", content=b"x")
        assert missing.status_code == 401
        assert missing.json()["message"] == "Missing API key: send it in X-API-Key"
        assert c.post("/upload", content=b"x", headers={"X-API-Key": "k-3"}).status_code == 401
        ok = c.post("/upload", content=b"hello", headers={"X-API-Key": "k-2"})
        assert ok.status_code == 200 and ok.json()["received"] == 5

    def test_declared_oversize_is_413_before_reading(self, client_of: Any) -> None:
        c = client_of(load("request_validation").build(["k-1"], body_limit=1024))
        r = c.post("/upload", content=b"x" * 2048, headers={"X-API-Key": "k-1"})
        assert r.status_code == 413 and r.json()["message"] == "Request entity too large"

    async def test_chunked_oversize_is_413_while_streaming(self) -> None:
        app = load("request_validation").build(["k-1"], body_limit=1024)

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(8):
                yield b"x" * 512

        async with AsyncTestClient(app) as c:
            r = await c.post("/upload", content=chunks(), headers={"X-API-Key": "k-1"})
        assert r.status_code == 413
        assert "content-length" not in r.request.headers  # chunked: nothing declared

    def test_module_app_uses_the_environment_or_a_demo_key(self, client_of: Any) -> None:
        r = client_of(load("request_validation").app).post(
            "/upload",
            content=b"",
            headers={"X-API-Key": os.environ.get("SCALLION_API_KEYS", "demo-key").split(",")[0]},
        )
        assert r.status_code == 200


def test_memory_store_is_the_default_store() -> None:
    limiter = load("rate_limit_store").build().middleware[1]
    assert isinstance(limiter.store, MemoryStore)
