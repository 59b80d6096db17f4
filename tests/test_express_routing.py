"""Express routing: route()/next("route")/next("router"), verbs, paths, use() mounts,
nesting with path stripping, and param(). HTTP in, HTTP out."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from _express_helpers import error_reporter, fetch, serve

from scallion import HttpError
from scallion.express import Express

# --------------------------------------------------------------------------- route / router


async def test_next_route_skips_to_the_next_route_on_the_same_path() -> None:
    ex = Express()
    ran: list[str] = []

    def maybe_skip(req: Any, res: Any, next: Any) -> None:
        ran.append("check")
        next("route" if req.query.get("skip") else None)

    def first(req: Any, res: Any) -> None:
        ran.append("first")
        res.send("first route")

    ex.get("/thing", maybe_skip, first)
    ex.get("/thing", lambda req, res: res.send("second route"))
    app = serve(ex)
    assert (await fetch(app, "GET", "/thing")).text == "first route"
    assert (await fetch(app, "GET", "/thing?skip=1")).text == "second route"
    assert ran == ["check", "first", "check"]


async def test_next_route_in_plain_middleware_just_continues() -> None:
    ex = Express()
    ex.use(lambda req, res, next: next("route"))
    ex.get("/", lambda req, res: res.send("reached"))
    assert (await fetch(serve(ex), "GET", "/")).text == "reached"


async def test_next_router_falls_through_to_the_next_onion_layer() -> None:
    ex = Express()
    ran: list[str] = []
    ex.use(lambda req, res, next: next("router"))
    ex.use(lambda req, res, next: ran.append("skipped"))

    async def onion(ctx: Any, next: Any) -> None:
        ctx.body = "from the onion"

    r = await fetch(serve(ex, onion), "GET", "/")
    assert r.text == "from the onion"
    assert ran == []


async def test_next_router_drops_a_passing_error() -> None:
    ex = Express()
    ex.use(lambda req, res, next: next(ValueError("x")))
    ex.use(lambda err, req, res, next: next("router"))
    r = await fetch(serve(ex), "GET", "/")
    assert r.status_code == 404  # fell through to nothing: the App's 404


async def test_next_router_in_a_child_continues_the_parent() -> None:
    parent, child = Express(), Express()
    child.use(lambda req, res, next: next("router"))
    child.get("/x", lambda req, res: res.send("child"))
    parent.use("/api", child)
    parent.get("/api/x", lambda req, res: res.send("parent"))
    assert (await fetch(serve(parent), "GET", "/api/x")).text == "parent"


async def test_unanswered_request_falls_through_to_the_next_layer() -> None:
    ex = Express()
    ex.get("/only", lambda req, res: res.send("only"))

    async def after(ctx: Any, next: Any) -> None:
        ctx.body = f"onion got {ctx.path}"

    app = serve(ex, after)
    assert (await fetch(app, "GET", "/only")).text == "only"
    assert (await fetch(app, "GET", "/other")).text == "onion got /other"
    assert (await fetch(app, "POST", "/only")).text == "onion got /only"


async def test_unanswered_with_nothing_after_is_the_apps_404() -> None:
    ex = Express().get("/only", lambda req, res: res.send("only"))
    r = await fetch(serve(ex), "GET", "/missing")
    assert r.status_code == 404
    assert r.text == "Not Found"


async def test_handler_that_neither_answers_nor_calls_next_falls_through() -> None:
    ex = Express()
    ex.use(lambda req, res, next: None)  # forgot to answer
    ex.get("/", lambda req, res: res.send("not reached"))

    async def after(ctx: Any, next: Any) -> None:
        ctx.body = "onion"

    assert (await fetch(serve(ex, after), "GET", "/")).text == "onion"


async def test_answered_request_does_not_fall_through() -> None:
    ex = Express().get("/", lambda req, res: res.status(201).send("made"))
    ran: list[str] = []

    async def after(ctx: Any, next: Any) -> None:
        ran.append("after")

    r = await fetch(serve(ex, after), "GET", "/")
    assert (r.status_code, r.text) == (201, "made")
    assert ran == []


# --------------------------------------------------------------------------- verbs


@pytest.mark.parametrize("verb", ["get", "post", "put", "patch", "delete", "options"])
async def test_each_verb_registers_and_chains(verb: str) -> None:
    ex = Express()
    returned = getattr(ex, verb)("/v", lambda req, res: res.send(req.method))
    assert returned is ex
    app = serve(ex)
    r = await fetch(app, verb.upper(), "/v")
    assert (r.status_code, r.text) == (200, verb.upper())
    other = "GET" if verb != "get" else "POST"
    assert (await fetch(app, other, "/v")).status_code == 404


@pytest.mark.parametrize("verb", ["get", "post", "put", "patch", "delete", "options", "all"])
async def test_each_verb_works_as_a_decorator(verb: str) -> None:
    ex = Express()

    def handler(req: Any, res: Any) -> None:
        res.status(404).json({"verb": req.method})

    assert getattr(ex, verb)("/d")(handler) is handler
    method = "PUT" if verb == "all" else verb.upper()
    r = await fetch(serve(ex), method, "/d")
    assert (r.status_code, r.json()) == (404, {"verb": method})


async def test_head_verb_registers_a_head_route() -> None:
    ex = Express().head("/h", lambda req, res: res.set("X-Head", "1").end())
    assert isinstance(ex, Express)
    app = serve(ex)
    r = await fetch(app, "HEAD", "/h")
    assert (r.status_code, r.headers["x-head"]) == (200, "1")
    assert (await fetch(app, "GET", "/h")).status_code == 404


async def test_all_matches_every_method() -> None:
    ex = Express().all("/any", lambda req, res: res.send(req.method))
    app = serve(ex)
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
        assert (await fetch(app, method, "/any")).text == method


async def test_head_is_served_by_get_routes() -> None:
    ex = Express().get("/page", lambda req, res: res.send("<p>hello</p>"))
    app = serve(ex)
    get = await fetch(app, "GET", "/page")
    head = await fetch(app, "HEAD", "/page")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"] == "12"


async def test_an_explicit_head_route_wins_over_get() -> None:
    ex = Express()
    ex.route("/r").head(lambda req, res: res.set("X-Head", "yes").end()).get(
        lambda req, res: res.send("get")
    )
    r = await fetch(serve(ex), "HEAD", "/r")
    assert r.headers["x-head"] == "yes"


async def test_decorator_form_returns_the_function_unchanged() -> None:
    ex = Express()

    def handler(req: Any, res: Any) -> None:
        res.send("decorated")

    assert ex.get("/d")(handler) is handler

    @ex.post("/p")
    async def post(req: Any, res: Any) -> None:
        res.status(201).send("posted")

    @ex.use("/mw")
    def mark(req: Any, res: Any, next: Any) -> None:
        res.set("X-Mw", "1")
        next()

    ex.get("/mw/x", lambda req, res: res.send("x"))
    assert callable(post) and post.__name__ == "post"
    app = serve(ex)
    assert (await fetch(app, "GET", "/d")).text == "decorated"
    assert (await fetch(app, "POST", "/p")).status_code == 201
    assert (await fetch(app, "GET", "/mw/x")).headers["x-mw"] == "1"


async def test_route_object_chains_verbs() -> None:
    ex = Express()
    route = ex.route("/book")
    assert route.get(lambda req, res: res.send("get book")) is route
    route.post(lambda req, res: res.status(201).send("add book")).all(
        lambda req, res: res.status(405).send("nope")
    )
    app = serve(ex)
    assert (await fetch(app, "GET", "/book")).text == "get book"
    assert (await fetch(app, "POST", "/book")).status_code == 201
    assert (await fetch(app, "DELETE", "/book")).status_code == 405


async def test_a_list_of_paths_registers_each() -> None:
    ex = Express().get(["/a", "/b"], lambda req, res: res.send(req.path))
    app = serve(ex)
    assert (await fetch(app, "GET", "/a")).text == "/a"
    assert (await fetch(app, "GET", "/b")).text == "/b"


async def test_several_handlers_on_one_route() -> None:
    ex = Express()

    def auth(req: Any, res: Any, next: Any) -> None:
        if req.get("x-token") != "t":
            res.status(401).send("no")
            return
        next()

    ex.get("/secret", auth, lambda req, res: res.send("yes"))
    app = serve(ex)
    assert (await fetch(app, "GET", "/secret")).status_code == 401
    assert (await fetch(app, "GET", "/secret", headers={"x-token": "t"})).text == "yes"


# --------------------------------------------------------------------------- paths


async def test_route_params_are_decoded() -> None:
    ex = Express().get("/users/:id/:name?", lambda req, res: res.json(req.params))
    app = serve(ex)
    assert (await fetch(app, "GET", "/users/42")).json() == {"id": "42"}
    assert (await fetch(app, "GET", "/users/a%2Fb/J%C3%B6")).json() == {"id": "a/b", "name": "Jö"}


async def test_wildcard_and_regex_params() -> None:
    ex = Express()
    ex.get(r"/n/:id(\d+)", lambda req, res: res.send("number"))
    ex.get("/files/*", lambda req, res: res.send(req.params["*"]))
    app = serve(ex)
    assert (await fetch(app, "GET", "/n/12")).text == "number"
    assert (await fetch(app, "GET", "/n/ab")).status_code == 404
    assert (await fetch(app, "GET", "/files/a/b/c.txt")).text == "a/b/c.txt"


async def test_trailing_slash_and_case_are_ignored_by_default() -> None:
    ex = Express().get("/About", lambda req, res: res.send("about"))
    app = serve(ex)
    for path in ("/About", "/about", "/ABOUT/", "/about/"):
        assert (await fetch(app, "GET", path)).text == "about", path


async def test_strict_and_case_sensitive_options() -> None:
    ex = Express(strict=True, case_sensitive=True)
    ex.get("/About", lambda req, res: res.send("about"))
    ex.get("/dir/", lambda req, res: res.send("dir"))
    app = serve(ex)
    assert (await fetch(app, "GET", "/About")).text == "about"
    assert (await fetch(app, "GET", "/about")).status_code == 404
    assert (await fetch(app, "GET", "/About/")).status_code == 404
    assert (await fetch(app, "GET", "/dir/")).text == "dir"
    assert (await fetch(app, "GET", "/dir")).status_code == 404


async def test_use_prefix_matches_whole_segments_only() -> None:
    ex = Express()
    ex.use("/api", lambda req, res: res.send(f"api saw {req.path} base {req.base_url}"))
    app = serve(ex)
    assert (await fetch(app, "GET", "/api")).text == "api saw / base /api"
    assert (await fetch(app, "GET", "/API/users/1")).text == "api saw /users/1 base /API"
    assert (await fetch(app, "GET", "/apix")).status_code == 404


async def test_use_prefix_with_params() -> None:
    ex = Express()

    def mw(req: Any, res: Any, next: Any) -> None:
        res.set("X-Org", req.params["org"])
        next()

    ex.use("/orgs/:org", mw)
    ex.get("/orgs/:org/repos", lambda req, res: res.json(req.params))
    r = await fetch(serve(ex), "GET", "/orgs/acme/repos")
    assert r.headers["x-org"] == "acme"
    assert r.json() == {"org": "acme"}


async def test_layer_order_is_kept_between_static_and_dynamic_routes() -> None:
    ex = Express()
    ex.get(
        "/:slug", lambda req, res, next: next() if req.params["slug"] == "pass" else res.send("dyn")
    )
    ex.get("/fixed", lambda req, res: res.send("static"))
    ex.get("/pass", lambda req, res: res.send("static pass"))
    app = serve(ex)
    assert (await fetch(app, "GET", "/fixed")).text == "dyn"  # registered first, wins
    assert (await fetch(app, "GET", "/pass")).text == "static pass"


async def test_routes_added_after_requests_are_seen() -> None:
    ex = Express().get("/a", lambda req, res: res.send("a"))
    app = serve(ex)
    assert (await fetch(app, "GET", "/b")).status_code == 404
    ex.get("/b", lambda req, res: res.send("b"))
    assert (await fetch(app, "GET", "/b")).text == "b"


# --------------------------------------------------------------------------- nesting


async def test_nested_instances_strip_the_mount_path() -> None:
    root, api, v1 = Express(), Express(), Express()
    seen: dict[str, str] = {}

    def show(req: Any, res: Any) -> None:
        seen.update(
            path=req.path,
            url=req.url,
            base=req.base_url,
            original=req.original_url,
        )
        res.json(req.params)

    v1.get("/users/:id", show)
    api.use("/v1", v1)
    root.use("/api", api)
    r = await fetch(serve(root), "GET", "/api/v1/users/7?x=1")
    assert r.json() == {"id": "7"}
    assert seen == {
        "path": "/users/7",
        "url": "/users/7?x=1",
        "base": "/api/v1",
        "original": "/api/v1/users/7?x=1",
    }


async def test_paths_are_restored_after_a_mount() -> None:
    root, child = Express(), Express()
    child.use(lambda req, res, next: next())
    root.use("/api", child)
    root.use(lambda req, res: res.json([req.path, req.base_url, req.url]))
    r = await fetch(serve(root), "GET", "/api/x?q=1")
    assert r.json() == ["/api/x", "", "/api/x?q=1"]


async def test_errors_in_a_child_reach_the_parents_error_middleware() -> None:
    root, child = Express(), Express()

    def boom(req: Any, res: Any) -> None:
        raise ValueError("child failed")

    child.get("/x", boom)
    root.use("/c", child).use(error_reporter)
    r = await fetch(serve(root), "GET", "/c/x")
    assert r.json()["message"] == "child failed"


async def test_child_error_middleware_handles_its_own_errors() -> None:
    root, child = Express(), Express()
    child.use(lambda req, res, next: next(ValueError("inner")))
    child.use(lambda err, req, res, next: res.status(400).send("child handled"))
    root.use("/c", child).use(error_reporter)
    r = await fetch(serve(root), "GET", "/c/x")
    assert (r.status_code, r.text) == (400, "child handled")


async def test_unanswered_child_continues_the_parent() -> None:
    root, child = Express(), Express()
    child.get("/x", lambda req, res: res.send("child x"))
    root.use("/c", child)
    root.use(lambda req, res: res.send(f"parent {req.path}"))
    app = serve(root)
    assert (await fetch(app, "GET", "/c/x")).text == "child x"
    assert (await fetch(app, "GET", "/c/y")).text == "parent /c/y"


async def test_req_app_is_the_innermost_instance() -> None:
    root, child = Express(), Express()
    root.locals["name"] = "root"
    child.locals["name"] = "child"
    apps: list[str] = []

    def record(req: Any, res: Any, next: Any) -> None:
        apps.append(req.app.locals["name"])
        next()

    child.use(record)
    root.use(record).use("/c", child).use(record)
    await fetch(serve(root), "GET", "/c/x")
    assert apps == ["root", "child", "root"]


async def test_merge_params_exposes_the_parents_params() -> None:
    root = Express()
    merged, plain = Express(merge_params=True), Express()
    merged.get("/items/:item", lambda req, res: res.json(req.params))
    plain.get("/items/:item", lambda req, res: res.json(req.params))
    root.use("/m/:org", merged).use("/p/:org", plain)
    app = serve(root)
    assert (await fetch(app, "GET", "/m/acme/items/3")).json() == {"org": "acme", "item": "3"}
    assert (await fetch(app, "GET", "/p/acme/items/3")).json() == {"item": "3"}


# --------------------------------------------------------------------------- param()


async def test_param_runs_once_per_request_per_value() -> None:
    ex = Express()
    calls: list[str] = []

    def load_user(req: Any, res: Any, next: Any, value: str) -> None:
        calls.append(value)
        res.locals["user"] = {"id": value}
        next()

    ex.param("id", load_user)
    ex.use("/users/:id", lambda req, res, next: next())
    ex.get("/users/:id", lambda req, res, next: next())
    ex.get("/users/:id", lambda req, res: res.json(res.locals["user"]))
    r = await fetch(serve(ex), "GET", "/users/9")
    assert r.json() == {"id": "9"}
    assert calls == ["9"]


async def test_param_decorator_async_and_name_argument() -> None:
    ex = Express()
    seen: list[tuple[str, str]] = []

    @ex.param("slug")
    async def load(req: Any, res: Any, next: Any, value: str, name: str) -> None:
        await asyncio.sleep(0)
        seen.append((name, value))
        next()

    ex.get("/posts/:slug", lambda req, res: res.send("ok"))
    assert (await fetch(serve(ex), "GET", "/posts/hello")).text == "ok"
    assert seen == [("slug", "hello")]


async def test_param_errors_skip_to_error_middleware() -> None:
    ex = Express()

    def load(req: Any, res: Any, next: Any, value: str) -> None:
        if not value.isdigit():
            raise HttpError(400, f"bad id {value}")
        next()

    ex.param("id", load)
    ex.get("/items/:id", lambda req, res: res.send("item"))
    app = serve(ex)
    assert (await fetch(app, "GET", "/items/1")).text == "item"
    r = await fetch(app, "GET", "/items/x")
    assert (r.status_code, r.text) == (400, "bad id x")


async def test_param_next_route_skips_the_layer() -> None:
    ex = Express()
    ex.param("id", lambda req, res, next, value: next("route" if value == "skip" else None))
    ex.get("/p/:id", lambda req, res: res.send("param route"))
    ex.get("/p/skip", lambda req, res: res.send("static"))
    app = serve(ex)
    assert (await fetch(app, "GET", "/p/1")).text == "param route"
    assert (await fetch(app, "GET", "/p/skip")).text == "static"


async def test_param_that_answers_stops_the_stack() -> None:
    ex = Express()
    ex.param("id", lambda req, res, next, value: res.status(404).send("unknown"))
    ex.get("/p/:id", lambda req, res: res.send("not reached"))
    r = await fetch(serve(ex), "GET", "/p/1")
    assert (r.status_code, r.text) == (404, "unknown")
