"""router.param() middleware and router.url() building."""

from __future__ import annotations

from typing import Any

import pytest
from _router_helpers import fetch

from scallion import Context
from scallion.router import Router

# -- param() ------------------------------------------------------------------------------


async def test_param_runs_before_the_handler_with_the_decoded_value() -> None:
    router = Router()

    async def load_user(value: str, ctx: Context, next: Any) -> None:
        ctx.state.user = {"name": value.upper()}
        await next()

    router.param("user", load_user)
    router.get("/users/:user", lambda ctx: setattr(ctx, "body", ctx.state.user))
    assert (await fetch(router, "GET", "/users/ann%20b")).json() == {"name": "ANN B"}


async def test_several_param_functions_run_in_order() -> None:
    router = Router()
    order: list[str] = []

    def make(tag: str) -> Any:
        async def fn(value: str, ctx: Context, next: Any) -> None:
            order.append(f"{tag}:{value}")
            await next()
            order.append(f"{tag} out")

        return fn

    router.param("id", make("first")).param("id", make("second"))

    def handler(ctx: Context) -> None:
        order.append("handler")
        ctx.body = "ok"

    router.get("/items/:id", handler)
    assert (await fetch(router, "GET", "/items/5")).text == "ok"
    assert order == ["first:5", "second:5", "handler", "second out", "first out"]


async def test_params_run_in_path_order_not_registration_order() -> None:
    router = Router()
    order: list[str] = []

    def record(value: str, ctx: Context, next: Any) -> Any:
        order.append(value)
        return next()

    router.param("b", record)
    router.param("a", record)
    router.get("/:a/:b", lambda ctx: setattr(ctx, "body", "ok"))
    await fetch(router, "GET", "/first/second")
    assert order == ["first", "second"]


async def test_param_runs_once_per_request_even_with_several_matching_routes() -> None:
    router = Router()
    calls: list[str] = []

    async def count(value: str, ctx: Context, next: Any) -> None:
        calls.append(value)
        await next()

    async def first(ctx: Context, next: Any) -> None:
        await next()

    router.param("id", count)
    router.get("/things/:id", first)
    router.get("/things/:id", lambda ctx: setattr(ctx, "body", "second"))
    assert (await fetch(router, "GET", "/things/1")).text == "second"
    assert calls == ["1"]


async def test_param_can_reject_the_request() -> None:
    router = Router()

    def only_digits(value: str, ctx: Context, next: Any) -> Any:
        if not value.isdigit():
            ctx.throw(400, "id must be a number")
        return next()

    router.param("id", only_digits)
    router.get("/orders/:id", lambda ctx: setattr(ctx, "body", "order"))
    bad = await fetch(router, "GET", "/orders/abc")
    assert (bad.status_code, bad.text) == (400, "id must be a number")
    assert (await fetch(router, "GET", "/orders/12")).text == "order"


async def test_param_is_skipped_for_routes_without_that_param() -> None:
    router = Router()
    calls: list[str] = []
    router.param("id", lambda value, ctx, next: calls.append(value) or next())
    router.get("/list", lambda ctx: setattr(ctx, "body", "list"))
    router.get("/opt/:id?", lambda ctx: setattr(ctx, "body", "opt"))
    assert (await fetch(router, "GET", "/list")).text == "list"
    assert (await fetch(router, "GET", "/opt")).text == "opt"
    assert calls == []


async def test_parent_param_applies_to_mounted_child_routes() -> None:
    child = Router()
    child.get("/posts/:pid", lambda ctx: setattr(ctx, "body", ctx.state.seen))
    parent = Router()

    async def uid(value: str, ctx: Context, next: Any) -> None:
        ctx.state.seen = [f"uid={value}"]
        await next()

    async def pid(value: str, ctx: Context, next: Any) -> None:
        ctx.state.seen.append(f"pid={value}")
        await next()

    parent.param("uid", uid)
    parent.param("pid", pid)
    parent.use("/users/:uid", child.routes())
    assert (await fetch(parent, "GET", "/users/1/posts/2")).json() == ["uid=1", "pid=2"]


def test_param_needs_a_callable() -> None:
    with pytest.raises(TypeError, match="callable"):
        Router().param("id", "nope")  # type: ignore[arg-type]


# -- url() --------------------------------------------------------------------------------


def url_router() -> Router:
    router = Router(prefix="/api")
    router.get("/users/:id", lambda ctx: None, name="user")
    router.get("/files/*path", lambda ctx: None, name="file")
    router.get("/search/:term?", lambda ctx: None, name="search")
    router.get("/", lambda ctx: None, name="home")
    return router


@pytest.mark.parametrize(
    ("name", "params", "query", "expected"),
    [
        ("user", {"id": 3}, None, "/api/users/3"),
        ("user", {"id": "a b/c?d"}, None, "/api/users/a%20b%2Fc%3Fd"),
        ("user", {"id": "café"}, None, "/api/users/caf%C3%A9"),
        ("user", {"id": 3}, {"tab": "posts"}, "/api/users/3?tab=posts"),
        ("user", {"id": 3}, {"tag": ["a", "b c"]}, "/api/users/3?tag=a&tag=b+c"),
        ("user", {"id": 3}, {}, "/api/users/3"),
        ("file", {"path": "docs/read me.md"}, None, "/api/files/docs/read%20me.md"),
        ("search", {}, None, "/api/search"),
        ("search", {"term": "x&y"}, None, "/api/search/x%26y"),
        ("home", {}, None, "/api"),
    ],
)
def test_url_builds_encoded_paths(
    name: str, params: dict[str, Any], query: dict[str, Any] | None, expected: str
) -> None:
    assert url_router().url(name, query=query, **params) == expected


async def test_url_round_trips_through_the_route() -> None:
    router = Router()
    router.get("/u/:id", lambda ctx: setattr(ctx, "body", ctx.params["id"]), name="u")
    value = "ünï cödé/%+?#"
    assert (await fetch(router, "GET", router.url("u", id=value))).text == value


def test_url_unknown_name_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="No route named 'nope'"):
        url_router().url("nope")


def test_url_missing_param_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        url_router().url("user")


def test_url_finds_names_in_mounted_children() -> None:
    child = Router()
    child.get("/posts/:pid", lambda ctx: None, name="post")
    parent = Router()
    parent.use("/users/:uid", child.routes())
    assert parent.url("post", uid=1, pid=2) == "/users/1/posts/2"
    assert child.url("post", pid=2) == "/posts/2"


def test_first_route_with_a_name_wins() -> None:
    router = Router()
    router.get("/one", lambda ctx: None, name="dup")
    router.get("/two", lambda ctx: None, name="dup")
    assert router.url("dup") == "/one"
    route = router.route("dup")
    assert route is not None and route.path == "/one"
    assert router.route("missing") is None


async def test_redirect_to_a_path_or_a_route_name() -> None:
    router = Router()
    router.get("/new", lambda ctx: setattr(ctx, "body", "new"), name="new")
    router.redirect("/old", "new")
    router.redirect("/gone", "https://example.com/", status=308)
    response = await fetch(router, "GET", "/old")
    assert (response.status_code, response.headers["location"]) == (301, "/new")
    response = await fetch(router, "POST", "/gone")
    assert (response.status_code, response.headers["location"]) == (308, "https://example.com/")
