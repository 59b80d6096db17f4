"""Context: one per request, with Koa's delegates to the request and the response."""

from __future__ import annotations

from typing import Any

import pytest
from _core_helpers import fake_context

from scallion import App, Context, Request, Response
from scallion.datastructures import State
from scallion.testing import TestClient


def test_a_context_holds_request_response_app_and_routing_slots() -> None:
    app = App()
    ctx = fake_context(app=app)
    assert isinstance(ctx.request, Request)
    assert isinstance(ctx.response, Response)
    assert ctx.app is app
    assert ctx.params == {}
    assert ctx.matched == []
    assert ctx.router_path is None
    assert ctx.router_name is None
    assert ctx.scope is ctx.request.scope
    assert ctx.respond is True


def test_state_is_an_attribute_namespace_per_request() -> None:
    ctx = fake_context()
    assert isinstance(ctx.state, State)
    ctx.state.user = "ann"
    assert ctx.state.user == "ann"
    assert "user" in ctx.state
    assert ctx.state.get("missing", 1) == 1
    with pytest.raises(AttributeError):
        _ = ctx.state.missing
    assert fake_context().state is not ctx.state


def test_free_attributes_can_be_attached() -> None:
    ctx = fake_context()
    ctx.session = {"id": 1}  # type: ignore[attr-defined]
    assert ctx.session == {"id": 1}  # type: ignore[attr-defined]


REQUEST_DELEGATES = [
    "method",
    "path",
    "url",
    "origin",
    "href",
    "query",
    "querystring",
    "host",
    "hostname",
    "ip",
    "ips",
    "protocol",
    "secure",
]


@pytest.mark.parametrize("name", REQUEST_DELEGATES)
def test_request_delegates_read_the_request(name: str) -> None:
    ctx = fake_context(
        "POST",
        "/caf\u00e9",
        raw_path=b"/caf%C3%A9",
        query="a=1&a=2&b=x",
        headers={"host": "example.com:8080"},
    )
    assert getattr(ctx, name) == getattr(ctx.request, name)


def test_request_delegate_values() -> None:
    ctx = fake_context(
        "POST",
        "/caf\u00e9",
        raw_path=b"/caf%C3%A9",
        query="a=1&a=2&b=x",
        headers={"host": "example.com:8080", "Accept": "application/json"},
    )
    assert ctx.method == "POST"
    assert ctx.path == "/caf\u00e9"
    assert ctx.url == "/caf%C3%A9?a=1&a=2&b=x"
    assert ctx.querystring == "a=1&a=2&b=x"
    assert ctx.query == {"a": ["1", "2"], "b": "x"}
    assert ctx.host == "example.com:8080"
    assert ctx.hostname == "example.com"
    assert ctx.origin == "http://example.com:8080"
    assert ctx.href == "http://example.com:8080/caf%C3%A9?a=1&a=2&b=x"
    assert ctx.protocol == "http"
    assert ctx.secure is False
    assert ctx.ip == "127.0.0.1"
    assert ctx.ips == []
    assert ctx.headers is ctx.request.headers
    assert ctx.header is ctx.request.headers
    assert ctx.get("ACCEPT") == "application/json"
    assert ctx.get("x-missing") == ""
    assert ctx.accepts("html", "json") == "json"


def test_is_type_reads_the_request_content_type() -> None:
    ctx = fake_context("POST", headers={"content-type": "application/json; charset=utf-8"})
    assert ctx.is_type("json") == "json"
    assert ctx.is_type("html", "application/*") == "application/*"
    assert ctx.is_type("html") is None


def test_query_can_be_replaced() -> None:
    ctx = fake_context(query="a=1")
    ctx.query = {"b": "2"}
    assert ctx.query == {"b": "2"}
    assert ctx.request.query == {"b": "2"}


def test_response_delegates_write_the_response() -> None:
    ctx = fake_context()
    ctx.status = 201
    ctx.body = {"ok": True}
    ctx.set("X-One", "1")
    ctx.append("Link", "<a>")
    ctx.append("Link", "<b>")
    ctx.vary("Accept")
    ctx.message = "Made"
    res = ctx.response
    assert (ctx.status, res.status) == (201, 201)
    assert ctx.body is res.body
    assert ctx.message == res.message == "Made"
    assert ctx.type == res.type == "application/json"
    assert ctx.length == res.length == len(b'{"ok":true}')
    assert res.headers["x-one"] == "1"
    assert res.headers["link"] == ["<a>", "<b>"]
    assert ctx.has("x-one") and ctx.has("X-ONE")
    ctx.remove("X-One")
    assert not ctx.has("x-one")
    assert res.get("vary") == "Accept"
    assert ctx.headers_sent is False


def test_type_and_length_are_the_response_side_koa_1343() -> None:
    ctx = fake_context("POST", headers={"content-type": "text/csv", "content-length": "3"})
    assert ctx.type == ""
    assert ctx.length is None
    assert ctx.request.content_type == "text/csv"
    assert ctx.request.length == 3


def test_set_with_a_mapping_sets_each() -> None:
    ctx = fake_context()
    ctx.set({"x-a": "1", "x-b": 2})
    assert ctx.response.headers == {"x-a": "1", "x-b": "2"}


def test_redirect_and_attachment_delegate() -> None:
    ctx = fake_context()
    ctx.redirect("/login")
    assert ctx.status == 302
    assert ctx.response.get("location") == "/login"
    ctx.attachment("report.pdf")
    assert ctx.type == "application/pdf"
    assert ctx.response.get("content-disposition") == 'attachment; filename="report.pdf"'


def test_fresh_compares_etags_for_get_and_head() -> None:
    ctx = fake_context(headers={"if-none-match": '"v1"'})
    ctx.body = "x"
    ctx.response.etag = "v1"
    assert ctx.fresh is True
    assert ctx.stale is False
    ctx.response.etag = "v2"
    assert ctx.fresh is False
    post = fake_context("POST", headers={"if-none-match": '"v1"'})
    post.body = "x"
    post.response.etag = "v1"
    assert post.fresh is False


def test_repr_is_readable() -> None:
    assert repr(fake_context("GET", "/x", query="q=1")) == "<Context GET /x?q=1 -> 404>"


def test_every_request_gets_its_own_context_through_http() -> None:
    seen: list[Context] = []

    async def capture(ctx: Context, next: Any) -> None:
        seen.append(ctx)
        ctx.state.n = len(seen)
        ctx.body = {"n": ctx.state.n, "path": ctx.path}

    with TestClient(App().use(capture)) as client:
        assert client.get("/a").json() == {"n": 1, "path": "/a"}
        assert client.get("/b").json() == {"n": 2, "path": "/b"}
    assert seen[0] is not seen[1]
