"""unless() / when(): koa-unless conditions with exact strings and regexes."""

from __future__ import annotations

import re
from typing import Any

import pytest

from scallion.middleware import unless, when

from ._helpers_a import client


async def auth(ctx: Any, next: Any) -> None:
    if ctx.get("authorization") != "Bearer ok":
        ctx.throw(401, "log in first")
    await next()


async def whoami(ctx: Any) -> None:
    ctx.body = {"path": ctx.path}


def status_of(mw: Any, path: str, method: str = "GET") -> int:
    return client(mw, handler=whoami).request(method, path).status_code


SEED = unless(auth, path=[re.compile(r"^/public"), "/login", "/register"])


class TestPath:
    @pytest.mark.parametrize("path", ["/login", "/register", "/public", "/public/css/a.css"])
    def test_exempt(self, path: str) -> None:
        assert status_of(SEED, path) == 200

    @pytest.mark.parametrize(
        "path",
        ["/", "/admin", "/login/", "/LOGIN", "/login/x", "/loginx", "/x/public", "/registe"],
    )
    def test_not_exempt_fails_closed(self, path: str) -> None:
        assert status_of(SEED, path) == 401

    def test_regex_uses_search(self) -> None:
        mw = unless(auth, path=re.compile(r"\.well-known"))
        assert status_of(mw, "/a/.well-known/x") == 200
        assert status_of(unless(auth, path=re.compile(r"^/a$")), "/a") == 200
        assert status_of(unless(auth, path=re.compile(r"^/a$")), "/ab") == 401

    def test_single_string_and_decoded_path(self) -> None:
        mw = unless(auth, path="/caf\u00e9")
        assert status_of(mw, "/caf%C3%A9") == 200

    def test_regex_flags(self) -> None:
        mw = unless(auth, path=re.compile(r"^/login/?$", re.I))
        assert status_of(mw, "/LOGIN/") == 200


class TestOtherConditions:
    def test_method(self) -> None:
        mw = unless(auth, method=["get", "HEAD"])
        assert status_of(mw, "/x") == 200
        assert status_of(mw, "/x", "POST") == 401

    def test_ext(self) -> None:
        mw = unless(auth, ext=["css", ".JS"])
        assert status_of(mw, "/static/site.css") == 200
        assert status_of(mw, "/static/APP.js") == 200
        assert status_of(mw, "/static/css") == 401
        assert status_of(mw, "/static.css/page") == 401

    def test_custom(self) -> None:
        mw = unless(auth, custom=lambda ctx: ctx.get("x-internal") == "1")
        assert client(mw, handler=whoami).get("/", headers={"X-Internal": "1"}).status_code == 200
        assert status_of(mw, "/") == 401

    def test_any_condition_matches(self) -> None:
        mw = unless(auth, path=["/health"], method="OPTIONS")
        assert status_of(mw, "/health") == 200
        assert status_of(mw, "/other", "OPTIONS") == 200
        assert status_of(mw, "/other") == 401


class TestWhen:
    def test_inverse(self) -> None:
        mw = when(auth, path=[re.compile(r"^/admin")])
        assert status_of(mw, "/admin/users") == 401
        assert status_of(mw, "/public") == 200

    def test_downstream_still_runs_when_skipped(self) -> None:
        calls: list[str] = []

        async def mark(ctx: Any, next: Any) -> None:
            calls.append(ctx.path)
            await next()

        c = client(when(mark, method="POST"), handler=whoami)
        assert c.get("/a").json() == {"path": "/a"}
        c.post("/b")
        assert calls == ["/b"]


def test_sync_middleware_is_wrapped() -> None:
    def stamp(ctx: Any, next: Any) -> Any:
        ctx.set("X-Stamp", "1")
        return next()

    c = client(unless(stamp, path="/skip"), handler=whoami)
    assert c.get("/x").headers["x-stamp"] == "1"
    assert "x-stamp" not in c.get("/skip").headers


def test_wrapper_is_introspectable() -> None:
    mw = unless(auth, path=["/a", re.compile("^/b")], method="get")
    assert mw.wrapped is auth  # type: ignore[attr-defined]
    assert "unless(auth)" in mw.__qualname__
    assert "'/a'" in repr(mw.matcher) and "'GET'" in repr(mw.matcher)  # type: ignore[attr-defined]


class TestBadInput:
    def test_needs_a_condition(self) -> None:
        with pytest.raises(ValueError, match="at least one"):
            unless(auth)
        with pytest.raises(ValueError):
            when(auth, path=[])

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"path": [1]},
            {"path": 5},
            {"method": [None]},
            {"ext": [""]},
            {"custom": "yes"},
        ],
    )
    def test_bad_conditions(self, kwargs: dict[str, Any]) -> None:
        with pytest.raises(TypeError):
            unless(auth, **kwargs)

    def test_needs_a_middleware(self) -> None:
        with pytest.raises(TypeError, match="middleware"):
            unless("auth", path="/x")  # type: ignore[arg-type]
