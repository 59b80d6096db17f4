"""ctx.request: the read side of a request (line, headers, host, proxy trust, negotiation)."""

from __future__ import annotations

from typing import Any

import pytest
from _core_helpers import fake_context, http

from scallion import App, Context


def test_path_is_decoded_and_raw_path_is_as_sent() -> None:
    async def echo(ctx: Context, next: Any) -> None:
        ctx.body = {"path": ctx.path, "raw": ctx.request.raw_path, "url": ctx.url}

    body = http(App().use(echo), url="/caf%C3%A9/a%20b?x=%20").json()
    assert body == {
        "path": "/caf\u00e9/a b",
        "raw": "/caf%C3%A9/a%20b",
        "url": "/caf%C3%A9/a%20b?x=%20",
    }


def test_raw_path_falls_back_to_an_encoded_path_without_raw_path_in_scope() -> None:
    ctx = fake_context(path="/a b")
    ctx.request.scope.pop("raw_path")
    assert ctx.request.raw_path == "/a%20b"


def test_method_querystring_and_search() -> None:
    req = fake_context("DELETE", "/x", query="a=1").request
    assert req.method == "DELETE"
    assert req.querystring == "a=1"
    assert req.search == "?a=1"
    assert fake_context().request.search == ""


def test_get_returns_empty_string_when_absent_and_treats_referer_and_referrer_alike() -> None:
    req = fake_context(headers={"Referer": "http://a.example/"}).request
    assert req.get("x-nope") == ""
    assert req.get("Referrer") == "http://a.example/"
    assert req.get("REFERER") == "http://a.example/"


@pytest.mark.parametrize(
    ("host", "hostname"),
    [
        ("example.com", "example.com"),
        ("example.com:8080", "example.com"),
        ("[::1]:3000", "::1"),
        ("[2001:db8::1]", "2001:db8::1"),
    ],
)
def test_host_and_hostname(host: str, hostname: str) -> None:
    req = fake_context(headers={"host": host}).request
    assert req.host == host
    assert req.hostname == hostname


def test_host_falls_back_to_the_server_address() -> None:
    ctx = fake_context()
    ctx.request.scope["headers"] = []
    assert ctx.request.host == "testserver:80"


def test_https_scheme_is_secure() -> None:
    req = fake_context(scheme="https").request
    assert req.protocol == "https"
    assert req.secure is True


FORWARDED = {
    "x-forwarded-for": "203.0.113.7, 10.0.0.2",
    "x-forwarded-host": "public.example",
    "x-forwarded-proto": "https",
}


def test_x_forwarded_headers_are_ignored_without_proxy_trust() -> None:
    req = fake_context(headers={"host": "internal:8000", **FORWARDED}).request
    assert req.ip == "127.0.0.1"
    assert req.ips == []
    assert req.host == "internal:8000"
    assert req.protocol == "http"


def test_x_forwarded_headers_count_behind_a_trusted_proxy() -> None:
    req = fake_context(headers={"host": "internal:8000", **FORWARDED}, proxy=True).request
    assert req.ip == "203.0.113.7"
    assert req.ips == ["203.0.113.7", "10.0.0.2"]
    assert req.host == "public.example"
    assert req.hostname == "public.example"
    assert req.protocol == "https"
    assert req.secure is True
    assert req.origin == "https://public.example"


def test_proxy_trust_over_http() -> None:
    async def who(ctx: Context, next: Any) -> None:
        ctx.body = {"ip": ctx.ip, "proto": ctx.protocol, "host": ctx.host}

    headers = {"x-forwarded-for": "198.51.100.1", "x-forwarded-proto": "https"}
    assert http(App().use(who), headers=headers).json() == {
        "ip": "127.0.0.1",
        "proto": "http",
        "host": "testserver",
    }
    assert http(App(proxy=True).use(who), headers=headers).json() == {
        "ip": "198.51.100.1",
        "proto": "https",
        "host": "testserver",
    }


def test_idempotent_methods() -> None:
    assert fake_context("PUT").request.idempotent is True
    assert fake_context("POST").request.idempotent is False


def test_content_type_charset_and_length() -> None:
    req = fake_context(
        "POST",
        headers={"content-type": "Text/Plain; Charset=ISO-8859-1", "content-length": "12"},
    ).request
    assert req.content_type == "text/plain"
    assert req.charset == "iso-8859-1"
    assert req.length == 12
    assert fake_context().request.length is None
    assert fake_context(headers={"content-length": "x"}).request.length is None
    assert fake_context(headers={"content-length": "\xb2"}).request.length is None


@pytest.mark.parametrize(
    ("content_type", "candidates", "expected"),
    [
        ("application/json", ("json",), "json"),
        ("application/vnd.api+json", ("+json",), "+json"),
        ("application/x-www-form-urlencoded", ("json", "urlencoded"), "urlencoded"),
        ("text/html; charset=utf-8", ("text/*",), "text/*"),
        ("image/png", ("json", "text"), None),
        ("", ("json",), None),
    ],
)
def test_is_type(content_type: str, candidates: tuple[str, ...], expected: str | None) -> None:
    headers = {"content-type": content_type} if content_type else {}
    assert fake_context("POST", headers=headers).request.is_type(*candidates) == expected


@pytest.mark.parametrize(
    ("accept", "candidates", "expected"),
    [
        ("", ("json", "html"), "json"),
        ("text/html", ("json", "html"), "html"),
        ("application/json;q=0.5, text/html", ("json", "html"), "html"),
        ("*/*", ("html",), "html"),
        ("text/*", ("json", "text/plain"), "text/plain"),
        ("image/png", ("json", "html"), None),
        ("text/html;q=0", ("html",), None),
        ("garbage;;q=abc, ,", ("json",), None),
    ],
)
def test_accepts(accept: str, candidates: tuple[str, ...], expected: str | None) -> None:
    headers = {"accept": accept} if accept else {}
    assert fake_context(headers=headers).request.accepts(*candidates) == expected


def test_repr() -> None:
    assert repr(fake_context("GET", "/p", query="a=1").request) == "<Request GET /p?a=1>"
