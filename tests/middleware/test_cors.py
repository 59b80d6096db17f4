"""cors(): @koa/cors semantics over HTTP, preflights, origins and error responses."""

from __future__ import annotations

import re
from typing import Any

import pytest

from scallion import Context, HttpError
from scallion.middleware import cors, error_handler

from ._helpers_a import client

SITE = "https://app.example.com"


def preflight(c: Any, origin: str = SITE, method: str = "PUT", **extra: str) -> Any:
    headers = {"Origin": origin, "Access-Control-Request-Method": method, **extra}
    return c.options("/", headers=headers)


class TestWildcard:
    def test_simple_request(self) -> None:
        r = client(cors()).get("/", headers={"Origin": SITE})
        assert r.status_code == 200 and r.json() == {"ok": True}
        assert r.headers["access-control-allow-origin"] == "*"
        assert "vary" not in r.headers  # the answer is the same for every origin
        assert "access-control-allow-credentials" not in r.headers

    def test_no_origin_is_not_cors(self) -> None:
        r = client(cors()).get("/")
        assert "access-control-allow-origin" not in r.headers

    def test_preflight_is_answered_here(self) -> None:
        reached: list[str] = []

        async def handler(ctx: Context) -> None:
            reached.append(ctx.method)

        r = preflight(client(cors(), handler=handler))
        assert r.status_code == 204 and r.content == b""
        assert r.headers["access-control-allow-origin"] == "*"
        assert r.headers["access-control-allow-methods"] == "GET, HEAD, PUT, POST, DELETE, PATCH"
        assert "access-control-max-age" not in r.headers
        assert reached == []

    def test_options_without_request_method_is_not_a_preflight(self) -> None:
        r = client(cors()).options("/", headers={"Origin": SITE})
        assert r.status_code == 200 and r.json() == {"ok": True}
        assert r.headers["access-control-allow-origin"] == "*"


class TestOrigins:
    @pytest.mark.parametrize(
        ("option", "origin", "allowed"),
        [
            (SITE, SITE, True),
            (SITE, "https://evil.example", False),
            (SITE + "/", SITE, True),
            ([SITE, "https://b.example"], "https://b.example", True),
            ([SITE], "https://app.example.com.evil.io", False),
            ([re.compile(r"https://[a-z]+\.example\.com")], "https://shop.example.com", True),
            ([re.compile(r"https://[a-z]+\.example\.com")], "https://x.example.com.evil", False),
            (
                lambda ctx: ctx.get("origin") if ctx.get("origin").endswith(".dev") else None,
                "http://a.dev",
                True,
            ),
            (lambda ctx: None, SITE, False),
            (lambda ctx: "", SITE, False),
        ],
    )
    def test_allowed_or_not(self, option: Any, origin: str, allowed: bool) -> None:
        c = client(cors(origin=option))
        r = c.get("/", headers={"Origin": origin})
        assert r.status_code == 200  # a simple request runs either way
        assert r.headers["vary"] == "Origin"
        if allowed:
            assert r.headers["access-control-allow-origin"] == origin
        else:
            assert not any(k.startswith("access-control-") for k in r.headers)
        p = preflight(c, origin)
        if allowed:
            assert p.status_code == 204 and p.headers["access-control-allow-origin"] == origin
        else:  # passed on: the app's own OPTIONS handling answers
            assert p.status_code == 200 and "access-control-allow-origin" not in p.headers

    def test_async_origin_function(self) -> None:
        async def lookup(ctx: Context) -> str | None:
            return SITE if ctx.get("origin") == SITE else None

        r = client(cors(origin=lookup)).get("/", headers={"Origin": SITE})
        assert r.headers["access-control-allow-origin"] == SITE

    def test_origin_function_returning_a_header_injection_is_refused(self) -> None:
        r = client(cors(origin=lambda ctx: "https://a.example\r\nX-Evil: 1")).get(
            "/", headers={"Origin": SITE}
        )
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
        assert "x-evil" not in r.headers

    def test_vary_keeps_existing_values(self) -> None:
        async def handler(ctx: Context) -> None:
            ctx.vary("Accept-Encoding")
            ctx.body = "x"

        r = client(cors(origin=[SITE]), handler=handler).get("/", headers={"Origin": SITE})
        assert r.headers["vary"] == "Origin, Accept-Encoding"


