"""session on a real Redis Cluster, over HTTP: two app instances (two clients, two
connection pools: like two workers) see every session."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
from _redis_cluster import ClusterProcesses

from scallion import App
from scallion.middleware import error_handler, session
from scallion.stores.redis import RedisStore
from scallion.testing import AsyncTestClient

KEYS = ["cluster-test-key-0123456789abcdef"]


def session_app(store: RedisStore | None = None, **options: Any) -> App:
    async def handler(ctx: Any, next: Any) -> None:
        s = ctx.session
        if ctx.path == "/login":
            s.regenerate()
            s["user"] = ctx.query.get("name", "alice")
        elif ctx.path == "/add":
            s.setdefault("cart", []).append(ctx.query["item"])
        elif ctx.path == "/logout":
            s.destroy()
        ctx.body = {"session": dict(s or {})}

    app = App(keys=KEYS)
    mw = session(store, **options) if store is not None else session(**options)
    app.use(error_handler(), mw, handler)
    return app


def cookie_header(r: httpx.Response) -> str:
    pairs = [line.split(";", 1)[0] for line in r.headers.get_list("set-cookie")]
    return "; ".join(pairs)


async def test_sessions_round_trip_and_are_shared_between_two_apps(
    redis_cluster: ClusterProcesses, cluster_prefix: str
) -> None:
    stores = [RedisStore(redis_cluster.url, prefix=cluster_prefix) for _ in range(2)]
    try:
        async with (
            AsyncTestClient(session_app(stores[0])) as one,
            AsyncTestClient(session_app(stores[1])) as two,
        ):
            login = await one.get("/login?name=carol")
            cookies = {"cookie": cookie_header(login)}
            sid = login.cookies["scallion.sid"]
            assert (await two.get("/add?item=tea", headers=cookies)).json() == {
                "session": {"user": "carol", "cart": ["tea"]}
            }
            assert (await one.get("/add?item=jam", headers=cookies)).json()["session"]["cart"] == [
                "tea",
                "jam",
            ]
            record = await stores[1].get("sess:" + sid)
            assert record is not None
            assert orjson.loads(record)["d"] == {"user": "carol", "cart": ["tea", "jam"]}
            ttl = await stores[0].expires_in("sess:" + sid)
            assert ttl is not None and 86390 < ttl <= 86400
            await two.get("/logout", headers=cookies)
            assert await stores[0].get("sess:" + sid) is None
            assert (await one.get("/", headers=cookies)).json() == {"session": {}}
            forged = {"cookie": "scallion.sid={evil}; scallion.sid.sig=nope"}
            assert (await one.get("/", headers=forged)).json() == {"session": {}}
    finally:
        for s in stores:
            await s.close()


async def test_session_by_cluster_url(redis_cluster: ClusterProcesses, cluster_prefix: str) -> None:
    mw = session("redis", redis_url=redis_cluster.url, prefix=cluster_prefix)
    assert isinstance(mw.store, RedisStore) and mw.store.cluster
    app = App(keys=KEYS)

    async def handler(ctx: Any, next: Any) -> None:
        if ctx.path == "/login":
            ctx.session["user"] = "dave"
        ctx.body = {"session": dict(ctx.session)}

    app.use(mw, handler)
    try:
        async with AsyncTestClient(app) as c:
            await c.get("/login")
            assert (await c.get("/")).json() == {"session": {"user": "dave"}}
    finally:
        await mw.store.delete_all(cluster_prefix)
        await mw.store.close()
