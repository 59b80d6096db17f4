"""error_handler(): the seed's §5.2 mapping, over HTTP."""

from __future__ import annotations

import logging
from typing import Any

import jwt
import pydantic
import pytest

from scallion import App, HttpError
from scallion.middleware import ValidationError, error_handler, request_id
from scallion.testing import TestClient

from ._helpers_a import client, endpoint


def raising(err: BaseException) -> Any:
    async def handler(ctx: Any) -> None:
        ctx.set("X-Set-Before-Error", "1")
        raise err

    return handler


class Signup(pydantic.BaseModel):
    name: str
    age: int
    password: str


class TestMapping:
    def test_http_error_keeps_status_and_exposed_message(self) -> None:
        r = client(error_handler(), handler=raising(HttpError(404, "no such user"))).get("/")
        assert r.status_code == 404
        assert r.headers["content-type"] == "application/json; charset=utf-8"
        assert r.json() == {"code": 404, "message": "no such user"}

    def test_server_errors_hide_their_message(self) -> None:
        r = client(error_handler(), handler=raising(HttpError(502, "db at 10.0.0.7"))).get("/")
        assert r.status_code == 502
        assert r.json() == {"code": 502, "message": "Bad Gateway"}

    def test_exposed_5xx_message_is_shown(self) -> None:
        err = HttpError(503, "maintenance until 3pm", expose=True)
        r = client(error_handler(), handler=raising(err)).get("/")
        assert r.json() == {"code": 503, "message": "maintenance until 3pm"}

    def test_unexpected_exception_is_a_bare_500(self) -> None:
        r = client(error_handler(), handler=raising(RuntimeError("password=hunter2"))).get("/")
        assert r.status_code == 500
        assert r.json() == {"code": 500, "message": "Internal Server Error"}
        assert "hunter2" not in r.text and "Traceback" not in r.text

    def test_status_code_attribute_counts(self) -> None:
        class Teapot(Exception):
            status_code = 418

        r = client(error_handler(), handler=raising(Teapot("short and stout"))).get("/")
        assert r.status_code == 418
        assert r.json()["message"] == "short and stout"

    def test_details_prop_on_http_error(self) -> None:
        async def handler(ctx: Any) -> None:
            ctx.throw(422, "bad order", details=[{"field": "qty", "problem": "negative"}])

        r = client(error_handler(), handler=handler).get("/")
        assert r.status_code == 422
        assert r.json()["details"] == [{"field": "qty", "problem": "negative"}]

    def test_pydantic_validation_error_is_400_with_details_without_input(self) -> None:
        async def handler(ctx: Any) -> None:
            Signup.model_validate({"name": "ann", "age": "old", "password": 12345})

        r = client(error_handler(), handler=handler).get("/")
        assert r.status_code == 400
        body = r.json()
        assert body["code"] == 400 and body["message"] == "Validation failed"
        locs = [tuple(d["loc"]) for d in body["details"]]
        assert locs == [("age",), ("password",)]
        assert all({"msg", "type"} <= set(d) for d in body["details"])
        assert "12345" not in r.text  # the rejected input may be a secret

    def test_scallion_validation_error_with_details(self) -> None:
        err = ValidationError([{"loc": ["email"], "msg": "not an email"}])
        r = client(error_handler(), handler=raising(err)).get("/")
        assert r.status_code == 400
        assert r.json() == {
            "code": 400,
            "message": "Validation failed",
            "details": [{"loc": ["email"], "msg": "not an email"}],
        }

    def test_unserialisable_details_become_text(self) -> None:
        err = ValidationError({"when": object()}, "bad")
        r = client(error_handler(), handler=raising(err)).get("/")
        assert r.status_code == 400
        assert r.json()["details"]["when"].startswith("<object object")

    def test_jwt_error_is_401_with_www_authenticate(self) -> None:
        async def handler(ctx: Any) -> None:
            jwt.decode("not.a.jwt", "secret", algorithms=["HS256"])

        r = client(error_handler(), handler=handler).get("/")
        assert r.status_code == 401
        assert r.json() == {"code": 401, "message": "Authentication failed"}
        assert r.headers["www-authenticate"] == 'Bearer error="invalid_token"'

    def test_expired_jwt_is_401(self) -> None:
        token = jwt.encode({"exp": 1}, "a-secret-of-32-bytes-or-more-xxxxxx", algorithm="HS256")

        async def handler(ctx: Any) -> None:
            jwt.decode(token, "a-secret-of-32-bytes-or-more-xxxxxx", algorithms=["HS256"])

        assert client(error_handler(), handler=handler).get("/").status_code == 401


class TestHeaders:
    def test_error_headers_are_kept_and_earlier_ones_dropped(self) -> None:
        err = HttpError(429, headers={"Retry-After": "3"})
        r = client(error_handler(), handler=raising(err)).get("/")
        assert r.status_code == 429
        assert r.headers["retry-after"] == "3"
        assert "x-set-before-error" not in r.headers

    def test_headers_set_above_the_handler_survive(self) -> None:
        async def outer(ctx: Any, next: Any) -> None:
            ctx.set("X-Outer", "kept")
            await next()

        r = client(outer, error_handler(), handler=raising(HttpError(400))).get("/")
        assert r.headers["x-outer"] == "kept"

    def test_invalid_error_header_is_dropped_not_fatal(self) -> None:
        err = HttpError(400, headers={"X-Bad": "a\r\nInjected: 1"})
        r = client(error_handler(), handler=raising(err)).get("/")
        assert r.status_code == 400
        assert "injected" not in r.headers and "x-bad" not in r.headers

    def test_request_id_in_body_and_header(self) -> None:
        r = client(error_handler(), request_id(), handler=raising(HttpError(409))).get(
            "/", headers={"X-Request-ID": "req-42"}
        )
        assert r.json() == {"code": 409, "message": "Conflict", "request_id": "req-42"}
        assert r.headers["x-request-id"] == "req-42"


