"""envelope(): {code, data, message, request_id, timestamp} for JSON bodies only."""

from __future__ import annotations

import re
from typing import Any

import pytest

from scallion import HttpError, sse
from scallion.middleware import envelope, error_handler, request_id

from ._helpers_a import client

ISO_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def body_handler(value: Any, status: int | None = None) -> Any:
    async def handler(ctx: Any) -> None:
        if status is not None:
            ctx.status = status
        ctx.body = value

    return handler


def test_wraps_json_with_all_fields() -> None:
    r = client(envelope(), request_id(), handler=body_handler({"id": 1})).get(
        "/", headers={"X-Request-ID": "r-1"}
    )
    body = r.json()
    assert list(body) == ["code", "data", "message", "request_id", "timestamp"]
    assert body["code"] == 0 and body["data"] == {"id": 1} and body["message"] == "success"
    assert body["request_id"] == "r-1"
    assert ISO_Z.fullmatch(body["timestamp"])
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert int(r.headers["content-length"]) == len(r.content)


def test_lists_and_scalars_and_2xx_statuses() -> None:
    r = client(envelope(), handler=body_handler([1, 2], 201)).get("/")
    assert r.status_code == 201
    assert r.json()["code"] == 0 and r.json()["data"] == [1, 2]
    assert "request_id" not in r.json()  # no request id set


def test_non_2xx_json_uses_status_and_reason() -> None:
    r = client(envelope(), handler=body_handler({"why": "x"}, 409)).get("/")
    assert r.status_code == 409
    assert r.json()["code"] == 409 and r.json()["message"] == "Conflict"
    assert r.json()["data"] == {"why": "x"}


async def gen() -> Any:
    yield b"raw"


@pytest.mark.parametrize("value", ["plain text", "<p>html</p>", b"\x89PNG", None])
def test_leaves_non_json_alone(value: Any) -> None:
    r = client(envelope(), handler=body_handler(value)).get("/")
    if value is None:
        assert r.status_code == 204 and r.content == b""
    else:
        assert r.content == (value.encode() if isinstance(value, str) else value)


def test_leaves_streams_and_sse_alone() -> None:
    assert client(envelope(), handler=body_handler(gen())).get("/").text == "raw"

    async def events() -> Any:
        yield {"n": 1}

    r = client(envelope(), handler=body_handler(sse(events(), ping=None))).get("/")
    assert r.text == 'data: {"n":1}\n\n'


def test_json_body_with_non_json_type_is_left_alone() -> None:
    async def handler(ctx: Any) -> None:
        ctx.type = "text/csv"
        ctx.body = ["a", "b"]

    r = client(envelope(), handler=handler).get("/")
    assert r.json() == ["a", "b"]


def test_problem_json_counts_as_json() -> None:
    async def handler(ctx: Any) -> None:
        ctx.type = "application/problem+json"
        ctx.body = {"title": "t"}

    assert client(envelope(), handler=handler).get("/").json()["data"] == {"title": "t"}


def test_options() -> None:
    mw = envelope(
        code_ok=200,
        message_ok="ok",
        include=["code", "message", "data", "request_id"],
        key_names={"request_id": "requestId", "data": "result"},
    )
    r = client(mw, request_id(), handler=body_handler({"a": 1})).get(
        "/", headers={"X-Request-ID": "abc"}
    )
    assert r.json() == {"code": 200, "message": "ok", "result": {"a": 1}, "requestId": "abc"}


def test_when() -> None:
    mw = envelope(when=lambda ctx: ctx.path.startswith("/api"))
    c = client(mw, handler=body_handler({"a": 1}))
    assert c.get("/api/x").json()["data"] == {"a": 1}
    assert c.get("/raw").json() == {"a": 1}


class TestErrors:
    def fail(self, err: BaseException) -> Any:
        async def handler(ctx: Any) -> None:
            raise err

        return handler

    def test_error_handler_payload_is_reshaped(self) -> None:
        c = client(envelope(), error_handler(), request_id(), handler=self.fail(HttpError(404)))
        r = c.get("/", headers={"X-Request-ID": "e-1"})
        assert r.status_code == 404
        body = r.json()
        assert {k: body[k] for k in ("code", "data", "message", "request_id")} == {
            "code": 404,
            "data": None,
            "message": "Not Found",
            "request_id": "e-1",
        }
        assert ISO_Z.fullmatch(body["timestamp"])

    def test_details_are_kept(self) -> None:
        from scallion.middleware import ValidationError

        c = client(envelope(), error_handler(), handler=self.fail(ValidationError(["bad"])))
        body = c.get("/").json()
        assert body["code"] == 400 and body["data"] is None and body["details"] == ["bad"]

    def test_errors_false_leaves_error_payload(self) -> None:
        c = client(envelope(errors=False), error_handler(), handler=self.fail(HttpError(403)))
        assert c.get("/").json() == {"code": 403, "message": "Forbidden"}

    def test_inside_error_handler_errors_pass_by(self) -> None:
        c = client(error_handler(), envelope(), handler=self.fail(HttpError(403)))
        assert c.get("/").json() == {"code": 403, "message": "Forbidden"}


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="unknown fields"):
        envelope(include=["code", "extra"])
    with pytest.raises(TypeError):
        envelope(include="code")
    with pytest.raises(ValueError):
        envelope(key_names={"nope": "x"})
    with pytest.raises(TypeError):
        envelope(key_names={"code": ""})
    with pytest.raises(TypeError):
        envelope(code_ok="0")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        envelope(when=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        envelope(message_ok=None)  # type: ignore[arg-type]
