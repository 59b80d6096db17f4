"""router.use(): prefix-scoped middleware, the always option, and nested routers."""

from __future__ import annotations

from typing import Any

import pytest
from _router_helpers import fetch

from scallion import App, Context
from scallion.router import Router


def tagger(tag: str, log: list[str]) -> Any:
    async def mw(ctx: Context, next: Any) -> None:
        log.append(tag)
        await next()

    return mw


def answer(text: str) -> Any:
    def handler(ctx: Context) -> None:
        ctx.body = text

    return handler


# -- middleware scoped by prefix ---------------------------------------------------------


async def test_use_without_path_runs_for_every_matched_route() -> None:
    log: list[str] = []
    router = Router()
    router.use(tagger("mw", log))
    router.get("/a", answer("a"))
    assert (await fetch(router, "GET", "/a")).text == "a"
    assert log == ["mw"]


async def test_use_does_not_run_when_no_route_matched() -> None:
    log: list[str] = []
    router = Router()
    router.use(tagger("mw", log))
    router.get("/a", answer("a"))
    assert (await fetch(router, "GET", "/nothing")).status_code == 404
    assert (await fetch(router, "POST", "/a")).status_code == 405
    assert log == []


async def test_use_prefix_matches_whole_segments_only_gh90() -> None:
    log: list[str] = []
    router = Router()
    router.use("/a", tagger("a-only", log))
    router.get("/a", answer("a"))
    router.get("/a/b", answer("a/b"))
    router.get("/about", answer("about"))
    router.get("/ab/c", answer("ab/c"))
    for path, expected in [("/a", ["a-only"]), ("/a/b", ["a-only"]), ("/about", []), ("/ab/c", [])]:
        log.clear()
        assert (await fetch(router, "GET", path)).status_code == 200
        assert log == expected, path


async def test_use_prefix_with_params_fills_ctx_params() -> None:
    seen: list[dict[str, str]] = []

    async def capture(ctx: Context, next: Any) -> None:
        seen.append(dict(ctx.params))
        await next()

    router = Router()
    router.use("/users/:uid", capture)
    router.get("/users/:uid/posts", answer("posts"))
    assert (await fetch(router, "GET", "/users/42/posts")).text == "posts"
    assert seen == [{"uid": "42"}]


async def test_use_with_a_list_of_paths() -> None:
    log: list[str] = []
    router = Router()
    router.use(["/x", "/y"], tagger("xy", log))
    for path in ["/x", "/y", "/z"]:
        router.get(path, answer(path))
    for path in ["/x", "/y", "/z"]:
        await fetch(router, "GET", path)
    assert log == ["xy", "xy"]


async def test_use_honours_the_router_prefix() -> None:
    log: list[str] = []
    router = Router(prefix="/api")
    router.use("/admin", tagger("admin", log))
    router.get("/admin/stats", answer("stats"))
    router.get("/public", answer("public"))
    await fetch(router, "GET", "/api/admin/stats")
    await fetch(router, "GET", "/api/public")
    assert log == ["admin"]


async def test_use_middleware_and_routes_run_in_registration_order() -> None:
    log: list[str] = []
    router = Router()
    router.use(tagger("first", log))

    async def route(ctx: Context, next: Any) -> None:
        log.append("route")
        await next()

    router.get("/", route)
    router.use(tagger("after route", log))
    await fetch(router, "GET", "/")
    assert log == ["first", "route", "after route"]


async def test_use_middleware_can_short_circuit() -> None:
    router = Router()

    async def guard(ctx: Context, next: Any) -> None:
        if ctx.get("x-token") != "ok":
            ctx.throw(401, "no token")
        await next()

    router.use("/private", guard)
    router.get("/private/data", answer("secret"))
    router.get("/public", answer("open"))
    assert (await fetch(router, "GET", "/private/data")).status_code == 401
    ok = await fetch(router, "GET", "/private/data", headers={"x-token": "ok"})
    assert ok.text == "secret"
    assert (await fetch(router, "GET", "/public")).text == "open"


def test_use_needs_middleware() -> None:
    with pytest.raises(TypeError, match="at least one"):
        Router().use("/x")
    with pytest.raises(TypeError, match="takes middleware"):
        Router().use("/x", 42)


# -- always: run even when no route matched (gh-44) ---------------------------------------


async def test_always_runs_for_unmatched_requests_under_its_prefix_gh44() -> None:
    log: list[str] = []
    router = Router()
    router.use("/api", tagger("api", log), always=True)
    router.get("/api/known", answer("known"))
    assert (await fetch(router, "GET", "/api/unknown")).status_code == 404
    assert (await fetch(router, "GET", "/api/known")).text == "known"
    assert (await fetch(router, "GET", "/elsewhere")).status_code == 404
    assert (await fetch(router, "GET", "/apiary")).status_code == 404
    assert log == ["api", "api"]


async def test_always_middleware_can_answer_unmatched_requests_gh44() -> None:
    router = Router(prefix="/api")

    async def api_not_found(ctx: Context, next: Any) -> None:
        await next()
        if ctx.status == 404 and ctx.body is None:
            ctx.status = 404
            ctx.body = {"error": "no such endpoint", "path": ctx.path}

    router.use(api_not_found, always=True)
    router.get("/users", answer("users"))
    response = await fetch(router, "GET", "/api/nope")
    assert response.status_code == 404
    assert response.json() == {"error": "no such endpoint", "path": "/api/nope"}
    assert (await fetch(router, "GET", "/api/users")).text == "users"
    assert (await fetch(router, "GET", "/other")).text == "Not Found"


