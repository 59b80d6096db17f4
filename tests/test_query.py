"""Query strings and paths: repeated keys, percent-encoding, and bad encodings never 500."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import pytest
from _core_helpers import BodyReceiver, asgi_request, fake_context, http, make_scope

from scallion import App, Context
from scallion.request import parse_query


@pytest.mark.parametrize(
    ("querystring", "expected"),
    [
        ("", {}),
        ("a=1", {"a": "1"}),
        ("a=1&a=2&b=x", {"a": ["1", "2"], "b": "x"}),
        ("a=1&a=2&a=3", {"a": ["1", "2", "3"]}),
        ("flag&empty=", {"flag": "", "empty": ""}),
        ("q=caf%C3%A9&sp=a+b&pct=100%25", {"q": "caf\u00e9", "sp": "a b", "pct": "100%"}),
        ("k%20ey=v", {"k ey": "v"}),
        ("a=%ZZ", {"a": "%ZZ"}),
        ("a=%E0%A4", {"a": "\ufffd"}),
        ("a=%FF%FE", {"a": "\ufffd\ufffd"}),
        ("a=%", {"a": "%"}),
        ("&&=&a=1", {"": "", "a": "1"}),
    ],
)
def test_parse_query(querystring: str, expected: dict[str, Any]) -> None:
    assert parse_query(querystring) == expected


def test_ctx_query_is_parsed_once_and_cached() -> None:
    ctx = fake_context(query="a=1")
    assert ctx.query is ctx.query


async def echo(ctx: Context, next: Any) -> None:
    ctx.body = {"query": ctx.query, "path": ctx.path, "raw": ctx.request.raw_path}


def test_repeated_keys_over_http() -> None:
    response = http(App().use(echo), url="/s?tag=a&tag=b&page=2")
    assert response.json()["query"] == {"tag": ["a", "b"], "page": "2"}


BAD_QUERIES = [b"a=%ZZ", b"a=%E0%A4", b"%FF=%FE", b"a=%", b"a=\xff\xfe", b"%%%&&&==="]


@pytest.mark.parametrize("query", BAD_QUERIES)
async def test_bad_query_encodings_never_500(query: bytes) -> None:
    scope = make_scope("GET", "/q")
    scope["query_string"] = query
    sent = await asgi_request(App().use(echo), scope, BodyReceiver())
    assert sent.status == 200


BAD_PATHS = [b"/%ZZ", b"/%E0%A4", b"/caf%C3", b"/%FF%FE/x", b"/a%00b", b"/%"]


@pytest.mark.parametrize("raw_path", BAD_PATHS)
async def test_bad_path_encodings_never_500(raw_path: bytes) -> None:
    # Servers decode the path themselves (undecodable bytes become U+FFFD).
    decoded = unquote(raw_path.decode("latin-1"), errors="replace")
    sent = await asgi_request(
        App().use(echo), make_scope("GET", decoded, raw_path=raw_path), BodyReceiver()
    )
    assert sent.status == 200
    assert f'"raw":"{raw_path.decode("latin-1")}"'.encode() in sent.body


@pytest.mark.parametrize("url", ["/%ZZ?a=%ZZ", "/%E0%A4?x=%E0%A4", "/caf%C3?%C3=1"])
def test_bad_encodings_over_http_never_500(url: str) -> None:
    assert http(App().use(echo), url=url).status_code == 200


def test_bad_encodings_with_no_handler_are_a_plain_404() -> None:
    assert http(App(), url="/%ZZ?a=%E0").status_code == 404
