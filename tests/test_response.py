"""ctx.response: status, message, type, length, redirect, vary and friends."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from _core_helpers import fake_context, http

from scallion import App, Context
from scallion.response import Response


def test_status_is_404_until_something_sets_it() -> None:
    res = Response()
    assert res.status == 404
    assert res.message == "Not Found"
    assert res.body is None


@pytest.mark.parametrize("bad", ["200", 200.0, None, True, [200]])
def test_a_non_int_status_is_a_type_error(bad: Any) -> None:
    with pytest.raises(TypeError):
        Response().status = bad


@pytest.mark.parametrize("bad", [0, 99, 1000, -200])
def test_an_out_of_range_status_is_a_value_error(bad: int) -> None:
    with pytest.raises(ValueError):
        Response().status = bad


def test_an_int_subclass_status_is_accepted() -> None:
    from http import HTTPStatus

    res = Response()
    res.status = HTTPStatus.CREATED
    assert res.status == 201
    assert type(res.status) is int


@pytest.mark.parametrize("status", [204, 205, 304])
def test_empty_statuses_strip_a_body_already_set(status: int) -> None:
    res = Response()
    res.body = "something"
    res.status = status
    assert res.body is None
    assert "content-type" not in res.headers


def test_message_defaults_to_the_reason_phrase_and_can_be_set() -> None:
    res = Response()
    res.status = 418
    assert res.message == "I'm a Teapot"
    res.message = "short and stout"
    assert res.message == "short and stout"
    res.status = 200
    assert res.message == "OK"


@pytest.mark.parametrize(
    ("value", "header", "bare"),
    [
        ("json", "application/json; charset=utf-8", "application/json"),
        (".html", "text/html; charset=utf-8", "text/html"),
        ("html", "text/html; charset=utf-8", "text/html"),
        ("text", "text/plain; charset=utf-8", "text/plain"),
        ("png", "image/png", "image/png"),
        ("image/svg+xml", "image/svg+xml", "image/svg+xml"),
        ("text/csv", "text/csv; charset=utf-8", "text/csv"),
        ("text/plain; charset=latin-1", "text/plain; charset=latin-1", "text/plain"),
    ],
)
def test_type_setter_accepts_short_names_extensions_and_full_types(
    value: str, header: str, bare: str
) -> None:
    ctx = fake_context()
    ctx.type = value
    assert ctx.response.headers["content-type"] == header
    assert ctx.type == bare


def test_type_setter_with_an_unknown_or_empty_value_removes_it() -> None:
    ctx = fake_context()
    ctx.type = "json"
    ctx.type = "no-such-extension-xyz"
    assert ctx.type == ""
    ctx.type = "json"
    ctx.type = None
    assert "content-type" not in ctx.response.headers


def test_length_is_an_int_or_none() -> None:
    ctx = fake_context()
    assert ctx.length is None
    ctx.body = "h\u00e9llo"
    assert ctx.length == len("h\u00e9llo".encode())
    ctx.length = 99
    assert ctx.length == 99
    assert ctx.response.headers["content-length"] == "99"


def test_a_streams_length_is_unknown_unless_set() -> None:
    async def gen() -> Any:
        yield b"x"

    ctx = fake_context()
    ctx.body = gen()
    assert ctx.length is None
    ctx.length = 1
    assert ctx.length == 1


def test_redirect_defaults_to_302_with_a_text_body() -> None:
    ctx = fake_context()
    ctx.redirect("/login")
    assert ctx.status == 302
    assert ctx.response.get("location") == "/login"
    assert ctx.body == "Redirecting to /login."
    assert ctx.response.headers["content-type"] == "text/plain; charset=utf-8"


@pytest.mark.parametrize("status", [301, 303, 307, 308])
def test_redirect_keeps_a_3xx_already_set(status: int) -> None:
    ctx = fake_context()
    ctx.status = status
    ctx.redirect("/moved")
    assert ctx.status == status


def test_redirect_percent_encodes_non_ascii_but_keeps_escapes() -> None:
    ctx = fake_context()
    ctx.redirect("/caf\u00e9?q=a b&x=%20")
    assert ctx.response.get("location") == "/caf%C3%A9?q=a%20b&x=%20"


def test_redirect_cannot_inject_headers() -> None:
    ctx = fake_context()
    ctx.redirect("/next\r\nSet-Cookie: admin=1")
    assert ctx.response.get("location") == "/next%0D%0ASet-Cookie:%20admin=1"
    assert "set-cookie" not in ctx.response.headers


def test_redirect_over_http() -> None:
    async def go(ctx: Context, next: Any) -> None:
        ctx.redirect("https://example.com/\u00fcber")

    response = http(App().use(go), follow_redirects=False)
    assert response.status_code == 302
    assert response.headers["location"] == "https://example.com/%C3%BCber"
    assert response.text == "Redirecting to https://example.com/\u00fcber."


def test_vary_adds_each_field_once() -> None:
    res = Response()
    res.vary("Accept")
    res.vary("accept-encoding, Accept")
    res.vary("Origin")
    assert res.get("vary") == "Accept, accept-encoding, Origin"


def test_vary_star_wins() -> None:
    res = Response()
    res.vary("Accept")
    res.vary("*")
    assert res.get("vary") == "*"
    res.vary("Origin")
    assert res.get("vary") == "*"


def test_attachment_with_a_non_ascii_filename() -> None:
    res = Response()
    res.attachment("r\u00e9sum\u00e9.txt")
    assert res.type == "text/plain"
    assert res.get("content-disposition") == (
        "attachment; filename=\"rsum.txt\"; filename*=UTF-8''r%C3%A9sum%C3%A9.txt"
    )
    bare = Response()
    bare.attachment()
    assert bare.get("content-disposition") == "attachment"


def test_etag_is_quoted() -> None:
    res = Response()
    res.etag = "abc"
    assert res.etag == '"abc"'
    res.etag = 'W/"weak"'
    assert res.etag == 'W/"weak"'


def test_last_modified_round_trips_as_an_http_date() -> None:
    res = Response()
    assert res.last_modified is None
    when = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    res.last_modified = when
    assert res.get("last-modified") == "Wed, 01 May 2024 12:00:00 GMT"
    assert res.last_modified == when
    res.set("last-modified", "garbage")
    assert res.last_modified is None


def test_remove_and_has() -> None:
    res = Response()
    res.set("X-A", "1")
    assert res.has("x-a")
    res.remove("X-A")
    res.remove("never-set")
    assert not res.has("x-a")
