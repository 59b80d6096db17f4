"""The Express layer inside the onion: one server, one context, one set of middleware.

Also the seeds' examples (loginRequired on one route, four-parameter error middleware)
and hostile input, which must never turn into a 500.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from _express_helpers import fetch

from scallion import App, HttpError
from scallion.express import Express
from scallion.router import Router


async def response_time(ctx: Any, next: Any) -> None:
    start = time.perf_counter()
    try:
        await next()
    finally:
        ctx.set("X-Response-Time", f"{(time.perf_counter() - start) * 1000:.2f}ms")


# --------------------------------------------------------------------------- one onion


async def test_onion_middleware_before_express_sees_its_response() -> None:
    statuses: list[int] = []

    async def observe(ctx: Any, next: Any) -> None:
        await next()
        statuses.append(ctx.status)
        ctx.set("X-Seen-Body", type(ctx.body).__name__)

    ex = Express().get("/u", lambda req, res: res.status(201).json({"id": 1}))
    app = App().use(response_time, observe, ex)
    r = await fetch(app, "GET", "/u")
    assert r.status_code == 201
    assert r.headers["x-response-time"].endswith("ms")
    assert r.headers["x-seen-body"] == "dict"  # the body is still a dict on the way out
    assert statuses == [201]


async def test_onion_middleware_can_rewrite_an_express_response() -> None:
    async def wrap(ctx: Any, next: Any) -> None:
        await next()
        if isinstance(ctx.body, dict):
            ctx.body = {"data": ctx.body}

    ex = Express().get("/", lambda req, res: res.json({"x": 1}))
    r = await fetch(App().use(wrap, ex), "GET", "/")
    assert r.json() == {"data": {"x": 1}}


async def test_express_error_middleware_response_passes_the_onion() -> None:
    ex = Express()
    ex.get("/", lambda req, res, next: next(ValueError("x")))
    ex.use(lambda err, req, res, next: res.status(502).send("bad upstream"))
    r = await fetch(App().use(response_time, ex), "GET", "/")
    assert (r.status_code, r.text) == (502, "bad upstream")
    assert "x-response-time" in r.headers


async def test_express_then_router_like_onion_layer() -> None:
    async def koa_route(ctx: Any, next: Any) -> None:
        if ctx.path == "/koa":
            ctx.body = {"from": "koa"}
            return
        await next()

    ex = Express().get("/express", lambda req, res: res.json({"from": "express"}))
    app = App().use(ex, koa_route)
    assert (await fetch(app, "GET", "/express")).json() == {"from": "express"}
    assert (await fetch(app, "GET", "/koa")).json() == {"from": "koa"}
    assert (await fetch(app, "GET", "/none")).status_code == 404


async def test_router_and_express_in_one_app_either_order() -> None:
    router = Router(prefix="/koa")

    @router.get("/users/:id")
    async def koa_user(ctx: Any) -> None:
        ctx.body = {"koa": ctx.params["id"], "seen": getattr(ctx.state, "seen", None)}

    ex = Express()

    def mark(req: Any, res: Any, next: Any) -> None:
        res.locals["seen"] = "express middleware"
        next()

    ex.use(mark)
    ex.get("/ex/users/:id", lambda req, res: res.json({"express": req.params["id"]}))
    for app in (
        App().use(router.routes(), ex),
        App().use(ex, router.routes()).use(router.allowed_methods()),
    ):
        assert (await fetch(app, "GET", "/ex/users/1")).json() == {"express": "1"}
        koa = (await fetch(app, "GET", "/koa/users/2")).json()
        assert koa["koa"] == "2"
        assert (await fetch(app, "GET", "/neither")).status_code == 404
    # Express first: its use() middleware ran, then the request fell through to the Router.
    assert koa == {"koa": "2", "seen": "express middleware"}


async def test_express_as_a_router_route_handler() -> None:
    legacy = Express().get("/legacy/x", lambda req, res: res.send("legacy x"))
    router = Router()
    router.all("/legacy/*", legacy)
    app = App().use(router.routes())
    assert (await fetch(app, "GET", "/legacy/x")).text == "legacy x"
    assert (await fetch(app, "GET", "/legacy/y")).status_code == 404


async def test_two_express_instances_in_one_onion() -> None:
    first = Express().get("/a", lambda req, res: res.send("first"))
    second = Express().get("/b", lambda req, res: res.send("second"))
    app = App().use(first, response_time, second)
    assert (await fetch(app, "GET", "/a")).text == "first"
    r = await fetch(app, "GET", "/b")
    assert r.text == "second"
    assert "x-response-time" in r.headers


async def test_express_inside_a_composed_chain_with_next_after() -> None:
    ran: list[str] = []

    async def tail(ctx: Any, next: Any) -> None:
        ran.append("tail")
        await next()

    ex = Express().use(lambda req, res, next: next())
    r = await fetch(App().use(ex, tail), "GET", "/x")
    assert r.status_code == 404
    assert ran == ["tail"]


async def test_error_headers_from_http_error_survive() -> None:
    def limited(req: Any, res: Any) -> None:
        raise HttpError(429, "slow down", headers={"Retry-After": "3"})

    ex = Express().get("/", limited)
    r = await fetch(App().use(ex), "GET", "/")
    assert (r.status_code, r.text, r.headers["retry-after"]) == (429, "slow down", "3")


async def test_development_mode_shows_the_traceback() -> None:
    def boom(req: Any, res: Any) -> None:
        raise ValueError("dev detail")

    ex = Express().get("/", boom)
    r = await fetch(App(env="development").use(ex), "GET", "/")
    assert r.status_code == 500
    assert "ValueError: dev detail" in r.text


# --------------------------------------------------------------------------- seeds


def seed_app() -> App:
    """The seed's ``loginRequired`` on one route, and its four-parameter error middleware."""
    ex = Express()

    def login_required(req: Any, res: Any, next: Any) -> None:
        if not getattr(req, "user", None):
            return res.redirect("/login")  # type: ignore[no-any-return]
        next()

    ex.get("/private", login_required, lambda req, res: res.send("Hello private page!"))
    ex.get("/login", lambda req, res: res.send("please log in"))

    def crash(req: Any, res: Any) -> None:
        raise RuntimeError("crashed")

    ex.get("/crash", crash)

    def error_handler(err: BaseException, req: Any, res: Any, next: Any) -> None:
        res.status(500).json({"error": str(err)})

    ex.use(error_handler)

    async def session(ctx: Any, next: Any) -> None:
        if ctx.get("authorization") == "Bearer ada":
            ctx.state.user = "ada"
        await next()

    return App().use(session, ex)


