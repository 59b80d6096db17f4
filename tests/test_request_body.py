"""Request body readers: read once and cached, limited while streaming, clear 4xx on bad input."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from _core_helpers import BodyReceiver, asgi_request, fake_context, http, make_scope

from scallion import App, Context, HttpError
from scallion.request import DEFAULT_BODY_LIMIT

MiB = 1024 * 1024


def reader(method: str) -> Any:
    """A handler that answers with what ``ctx.request.<method>()`` returned."""

    async def mw(ctx: Context, next: Any) -> None:
        value = await getattr(ctx.request, method)()
        ctx.body = value if not isinstance(value, bytes) else {"len": len(value)}

    return mw


def test_the_default_limit_is_one_mebibyte() -> None:
    assert MiB == DEFAULT_BODY_LIMIT
    assert App().body_limit == MiB
    assert fake_context().request.body_limit == MiB


async def test_body_is_read_once_and_every_reader_gets_the_same_bytes_starlette_495() -> None:
    seen: list[Any] = []

    async def peek(ctx: Context, next: Any) -> None:
        seen.append(await ctx.request.body())
        await next()

    async def handler(ctx: Context, next: Any) -> None:
        seen.append(await ctx.request.body())
        seen.append(await ctx.request.json())
        seen.append(await ctx.request.text())
        ctx.body = "ok"

    receive = BodyReceiver([b'{"a":', b" 1}"])
    scope = make_scope("POST", headers={"content-type": "application/json"})
    sent = await asgi_request(App().use(peek, handler), scope, receive)
    assert sent.status == 200
    assert seen == [b'{"a": 1}', b'{"a": 1}', {"a": 1}, '{"a": 1}']
    assert receive.calls == 2


async def test_stream_yields_chunks_and_then_the_body_is_gone() -> None:
    ctx = fake_context("POST", body=[b"ab", b"", b"cd"])
    chunks = [chunk async for chunk in ctx.request.stream()]
    assert chunks == [b"ab", b"cd"]
    with pytest.raises(RuntimeError, match="already streamed"):
        await ctx.request.body()


async def test_stream_after_body_yields_the_cached_bytes() -> None:
    ctx = fake_context("POST", body=b"cached")
    await ctx.request.body()
    assert [chunk async for chunk in ctx.request.stream()] == [b"cached"]


async def test_an_empty_body_is_empty_bytes() -> None:
    assert await fake_context().request.body() == b""


def test_json_over_http() -> None:
    response = http(App().use(reader("json")), "POST", json={"name": "ann", "tags": [1, 2]})
    assert response.json() == {"name": "ann", "tags": [1, 2]}


@pytest.mark.parametrize("content_type", ["application/json", "application/vnd.api+json"])
async def test_json_accepts_json_types(content_type: str) -> None:
    ctx = fake_context("POST", headers={"content-type": content_type}, body=b"[1]")
    assert await ctx.request.json() == [1]


@pytest.mark.parametrize("payload", [b"{bad json", b"{'a': 1}", b"[1,", b"\xff\xfe", b"   "])
def test_malformed_json_is_a_400(payload: bytes) -> None:
    headers = {"content-type": "application/json"}
    response = http(App().use(reader("json")), "POST", content=payload, headers=headers)
    assert response.status_code == 400
    assert "JSON" in response.text


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_json_with_the_wrong_content_type_is_a_415(content_type: str) -> None:
    headers = {"content-type": content_type} if content_type else {}
    response = http(App().use(reader("json")), "POST", content=b"{}", headers=headers)
    assert response.status_code == 415


async def test_json_without_the_type_check_when_asked() -> None:
    ctx = fake_context("POST", headers={"content-type": "text/plain"}, body=b'{"a": 1}')
    assert await ctx.request.json(require_type=False) == {"a": 1}


def test_text_decodes_utf8_by_default() -> None:
    response = http(App().use(reader("text")), "POST", content="caf\u00e9".encode())
    assert response.text == "caf\u00e9"


def test_text_uses_the_declared_charset() -> None:
    headers = {"content-type": "text/plain; charset=latin-1"}
    response = http(App().use(reader("text")), "POST", content=b"caf\xe9", headers=headers)
    assert response.text == "caf\u00e9"


def test_non_utf8_text_is_a_400() -> None:
    response = http(App().use(reader("text")), "POST", content=b"caf\xe9 \xff")
    assert response.status_code == 400


def test_an_unknown_charset_is_a_415() -> None:
    headers = {"content-type": "text/plain; charset=no-such-charset"}
    response = http(App().use(reader("text")), "POST", content=b"x", headers=headers)
    assert response.status_code == 415


def test_form_parses_urlencoded_bodies() -> None:
    response = http(App().use(reader("form")), "POST", data={"a": "1 2", "b": ["x", "y"]})
    assert response.json() == {"a": "1 2", "b": ["x", "y"]}


def test_form_refuses_other_types_and_points_multipart_elsewhere() -> None:
    response = http(App().use(reader("form")), "POST", files={"f": ("a.txt", b"data")})
    assert response.status_code == 415
    assert "multipart" in response.text
    json_body = http(App().use(reader("form")), "POST", json={"a": 1})
    assert json_body.status_code == 415


async def test_a_declared_length_over_the_limit_is_refused_without_reading() -> None:
    receive = BodyReceiver([b"x" * 100])
    scope = make_scope("POST", headers={"content-length": str(MiB + 1)})
    sent = await asgi_request(App().use(reader("body")), scope, receive)
    assert sent.status == 413
    assert receive.calls == 0
    assert b"limit" in sent.body


async def test_an_undeclared_body_over_the_limit_is_refused_while_streaming() -> None:
    chunk = b"x" * (64 * 1024)
    receive = BodyReceiver([chunk] * 64)  # 4 MiB, chunked, no Content-Length
    sent = await asgi_request(App().use(reader("body")), make_scope("POST"), receive)
    assert sent.status == 413
    assert receive.bytes_given <= MiB + len(chunk)
    assert receive.calls < 64


async def test_a_lying_content_length_does_not_let_more_through() -> None:
    receive = BodyReceiver([b"x" * 600, b"x" * 600])
    scope = make_scope("POST", headers={"content-length": "10"})
    sent = await asgi_request(App(body_limit=1000).use(reader("body")), scope, receive)
    assert sent.status == 413


def test_a_body_within_the_limit_is_read_over_http() -> None:
    response = http(App().use(reader("body")), "POST", content=b"x" * MiB)
    assert response.json() == {"len": MiB}
    assert http(App().use(reader("body")), "POST", content=b"x" * (MiB + 1)).status_code == 413


def test_the_limit_is_set_per_app() -> None:
    app = App(body_limit=10).use(reader("body"))
    assert http(app, "POST", content=b"x" * 10).json() == {"len": 10}
    assert http(app, "POST", content=b"x" * 11).status_code == 413


def test_the_limit_is_set_per_request() -> None:
    async def route_limits(ctx: Context, next: Any) -> None:
        ctx.request.body_limit = 5 * MiB if ctx.path == "/upload" else 16
        await next()

    app = App().use(route_limits, reader("body"))
    assert http(app, "POST", "/upload", content=b"x" * (2 * MiB)).json() == {"len": 2 * MiB}
    assert http(app, "POST", "/small", content=b"x" * 17).status_code == 413
    assert http(app, "POST", "/small", content=b"x" * 16).json() == {"len": 16}


@pytest.mark.parametrize("declared", ["abc", "-1", "1.5", " 12", "1e3", "\xb2", "\xb9\xb2"])
async def test_an_invalid_content_length_is_a_400(declared: str) -> None:
    scope = make_scope("POST", headers={"content-length": declared})  # "\xb2" is a latin-1 "²"
    sent = await asgi_request(App().use(reader("body")), scope, BodyReceiver([b"x"]))
    assert sent.status == 400


async def test_a_client_that_disconnects_mid_body_causes_no_error_storm(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = App()
    errors: list[BaseException] = []
    app.on("error", lambda err, ctx: errors.append(err))
    receive = BodyReceiver([b"part", b"more", b"never"], disconnect_after=1)
    scope = make_scope("POST", headers={"content-type": "application/json"})
    sent = await asgi_request(app.use(reader("json")), scope, receive)
    assert errors == []
    assert sent.messages == []  # nobody is listening; nothing is sent
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_an_outer_middleware_sees_the_413_as_an_http_error() -> None:
    seen: list[int] = []

    async def watch(ctx: Context, next: Any) -> None:
        try:
            await next()
        except HttpError as err:
            seen.append(err.status)
            raise

    scope = make_scope("POST", headers={"content-length": "11"})
    sent = await asgi_request(App(body_limit=10).use(watch, reader("body")), scope, BodyReceiver())
    assert seen == [413]
    assert sent.status == 413


async def test_a_second_read_after_an_oversize_body_gets_the_same_413() -> None:
    # body_parser(on_error=...) may swallow the first 413; a later read must not be a 500
    from scallion import App, HttpError
    from scallion.testing import AsyncTestClient

    app = App(body_limit=10)
    seen: list[int] = []

    async def handler(ctx, next):  # type: ignore[no-untyped-def]
        try:
            await ctx.request.body()
        except HttpError as err:
            seen.append(err.status)
        await ctx.request.body()

    app.use(handler)
    async with AsyncTestClient(app) as client:
        response = await client.post("/", content=b"x" * 100)
    assert seen == [413]
    assert response.status_code == 413
