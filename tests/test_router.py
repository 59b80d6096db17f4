"""Router: verbs, handlers, matching and what it writes on ctx. HTTP in, HTTP out."""

from __future__ import annotations

from typing import Any

import pytest
from _router_helpers import app_for, fetch, raw

from scallion import App, Context
from scallion.router import DEFAULT_METHODS, Route, Router

VERBS = ["get", "post", "put", "patch", "delete", "options"]


@pytest.mark.parametrize("verb", VERBS)
async def test_each_verb_registers_a_route_for_its_method(verb: str) -> None:
    router = Router()

    async def handler(ctx: Context) -> None:
        ctx.body = f"{ctx.method} {ctx.path}"

    assert getattr(router, verb)("/thing", handler) is router
    response = await fetch(router, verb.upper(), "/thing")
    assert response.status_code == 200
    assert response.text == f"{verb.upper()} /thing"


@pytest.mark.parametrize("verb", VERBS)
async def test_each_verb_leaves_other_methods_alone(verb: str) -> None:
    router = Router()
    getattr(router, verb)("/thing", lambda ctx: setattr(ctx, "body", "hit"))
    other = "POST" if verb != "post" else "PUT"
    response = await fetch(app_for(router, allowed=False), other, "/thing")
    assert response.status_code == 404


async def test_head_route_answers_head_only() -> None:
    router = Router()
    router.head("/h", lambda ctx: ctx.set("X-Head", "yes"))
    response = await fetch(router, "HEAD", "/h")
    assert response.headers["x-head"] == "yes"
    assert (await fetch(router, "GET", "/h")).status_code == 405


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD"])
async def test_all_answers_every_method(method: str) -> None:
    router = Router()
    router.all("/any", lambda ctx: setattr(ctx, "body", "any"))
    response = await fetch(router, method, "/any")
    assert response.status_code == 200
    assert response.text == ("" if method == "HEAD" else "any")


async def test_add_registers_several_methods_at_once() -> None:
    router = Router()
    router.add(["GET", "post"], "/multi", lambda ctx: setattr(ctx, "body", ctx.method))
    assert (await fetch(router, "POST", "/multi")).text == "POST"
    assert (await fetch(router, "GET", "/multi")).text == "GET"
    assert (await fetch(router, "HEAD", "/multi")).status_code == 200
    assert (await fetch(router, "PUT", "/multi")).status_code == 405


async def test_decorator_form_returns_the_function_unchanged() -> None:
    router = Router()

    async def show(ctx: Context) -> None:
        ctx.body = {"id": ctx.params["id"]}

    decorated = router.get("/users/:id", name="user")(show)
    assert decorated is show
    assert (await fetch(router, "GET", "/users/7")).json() == {"id": "7"}
    assert router.url("user", id=7) == "/users/7"


async def test_decorator_syntax_on_every_verb() -> None:
    router = Router()

    @router.post("/a")
    def create(ctx: Context) -> None:
        ctx.status = 201

    @router.all("/b")
    async def anything(ctx: Context, next: Any) -> None:
        ctx.body = "b"

    assert callable(create) and callable(anything)
    assert (await fetch(router, "POST", "/a")).status_code == 201
    assert (await fetch(router, "DELETE", "/b")).text == "b"


async def test_name_is_keyword_only_and_path_comes_first() -> None:
    router = Router()
    with pytest.raises(TypeError, match="path"):
        router.get(lambda ctx: None, "/x")  # type: ignore[call-overload]


async def test_chained_registration_returns_the_router() -> None:
    router = Router()
    result = router.get("/a", lambda ctx: None).post("/b", lambda ctx: None)
    assert result is router


# -- handler shapes ----------------------------------------------------------------------


async def test_ctx_only_async_handler() -> None:
    router = Router()

    async def handler(ctx: Context) -> None:
        ctx.body = "async ctx"

    router.get("/", handler)
    assert (await fetch(router, "GET", "/")).text == "async ctx"


