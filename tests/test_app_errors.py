"""What an uncaught error becomes: the App's default error response and the "error" event."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
from _core_helpers import http

from scallion import App, Context, HttpError
from scallion.testing import AsyncTestClient


def raising(err: BaseException) -> Any:
    async def mw(ctx: Context, next: Any) -> None:
        raise err

    return mw


def test_http_error_sets_status_message_and_its_headers() -> None:
    err = HttpError(409, "already exists", headers={"x-conflict": "name", "retry-after": 2})
    response = http(App().use(raising(err)))
    assert response.status_code == 409
    assert response.text == "already exists"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["x-conflict"] == "name"
    assert response.headers["retry-after"] == "2"


def test_a_hidden_server_error_shows_only_the_reason_phrase() -> None:
    response = http(App(env="production").use(raising(HttpError(503, "db password wrong"))))
    assert response.status_code == 503
    assert response.text == "Service Unavailable"


def test_an_exposed_server_error_shows_its_message() -> None:
    response = http(App().use(raising(HttpError(503, "maintenance", expose=True))))
    assert response.text == "maintenance"


def test_an_unexposed_client_error_shows_the_reason_phrase() -> None:
    response = http(App().use(raising(HttpError(400, "internal detail", expose=False))))
    assert (response.status_code, response.text) == (400, "Bad Request")


def test_an_arbitrary_exception_is_a_plain_500() -> None:
    response = http(App(env="production").use(raising(KeyError("secret"))))
    assert response.status_code == 500
    assert response.text == "Internal Server Error"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


class Teapot(Exception):
    status = 418


class Unprocessable(Exception):
    status_code = 422


class WeirdStatus(Exception):
    status = "404"


@pytest.mark.parametrize(
    ("err", "status"), [(Teapot(), 418), (Unprocessable(), 422), (WeirdStatus(), 500)]
)
def test_any_exception_with_an_int_status_in_range_uses_it(err: Exception, status: int) -> None:
    response = http(App(env="production").use(raising(err)))
    assert response.status_code == status


def test_headers_set_before_the_error_are_dropped() -> None:
    async def sets_then_fails(ctx: Context, next: Any) -> None:
        ctx.set("x-before", "1")
        ctx.type = "json"
        ctx.body = {"partial": True}
        raise HttpError(400, "bad")

    response = http(App().use(sets_then_fails))
    assert "x-before" not in response.headers
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == "bad"


def test_a_middleware_adding_its_header_to_the_passing_error_keeps_it_starlette_1175() -> None:
    async def request_id(ctx: Context, next: Any) -> None:
        ctx.set("x-request-id", "abc")
        try:
            await next()
        except Exception as err:
            headers = getattr(err, "headers", None)
            if isinstance(headers, dict):
                headers["x-request-id"] = "abc"
            else:
                err.headers = {"x-request-id": "abc"}  # type: ignore[attr-defined]
            raise

    app = App().use(request_id, raising(HttpError(404)))
    response = http(app)
    assert response.status_code == 404
    assert response.headers["x-request-id"] == "abc"
    plain = http(App().use(request_id, raising(RuntimeError("x"))))
    assert plain.status_code == 500
    assert plain.headers["x-request-id"] == "abc"


def test_invalid_error_headers_are_dropped_not_sent() -> None:
    err = HttpError(400, headers={"x-ok": "yes", "x-bad": "a\r\nInjected: 1"})
    response = http(App().use(raising(err)))
    assert response.status_code == 400
    assert response.headers["x-ok"] == "yes"
    assert "injected" not in response.headers
    assert "x-bad" not in response.headers


def test_development_mode_shows_the_traceback() -> None:
    response = http(App(env="development").use(raising(ValueError("the cause"))))
    assert response.status_code == 500
    assert response.text.startswith("Internal Server Error")
    assert "Traceback" in response.text
    assert "ValueError: the cause" in response.text


def test_production_mode_never_shows_the_traceback() -> None:
    for err in (ValueError("the cause"), HttpError(400, "shown"), HttpError(500, "hidden")):
        response = http(App(env="production").use(raising(err)))
        assert "Traceback" not in response.text
        assert "the cause" not in response.text
        assert "hidden" not in response.text


def test_an_outer_middleware_can_catch_and_answer() -> None:
    async def handler(ctx: Context, next: Any) -> None:
        try:
            await next()
        except HttpError as err:
            ctx.status = err.status
            ctx.body = {"error": err.message}

    response = http(App().use(handler, raising(HttpError(422, "bad field"))))
    assert response.status_code == 422
    assert response.json() == {"error": "bad field"}


def test_error_listeners_get_the_error_and_the_context() -> None:
    app = App()
    seen: list[tuple[BaseException, str]] = []
    app.on("error", lambda err, ctx: seen.append((err, ctx.path)))
    boom = ValueError("x")
    http(app.use(raising(boom)), url="/where")
    assert seen == [(boom, "/where")]


async def test_an_async_listener_never_delays_the_response() -> None:
    app = App()
    release = asyncio.Event()
    finished: list[str] = []

    @app.on("error")
    async def slow_reporter(err: BaseException, ctx: Context) -> None:
        await release.wait()
        finished.append(str(err))

    async with AsyncTestClient(app.use(raising(ValueError("late")))) as client:
        response = await asyncio.wait_for(client.get("/"), 5)
        assert response.status_code == 500
        assert finished == []
        release.set()
    assert finished == ["late"]  # shutdown waits for the background listener


def test_a_raising_listener_does_not_break_the_response(caplog: pytest.LogCaptureFixture) -> None:
    app = App()

    def broken(err: BaseException, ctx: Context) -> None:
        raise RuntimeError("listener bug")

    app.on("error", broken)
    response = http(app.use(raising(HttpError(418))))
    assert response.status_code == 418
    assert "listener" in caplog.text


async def test_a_raising_async_listener_does_not_break_the_response() -> None:
    app = App()

    async def broken(err: BaseException, ctx: Context) -> None:
        raise RuntimeError("async listener bug")

    app.on("error", broken)
    async with AsyncTestClient(app.use(raising(ValueError()))) as client:
        assert (await client.get("/")).status_code == 500
        assert (await client.get("/")).status_code == 500


def test_the_default_reporter_logs_a_500(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="scallion"):
        http(App().use(raising(ValueError("logged cause"))))
    records = [r for r in caplog.records if r.name == "scallion"]
    assert len(records) == 1
    assert "logged cause" in records[0].getMessage()
    assert records[0].exc_info is not None


def test_the_default_reporter_does_not_log_an_exposed_4xx(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG, logger="scallion"):
        http(App().use(raising(HttpError(400, "user mistake"))))
        http(App().use(raising(HttpError(404))))
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_listener_replaces_the_default_logging(caplog: pytest.LogCaptureFixture) -> None:
    app = App()
    app.on("error", lambda err, ctx: None)
    with caplog.at_level(logging.DEBUG, logger="scallion"):
        http(app.use(raising(ValueError("quiet"))))
    assert "quiet" not in caplog.text


def test_the_process_survives_many_failing_requests() -> None:
    app = App()
    app.on("error", lambda err, ctx: None)
    state = {"n": 0}

    async def sometimes(ctx: Context, next: Any) -> None:
        state["n"] += 1
        if state["n"] % 2:
            raise ZeroDivisionError
        ctx.body = "fine"

    from scallion.testing import TestClient

    with TestClient(app.use(sometimes)) as client:
        statuses = [client.get("/").status_code for _ in range(20)]
    assert statuses == [500, 200] * 10


def test_a_body_json_cannot_encode_becomes_a_500() -> None:
    async def unencodable(ctx: Context, next: Any) -> None:
        ctx.body = {"when": object()}

    app = App()
    errors: list[BaseException] = []
    app.on("error", lambda err, ctx: errors.append(err))
    response = http(app.use(unencodable))
    assert response.status_code == 500
    assert response.text == "Internal Server Error"
    assert len(errors) == 1


def test_an_error_with_odd_attributes_still_makes_a_response() -> None:
    class Odd(Exception):
        expose = True
        message = 12345
        headers = "not a dict"
        status = 400

    response = http(App().use(raising(Odd("str of odd"))))
    assert response.status_code == 400
    assert response.text == "str of odd"
