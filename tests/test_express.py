"""The Express stack: handlers, next(), error middleware, handler shapes, depth, garbage.

Routing, mounting and ``param()`` live in ``test_express_routing.py``. HTTP in, HTTP out:
every test mounts an ``Express`` instance in a scallion ``App`` and talks to it through
``AsyncTestClient``.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import pytest
from _express_helpers import error_reporter, fetch, serve

from scallion import App, HttpError
from scallion.express import Express, NextFunction

# --------------------------------------------------------------------------- handlers


async def test_sync_handlers_run_in_order_and_share_locals() -> None:
    ex = Express()
    seen: list[str] = []

    def one(req: Any, res: Any, next: Any) -> None:
        seen.append("one")
        res.locals["trail"] = ["one"]
        next()

    def two(req: Any, res: Any, next: Any) -> None:
        seen.append("two")
        res.locals["trail"].append("two")
        next()

    def handler(req: Any, res: Any) -> None:
        res.json(res.locals["trail"])

    ex.use(one).use(two).get("/", handler)
    r = await fetch(serve(ex), "GET", "/")
    assert r.status_code == 200
    assert r.json() == ["one", "two"]
    assert seen == ["one", "two"]


async def test_async_handlers_are_awaited() -> None:
    ex = Express()

    async def slow(req: Any, res: Any, next: Any) -> None:
        await asyncio.sleep(0)
        req.ctx.state.step = "slow"
        next()

    async def handler(req: Any, res: Any) -> None:
        await asyncio.sleep(0)
        res.send(f"after {req.step}")

    ex.use(slow).get("/", handler)
    r = await fetch(serve(ex), "GET", "/")
    assert r.text == "after slow"
    assert r.headers["content-type"] == "text/html; charset=utf-8"


async def test_sync_function_returning_an_awaitable_is_awaited() -> None:
    ex = Express()
    done: list[bool] = []

    async def work(res: Any) -> None:
        await asyncio.sleep(0)
        done.append(True)
        res.send("done")

    ex.get("/", lambda req, res: work(res))
    r = await fetch(serve(ex), "GET", "/")
    assert r.text == "done"
    assert done == [True]


async def test_next_is_a_plain_call_returning_none() -> None:
    ex = Express()
    returned: list[object] = []

    def mw(req: Any, res: Any, next: NextFunction) -> None:
        returned.append(next())

    ex.use(mw).get("/", lambda req, res: res.send("ok"))
    r = await fetch(serve(ex), "GET", "/")
    assert r.text == "ok"
    assert returned == [None]


async def test_code_after_next_runs_before_the_rest_of_the_stack() -> None:
    ex = Express()
    order: list[str] = []

    def mw(req: Any, res: Any, next: Any) -> None:
        next()
        order.append("after next")

    def handler(req: Any, res: Any) -> None:
        order.append("handler")
        res.end()

    ex.use(mw).get("/", handler)
    await fetch(serve(ex), "GET", "/")
    assert order == ["after next", "handler"]


# --------------------------------------------------------------------------- errors


async def test_sync_raise_skips_to_error_middleware() -> None:
    ex = Express()
    skipped: list[str] = []

    def boom(req: Any, res: Any, next: Any) -> None:
        raise ValueError("sync boom")

    ex.use(boom)
    ex.use(lambda req, res, next: skipped.append("plain"))
    ex.get("/", lambda req, res: skipped.append("route"))
    ex.use(error_reporter)
    r = await fetch(serve(ex), "GET", "/")
    assert r.status_code == 599
    assert r.json() == {"error": "ValueError", "message": "sync boom"}
    assert skipped == []


async def test_async_raise_skips_to_error_middleware() -> None:
    ex = Express()

    async def boom(req: Any, res: Any) -> None:
        await asyncio.sleep(0)
        raise KeyError("async boom")

    ex.get("/", boom).use(error_reporter)
    r = await fetch(serve(ex), "GET", "/")
    assert r.json()["error"] == "KeyError"


async def test_next_err_skips_to_error_middleware() -> None:
    ex = Express()
    ex.use(lambda req, res, next: next(LookupError("passed")))
    ex.use(lambda req, res, next: res.send("never"))
    ex.use(error_reporter)
    r = await fetch(serve(ex), "GET", "/anything")
    assert r.json() == {"error": "LookupError", "message": "passed"}


async def test_rejected_awaitable_counts_as_next_err() -> None:
    ex = Express()

    async def failing() -> None:
        raise RuntimeError("rejected")

    ex.use(lambda req, res, next: failing())
    ex.use(error_reporter)
    r = await fetch(serve(ex), "GET", "/")
    assert r.json() == {"error": "RuntimeError", "message": "rejected"}


async def test_error_middleware_is_skipped_when_no_error() -> None:
    ex = Express()
    ran: list[str] = []

    def handler(err: Any, req: Any, res: Any, next: Any) -> None:
        ran.append("error mw")
        next(err)

    ex.use(handler)
    ex.use(lambda req, res, next: res.send("fine"))
    r = await fetch(serve(ex), "GET", "/")
    assert r.text == "fine"
    assert ran == []


async def test_error_middleware_passes_the_error_on_with_next_err() -> None:
    ex = Express()
    seen: list[str] = []

    def first(err: BaseException, req: Any, res: Any, next: Any) -> None:
        seen.append(f"first:{err}")
        next(err)

    def second(err: BaseException, req: Any, res: Any, next: Any) -> None:
        seen.append(f"second:{err}")
        res.status(500).send("handled by second")

    ex.use(lambda req, res, next: next(ValueError("x")))
    ex.use(first, second)
    r = await fetch(serve(ex), "GET", "/")
    assert r.status_code == 500
    assert r.text == "handled by second"
    assert seen == ["first:x", "second:x"]


async def test_error_middleware_that_raises_replaces_the_error() -> None:
    ex = Express()

    def translate(err: BaseException, req: Any, res: Any, next: Any) -> None:
        raise HttpError(409, f"conflict: {err}")

    ex.use(lambda req, res, next: next(ValueError("dup")))
    ex.use(translate, error_reporter)
    r = await fetch(serve(ex), "GET", "/")
    assert r.status_code == 409
    assert r.json()["message"] == "conflict: dup"


async def test_error_middleware_calling_next_recovers() -> None:
    ex = Express()
    ex.use(lambda req, res, next: next(ValueError("x")))
    ex.use(lambda err, req, res, next: next())
    ex.get("/", lambda req, res: res.send("recovered"))
    r = await fetch(serve(ex), "GET", "/")
    assert r.status_code == 200
    assert r.text == "recovered"


async def test_routes_are_skipped_while_an_error_passes() -> None:
    ex = Express()
    ex.use(lambda req, res, next: next(ValueError("x")))
    ex.get("/", lambda req, res: res.send("route ran"))
    ex.use(error_reporter)
    r = await fetch(serve(ex), "GET", "/")
    assert r.json()["message"] == "x"


async def test_error_middleware_inside_a_route_sees_its_errors() -> None:
    ex = Express()

    def boom(req: Any, res: Any) -> None:
        raise ValueError("in route")

    def local(err: BaseException, req: Any, res: Any, next: Any) -> None:
        res.status(422).send(f"route handled {err}")

    ex.get("/", boom, local)
    r = await fetch(serve(ex), "GET", "/")
    assert r.status_code == 422
    assert r.text == "route handled in route"


async def test_unhandled_error_propagates_to_the_app_as_500() -> None:
    ex = Express()

    def boom(req: Any, res: Any) -> None:
        raise ValueError("secret detail")

    ex.get("/", boom)
    app = serve(ex)
    errors: list[BaseException] = []
    app.on("error", lambda err, ctx: errors.append(err))
    r = await fetch(app, "GET", "/")
    assert r.status_code == 500
    assert r.text == "Internal Server Error"
    assert "secret" not in r.text
    assert [type(e) for e in errors] == [ValueError]


async def test_http_error_status_is_honoured() -> None:
    ex = Express()

    def missing(req: Any, res: Any) -> None:
        raise HttpError(404, "no such user")

    ex.get("/users/:id", missing)
    ex.get("/teapot", lambda req, res, next: next(HttpError(418)))
    app = serve(ex)
    r = await fetch(app, "GET", "/users/1")
    assert r.status_code == 404
    assert r.text == "no such user"
    r = await fetch(app, "GET", "/teapot")
    assert r.status_code == 418


async def test_unhandled_error_reaches_an_outer_onion_handler_unchanged() -> None:
    raised = ValueError("original")
    caught: list[BaseException] = []

    async def outer(ctx: Any, next: Any) -> None:
        try:
            await next()
        except ValueError as err:
            caught.append(err)
            ctx.status = 503
            ctx.body = {"degraded": True}

    def boom(req: Any, res: Any) -> None:
        raise raised

    ex = Express().get("/", boom)
    app = App().use(outer, ex)
    r = await fetch(app, "GET", "/")
    assert r.status_code == 503
    assert r.json() == {"degraded": True}
    assert caught == [raised]


async def test_next_with_a_non_exception_value_becomes_an_error() -> None:
    ex = Express()
    ex.use(lambda req, res, next: next("oops"))
    ex.use(error_reporter)
    r = await fetch(serve(ex), "GET", "/")
    body = r.json()
    assert body["error"] == "RuntimeError"
    assert "'oops'" in body["message"]


async def test_next_called_twice_is_an_error() -> None:
    ex = Express()

    def twice(req: Any, res: Any, next: Any) -> None:
        next()
        next()

    ex.use(twice).use(error_reporter)
    r = await fetch(serve(ex), "GET", "/")
    assert r.json() == {
        "error": "RuntimeError",
        "message": "next() called multiple times in one handler",
    }


async def test_next_called_after_the_handler_returned_raises() -> None:
    ex = Express()
    late: list[NextFunction] = []

    def keep(req: Any, res: Any, next: NextFunction) -> None:
        late.append(next)
        res.send("answered")

    ex.use(keep)
    r = await fetch(serve(ex), "GET", "/")
    assert r.text == "answered"
    with pytest.raises(RuntimeError, match="after its handler returned"):
        late[0]()


# --------------------------------------------------------------------------- arity


async def test_handler_shapes_are_read_at_registration() -> None:
    ex = Express()

    def with_default(req: Any, res: Any, next: Any = None) -> None:
        next()

    def variadic(*args: Any) -> None:
        args[2]()

    class Callable3:
        def __call__(self, req: Any, res: Any, next: Any) -> None:
            next()

    def tagged(tag: str, req: Any, res: Any, next: Any, /) -> None:
        res.set("X-Tag", tag)
        next()

    ex.use(with_default, variadic, Callable3(), functools.partial(tagged, "t"))
    ex.get("/", lambda req, res: res.send("ok"))
    r = await fetch(serve(ex), "GET", "/")
    assert (r.text, r.headers["x-tag"]) == ("ok", "t")


def test_bad_handlers_are_refused_at_registration() -> None:
    ex = Express()
    with pytest.raises(TypeError, match="must be callable"):
        ex.use(42)
    with pytest.raises(TypeError, match="takes 1 parameter"):
        ex.get("/", lambda req: None)
    with pytest.raises(TypeError, match="takes 5 parameters"):
        ex.use(lambda a, b, c, d, e: None)
    with pytest.raises(TypeError, match="at least one handler"):
        ex.use()
    with pytest.raises(TypeError, match="str or a list"):
        ex.get(42, lambda req, res: None)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="param handler"):
        ex.param("id", lambda req, res: None)
    with pytest.raises(ValueError, match="Invalid path pattern"):
        ex.get("/:", lambda req, res: None)


# --------------------------------------------------------------------------- depth


async def test_two_thousand_sync_layers_do_not_recurse() -> None:
    ex = Express()
    for _ in range(2000):
        ex.use(lambda req, res, next: next())
    ex.get("/", lambda req, res: res.send("deep"))
    assert (await fetch(serve(ex), "GET", "/")).text == "deep"


async def test_two_thousand_async_layers_and_route_handlers() -> None:
    ex = Express()

    async def step(req: Any, res: Any, next: Any) -> None:
        res.locals["n"] = res.locals.get("n", 0) + 1
        next()

    for _ in range(2000):
        ex.use(step)
    ex.get("/", *([step] * 2000), lambda req, res: res.json(res.locals["n"]))
    assert (await fetch(serve(ex), "GET", "/")).json() == 4000


async def test_two_thousand_error_middleware_passing_an_error() -> None:
    ex = Express()
    ex.use(lambda req, res, next: next(ValueError("deep")))
    for _ in range(2000):
        ex.use(lambda err, req, res, next: next(err))
    ex.use(error_reporter)
    assert (await fetch(serve(ex), "GET", "/")).json()["message"] == "deep"


def test_repr() -> None:
    ex = Express().get("/a", lambda req, res: None)
    assert repr(ex) == "<Express layers=1>"
    assert repr(ex.route("/b").get(lambda req, res: None)) == "<Route '/b' [GET] handlers=1>"


# --------------------------------------------------------------------------- garbage


async def test_failed_requests_leave_no_reference_cycles() -> None:
    """A caught exception's traceback holds the driver's frame; the driver must not keep
    the exception in a local, or every failed request leaves garbage for the GC."""
    import gc

    def boom(req: Any, res: Any) -> None:
        raise HttpError(409)

    def bad_param(req: Any, res: Any, next: Any, value: str) -> None:
        raise HttpError(400)

    def handled(err: BaseException, req: Any, res: Any, next: Any) -> None:
        res.status(418).send("handled")

    child = Express().get("/", boom)
    ex = Express().param("id", bad_param)
    ex.get("/direct", boom).use("/nested", child).get("/p/:id", lambda req, res: None)
    ex.use(handled)
    app = serve(ex)

    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Any) -> None:
        sent.append(message)

    async def hit(path: str) -> None:
        scope = {
            "type": "http",
            "method": "GET",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": [],
        }
        await app(scope, receive, send)

    paths = ["/direct", "/nested", "/p/1"]
    for path in paths:  # warm up
        await hit(path)
    gc.collect()
    gc.disable()
    try:
        for _ in range(50):
            for path in paths:
                await hit(path)
        assert gc.collect() == 0
    finally:
        gc.enable()
    assert {m["status"] for m in sent if m["type"] == "http.response.start"} == {418}