async def test_ctx_only_sync_handler() -> None:
    router = Router()

    def handler(ctx: Context) -> None:
        ctx.body = "sync ctx"

    router.get("/", handler)
    assert (await fetch(router, "GET", "/")).text == "sync ctx"


async def test_ctx_next_handler_passes_on_to_downstream() -> None:
    router = Router()
    seen: list[str] = []

    async def handler(ctx: Context, next: Any) -> None:
        seen.append("route before")
        await next()
        seen.append("route after")

    async def downstream(ctx: Context, next: Any) -> None:
        seen.append("downstream")
        ctx.body = "from downstream"

    router.get("/", handler)
    app = App().use(router.routes()).use(downstream)
    assert (await fetch(app, "GET", "/")).text == "from downstream"
    assert seen == ["route before", "downstream", "route after"]


async def test_sync_ctx_next_handler() -> None:
    router = Router()

    def handler(ctx: Context, next: Any) -> Any:
        ctx.set("X-Sync", "1")
        return next()

    router.get("/", handler, lambda ctx: setattr(ctx, "body", "end"))
    response = await fetch(router, "GET", "/")
    assert response.text == "end"
    assert response.headers["x-sync"] == "1"


async def test_ctx_only_handler_ends_the_chain() -> None:
    router = Router()
    calls: list[str] = []
    router.get("/", lambda ctx: calls.append("first"))
    router.get("/", lambda ctx: calls.append("second"))
    await fetch(router, "GET", "/")
    assert calls == ["first"]


async def test_only_required_parameters_count_so_defaults_do_not_receive_next() -> None:
    router = Router()

    async def handler(ctx: Context, extra: Any = None, label: str = "x") -> None:
        ctx.body = f"extra={extra} label={label}"

    router.get("/", handler)
    assert (await fetch(router, "GET", "/")).text == "extra=None label=x"


async def test_a_second_parameter_named_next_receives_next_even_with_a_default() -> None:
    # composed chains are `composed(ctx, next=None)` and must nest (DESIGN §2)
    router = Router()

    async def first(ctx: Context, next: Any = None) -> None:
        await next()
        ctx.body = "after " + ctx.body

    router.get("/", first, lambda ctx: setattr(ctx, "body", "handler"))
    assert (await fetch(router, "GET", "/")).text == "after handler"


async def test_varargs_handler_receives_next() -> None:
    router = Router()

    def handler(*args: Any) -> Any:
        return args[1]()

    router.get("/", handler, lambda ctx: setattr(ctx, "body", "reached"))
    assert (await fetch(router, "GET", "/")).text == "reached"


async def test_callable_object_handler() -> None:
    class Handler:
        def __call__(self, ctx: Context) -> None:
            ctx.body = "object"

    router = Router().get("/", Handler())
    assert (await fetch(router, "GET", "/")).text == "object"


async def test_route_middleware_run_in_order_before_the_handler() -> None:
    router = Router()
    order: list[str] = []

    async def one(ctx: Context, next: Any) -> None:
        order.append("one")
        await next()
        order.append("one out")

    def two(ctx: Context, next: Any) -> Any:
        order.append("two")
        return next()

    async def handler(ctx: Context) -> None:
        order.append("handler")
        ctx.body = "ok"

    router.get("/", one, two, handler)
    assert (await fetch(router, "GET", "/")).text == "ok"
    assert order == ["one", "two", "handler", "one out"]


@pytest.mark.parametrize(
    ("fn", "message"),
    [
        (lambda: None, "takes no arguments"),
        (lambda a, b, c: None, "3 required arguments"),
        ("not callable", "must be callable"),
    ],
)
def test_bad_handlers_are_rejected_at_registration(fn: Any, message: str) -> None:
    with pytest.raises(TypeError, match=message):
        Router().get("/", fn)


def test_required_keyword_only_parameter_is_rejected() -> None:
    def handler(ctx: Context, *, extra: int) -> None: ...

    with pytest.raises(TypeError, match="keyword-only"):
        Router().get("/", handler)