# -- nested routers ----------------------------------------------------------------------


async def test_nested_router_under_a_path() -> None:
    child = Router()
    child.get("/users", answer("v1 users"))
    parent = Router()
    parent.use("/v1", child.routes())
    assert (await fetch(parent, "GET", "/v1/users")).text == "v1 users"
    assert (await fetch(parent, "GET", "/users")).status_code == 404


async def test_nested_router_without_a_path_keeps_its_own_prefix() -> None:
    child = Router(prefix="/things")
    child.get("/:id", lambda ctx: setattr(ctx, "body", ctx.params["id"]))
    parent = Router(prefix="/api")
    parent.use(child.routes())
    assert (await fetch(parent, "GET", "/api/things/9")).text == "9"


async def test_nested_params_from_parent_prefix_and_child_route() -> None:
    posts = Router()
    posts.get("/posts/:pid", lambda ctx: setattr(ctx, "body", dict(ctx.params)))
    users = Router()
    users.use("/users/:uid", posts.routes())
    body = (await fetch(users, "GET", "/users/3/posts/8")).json()
    assert body == {"uid": "3", "pid": "8"}


async def test_three_levels_of_nesting() -> None:
    leaf = Router()
    leaf.get("/leaf/:c", lambda ctx: setattr(ctx, "body", {**ctx.params, "path": ctx.router_path}))
    mid = Router(prefix="/mid/:b")
    mid.use(leaf.routes())
    root = Router()
    root.use("/root/:a", mid.routes())
    body = (await fetch(root, "GET", "/root/1/mid/2/leaf/3")).json()
    assert body == {"a": "1", "b": "2", "c": "3", "path": "/root/:a/mid/:b/leaf/:c"}


async def test_child_router_also_works_on_its_own() -> None:
    child = Router()
    child.get("/ping", answer("pong"))
    Router().use("/v1", child.routes())
    assert (await fetch(child, "GET", "/ping")).text == "pong"


async def test_same_child_mounted_twice() -> None:
    child = Router()
    child.get("/who", lambda ctx: setattr(ctx, "body", ctx.router_path))
    parent = Router()
    parent.use("/v1", child.routes()).use("/v2", child.routes())
    assert (await fetch(parent, "GET", "/v1/who")).text == "/v1/who"
    assert (await fetch(parent, "GET", "/v2/who")).text == "/v2/who"


async def test_routes_added_to_a_child_after_mounting_appear() -> None:
    child = Router()
    parent = Router()
    parent.use("/c", child.routes())
    app = App().use(parent.routes())
    assert (await fetch(app, "GET", "/c/late")).status_code == 404
    child.get("/late", answer("late"))
    assert (await fetch(app, "GET", "/c/late")).text == "late"


async def test_parent_middleware_runs_for_child_routes() -> None:
    log: list[str] = []
    child = Router()
    child.get("/x", answer("x"))
    parent = Router()
    parent.use(tagger("parent", log))
    parent.use("/child", child.routes())
    assert (await fetch(parent, "GET", "/child/x")).text == "x"
    assert log == ["parent"]


async def test_child_middleware_guards_only_child_routes() -> None:
    log: list[str] = []
    child = Router()
    child.use(tagger("child", log))
    child.get("/x", answer("child x"))
    parent = Router()
    parent.use(child.routes())
    parent.get("/y", answer("parent y"))
    assert (await fetch(parent, "GET", "/y")).text == "parent y"
    assert log == []
    assert (await fetch(parent, "GET", "/x")).text == "child x"
    assert log == ["child"]


async def test_mixed_middleware_and_child_in_one_use_call() -> None:
    log: list[str] = []
    child = Router()
    child.get("/x", answer("x"))
    parent = Router()
    parent.use("/p", tagger("before child", log), child.routes())
    assert (await fetch(parent, "GET", "/p/x")).text == "x"
    assert log == ["before child"]


def test_mounting_a_router_inside_itself_is_refused() -> None:
    router = Router()
    with pytest.raises(ValueError, match="inside itself"):
        router.use(router.routes())
    child = Router()
    router.use(child.routes())
    with pytest.raises(ValueError, match="inside itself"):
        child.use(router.routes())


def test_nested_duplicate_param_names_are_reported() -> None:
    child = Router()
    child.get("/items/:id", lambda ctx: None)
    parent = Router()
    with pytest.raises(ValueError, match="used twice"):
        parent.use("/shops/:id", child.routes())


async def test_two_routers_on_one_app_share_ctx_matched() -> None:
    a = Router()
    a.post("/thing", answer("a"))
    b = Router()
    b.put("/thing", answer("b"))
    app = App().use(a.routes()).use(b.routes()).use(b.allowed_methods())
    response = await fetch(app, "DELETE", "/thing")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST, PUT"


def test_always_is_refused_for_a_mounted_router() -> None:
    with pytest.raises(ValueError, match="always=True applies to middleware"):
        Router().use("/c", Router().routes(), always=True)
