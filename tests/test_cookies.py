"""ctx.cookies: read, write with safe defaults, and sign with App(keys=[...]) as Koa does."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from _core_helpers import fake_context, http

from scallion import App, Context
from scallion.cookies import sign, verify


def set_cookie_lines(ctx: Context) -> list[str]:
    value = ctx.response.headers.get("set-cookie", [])
    return [value] if isinstance(value, str) else list(value)


def test_get_reads_request_cookies() -> None:
    ctx = fake_context(headers={"cookie": 'a=1; b="quoted"; c=x=y; a=ignored'})
    assert ctx.cookies.get("a") == "1"
    assert ctx.cookies.get("b") == "quoted"
    assert ctx.cookies.get("c") == "x=y"
    assert ctx.cookies.get("missing") is None
    assert "a" in ctx.cookies
    assert ctx.cookies["a"] == "1"
    with pytest.raises(KeyError):
        ctx.cookies["missing"]


def test_malformed_cookie_headers_are_tolerated() -> None:
    ctx = fake_context(headers={"cookie": ";;=novalue; justname; ok=1;"})
    assert ctx.cookies.get("ok") == "1"
    assert ctx.cookies.get("justname") is None


def test_set_defaults_to_httponly_samesite_lax_and_path_root() -> None:
    ctx = fake_context()
    ctx.cookies.set("sid", "abc")
    assert set_cookie_lines(ctx) == ["sid=abc; Path=/; HttpOnly; SameSite=Lax"]


def test_secure_is_on_when_the_request_is_https() -> None:
    ctx = fake_context(scheme="https")
    ctx.cookies.set("sid", "abc")
    assert "Secure" in set_cookie_lines(ctx)[0]


def test_secure_follows_a_trusted_proxy() -> None:
    ctx = fake_context(headers={"x-forwarded-proto": "https"}, proxy=True)
    ctx.cookies.set("sid", "abc")
    assert "Secure" in set_cookie_lines(ctx)[0]


def test_options_are_written() -> None:
    ctx = fake_context()
    ctx.cookies.set(
        "pref",
        "dark",
        max_age=3600,
        expires=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
        path="/app",
        domain="example.com",
        secure=True,
        httponly=False,
        samesite="strict",
        partitioned=True,
    )
    assert set_cookie_lines(ctx) == [
        "pref=dark; Path=/app; Domain=example.com; Max-Age=3600; "
        "Expires=Wed, 02 Jan 2030 03:04:05 GMT; Secure; SameSite=Strict; Partitioned"
    ]


def test_samesite_none_forces_secure() -> None:
    ctx = fake_context()
    ctx.cookies.set("x", "1", samesite="none")
    assert "Secure" in set_cookie_lines(ctx)[0]
    assert "SameSite=None" in set_cookie_lines(ctx)[0]


def test_none_deletes_the_cookie() -> None:
    ctx = fake_context()
    ctx.cookies.set("sid", None)
    line = set_cookie_lines(ctx)[0]
    assert line.startswith("sid=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT")


def test_several_cookies_are_several_header_lines() -> None:
    async def mw(ctx: Context, next: Any) -> None:
        ctx.cookies.set("a", "1")
        ctx.cookies.set("b", "2")
        ctx.body = "ok"

    response = http(App().use(mw))
    assert response.headers.get_list("set-cookie") == [
        "a=1; Path=/; HttpOnly; SameSite=Lax",
        "b=2; Path=/; HttpOnly; SameSite=Lax",
    ]


def test_unsafe_values_are_encoded_and_never_split_the_header() -> None:
    ctx = fake_context()
    ctx.cookies.set("note", "a b;c\r\nSet-Cookie: admin=1")
    line = set_cookie_lines(ctx)[0]
    assert "\r" not in line and "\n" not in line
    assert line.count(";") == 3  # only the attribute separators


@pytest.mark.parametrize("name", ["", "a b", "a;b", "a=b", "a\r\nb"])
def test_an_invalid_cookie_name_is_refused(name: str) -> None:
    with pytest.raises(ValueError):
        fake_context().cookies.set(name, "v")


def test_signed_cookies_need_keys() -> None:
    ctx = fake_context(headers={"cookie": "a=1; a.sig=x"})
    with pytest.raises(RuntimeError, match="keys"):
        ctx.cookies.set("a", "1", signed=True)
    with pytest.raises(RuntimeError, match="keys"):
        ctx.cookies.get("a", signed=True)


def test_a_signed_cookie_round_trips_over_http() -> None:
    async def login(ctx: Context, next: Any) -> None:
        if ctx.path == "/login":
            ctx.cookies.set("user", "ann", signed=True)
            ctx.body = "set"
        else:
            ctx.body = {"user": ctx.cookies.get("user", signed=True)}

    from scallion.testing import TestClient

    with TestClient(App(keys=["secret"]).use(login)) as client:
        response = client.get("/login")
        assert len(response.headers.get_list("set-cookie")) == 2
        assert client.get("/me").json() == {"user": "ann"}


def test_a_tampered_signed_cookie_is_rejected() -> None:
    signature = sign("user=ann", "secret")
    good = fake_context(headers={"cookie": f"user=ann; user.sig={signature}"}, keys=["secret"])
    assert good.cookies.get("user", signed=True) == "ann"
    tampered = fake_context(
        headers={"cookie": f"user=admin; user.sig={signature}"}, keys=["secret"]
    )
    assert tampered.cookies.get("user", signed=True) is None
    assert tampered.cookies.get("user") == "admin"  # unsigned read still sees the raw value
    unsigned = fake_context(headers={"cookie": "user=ann"}, keys=["secret"])
    assert unsigned.cookies.get("user", signed=True) is None


def test_a_hostile_non_ascii_signature_is_rejected_not_a_500() -> None:
    ctx = fake_context(headers={"cookie": "user=ann; user.sig=\xe9\xe9"}, keys=["secret"])
    assert ctx.cookies.get("user", signed=True) is None

    async def me(ctx: Context, next: Any) -> None:
        ctx.body = {"user": ctx.cookies.get("user", signed=True)}

    response = http(App(keys=["k"]).use(me), headers={"cookie": b"user=ann; user.sig=caf\xc3\xa9"})
    assert response.json() == {"user": None}


def test_key_rotation_accepts_an_old_key_and_re_signs_with_the_new_one() -> None:
    old_signature = sign("user=ann", "old")
    ctx = fake_context(
        headers={"cookie": f"user=ann; user.sig={old_signature}"}, keys=["new", "old"]
    )
    assert ctx.cookies.get("user", signed=True) == "ann"
    lines = set_cookie_lines(ctx)
    assert len(lines) == 1
    assert lines[0].startswith(f"user.sig={sign('user=ann', 'new')};")
    current = fake_context(
        headers={"cookie": f"user=ann; user.sig={sign('user=ann', 'new')}"}, keys=["new", "old"]
    )
    assert current.cookies.get("user", signed=True) == "ann"
    assert set_cookie_lines(current) == []


def test_verify_returns_the_index_of_the_signing_key() -> None:
    assert verify("a=1", sign("a=1", b"k2"), ["k1", b"k2"]) == 1
    assert verify("a=1", "forged", ["k1"]) == -1
