"""``req`` and ``res`` in the Express layer: thin views over the scallion Context."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from _express_helpers import fetch

from scallion import App
from scallion.express import Express, ExpressRequest, ExpressResponse


async def answer(
    handler: Any, method: str = "GET", url: str = "/", **kwargs: Any
) -> httpx.Response:
    ex = Express().all("/*", handler)
    return await fetch(App().use(ex), method, url, **kwargs)


# --------------------------------------------------------------------------- res: sending


async def test_json_none_sends_null() -> None:
    r = await answer(lambda req, res: res.json(None))
    assert r.status_code == 200
    assert r.content == b"null"
    assert r.headers["content-type"] == "application/json; charset=utf-8"


@pytest.mark.parametrize(
    ("value", "raw"),
    [({"a": 1}, b'{"a":1}'), ([1, 2], b"[1,2]"), ("hi", b'"hi"'), (3, b"3"), (True, b"true")],
)
async def test_json_values(value: object, raw: bytes) -> None:
    r = await answer(lambda req, res: res.json(value))
    assert r.content == raw
    assert r.headers["content-type"] == "application/json; charset=utf-8"


async def test_json_keeps_a_content_type_set_before() -> None:
    r = await answer(lambda req, res: res.type("application/vnd.api+json").json({"x": 1}))
    assert r.headers["content-type"] == "application/vnd.api+json"
    assert r.json() == {"x": 1}


async def test_send_none_sends_an_empty_body() -> None:
    r = await answer(lambda req, res: res.send(None))
    assert r.status_code == 200
    assert r.content == b""
    assert r.headers["content-length"] == "0"


async def test_send_without_arguments_is_empty_too() -> None:
    r = await answer(lambda req, res: res.status(202).send())
    assert (r.status_code, r.content) == (202, b"")


@pytest.mark.parametrize(
    ("body", "ctype", "raw"),
    [
        ("plain words", "text/html; charset=utf-8", b"plain words"),
        ("<b>x</b>", "text/html; charset=utf-8", b"<b>x</b>"),
        (b"\x00\x01", "application/octet-stream", b"\x00\x01"),
        (bytearray(b"ab"), "application/octet-stream", b"ab"),
        ({"k": "v"}, "application/json; charset=utf-8", b'{"k":"v"}'),
        ([1], "application/json; charset=utf-8", b"[1]"),
        (7, "application/json; charset=utf-8", b"7"),
    ],
)
async def test_send_types_bodies_like_express(body: object, ctype: str, raw: bytes) -> None:
    r = await answer(lambda req, res: res.send(body))
    assert r.headers["content-type"] == ctype
    assert r.content == raw


async def test_send_keeps_a_type_set_before() -> None:
    r = await answer(lambda req, res: res.type("text").send("just text"))
    assert r.headers["content-type"] == "text/plain; charset=utf-8"
    r = await answer(lambda req, res: res.set("Content-Type", "json").send('{"a":1}'))
    assert r.headers["content-type"] == "application/json; charset=utf-8"


async def test_status_chains_and_is_readable() -> None:
    codes: list[int] = []

    def handler(req: Any, res: Any) -> None:
        assert res.status(201) is res
        codes.append(res.status_code)
        res.json({"created": True})

    r = await answer(handler)
    assert r.status_code == 201
    assert codes == [201]


async def test_invalid_status_is_a_programming_error() -> None:
    r = await answer(lambda req, res: res.status(1000).send("x"))
    assert r.status_code == 500


async def test_redirect_defaults_to_302() -> None:
    r = await answer(lambda req, res: res.redirect("/login"))
    assert r.status_code == 302
    assert r.headers["location"] == "/login"
    assert "Redirecting to /login" in r.text


async def test_redirect_with_a_status() -> None:
    r = await answer(lambda req, res: res.redirect(301, "/x"))
    assert r.status_code == 301
    assert r.headers["location"] == "/x"


async def test_redirect_argument_errors() -> None:
    r = await answer(lambda req, res: res.redirect(301))
    assert r.status_code == 500
    r = await answer(lambda req, res: res.redirect("/x", "/y"))
    assert r.status_code == 500


async def test_send_status() -> None:
    r = await answer(lambda req, res: res.send_status(403))
    assert (r.status_code, r.text) == (403, "Forbidden")
    assert r.headers["content-type"] == "text/plain; charset=utf-8"


async def test_end_sends_nothing_and_adds_no_type() -> None:
    r = await answer(lambda req, res: res.status(200).end())
    assert (r.status_code, r.content) == (200, b"")
    assert "content-type" not in r.headers
    r = await answer(lambda req, res: res.end(b"raw"))
    assert r.content == b"raw"
    assert "content-type" not in r.headers


async def test_headers_sent_flips_after_sending() -> None:
    states: list[bool] = []

    def handler(req: Any, res: Any) -> None:
        states.append(res.headers_sent)
        res.send("x")
        states.append(res.headers_sent)

    await answer(handler)
    assert states == [False, True]


async def test_error_middleware_can_check_headers_sent() -> None:
    ex = Express()

    def sends_then_fails(req: Any, res: Any) -> None:
        res.status(200).send("partial")
        raise ValueError("after send")

    def guard(err: BaseException, req: Any, res: Any, next: Any) -> None:
        if res.headers_sent:
            return  # keep what was sent
        res.status(500).send("error page")

    ex.get("/", sends_then_fails).use(guard)
    r = await fetch(App().use(ex), "GET", "/")
    assert (r.status_code, r.text) == (200, "partial")


# --------------------------------------------------------------------------- res: headers


async def test_set_get_header_append_and_type() -> None:
    seen: dict[str, str] = {}

    def handler(req: Any, res: Any) -> None:
        res.set("X-One", "1").header("X-Two", 2).set({"X-Three": "3", "X-Four": "4"})
        res.append("X-Many", "a").append("X-Many", "b")
        res.vary("Accept").vary("Origin")
        seen["one"] = res.get("x-one")
        seen["missing"] = res.get("x-missing")
        res.type("json").send('{"ok":true}')

    r = await answer(handler)
    assert seen == {"one": "1", "missing": ""}
    assert (r.headers["x-one"], r.headers["x-two"], r.headers["x-three"]) == ("1", "2", "3")
    assert r.headers.get_list("x-many") == ["a", "b"]
    assert r.headers["vary"] == "Accept, Origin"
    assert r.headers["content-type"] == "application/json; charset=utf-8"


@pytest.mark.parametrize(
    ("short", "full"),
    [
        ("html", "text/html; charset=utf-8"),
        ("png", "image/png"),
        (".css", "text/css; charset=utf-8"),
    ],
)
async def test_type_accepts_short_names(short: str, full: str) -> None:
    r = await answer(lambda req, res: res.type(short).send(b"x"))
    assert r.headers["content-type"] == full


async def test_header_injection_is_refused() -> None:
    r = await answer(lambda req, res: res.set("X-Bad", "a\r\nSet-Cookie: evil=1").send("x"))
    assert r.status_code == 500
    assert "evil" not in r.headers.get("set-cookie", "")


async def test_location_sets_the_header() -> None:
    r = await answer(lambda req, res: res.location("/there").status(201).end())
    assert (r.status_code, r.headers["location"]) == (201, "/there")


async def test_cookie_and_clear_cookie() -> None:
    def handler(req: Any, res: Any) -> None:
        res.cookie("sid", "abc", max_age=60).clear_cookie("old", path="/x").send("ok")

    r = await answer(handler)
    lines = r.headers.get_list("set-cookie")
    assert any(line.startswith("sid=abc") and "Max-Age=60" in line for line in lines)
    assert any(
        line.startswith("old=;") and "Path=/x" in line and "Max-Age=0" in line for line in lines
    )


# --------------------------------------------------------------------------- state


async def test_locals_is_ctx_state() -> None:
    async def onion(ctx: Any, next: Any) -> None:
        ctx.state.user = "ada"
        await next()
        ctx.set("X-From-Express", ctx.state.flag)

    def handler(req: Any, res: Any) -> None:
        res.locals["flag"] = "set in express"
        res.send(res.locals["user"])

    ex = Express().get("/", handler)
    r = await fetch(App().use(onion, ex), "GET", "/")
    assert r.text == "ada"
    assert r.headers["x-from-express"] == "set in express"


async def test_req_attributes_read_ctx_state_and_keep_their_own() -> None:
    async def onion(ctx: Any, next: Any) -> None:
        ctx.state.user = {"name": "ada"}
        await next()

    def tag(req: Any, res: Any, next: Any) -> None:
        req.request_tag = "t1"
        next()

    def handler(req: Any, res: Any) -> None:
        res.json([req.user["name"], req.request_tag, hasattr(req, "nothing_here")])

    ex = Express().use(tag).get("/", handler)
    r = await fetch(App().use(onion, ex), "GET", "/")
    assert r.json() == ["ada", "t1", False]


# --------------------------------------------------------------------------- req


async def test_request_fields() -> None:
    got: dict[str, Any] = {}

    def handler(req: ExpressRequest, res: ExpressResponse) -> None:
        got.update(
            method=req.method,
            path=req.path,
            url=req.url,
            original=req.original_url,
            base=req.base_url,
            query=req.query,
            header=req.get("X-Custom"),
            header_alias=req.header("x-custom"),
            missing=req.get("x-missing"),
            referrer=req.get("Referrer"),
            headers_type=req.headers["x-custom"],
            ip=req.ip,
            hostname=req.hostname,
            protocol=req.protocol,
            secure=req.secure,
            cookies=req.cookies,
            body=req.body,
            accepts=req.accepts("json", "html"),
            ctx_is_ctx=req.ctx is res.ctx,
        )
        res.end()

    await answer(
        handler,
        url="/a%20b?x=1&x=2&y=z",
        headers={
            "X-Custom": "c",
            "Referer": "http://r/",
            "Cookie": "a=1; b=two",
            "Accept": "text/html",
        },
    )
    assert got == {
        "method": "GET",
        "path": "/a b",
        "url": "/a%20b?x=1&x=2&y=z",
        "original": "/a%20b?x=1&x=2&y=z",
        "base": "",
        "query": {"x": ["1", "2"], "y": "z"},
        "header": "c",
        "header_alias": "c",
        "missing": "",
        "referrer": "http://r/",
        "headers_type": "c",
        "ip": "127.0.0.1",
        "hostname": "testserver",
        "protocol": "http",
        "secure": False,
        "cookies": {"a": "1", "b": "two"},
        "body": None,
        "accepts": "html",
        "ctx_is_ctx": True,
    }


async def test_mounted_path_is_decoded_relative_to_the_mount() -> None:
    child = Express().get("/*", lambda req, res: res.json([req.path, req.url, req.base_url]))
    ex = Express().use("/files", child)
    r = await fetch(App().use(ex), "GET", "/files/my%20doc.txt?v=2")
    assert r.json() == ["/my doc.txt", "/my%20doc.txt?v=2", "/files"]


async def test_req_body_reads_what_a_body_parser_stored() -> None:
    async def json_parser(ctx: Any, next: Any) -> None:
        if ctx.request.is_type("json"):
            ctx.request.parsed = await ctx.request.json()
        await next()

    def text_parser(req: Any, res: Any, next: Any) -> None:
        if req.body is None:
            req.body = "set by express middleware"
        next()

    ex = Express().use(text_parser).post("/", lambda req, res: res.json(req.body))
    app = App().use(json_parser, ex)
    assert (await fetch(app, "POST", "/", json={"n": 1})).json() == {"n": 1}
    assert (await fetch(app, "POST", "/", content=b"raw")).json() == "set by express middleware"


async def test_req_is_type() -> None:
    r = await answer(lambda req, res: res.json(req.is_type("json")), method="POST", json={"a": 1})
    assert r.json() == "json"


async def test_params_is_a_fresh_dict_without_params() -> None:
    r = await answer(lambda req, res: res.json(req.params), url="/plain")
    assert r.json() == {"*": "plain"}
    ex = Express().use(lambda req, res: res.json(req.params))
    assert (await fetch(App().use(ex), "GET", "/x")).json() == {}


def test_repr_of_views() -> None:
    class FakeCtx:
        status = 404

    req = ExpressRequest(FakeCtx(), Express(), "GET", "/r")  # type: ignore[arg-type]
    res = ExpressResponse(FakeCtx(), req)  # type: ignore[arg-type]
    assert repr(req) == "<ExpressRequest GET /r>"
    assert repr(res) == "<ExpressResponse status=404 answered=False>"