async def test_seed_login_required_redirects_anonymous_users() -> None:
    r = await fetch(seed_app(), "GET", "/private")
    assert r.status_code == 302
    assert r.headers["location"] == "/login"


async def test_seed_login_required_lets_users_through() -> None:
    r = await fetch(seed_app(), "GET", "/private", headers={"authorization": "Bearer ada"})
    assert (r.status_code, r.text) == (200, "Hello private page!")


async def test_seed_login_required_is_on_one_route_only() -> None:
    assert (await fetch(seed_app(), "GET", "/login")).text == "please log in"


async def test_seed_error_middleware_catches_errors() -> None:
    r = await fetch(seed_app(), "GET", "/crash")
    assert (r.status_code, r.json()) == (500, {"error": "crashed"})


# --------------------------------------------------------------------------- hostile input


def hostile_app() -> App:
    ex = Express()
    child = Express().get("/:name", lambda req, res: res.json([req.params, req.path]))
    ex.use("/files", child)
    ex.get("/users/:id", lambda req, res: res.json(req.params))
    ex.get("/static", lambda req, res: res.send("static"))
    ex.use(lambda req, res, next: next())
    return App().use(ex)


@pytest.mark.parametrize(
    "path",
    [
        "/users/%E0%A4%A",  # truncated escape
        "/users/%zz",  # not hex
        "/users/%FF%FE",  # not UTF-8
        "/files/%",  # lone percent
        "/files/%C0%AF",  # overlong encoding
        "/%00",  # NUL
        "/users/" + "a" * 20_000,  # huge segment
        "/" + "x/" * 5_000,  # very many segments
        "/files/../../etc/passwd",
        "//static",
        "/static//",
    ],
)
async def test_hostile_paths_never_500(path: str) -> None:
    r = await fetch(hostile_app(), "GET", path)
    assert r.status_code in (200, 404), (path[:40], r.status_code, r.text[:200])


async def test_undecodable_params_are_kept_as_they_came() -> None:
    r = await fetch(hostile_app(), "GET", "/users/%E0%A4%A")
    assert r.json() == {"id": "%E0%A4%A"}
    r = await fetch(hostile_app(), "GET", "/files/%zz")
    assert r.json() == [{"name": "%zz"}, "/%zz"]


async def test_hostile_headers_and_query_never_500() -> None:
    ex = Express().get("/", lambda req, res: res.json([req.query, req.cookies, req.get("x-weird")]))
    r = await fetch(
        App().use(ex),
        "GET",
        "/?a=%ZZ&b=%FF&&=&c",
        headers={"cookie": 'x="unterminated; =; ;;', "x-weird": b"\xff\xfe"},  # type: ignore[dict-item]
    )
    assert r.status_code == 200


async def test_a_matched_route_reports_its_pattern_as_ctx_router_path() -> None:
    # metrics() and tracing() label requests by ctx.router_path
    from scallion import App
    from scallion.express import Express
    from scallion.testing import AsyncTestClient

    seen: list[str | None] = []
    child = Express()
    child.get("/users/:id", lambda req, res: res.send("ok"))
    outer = Express()
    outer.use("/api", child)
    app = App()

    async def look(ctx, next):  # type: ignore[no-untyped-def]
        await next()
        seen.append(ctx.router_path)

    app.use(look, outer)
    async with AsyncTestClient(app) as client:
        assert (await client.get("/api/users/7")).text == "ok"
    assert seen == ["/api/users/:id"]
