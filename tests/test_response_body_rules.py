"""The body rules of DESIGN §2 as one table: what is assigned → status, Content-Type, length.

Each row sets up a response in a middleware and checks the bytes the App sends.
A length of ``None`` means no Content-Length header (a stream, or an empty status).
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from _core_helpers import asgi_request

from scallion import App, Context, sse

TEXT = "text/plain; charset=utf-8"
HTML = "text/html; charset=utf-8"
JSON = "application/json; charset=utf-8"
BINARY = "application/octet-stream"


async def agen() -> AsyncIterator[bytes]:
    yield b"ab"
    yield b"c"


def sgen() -> Iterator[bytes]:
    yield b"ab"
    yield "c"  # type: ignore[misc]  # str chunks are encoded as UTF-8


async def events() -> AsyncIterator[str]:
    yield "hi"


def body(value: Any) -> Callable[[Context], None]:
    def setup(ctx: Context) -> None:
        ctx.body = value() if callable(value) else value

    return setup


def then(*steps: Callable[[Context], None]) -> Callable[[Context], None]:
    def setup(ctx: Context) -> None:
        for step in steps:
            step(ctx)

    return setup


def status(code: int) -> Callable[[Context], None]:
    def setup(ctx: Context) -> None:
        ctx.status = code

    return setup


def typed(value: str) -> Callable[[Context], None]:
    def setup(ctx: Context) -> None:
        ctx.type = value

    return setup


def nothing(ctx: Context) -> None:
    pass


Row = tuple[str, Callable[[Context], None], int, str | None, int | None, bytes]

# name, setup, status, content-type, content-length, body
TABLE: list[Row] = [
    ("nothing set", nothing, 404, TEXT, 9, b"Not Found"),
    ("status only", status(418), 418, TEXT, 12, b"I'm a Teapot"),
    ("str", body("hello"), 200, TEXT, 5, b"hello"),
    ("str utf-8", body("h\u00e9"), 200, TEXT, 3, "h\u00e9".encode()),
    ("str html", body("<p>hi</p>"), 200, HTML, 9, b"<p>hi</p>"),
    ("str html leading ws", body("\n  <!doctype html>"), 200, HTML, 18, b"\n  <!doctype html>"),
    ("str not html", body("a <b>"), 200, TEXT, 5, b"a <b>"),
    ("empty str", body(""), 200, TEXT, 0, b""),
    ("bytes", body(b"\x00\x01"), 200, BINARY, 2, b"\x00\x01"),
    ("bytearray", body(bytearray(b"abc")), 200, BINARY, 3, b"abc"),
    ("memoryview", body(memoryview(b"abcd")), 200, BINARY, 4, b"abcd"),
    ("dict compact", body({"a": 1, "b": [1, 2]}), 200, JSON, 17, b'{"a":1,"b":[1,2]}'),
    ("list", body([1, "x"]), 200, JSON, 7, b'[1,"x"]'),
    ("dict non-str keys", body({1: "a"}), 200, JSON, 9, b'{"1":"a"}'),
    ("other value as JSON", body(5), 200, JSON, 1, b"5"),
    ("None", body(None), 204, None, None, b""),
    ("async iterator", body(agen), 200, BINARY, None, b"abc"),
    ("sync iterator", body(sgen), 200, BINARY, None, b"abc"),
    ("file", body(lambda: io.BytesIO(b"file!")), 200, BINARY, None, b"file!"),
    (
        "sse",
        body(lambda: sse(events(), ping=None)),
        200,
        "text/event-stream; charset=utf-8",
        None,
        b"data: hi\n\n",
    ),
    ("explicit status kept", then(status(201), body("made")), 201, TEXT, 4, b"made"),
    ("status after body", then(body("x"), status(202)), 202, TEXT, 1, b"x"),
    (
        "type kept",
        then(typed("xml"), body("<a/>")),
        200,
        "application/xml; charset=utf-8",
        4,
        b"<a/>",
    ),
    ("json type kept for str", then(typed("json"), body('"s"')), 200, JSON, 3, b'"s"'),
    ("204 strips body", then(body("gone"), status(204)), 204, None, None, b""),
    ("304 strips body", then(status(304), body("gone")), 304, None, None, b""),
    ("205 strips body", then(body({"a": 1}), status(205)), 205, None, None, b""),
    ("body replaced", then(body({"a": 1}), body("text")), 200, JSON, 4, b"text"),
    ("None after body", then(body("x"), body(None)), 204, None, None, b""),
    ("None keeps 304", then(status(304), body(None)), 304, None, None, b""),
    (
        "explicit length kept for a stream",
        then(body(agen), lambda c: setattr(c, "length", 3)),
        200,
        BINARY,
        3,
        b"abc",
    ),
]


@pytest.mark.parametrize(
    ("setup", "code", "content_type", "length", "payload"),
    [row[1:] for row in TABLE],
    ids=[row[0] for row in TABLE],
)
async def test_body_rules(
    setup: Callable[[Context], None],
    code: int,
    content_type: str | None,
    length: int | None,
    payload: bytes,
) -> None:
    async def mw(ctx: Context, next: Any) -> None:
        setup(ctx)

    sent = await asgi_request(App().use(mw))
    assert sent.status == code
    assert sent.headers.get("content-type") == content_type
    declared = sent.headers.get("content-length")
    assert (int(declared) if declared is not None else None) == length
    assert sent.body == payload


async def test_a_status_set_by_the_body_is_visible_at_once_koa_905() -> None:
    seen: list[int] = []

    async def outer(ctx: Context, next: Any) -> None:
        await next()
        seen.append(ctx.status)

    async def inner(ctx: Context, next: Any) -> None:
        seen.append(ctx.status)
        ctx.body = "x"

    await asgi_request(App().use(outer, inner))
    assert seen == [404, 200]
