"""session over HTTP: the signed cookie, the store (memory and the real Redis), expiry, faults."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest

from scallion import App, HttpError
from scallion.cookies import sign
from scallion.middleware import csrf, error_handler, session
from scallion.middleware.session import SessionData, SessionMiddleware
from scallion.stores import MemoryStore
from scallion.stores.redis import RedisStore
from scallion.testing import AsyncTestClient, TestClient

from ._helpers_a import closing
from ._helpers_c import REDIS_URL, dead_redis_url, unique_prefix

KEYS = ["test-key-0123456789abcdef"]


async def routes(ctx: Any) -> None:
    """A tiny app: each path does one thing with ctx.session."""
    s = ctx.session
    path = ctx.path
    if path == "/login":
        s.regenerate()
        s["user"] = ctx.query.get("name", "alice")
    elif path == "/set":
        s[ctx.query["k"]] = ctx.query["v"]
    elif path == "/nested":
        s.setdefault("cart", [])
        s["cart"].append(len(s["cart"]))
    elif path == "/destroy":
        s.destroy()
    elif path == "/none":
        ctx.session = None
    elif path == "/replace":
        ctx.session = {"fresh": True}
    elif path == "/big":
        s["blob"] = "x" * int(ctx.query["n"])
    elif path == "/unserializable":
        s["when"] = object()
    elif path == "/fail":
        s["before_error"] = True
        raise HttpError(400, "bad input")
    ctx.body = {"session": dict(ctx.session or {}), "new": getattr(ctx.session, "is_new", None)}


def make_app(*mw: Any, keys: list[str] | None = KEYS, **options: Any) -> App:
    async def handler(ctx: Any, next: Any) -> None:
        await routes(ctx)

    app = App(keys=keys)
    app.use(*mw, session(**options) if "store_mw" not in options else options["store_mw"], handler)
    return app


def make_client(*mw: Any, base_url: str = "http://testserver", **options: Any) -> TestClient:
    return closing(TestClient(make_app(*mw, **options), base_url=base_url))


def set_cookies(r: httpx.Response) -> dict[str, str]:
    """name -> the whole Set-Cookie line."""
    return {line.split("=", 1)[0]: line for line in r.headers.get_list("set-cookie")}


def value(line: str) -> str:
    return line.split(";", 1)[0].split("=", 1)[1]


# -- round trip -----------------------------------------------------------------------------


def test_round_trip_through_the_signed_cookie() -> None:
    c = make_client()
    r = c.get("/login?name=bob")
    assert r.json() == {"session": {"user": "bob"}, "new": True}
    cookies = set_cookies(r)
    assert set(cookies) == {"scallion.sid", "scallion.sid.sig"}
    sid = value(cookies["scallion.sid"])
    assert len(sid) == 43  # token_urlsafe(32): the cookie holds only the id
    line = cookies["scallion.sid"]
    for attribute in ("Path=/", "Max-Age=86400", "HttpOnly", "SameSite=Lax"):
        assert attribute in line
    assert "Secure" not in line  # plain http
    me = c.get("/")
    assert me.json() == {"session": {"user": "bob"}, "new": False}
    assert "set-cookie" not in me.headers  # unchanged: not saved, no cookie


def test_new_empty_session_sets_no_cookie_and_stores_nothing() -> None:
    store = MemoryStore()
    c = make_client(store=store)
    r = c.get("/")
    assert r.json() == {"session": {}, "new": True}
    assert "set-cookie" not in r.headers and len(store) == 0


def test_changes_are_saved_including_nested_ones() -> None:
    store = MemoryStore()
    c = make_client(store=store)
    c.get("/set?k=a&v=1")
    c.get("/set?k=b&v=2")
    assert c.get("/").json()["session"] == {"a": "1", "b": "2"}
    c.get("/nested")
    c.get("/nested")
    assert c.get("/").json()["session"]["cart"] == [0, 1]
    assert len(store) == 1


def test_secure_on_https_and_cookie_options() -> None:
    r = make_client(base_url="https://testserver").get("/login")
    assert "Secure" in set_cookies(r)["scallion.sid"]
    c = make_client(
        key="sid",
        max_age=60,
        httponly=False,
        samesite="strict",
        secure=True,
        domain="example.test",
        path="/app",
    )
    line = set_cookies(c.get("/login"))["sid"]
    for attribute in (
        "Max-Age=60",
        "SameSite=Strict",
        "Secure",
        "Domain=example.test",
        "Path=/app",
    ):
        assert attribute in line
    assert "HttpOnly" not in line


def test_unsigned_mode_needs_no_keys() -> None:
    c = make_client(keys=None, signed=False)
    r = c.get("/login")
    assert set(set_cookies(r)) == {"scallion.sid"}
    assert c.get("/").json()["session"] == {"user": "alice"}


def test_signed_without_app_keys_says_so() -> None:
    errors: list[BaseException] = []
    app = make_app(keys=None)
    app.on("error", lambda err, ctx: errors.append(err))
    r = closing(TestClient(app)).get("/")
    assert r.status_code == 500
    assert "App(keys=" in str(errors[0])


def test_old_signing_key_still_accepted_after_rotation() -> None:
    store = MemoryStore()
    old = make_client(store=store, keys=["old-key-0123456789abcdef"])
    sid = value(set_cookies(old.get("/login"))["scallion.sid"])
    rotated = make_app(
        store_mw=session(store), keys=["new-key-0123456789abcdef", "old-key-0123456789abcdef"]
    )
    c = closing(TestClient(rotated))
    signature = sign(f"scallion.sid={sid}", "old-key-0123456789abcdef")
    r = c.get("/", headers={"Cookie": f"scallion.sid={sid}; scallion.sid.sig={signature}"})
    assert r.json()["session"] == {"user": "alice"}


# -- hostile cookies ------------------------------------------------------------------------


def test_tampered_unsigned_and_unknown_cookies_start_fresh() -> None:
    store = MemoryStore()
    c = make_client(store=store)
    cookies = set_cookies(c.get("/login"))
    sid, sig = value(cookies["scallion.sid"]), value(cookies["scallion.sid.sig"])
    c.cookies.clear()
    forged = sid[:-1] + ("A" if sid[-1] != "A" else "B")
    for header in (
        f"scallion.sid={forged}; scallion.sid.sig={sig}",  # tampered id
        f"scallion.sid={sid}",  # signature missing
        f"scallion.sid={sid}; scallion.sid.sig=garbage",  # wrong signature
        f"scallion.sid={sid}; scallion.sid.sig=sïg",  # non-ASCII signature
        "scallion.sid=" + "x" * 10_000,  # huge
        "scallion.sid=../../etc; scallion.sid.sig=x",
    ):
        r = c.get("/", headers={"Cookie": header.encode("latin-1")})
        assert r.status_code == 200 and r.json() == {"session": {}, "new": True}, header
    # a validly signed id the store does not know: fresh, and never adopted
    unknown = "U" * 43
    header = f"scallion.sid={unknown}; scallion.sid.sig={sign('scallion.sid=' + unknown, KEYS[0])}"
    r = c.get("/set?k=a&v=1", headers={"Cookie": header})
    assert r.json()["new"] is True
    new_sid = value(set_cookies(r)["scallion.sid"])
    assert new_sid != unknown and len(new_sid) == 43
    assert not any(unknown in k for k in store._data)


async def test_corrupt_store_record_starts_fresh() -> None:
    store = MemoryStore()
    app = make_app(store=store)
    async with AsyncTestClient(app) as c:
        await c.get("/login")
        (key,) = list(store._data)
        await store.set(key, b"not json")
        assert (await c.get("/")).json() == {"session": {}, "new": True}
        await store.set(key, b'{"e": 1e12, "d": [1, 2]}')
        assert (await c.get("/")).json()["new"] is True
        await store.delete(key)
        await store.sliding_window_hit(key, 5, 60)  # get() raises StoreError for this key
        assert (await c.get("/")).json()["new"] is True


# -- regenerate, destroy, replace --------------------------------------------------------------


def test_regenerate_issues_a_new_id_and_kills_the_old_one() -> None:
    store = MemoryStore()
    c = make_client(store=store)
    first = set_cookies(c.get("/set?k=cart&v=3"))
    old_cookie = "; ".join(f"{name}={value(line)}" for name, line in first.items())
    login = c.get("/login")
    assert login.json()["session"] == {"cart": "3", "user": "alice"}  # data moves along
    assert value(set_cookies(login)["scallion.sid"]) != value(first["scallion.sid"])
    assert len(store) == 1  # the old record is gone
    c.cookies.clear()
    assert c.get("/", headers={"Cookie": old_cookie}).json() == {"session": {}, "new": True}


@pytest.mark.parametrize("path", ["/destroy", "/none"])
def test_destroy_deletes_record_and_expires_cookie(path: str) -> None:
    store = MemoryStore()
    c = make_client(store=store)
    c.get("/login")
    assert len(store) == 1
    r = c.get(path)
    cookies = set_cookies(r)
    assert "Max-Age=0" in cookies["scallion.sid"] and "Max-Age=0" in cookies["scallion.sid.sig"]
    assert len(store) == 0
    assert c.get("/").json() == {"session": {}, "new": True}


def test_destroy_without_a_session_sets_nothing() -> None:
    r = make_client().get("/destroy")
    assert r.status_code == 200 and "set-cookie" not in r.headers


def test_assigning_a_dict_replaces_data_under_a_new_id() -> None:
    c = make_client()
    sid = value(set_cookies(c.get("/login"))["scallion.sid"])
    r = c.get("/replace")
    assert r.json()["session"] == {"fresh": True}
    assert value(set_cookies(r)["scallion.sid"]) != sid
    assert c.get("/").json()["session"] == {"fresh": True}


def test_session_data_flags() -> None:
    data = SessionData()
    assert data.is_new and not data.changed
    data["a"] = 1
    assert data.changed
    loaded = SessionData({"a": 1}, sid="x" * 43, loaded=orjson.dumps({"a": 1}))
    assert not loaded.is_new and not loaded.changed
    loaded["a"] = 2
    assert loaded.changed
    loaded["a"] = 1
    assert not loaded.changed
    loaded.regenerate()
    assert loaded.changed
    loaded.destroy()
    assert loaded == {} and "new=False" in repr(loaded)


# -- errors, size, serialization ------------------------------------------------------------


def test_changes_before_an_error_are_saved_and_the_cookie_survives() -> None:
    c = make_client(error_handler())
    r = c.get("/fail")
    assert r.status_code == 400 and r.json()["message"] == "bad input"
    assert "scallion.sid" in set_cookies(r)
    assert c.get("/").json()["session"] == {"before_error": True}


def test_an_error_with_its_own_cookie_keeps_both() -> None:
    async def handler(ctx: Any, next: Any) -> None:
        ctx.session["tried"] = True
        raise HttpError(409, "conflict", headers={"Set-Cookie": "flash=conflict; Path=/"})

    app = App(keys=KEYS).use(error_handler(), session(), handler)
    r = closing(TestClient(app)).get("/")
    assert r.status_code == 409
    assert {"flash", "scallion.sid", "scallion.sid.sig"} <= set(set_cookies(r))


def test_oversize_session_is_a_clear_500(caplog: pytest.LogCaptureFixture) -> None:
    errors: list[BaseException] = []
    app = make_app(max_size=1024)
    app.on("error", lambda err, ctx: errors.append(err))
    c = closing(TestClient(app))
    assert c.get("/big?n=500").status_code == 200
    r = c.get("/big?n=5000")
    assert r.status_code == 500 and r.text == "Internal Server Error"
    assert "over the 1024-byte limit" in str(errors[0])
    assert c.get("/").json()["session"]["blob"] == "x" * 500  # the old data is intact


def test_unserializable_value_is_a_clear_500() -> None:
    errors: list[BaseException] = []
    app = make_app()
    app.on("error", lambda err, ctx: errors.append(err))
    assert closing(TestClient(app)).get("/unserializable").status_code == 500
    assert "JSON-serializable" in str(errors[0])


def test_csrf_synchronizer_keeps_its_token_in_the_session() -> None:
    async def form(ctx: Any, next: Any) -> None:
        ctx.body = {"token": ctx.state.csrf_token}

    app = App(keys=KEYS).use(error_handler(), session(), csrf(mode="synchronizer"), form)
    c = closing(TestClient(app))
    token = c.get("/").json()["token"]
    assert c.post("/", headers={"X-CSRF-Token": token}).status_code == 200
    assert c.post("/", headers={"X-CSRF-Token": "wrong"}).status_code == 403


# -- expiry: rolling, renew, fixed (real time on the real Redis) ----------------------------


@pytest.fixture
async def redis_store() -> AsyncIterator[RedisStore]:
    store = RedisStore(REDIS_URL, prefix=unique_prefix("sess"))
    yield store
    await store.clear()
    await store.close()


async def test_redis_round_trip_and_layout(redis_store: RedisStore) -> None:
    async with AsyncTestClient(make_app(store=redis_store)) as c:
        r = await c.get("/login?name=carol")
        sid = value(set_cookies(r)["scallion.sid"])
        assert (await c.get("/")).json() == {"session": {"user": "carol"}, "new": False}
        raw = await redis_store.get("sess:" + sid)
        assert raw is not None
        record = orjson.loads(raw)
        assert record["d"] == {"user": "carol"}
        ttl = await redis_store.expires_in("sess:" + sid)
        assert ttl is not None and 86390 < ttl <= 86400


async def test_redis_store_by_url() -> None:
    mw = session("redis", redis_url=REDIS_URL, prefix=unique_prefix("sess"))
    assert isinstance(mw.store, RedisStore)
    try:
        async with AsyncTestClient(make_app(store_mw=mw)) as c:
            await c.get("/login")
            assert (await c.get("/")).json()["session"] == {"user": "alice"}
    finally:
        await mw.store.delete_all(mw.prefix)
        await mw.store.close()


async def test_fixed_expiry_rolling_and_renew(redis_store: RedisStore) -> None:
    fixed = session(redis_store, max_age=3, prefix="fixed:")
    rolling = session(redis_store, max_age=3, rolling=True, prefix="rolling:")
    renew = session(redis_store, max_age=3, renew=True, prefix="renew:")
    clients = {}
    for name, mw in (("fixed", fixed), ("rolling", rolling), ("renew", renew)):
        clients[name] = AsyncTestClient(make_app(store_mw=mw))
        await clients[name].__aenter__()
    try:
        sids = {}
        for name, c in clients.items():
            sids[name] = value(set_cookies(await c.get("/login"))["scallion.sid"])
        # early: more than half of max_age left
        assert "set-cookie" in (await clients["rolling"].get("/")).headers
        assert "set-cookie" not in (await clients["renew"].get("/")).headers
        assert "set-cookie" not in (await clients["fixed"].get("/")).headers
        await asyncio.sleep(1.7)  # now less than half is left
        r_fixed = await clients["fixed"].get("/set?k=a&v=1")  # changed, but expiry is fixed
        r_rolling = await clients["rolling"].get("/")
        r_renew = await clients["renew"].get("/")
        assert "set-cookie" not in r_fixed.headers
        assert "Max-Age=3" in set_cookies(r_rolling)["scallion.sid"]
        assert "Max-Age=3" in set_cookies(r_renew)["scallion.sid"]
        ttl_fixed = await redis_store.expires_in("fixed:" + sids["fixed"])
        ttl_rolling = await redis_store.expires_in("rolling:" + sids["rolling"])
        ttl_renew = await redis_store.expires_in("renew:" + sids["renew"])
        assert ttl_fixed is not None and ttl_fixed < 1.5
        assert ttl_rolling is not None and ttl_rolling > 2.5
        assert ttl_renew is not None and ttl_renew > 2.5
        assert (await clients["fixed"].get("/")).json()["session"] == {"user": "alice", "a": "1"}
        await asyncio.sleep(1.5)  # the fixed session has expired; the renewed ones have not
        assert (await clients["fixed"].get("/")).json()["new"] is True
        assert (await clients["rolling"].get("/")).json()["session"] == {"user": "alice"}
        assert (await clients["renew"].get("/")).json()["session"] == {"user": "alice"}
    finally:
        for c in clients.values():
            await c.__aexit__(None, None, None)


async def test_redis_down_is_a_503_not_a_lost_session(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.CRITICAL)
    good = RedisStore(REDIS_URL, prefix=unique_prefix("sess"))
    async with AsyncTestClient(make_app(store=good)) as c:
        cookie = "; ".join(
            f"{n}={value(line)}" for n, line in set_cookies(await c.get("/login")).items()
        )
    await good.clear()
    await good.close()
    dead = RedisStore(dead_redis_url(), timeout=0.5)
    async with AsyncTestClient(make_app(error_handler(), store=dead)) as c:
        loading = await c.get("/", headers={"Cookie": cookie})
        assert loading.status_code == 503
        assert loading.json()["message"] == "Session store unavailable"
        saving = await c.get("/login")  # no cookie: loads nothing, fails when saving
        assert saving.status_code == 503 and "set-cookie" not in saving.headers
        assert (await c.get("/")).status_code == 200  # never touches the store
    await dead.close()


# -- bad options -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"key": "bad name"}, ValueError),
        ({"key": ""}, ValueError),
        ({"max_age": 0}, ValueError),
        ({"max_age": "1d"}, ValueError),
        ({"rolling": "yes"}, TypeError),
        ({"renew": 1}, TypeError),
        ({"signed": None}, TypeError),
        ({"httponly": None}, TypeError),
        ({"samesite": "loose"}, ValueError),
        ({"secure": "auto"}, TypeError),
        ({"domain": 5}, TypeError),
        ({"path": "app"}, ValueError),
        ({"prefix": None}, TypeError),
        ({"max_size": 0}, ValueError),
        ({"store": "disk"}, ValueError),
        ({"store": object()}, TypeError),
        ({"store": "redis"}, ValueError),
    ],
)
def test_bad_options_fail_at_construction(kwargs: dict[str, Any], error: type) -> None:
    with pytest.raises(error, match="session"):
        session(**kwargs)


def test_factory_returns_the_middleware() -> None:
    mw = session(MemoryStore(), key="sid")
    assert isinstance(mw, SessionMiddleware) and "sid" in repr(mw)