def test_arity_is_decided_once_at_registration() -> None:
    router = Router()

    def handler(ctx: Context) -> None: ...

    router.get("/", handler)
    route = router.stack[0]
    assert isinstance(route, Route)
    assert route.stack is not handler  # wrapped once into (ctx, next)
    assert route.stack.__qualname__ == handler.__qualname__


def test_bad_pattern_raises_at_registration() -> None:
    with pytest.raises(ValueError, match="never closed"):
        Router().get("/users/:id(\\d+", lambda ctx: None)


# -- matching ----------------------------------------------------------------------------


async def test_params_are_decoded_per_segment() -> None:
    router = Router()
    router.get("/files/:dir/:name", lambda ctx: setattr(ctx, "body", dict(ctx.params)))
    response = await fetch(router, "GET", "/files/a%2Fb/c+d%20e")
    assert response.json() == {"dir": "a/b", "name": "c+d e"}


async def test_optional_param_is_absent_when_missing() -> None:
    router = Router()
    router.get("/users/:id?", lambda ctx: setattr(ctx, "body", {"params": dict(ctx.params)}))
    assert (await fetch(router, "GET", "/users")).json() == {"params": {}}
    assert (await fetch(router, "GET", "/users/5")).json() == {"params": {"id": "5"}}


async def test_regex_param_constrains_the_match() -> None:
    router = Router()
    router.get("/n/:id(\\d+)", lambda ctx: setattr(ctx, "body", "number"))
    router.get("/n/:slug", lambda ctx: setattr(ctx, "body", "slug"))
    assert (await fetch(router, "GET", "/n/42")).text == "number"
    assert (await fetch(router, "GET", "/n/abc")).text == "slug"


async def test_wildcard_takes_the_rest_of_the_path() -> None:
    router = Router()
    router.get("/static/*", lambda ctx: setattr(ctx, "body", ctx.params["*"]))
    router.get("/named/*rest", lambda ctx: setattr(ctx, "body", ctx.params["rest"]))
    assert (await fetch(router, "GET", "/static/css/site.css")).text == "css/site.css"
    assert (await fetch(router, "GET", "/named/a/b/c")).text == "a/b/c"


async def test_trailing_slash_and_case_are_ignored_by_default() -> None:
    router = Router()
    router.get("/About", lambda ctx: setattr(ctx, "body", "about"))
    for path in ["/About", "/about/", "/ABOUT"]:
        assert (await fetch(router, "GET", path)).text == "about"


async def test_strict_router_minds_the_trailing_slash() -> None:
    router = Router(strict=True)
    router.get("/a", lambda ctx: setattr(ctx, "body", "no slash"))
    router.get("/b/", lambda ctx: setattr(ctx, "body", "slash"))
    assert (await fetch(router, "GET", "/a")).text == "no slash"
    assert (await fetch(router, "GET", "/a/")).status_code == 404
    assert (await fetch(router, "GET", "/b/")).text == "slash"
    assert (await fetch(router, "GET", "/b")).status_code == 404


async def test_sensitive_router_minds_case() -> None:
    router = Router(sensitive=True)
    router.get("/About", lambda ctx: setattr(ctx, "body", "about"))
    assert (await fetch(router, "GET", "/About")).text == "about"
    assert (await fetch(router, "GET", "/about")).status_code == 404


async def test_no_match_awaits_next() -> None:
    router = Router()
    router.get("/known", lambda ctx: None)

    async def fallback(ctx: Context, next: Any) -> None:
        ctx.body = "fallback"

    app = App().use(router.routes()).use(fallback)
    assert (await fetch(app, "GET", "/unknown")).text == "fallback"


async def test_static_route_and_param_route_both_match_in_registration_order() -> None:
    router = Router()
    order: list[str] = []

    async def param(ctx: Context, next: Any) -> None:
        order.append(f"param {ctx.params['id']} {ctx.router_path}")
        await next()

    def static(ctx: Context) -> None:
        order.append(f"static {ctx.router_path}")
        ctx.body = "done"

    router.get("/users/:id", param)
    router.get("/users/new", static)
    assert (await fetch(router, "GET", "/users/new")).text == "done"
    assert order == ["param new /users/:id", "static /users/new"]


