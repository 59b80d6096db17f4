"""timeout(): 504 in time, nothing left running, per-route override and exemption."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import pytest

from scallion import App, sse
from scallion.middleware import error_handler, set_timeout, timeout
from scallion.router import Router
from scallion.testing import AsyncTestClient

from ._helpers_a import app_with, client


async def slow(ctx: Any) -> None:
    await asyncio.sleep(5)
    ctx.body = "late"


async def quick(ctx: Any) -> None:
    await asyncio.sleep(0.01)
    ctx.body = "fine"


def test_fast_requests_pass() -> None:
    assert client(timeout(1), handler=quick).get("/").text == "fine"


def test_slow_request_gets_504_in_time() -> None:
    started = time.perf_counter()
    r = client(timeout(0.05), handler=slow).get("/")
    assert time.perf_counter() - started < 1
    assert r.status_code == 504
    assert r.text == "Request timed out"


def test_with_error_handler_it_is_json() -> None:
    r = client(error_handler(), timeout(0.05, message="too slow"), handler=slow).get("/")
    assert r.status_code == 504
    assert r.json() == {"code": 504, "message": "too slow"}


def test_custom_status() -> None:
    assert client(timeout(0.05, status=503), handler=slow).get("/").status_code == 503


async def test_nothing_is_left_behind() -> None:
    events: list[str] = []

    async def child(name: str) -> None:
        try:
            await asyncio.sleep(10)
        finally:
            events.append(f"{name} cancelled")

    async def fan_out(ctx: Any) -> None:
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(child("a"))
                group.create_task(child("b"))
            await asyncio.gather(child("c"), child("d"))
        finally:
            events.append("handler cleaned up")

    app = app_with(timeout(0.05), handler=fan_out)
    async with AsyncTestClient(app, lifespan=False) as c:
        before = asyncio.all_tasks()
        r = await c.get("/")
        await asyncio.sleep(0)
        left = asyncio.all_tasks() - before
    assert r.status_code == 504
    assert sorted(events) == ["a cancelled", "b cancelled", "handler cleaned up"]
    assert left == set()


async def test_no_task_per_request_is_created() -> None:
    created: list[Any] = []
    loop = asyncio.get_running_loop()
    factory = loop.get_task_factory()

    def spy(loop: Any, coro: Any, **kw: Any) -> Any:
        created.append(coro)
        return asyncio.Task(coro, loop=loop, **kw)

    app = app_with(timeout(1), handler=quick)
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "headers": [],
        "scheme": "http",
    }
    loop.set_task_factory(spy)
    try:
        await app(scope, _receive, _discard)  # no transport: only the app's own tasks count
    finally:
        loop.set_task_factory(factory)
    assert created == []


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _discard(message: Any) -> None:
    return None


def test_own_timeout_error_passes_through() -> None:
    async def upstream_timed_out(ctx: Any) -> None:
        raise TimeoutError("upstream took too long")

    r = client(error_handler(), timeout(5), handler=upstream_timed_out).get("/")
    assert r.status_code == 500


def test_swallowed_cancellation_still_answers_504() -> None:
    async def stubborn(ctx: Any) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(5)
        ctx.body = "I ignored the deadline"

    r = client(timeout(0.05), handler=stubborn).get("/")
    assert r.status_code == 504


class TestPerRoute:
    def make(self, *route_mw: Any) -> Any:
        router = Router()

        async def takes(ctx: Any) -> None:
            await asyncio.sleep(float(ctx.query.get("s", "0")))
            ctx.body = "done"

        router.get("/x", *route_mw, takes)
        app = App()
        app.use(timeout(0.1), router.routes())
        return client_app(app)

    def test_longer_deadline(self) -> None:
        c = self.make(set_timeout(2))
        assert c.get("/x?s=0.3").status_code == 200

    def test_shorter_deadline(self) -> None:
        c = self.make(set_timeout(0.02))
        started = time.perf_counter()
        assert c.get("/x?s=0.08").status_code == 504
        assert time.perf_counter() - started < 0.5

    def test_no_deadline(self) -> None:
        assert self.make(set_timeout(None)).get("/x?s=0.3").status_code == 200

    def test_without_enclosing_timeout_it_does_nothing(self) -> None:
        assert client(set_timeout(0.01), handler=quick).get("/").text == "fine"

    def test_deadline_counts_from_request_start(self) -> None:
        async def spend(ctx: Any, next: Any) -> None:
            await asyncio.sleep(0.08)
            await next()

        router = Router()

        async def handler(ctx: Any) -> None:
            await asyncio.sleep(0.05)
            ctx.body = "done"

        router.get("/x", spend, set_timeout(0.1), handler)
        app = App()
        app.use(timeout(1), router.routes())
        assert client_app(app).get("/x").status_code == 504


def client_app(app: App) -> Any:
    from scallion.testing import TestClient

    from ._helpers_a import closing

    return closing(TestClient(app))


def test_exempt() -> None:
    mw = timeout(0.05, exempt=lambda ctx: ctx.path.startswith("/events"))

    async def handler(ctx: Any) -> None:
        await asyncio.sleep(0.15)
        ctx.body = "kept going"

    c = client(mw, handler=handler)
    assert c.get("/events/1").text == "kept going"
    assert c.get("/other").status_code == 504


def test_sse_stream_outlives_the_timeout() -> None:
    async def events() -> Any:
        for n in range(4):
            await asyncio.sleep(0.05)
            yield {"n": n}

    async def stream(ctx: Any) -> None:
        ctx.body = sse(events(), ping=None)

    started = time.perf_counter()
    r = client(timeout(0.05), handler=stream).get("/events")
    assert time.perf_counter() - started >= 0.2
    assert r.status_code == 200
    assert r.text.count("data: ") == 4


@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        ((0,), {}, ValueError),
        ((-1,), {}, ValueError),
        ((float("nan"),), {}, ValueError),
        ((float("inf"),), {}, ValueError),
        (("5",), {}, TypeError),
        ((True,), {}, TypeError),
        ((1,), {"status": 200}, ValueError),
        ((1,), {"message": 3}, TypeError),
        ((1,), {"exempt": "yes"}, TypeError),
    ],
)
def test_bad_options(args: tuple[Any, ...], kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        timeout(*args, **kwargs)


def test_set_timeout_bad_options() -> None:
    with pytest.raises(ValueError):
        set_timeout(0)
    with pytest.raises(TypeError):
        set_timeout("1")  # type: ignore[arg-type]


async def test_slow_request_body_is_cut_off() -> None:
    """A client trickling its body cannot hold the handler past the deadline."""

    async def read_body(ctx: Any) -> None:
        ctx.body = {"size": len(await ctx.request.body())}

    app = app_with(timeout(0.05), handler=read_body)
    sent: list[dict[str, Any]] = []

    async def trickle() -> dict[str, Any]:
        await asyncio.sleep(0.02)
        return {"type": "http.request", "body": b"x", "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "headers": [(b"content-type", b"text/plain")],
        "scheme": "http",
    }
    started = time.perf_counter()
    await app(scope, trickle, send)
    assert time.perf_counter() - started < 1
    assert sent[0]["status"] == 504
