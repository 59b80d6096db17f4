"""Headers both ways: a case-insensitive request mapping, and safe response header setting."""

from __future__ import annotations

from typing import Any

import pytest
from _core_helpers import asgi_request, fake_context, http

from scallion import App, Context
from scallion.datastructures import Headers


def test_request_headers_are_case_insensitive() -> None:
    headers = Headers([(b"content-type", b"text/plain"), (b"x-token", b"abc")])
    assert headers["Content-Type"] == "text/plain"
    assert headers.get("X-TOKEN") == "abc"
    assert "X-Token" in headers
    assert 42 not in headers
    assert headers.get("missing") is None
    assert headers.get("missing", "") == ""
    assert sorted(headers) == ["content-type", "x-token"]
    assert len(headers) == 2


def test_repeated_request_headers_join_and_getlist_keeps_them_apart() -> None:
    headers = Headers(
        [(b"accept", b"a"), (b"Accept", b"b"), (b"cookie", b"x=1"), (b"cookie", b"y=2")]
    )
    assert headers["accept"] == "a, b"
    assert headers["cookie"] == "x=1; y=2"
    assert headers.getlist("ACCEPT") == ["a", "b"]


def test_headers_from_a_mapping() -> None:
    assert Headers.from_mapping({"X-A": "1"})["x-a"] == "1"


def test_request_headers_over_http_ignore_case() -> None:
    async def echo(ctx: Context, next: Any) -> None:
        ctx.body = [ctx.headers["x-custom"], ctx.get("X-CUSTOM"), ctx.headers.get("X-Custom")]

    assert http(App().use(echo), headers={"X-Custom": "v"}).json() == ["v", "v", "v"]


async def test_set_with_a_list_sends_one_line_per_item() -> None:
    async def cookies(ctx: Context, next: Any) -> None:
        ctx.set("Set-Cookie", ["a=1", "b=2"])
        ctx.set("X-Multi", ("x", "y"))
        ctx.body = "ok"

    sent = await asgi_request(App().use(cookies))
    lines = [(k, v) for k, v in sent.start["headers"] if k in (b"set-cookie", b"x-multi")]
    assert lines == [
        (b"set-cookie", b"a=1"),
        (b"set-cookie", b"b=2"),
        (b"x-multi", b"x"),
        (b"x-multi", b"y"),
    ]


def test_numbers_become_strings() -> None:
    ctx = fake_context()
    ctx.set("X-Count", 3)
    ctx.set("X-Ratio", 0.5)
    ctx.append("X-List", [1, 2])
    assert ctx.response.headers["x-count"] == "3"
    assert ctx.response.headers["x-ratio"] == "0.5"
    assert ctx.response.headers["x-list"] == ["1", "2"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("X-Evil", "a\r\nSet-Cookie: admin=1"),
        ("X-Evil", "a\nb"),
        ("X-Evil", "a\rb"),
        ("X-Evil", "nul\0"),
        ("X-Evil\r\nInjected", "v"),
        ("X Space", "v"),
        ("X:Colon", "v"),
        ("", "v"),
    ],
)
def test_header_injection_is_refused(name: str, value: str) -> None:
    ctx = fake_context()
    with pytest.raises(ValueError):
        ctx.set(name, value)
    with pytest.raises(ValueError):
        ctx.append(name, value)
    with pytest.raises(ValueError):
        ctx.set(name, [value])
    assert ctx.response.headers == {}


def test_an_injected_header_is_never_sent_over_http() -> None:
    async def evil(ctx: Context, next: Any) -> None:
        ctx.body = "ok"
        ctx.set("X-Evil", "a\r\nSet-Cookie: admin=1")

    response = http(App(env="production").use(evil))
    assert response.status_code == 500
    assert "set-cookie" not in response.headers
    assert "x-evil" not in response.headers


def test_append_keeps_existing_values() -> None:
    ctx = fake_context()
    ctx.append("Link", "<a>")
    assert ctx.response.headers["link"] == "<a>"
    ctx.append("Link", "<b>")
    ctx.append("link", ["<c>", "<d>"])
    assert ctx.response.headers["link"] == ["<a>", "<b>", "<c>", "<d>"]
    assert ctx.response.get("LINK") == "<a>, <b>, <c>, <d>"


def test_response_header_names_are_lower_cased_and_get_returns_empty_when_absent() -> None:
    ctx = fake_context()
    ctx.set("X-Mixed-Case", "v")
    assert list(ctx.response.headers) == ["x-mixed-case"]
    assert ctx.response.get("x-MIXED-case") == "v"
    assert ctx.response.get("nope") == ""
