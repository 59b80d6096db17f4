"""request_id(): trusted when valid, replaced when hostile, on every response."""

from __future__ import annotations

import re
from typing import Any

import pytest

from scallion import HttpError
from scallion.middleware import error_handler, request_id
from scallion.middleware.request_id import counter_id, random_id, uuid4_id

from ._helpers_a import app_with, client, raw_request

HEX32 = re.compile(r"[0-9a-f]{32}")


async def echo_state(ctx: Any) -> None:
    ctx.body = {"rid": ctx.state.request_id}


def test_generated_when_absent_and_shared_with_handlers() -> None:
    r = client(request_id(), handler=echo_state).get("/")
    rid = r.headers["x-request-id"]
    assert HEX32.fullmatch(rid)
    assert r.json() == {"rid": rid}


def test_each_request_gets_a_new_one() -> None:
    c = client(request_id())
    ids = {c.get("/").headers["x-request-id"] for _ in range(20)}
    assert len(ids) == 20


@pytest.mark.parametrize("good", ["abc", "0f9c-11ee:req/7", "a" * 128, "dXNlcg==", "x@y.z"])
def test_valid_incoming_id_is_kept(good: str) -> None:
    r = client(request_id(), handler=echo_state).get("/", headers={"X-Request-ID": good})
    assert r.headers["x-request-id"] == good
    assert r.json() == {"rid": good}


@pytest.mark.parametrize(
    "bad",
    [
        b"",
        b"a" * 129,
        b"a" * 10_240,
        b"abc\r\nSet-Cookie: pwned=1",
        b"abc\nX: y",
        b"has space",
        b'quote"d',
        b"<script>",
        b"caf\xc3\xa9",
        b"nul\x00byte",
    ],
)
async def test_hostile_incoming_id_is_replaced(bad: bytes) -> None:
    app = app_with(request_id(), handler=echo_state)
    status, headers, body = await raw_request(app, headers=[(b"x-request-id", bad)])
    assert status == 200
    sent = dict(headers)[b"x-request-id"]
    assert HEX32.fullmatch(sent.decode())
    assert bad not in body or bad == b""
    assert b"pwned" not in b"".join(v for _, v in headers)


@pytest.mark.parametrize("with_handler", [True, False])
def test_error_responses_carry_the_id(with_handler: bool) -> None:
    async def fail(ctx: Any) -> None:
        ctx.remove("x-request-id")  # even if something dropped it before failing
        raise HttpError(409)

    stack = (error_handler(), request_id()) if with_handler else (request_id(),)
    r = client(*stack, handler=fail).get("/", headers={"X-Request-ID": "trace-1"})
    assert r.status_code == 409
    assert r.headers["x-request-id"] == "trace-1"
    if with_handler:
        assert r.json()["request_id"] == "trace-1"


def test_uncaught_plain_exception_still_gets_the_id() -> None:
    async def fail(ctx: Any) -> None:
        raise ZeroDivisionError

    r = client(request_id(), handler=fail).get("/")
    assert r.status_code == 500 and HEX32.fullmatch(r.headers["x-request-id"])


def test_generators() -> None:
    assert HEX32.fullmatch(random_id()) and HEX32.fullmatch(uuid4_id())
    first, second = counter_id(), counter_id()
    assert first != second and first.split("-")[0] == second.split("-")[0]
    assert int(second.split("-")[1], 16) == int(first.split("-")[1], 16) + 1
    r = client(request_id(generator=lambda: "fixed-id")).get("/")
    assert r.headers["x-request-id"] == "fixed-id"


def test_custom_header_and_no_echo() -> None:
    r = client(request_id(header="X-Correlation-ID"), handler=echo_state).get(
        "/", headers={"X-Correlation-ID": "c-1"}
    )
    assert r.headers["x-correlation-id"] == "c-1" and "x-request-id" not in r.headers
    quiet = client(request_id(echo=False), handler=echo_state).get("/")
    assert "x-request-id" not in quiet.headers and HEX32.fullmatch(quiet.json()["rid"])


def test_validate_options() -> None:
    digits_only = client(request_id(validate=r"\d{1,10}"), handler=echo_state)
    assert digits_only.get("/", headers={"X-Request-ID": "12345"}).json() == {"rid": "12345"}
    assert digits_only.get("/", headers={"X-Request-ID": "abc"}).json()["rid"] != "abc"
    by_function = client(request_id(validate=lambda v: v.startswith("ok-")), handler=echo_state)
    assert by_function.get("/", headers={"X-Request-ID": "ok-1"}).json() == {"rid": "ok-1"}
    never = client(request_id(validate=None), handler=echo_state)
    assert never.get("/", headers={"X-Request-ID": "abc"}).json()["rid"] != "abc"


def test_lenient_validator_still_cannot_inject_headers() -> None:
    import asyncio

    app = app_with(request_id(validate=lambda v: True), handler=echo_state)
    status, headers, _ = asyncio.run(
        raw_request(app, headers=[(b"x-request-id", b"a\r\nSet-Cookie: x=1")])
    )
    assert status == 200
    assert b"set-cookie" not in dict(headers)


def test_bad_generator_output_fails_loudly() -> None:
    r = client(request_id(generator=lambda: "bad\nid")).get("/")
    assert r.status_code == 500


def test_bad_options() -> None:
    with pytest.raises(TypeError):
        request_id(generator="uuid")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        request_id(validate=42)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        request_id(header="X-Id\r\n")
    with pytest.raises(TypeError):
        request_id(echo="no")  # type: ignore[arg-type]


def test_errors_that_refuse_attributes_still_carry_the_id() -> None:
    import pydantic

    class Model(pydantic.BaseModel):
        n: int

    async def fail(ctx: Any) -> None:
        Model.model_validate({"n": "x"})  # pydantic's error cannot take a .headers attribute

    r = client(error_handler(), request_id(), handler=fail).get(
        "/", headers={"X-Request-ID": "v-1"}
    )
    assert r.status_code == 400
    assert r.headers["x-request-id"] == "v-1" and r.json()["request_id"] == "v-1"