class TestStack:
    def test_no_stack_in_production(self) -> None:
        r = client(error_handler(), handler=raising(KeyError("k")), env="production").get("/")
        assert "stack" not in r.json()

    def test_stack_in_development_by_default(self) -> None:
        r = client(error_handler(), handler=raising(KeyError("k")), env="development").get("/")
        assert "KeyError" in r.json()["stack"]
        assert r.json()["message"] == "Internal Server Error"

    def test_expose_stack_overrides_the_mode(self) -> None:
        off = client(
            error_handler(expose_stack=False), handler=raising(KeyError("k")), env="development"
        )
        assert "stack" not in off.get("/").json()
        on = client(error_handler(expose_stack=True), handler=raising(KeyError("k")))
        assert "Traceback" in on.get("/").json()["stack"]

    def test_text_format_appends_the_stack(self) -> None:
        c = client(error_handler(format="text", expose_stack=True), handler=raising(KeyError("k")))
        text = c.get("/").text
        assert text.startswith("Internal Server Error\n\nTraceback")


class TestFormats:
    def test_text(self) -> None:
        r = client(error_handler(format="text"), handler=raising(HttpError(403, "<b>no</b>"))).get(
            "/"
        )
        assert r.status_code == 403
        assert r.headers["content-type"] == "text/plain; charset=utf-8"
        assert r.text == "<b>no</b>"

    @pytest.mark.parametrize(
        ("accept", "kind"),
        [
            ("application/json", "application/json"),
            ("text/plain", "text/plain"),
            ("text/html,application/xhtml+xml", "text/plain"),
            ("image/png", "application/json"),
            (None, "application/json"),
        ],
    )
    def test_auto_negotiates(self, accept: str | None, kind: str) -> None:
        headers = {"Accept": accept} if accept else {}
        r = client(error_handler(format="auto"), handler=raising(HttpError(404))).get(
            "/", headers=headers
        )
        assert r.headers["content-type"].startswith(kind)
        assert "Accept" in r.headers["vary"]

    def test_callable_format(self) -> None:
        def problem(ctx: Any, payload: dict[str, Any], err: BaseException) -> None:
            ctx.type = "application/problem+json"
            ctx.body = {
                "title": payload["message"],
                "status": payload["code"],
                "kind": type(err).__name__,
            }

        r = client(error_handler(format=problem), handler=raising(HttpError(410))).get("/")
        assert r.status_code == 410
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json() == {"title": "Gone", "status": 410, "kind": "HttpError"}

    def test_head_gets_status_and_no_body(self) -> None:
        r = client(error_handler(), handler=raising(HttpError(404))).head("/")
        assert r.status_code == 404 and r.content == b""


class TestEmit:
    def test_listener_receives_error_and_ctx(self) -> None:
        seen: list[tuple[str, str]] = []
        app = App()
        app.on("error", lambda err, ctx: seen.append((type(err).__name__, ctx.path)))
        app.use(error_handler(), endpoint(raising(ValueError("x"))))
        assert TestClient(app).get("/boom").status_code == 500
        assert seen == [("ValueError", "/boom")]

    def test_emit_false_stays_quiet(self, caplog: pytest.LogCaptureFixture) -> None:
        seen: list[Any] = []
        app = App()
        app.on("error", seen.append)
        app.use(error_handler(emit=False), endpoint(raising(ValueError("x"))))
        with caplog.at_level(logging.ERROR, logger="scallion"):
            assert TestClient(app).get("/").status_code == 500
        assert seen == [] and not caplog.records

    def test_without_listener_server_errors_are_logged(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.ERROR, logger="scallion"):
            client(error_handler(), handler=raising(ValueError("kaput"))).get("/")
            client(error_handler(), handler=raising(HttpError(404))).get("/")
        messages = [r.getMessage() for r in caplog.records]
        assert len(messages) == 1 and "kaput" in messages[0]

    def test_listener_replaces_default_logging(self, caplog: pytest.LogCaptureFixture) -> None:
        app = App()
        app.on("error", lambda err, ctx: None)
        app.use(error_handler(), endpoint(raising(ValueError("x"))))
        with caplog.at_level(logging.ERROR, logger="scallion"):
            TestClient(app).get("/")
        assert not caplog.records


class TestOptions:
    def test_unknown_format(self) -> None:
        with pytest.raises(ValueError, match="format='xml'"):
            error_handler(format="xml")  # type: ignore[arg-type]

    def test_wrong_types(self) -> None:
        with pytest.raises(TypeError):
            error_handler(format=3)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            error_handler(expose_stack="yes")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            error_handler(emit=None)  # type: ignore[arg-type]

    def test_keyword_only(self) -> None:
        with pytest.raises(TypeError):
            error_handler(True)  # type: ignore[misc]


async def test_client_disconnect_passes_through_untouched() -> None:
    seen: list[Any] = []
    app = App()
    app.on("error", lambda err, ctx: seen.append(err))

    async def read(ctx: Any, next: Any) -> None:
        await ctx.request.body()

    app.use(error_handler(), read)
    sent: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "headers": [],
        "scheme": "http",
    }
    await app(scope, receive, send)
    assert sent == [] and seen == []  # nobody is left to answer, and it is not an app error