@pytest.mark.parametrize(
    "raw_path",
    [b"/users/%E0%A4%A", b"/users/%ZZ", b"/users/%", b"/users/%C3%28", b"/users/%FF%FE"],
)
async def test_invalid_percent_encoding_never_gives_a_500(raw_path: bytes) -> None:
    router = Router()
    router.get("/users/:id", lambda ctx: setattr(ctx, "body", {"id": ctx.params["id"]}))
    sent = await raw(router, "GET", raw_path)
    assert sent.status == 200
    assert sent.body.decode() == '{"id":"' + raw_path.decode()[len("/users/") :] + '"}'


@pytest.mark.parametrize("raw_path", [b"*", b"", b"//", b"/%00", b"/" + b"a/" * 5000])
async def test_odd_paths_fall_through_without_error(raw_path: bytes) -> None:
    router = Router()
    router.get("/users/:id", lambda ctx: None)
    router.get("/files/*", lambda ctx: None)
    sent = await raw(router, "GET", raw_path)
    assert sent.status == 404


async def test_ctx_matched_router_path_and_router_name() -> None:
    router = Router(prefix="/api")
    router.post("/users/:id", lambda ctx: None)

    @router.get("/users/:id", name="user")
    def show(ctx: Context) -> None:
        ctx.body = {
            "matched": [repr(r) for r in ctx.matched],
            "path": ctx.router_path,
            "name": ctx.router_name,
        }

    body = (await fetch(router, "GET", "/api/users/1")).json()
    assert body == {
        "matched": [
            "<Route '/api/users/:id' [POST]>",
            "<Route '/api/users/:id' [GET, HEAD], name='user'>",
        ],
        "path": "/api/users/:id",
        "name": "user",
    }


async def test_prefix_applies_to_every_route() -> None:
    router = Router(prefix="/api/v1")
    router.get("/", lambda ctx: setattr(ctx, "body", "root"))
    router.get("/users", lambda ctx: setattr(ctx, "body", "users"))
    assert (await fetch(router, "GET", "/api/v1")).text == "root"
    assert (await fetch(router, "GET", "/api/v1/")).text == "root"
    assert (await fetch(router, "GET", "/api/v1/users")).text == "users"
    assert (await fetch(router, "GET", "/users")).status_code == 404


async def test_prefix_with_a_param() -> None:
    router = Router(prefix="/orgs/:org")
    router.get("/repos/:repo", lambda ctx: setattr(ctx, "body", dict(ctx.params)))
    body = (await fetch(router, "GET", "/orgs/acme/repos/web")).json()
    assert body == {"org": "acme", "repo": "web"}


async def test_per_route_body_limit() -> None:
    router = Router()

    async def echo(ctx: Context) -> None:
        ctx.body = await ctx.request.body()

    router.post("/small", echo, body_limit=4)
    router.post("/big", echo)
    small = await fetch(router, "POST", "/small", content=b"123456")
    assert small.status_code == 413
    assert (await fetch(router, "POST", "/small", content=b"1234")).content == b"1234"
    assert (await fetch(router, "POST", "/big", content=b"123456")).content == b"123456"


async def test_router_body_limit_is_the_default_for_its_routes() -> None:
    router = Router(body_limit=2)

    async def limit(ctx: Context) -> None:
        ctx.body = str(ctx.request.body_limit)

    router.post("/default", limit)
    router.post("/own", limit, body_limit=10)
    assert (await fetch(router, "POST", "/default")).text == "2"
    assert (await fetch(router, "POST", "/own")).text == "10"


async def test_errors_in_handlers_propagate_to_the_app() -> None:
    router = Router()

    async def boom(ctx: Context) -> None:
        ctx.throw(409, "taken")

    router.put("/x", boom)
    response = await fetch(router, "PUT", "/x")
    assert response.status_code == 409
    assert response.text == "taken"


