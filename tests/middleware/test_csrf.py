"""csrf(): signed double-submit cookies and session synchronizer tokens."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from scallion import App
from scallion.middleware import csrf, error_handler
from scallion.testing import TestClient

from ._helpers_a import app_with, closing

SECRET = "0123456789abcdef-csrf-secret"


async def form_echo(ctx: Any) -> None:
    if ctx.method == "POST" and ctx.request.content_type.endswith("urlencoded"):
        form = await ctx.request.form()  # still readable after csrf() looked at it
        ctx.body = {"token": ctx.state.csrf_token, "form": form}
    else:
        ctx.body = {"token": ctx.state.csrf_token}


def make(*mw: Any, base_url: str = "http://testserver", **app_options: Any) -> TestClient:
    app = app_with(error_handler(), *mw, handler=form_echo, **app_options)
    return closing(TestClient(app, base_url=base_url))


def token_of(c: TestClient) -> str:
    r = c.get("/form")
    assert r.status_code == 200
    return str(r.json()["token"])


class TestDoubleSubmit:
    def test_get_issues_a_readable_signed_cookie(self) -> None:
        c = make(csrf(secret=SECRET))
        r = c.get("/form")
        cookie = r.headers["set-cookie"]
        token = r.json()["token"]
        assert cookie.startswith(f"csrf_token={token}; Path=/;")
        assert "SameSite=Lax" in cookie and "HttpOnly" not in cookie and "Secure" not in cookie
        nonce, _, signature = token.partition(".")
        assert len(nonce) >= 32 and signature

    def test_valid_cookie_is_reused(self) -> None:
        c = make(csrf(secret=SECRET))
        token = token_of(c)
        r = c.get("/form")
        assert r.json()["token"] == token and "set-cookie" not in r.headers

    def test_header_match_passes(self) -> None:
        c = make(csrf(secret=SECRET))
        token = token_of(c)
        r = c.post("/submit", headers={"X-CSRF-Token": token})
        assert r.status_code == 200 and r.json()["token"] == token

    def test_form_field_passes_and_body_stays_readable(self) -> None:
        c = make(csrf(secret=SECRET))
        token = token_of(c)
        r = c.post("/submit", data={"_csrf": token, "title": "hi"})
        assert r.status_code == 200
        assert r.json()["form"] == {"_csrf": token, "title": "hi"}

    def test_parsed_body_is_used(self) -> None:
        async def parse_json(ctx: Any, next: Any) -> None:
            if ctx.request.content_type == "application/json":
                ctx.request.parsed = await ctx.request.json()
            await next()

        c = make(parse_json, csrf(secret=SECRET))
        token = token_of(c)
        assert c.post("/j", json={"_csrf": token}).status_code == 200
        assert c.post("/j", json={"_csrf": "nope"}).status_code == 403

    def test_missing_header_is_403(self) -> None:
        c = make(csrf(secret=SECRET))
        token_of(c)
        r = c.post("/submit")
        assert r.status_code == 403
        assert r.json()["message"] == "CSRF token missing: send it in X-CSRF-Token"

    def test_missing_cookie_is_403(self) -> None:
        c = make(csrf(secret=SECRET))
        token = token_of(c)
        c.cookies.clear()
        r = c.post("/submit", headers={"X-CSRF-Token": token})
        assert r.status_code == 403 and "cookie" in r.json()["message"]

    def test_mismatch_is_403(self) -> None:
        c = make(csrf(secret=SECRET))
        token_of(c)
        other = token_of(make(csrf(secret=SECRET)))  # valid, but someone else's
        r = c.post("/submit", headers={"X-CSRF-Token": other})
        assert r.status_code == 403 and r.json()["message"] == "CSRF token mismatch"

    @pytest.mark.parametrize(
        "forged",
        [
            "abc.def",
            "abc",
            "",
            "a" * 10_240,
            "x." + "y" * 43,
        ],
    )
    def test_forged_cookie_equal_to_header_is_403(self, forged: str) -> None:
        c = make(csrf(secret=SECRET))
        c.cookies.set("csrf_token", forged)
        r = c.post("/submit", headers={"X-CSRF-Token": forged or "x"})
        assert r.status_code == 403

    def test_token_signed_with_another_secret_is_403(self) -> None:
        foreign = token_of(make(csrf(secret="another-secret-of-16+chars")))
        c = make(csrf(secret=SECRET))
        c.cookies.set("csrf_token", foreign)
        assert c.post("/submit", headers={"X-CSRF-Token": foreign}).status_code == 403

    def test_hostile_header_values(self) -> None:
        c = make(csrf(secret=SECRET))
        token_of(c)
        assert c.post("/s", headers={"X-CSRF-Token": "z" * 10_240}).status_code == 403
        assert c.post("/s", headers={"X-CSRF-Token": "caf\u00e9".encode()}).status_code == 403

    def test_app_keys_sign_when_no_secret(self) -> None:
        c = make(csrf(), keys=["app-key-number-one"])
        token = token_of(c)
        assert c.post("/s", headers={"X-CSRF-Token": token}).status_code == 200

    def test_no_secret_and_no_keys_is_a_clear_error(self) -> None:
        problems: list[str] = []
        app = App()
        app.on("error", lambda err, ctx: problems.append(str(err)))
        app.use(csrf(), form_echo)
        r = closing(TestClient(app)).get("/")
        assert r.status_code == 500
        assert "csrf(secret=...)" in problems[0] and "App(keys=" in problems[0]

    def test_names_and_methods_are_configurable(self) -> None:
        mw = csrf(
            secret=SECRET,
            cookie_name="xsrf",
            header_name="X-XSRF-TOKEN",
            form_field="authenticity_token",
            safe_methods=["GET"],
        )
        c = make(mw)
        r = c.get("/")
        token = r.json()["token"]
        assert r.headers["set-cookie"].startswith("xsrf=")
        assert c.head("/").status_code == 403  # HEAD is no longer safe here
        assert c.post("/", headers={"X-XSRF-TOKEN": token}).status_code == 200
        assert c.post("/", data={"authenticity_token": token}).status_code == 200

    def test_secure_cookie_on_https(self) -> None:
        c = make(csrf(secret=SECRET, cookie_samesite="strict"), base_url="https://testserver")
        cookie = c.get("/").headers["set-cookie"]
        assert "Secure" in cookie and "SameSite=Strict" in cookie


def memory_session() -> Any:
    """A minimal cookie-keyed session standing in for the session() middleware."""
    sessions: dict[str, dict[str, Any]] = {}

    async def session(ctx: Any, next: Any) -> None:
        sid = ctx.cookies.get("sid")
        if sid not in sessions:
            sid = secrets.token_urlsafe(16)
            sessions[sid] = {}
            ctx.cookies.set("sid", sid)
        ctx.session = sessions[sid]
        await next()

    return session


class TestSynchronizer:
    def test_token_lives_in_the_session(self) -> None:
        c = make(memory_session(), csrf(mode="synchronizer"))
        token = token_of(c)
        assert token_of(c) == token
        assert c.post("/s", headers={"X-CSRF-Token": token}).status_code == 200
        assert c.post("/s", data={"_csrf": token}).status_code == 200

    def test_wrong_or_missing_token_is_403(self) -> None:
        c = make(memory_session(), csrf(mode="synchronizer"))
        token_of(c)
        assert c.post("/s", headers={"X-CSRF-Token": "guess"}).status_code == 403
        assert c.post("/s").status_code == 403

    def test_fresh_session_cannot_post(self) -> None:
        c = make(memory_session(), csrf(mode="synchronizer"))
        r = c.post("/s", headers={"X-CSRF-Token": "anything"})
        assert r.status_code == 403 and "session" in r.json()["message"]

    def test_another_sessions_token_is_refused(self) -> None:
        session = memory_session()
        alice = make(session, csrf(mode="synchronizer"))
        mallory_token = token_of(make(session, csrf(mode="synchronizer")))
        token_of(alice)
        assert alice.post("/s", headers={"X-CSRF-Token": mallory_token}).status_code == 403

    def test_without_session_middleware_is_a_clear_error(self) -> None:
        problems: list[str] = []
        app = App()
        app.on("error", lambda err, ctx: problems.append(f"{type(err).__name__}: {err}"))
        app.use(csrf(mode="synchronizer"), form_echo)
        assert closing(TestClient(app)).get("/").status_code == 500
        assert problems[0].startswith("RuntimeError")
        assert "app.use(session(...)) before csrf()" in problems[0]

    def test_custom_session_key(self) -> None:
        seen: dict[str, Any] = {}

        async def peek(ctx: Any, next: Any) -> None:
            await next()
            seen.update(ctx.session)

        c = make(memory_session(), peek, csrf(mode="synchronizer", session_key="_xsrf"))
        token = token_of(c)
        assert seen == {"_xsrf": token}


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"mode": "cookie"}, ValueError),
        ({"secret": "short"}, ValueError),
        ({"secret": 123}, TypeError),
        ({"header_name": ""}, TypeError),
        ({"cookie_name": None}, TypeError),
        ({"safe_methods": "GET"}, TypeError),
        ({"cookie_samesite": "sometimes"}, ValueError),
    ],
)
def test_bad_options(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        csrf(**kwargs)