class TestOptions:
    def test_credentials_and_expose(self) -> None:
        c = client(cors(origin=[SITE], credentials=True, expose_headers=["X-Total", "ETag"]))
        r = c.get("/", headers={"Origin": SITE})
        assert r.headers["access-control-allow-credentials"] == "true"
        assert r.headers["access-control-expose-headers"] == "X-Total, ETag"
        p = preflight(c)
        assert p.headers["access-control-allow-credentials"] == "true"
        assert "access-control-expose-headers" not in p.headers

    def test_methods_headers_max_age(self) -> None:
        c = client(
            cors(
                allow_methods=["get", "POST"],
                allow_headers=["Content-Type", "Authorization"],
                max_age=600,
            )
        )
        p = preflight(c, **{"Access-Control-Request-Headers": "X-Other"})
        assert p.headers["access-control-allow-methods"] == "GET, POST"
        assert p.headers["access-control-allow-headers"] == "Content-Type, Authorization"
        assert p.headers["access-control-max-age"] == "600"

    def test_allow_headers_reflected_by_default(self) -> None:
        p = preflight(client(cors()), **{"Access-Control-Request-Headers": "x-a, content-type"})
        assert p.headers["access-control-allow-headers"] == "x-a, content-type"
        assert "Access-Control-Request-Headers" in p.headers["vary"]
        bare = preflight(client(cors()))
        assert "access-control-allow-headers" not in bare.headers

    def test_allow_methods_as_one_string(self) -> None:
        p = preflight(client(cors(allow_methods="GET,POST")))
        assert p.headers["access-control-allow-methods"] == "GET,POST"

    def test_private_network(self) -> None:
        ask = {"Access-Control-Request-Private-Network": "true"}
        on = preflight(client(cors(private_network=True)), **ask)
        assert on.headers["access-control-allow-private-network"] == "true"
        unasked = preflight(client(cors(private_network=True)))
        assert "access-control-allow-private-network" not in unasked.headers
        off = preflight(client(cors()), **ask)
        assert "access-control-allow-private-network" not in off.headers


class TestErrors:
    @staticmethod
    async def failing(ctx: Context) -> None:
        raise HttpError(403, "nope", headers={"X-Own": "1"})

    def test_headers_kept_on_app_error_response(self) -> None:
        r = client(cors(origin=[SITE], credentials=True), handler=self.failing).get(
            "/", headers={"Origin": SITE}
        )
        assert r.status_code == 403 and r.text == "nope"
        assert r.headers["access-control-allow-origin"] == SITE
        assert r.headers["access-control-allow-credentials"] == "true"
        assert r.headers["vary"] == "Origin" and r.headers["x-own"] == "1"

    def test_headers_kept_under_error_handler(self) -> None:
        async def crash(ctx: Context) -> None:
            raise RuntimeError("secret detail")

        r = client(error_handler(), cors(), handler=crash).get("/", headers={"Origin": SITE})
        assert r.status_code == 500 and r.json()["message"] == "Internal Server Error"
        assert r.headers["access-control-allow-origin"] == "*"

    def test_keep_headers_on_error_false(self) -> None:
        r = client(cors(keep_headers_on_error=False), handler=self.failing).get(
            "/", headers={"Origin": SITE}
        )
        assert r.status_code == 403 and "access-control-allow-origin" not in r.headers


class TestConstruction:
    def test_wildcard_with_credentials_is_refused(self) -> None:
        with pytest.raises(ValueError, match="wildcard origin"):
            cors(origin="*", credentials=True)

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"origin": 3},
            {"origin": [SITE, 3]},
            {"credentials": "yes"},
            {"max_age": -1},
            {"max_age": "600"},
            {"allow_methods": [1]},
            {"private_network": 1},
        ],
    )
    def test_bad_options(self, kwargs: dict[str, Any]) -> None:
        with pytest.raises(TypeError):
            cors(**kwargs)

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"origin": "https://a\r\nX: y"},
            {"allow_headers": ["X-A\nB"]},
            {"origin": ["*", SITE]},
        ],
    )
    def test_bad_values(self, kwargs: dict[str, Any]) -> None:
        with pytest.raises(ValueError):
            cors(**kwargs)