async def test_routes_can_be_added_after_serving_started() -> None:
    router = Router()
    router.get("/a", lambda ctx: setattr(ctx, "body", "a"))
    app = app_for(router)
    assert (await fetch(app, "GET", "/a")).text == "a"
    router.get("/b", lambda ctx: setattr(ctx, "body", "b"))
    assert (await fetch(app, "GET", "/b")).text == "b"


async def test_a_thousand_routes_still_match_correctly() -> None:
    router = Router()
    for i in range(1000):
        router.get(f"/static/{i}", lambda ctx, i=i: setattr(ctx, "body", f"static {i}"))
        router.get(
            f"/items{i}/:id", lambda ctx, i=i: setattr(ctx, "body", f"item{i} {ctx.params['id']}")
        )
    app = app_for(router)
    for i in (0, 1, 499, 998, 999):
        assert (await fetch(app, "GET", f"/static/{i}")).text == f"static {i}"
        assert (await fetch(app, "GET", f"/items{i}/x{i}")).text == f"item{i} x{i}"
    assert (await fetch(app, "GET", "/static/1000")).status_code == 404
    assert len(router.match("/items999/z", "GET")) == 1


def test_match_finds_routes_without_http() -> None:
    router = Router()
    router.get("/users/:id", lambda ctx: None, name="user")
    router.delete("/users/:id", lambda ctx: None)
    hits = router.match("/users/9")
    assert [(r.methods, params) for r, params in hits] == [
        (("GET", "HEAD"), {"id": "9"}),
        (("DELETE",), {"id": "9"}),
    ]
    assert [r.methods for r, _ in router.match("/users/9", "head")] == [("GET", "HEAD")]
    assert router.match("/nope") == []


def test_reprs_show_path_methods_and_name() -> None:
    router = Router(prefix="/api")
    router.get("/users/:id", lambda ctx: None, name="user")
    router.all("/any", lambda ctx: None)
    router.use("/admin", lambda ctx, next: next())
    assert repr(router) == "<Router prefix='/api', routes=2>"
    assert [repr(e) for e in router.stack][:2] == [
        "<Route '/api/users/:id' [GET, HEAD], name='user'>",
        "<Route '/api/any' [ALL]>",
    ]
    assert repr(router.stack[2]).startswith("<UseLayer '/api/admin' [")
    assert repr(router.routes()).startswith("<routes of <Router")


def test_routes_has_a_router_attribute_and_methods_default() -> None:
    router = Router()
    assert router.routes().router is router
    assert router.routes() is router.routes()
    assert router.methods == DEFAULT_METHODS
    assert Router(methods=["get", "post"]).methods == ("GET", "POST")


def test_prefix_must_be_a_string() -> None:
    with pytest.raises(TypeError, match="prefix"):
        Router(prefix=5)  # type: ignore[arg-type]


def test_trie_follows_both_static_and_param_branches() -> None:
    router = Router()
    router.get("/users/:id/posts", lambda ctx: None)
    router.get("/users/me/:tab", lambda ctx: None)
    router.get("/users/*", lambda ctx: None)
    router.get("/users/:id/:tab(\\d+)", lambda ctx: None)
    hits = router.match("/users/me/posts")
    assert [(r.path, p) for r, p in hits] == [
        ("/users/:id/posts", {"id": "me"}),
        ("/users/me/:tab", {"tab": "posts"}),
        ("/users/*", {"*": "me/posts"}),
    ]
    assert [r.path for r, _ in router.match("/users/x/12")] == ["/users/*", "/users/:id/:tab(\\d+)"]
    assert [r.path for r, _ in router.match("/users")] == ["/users/*"]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"name": 5}, TypeError),
        ({"body_limit": "1mb"}, TypeError),
        ({"body_limit": True}, TypeError),
        ({"body_limit": -1}, ValueError),
    ],
)
def test_bad_route_options_are_rejected(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        Router().get("/", lambda ctx: None, **kwargs)


def test_bad_router_body_limit_is_rejected() -> None:
    with pytest.raises(ValueError, match="0 or more"):
        Router(body_limit=-5)
