"""body_parser(): koa-bodyparser over HTTP, with limits, strictness and hostile bodies."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from scallion import App, Context, HttpError
from scallion.middleware import body_parser
from scallion.middleware._sizes import parse_size

from ._helpers_a import client, endpoint
from ._helpers_b import asgi


async def echo(ctx: Context) -> None:
    raw = await ctx.request.body()
    ctx.body = {"parsed": ctx.request.parsed, "raw": raw.decode("latin-1")}


def parser(**options: Any) -> Any:
    return client(body_parser(**options), handler=echo)


def post(c: Any, body: bytes | str, content_type: str | None, **kw: Any) -> Any:
    headers = {"Content-Type": content_type} if content_type else {}
    return c.post("/", content=body, headers=headers, **kw)


class TestTypes:
    def test_json(self) -> None:
        r = post(parser(), b'{"a": [1, 2], "b": "\xc3\xa9"}', "application/json")
        assert r.json() == {"parsed": {"a": [1, 2], "b": "é"}, "raw": '{"a": [1, 2], "b": "Ã©"}'}

    @pytest.mark.parametrize(
        "ctype",
        [
            "application/json; charset=utf-8",
            "application/vnd.api+json",
            "application/merge-patch+json",
            "application/csp-report",
        ],
    )
    def test_json_family(self, ctype: str) -> None:
        assert post(parser(), b"[1]", ctype).json()["parsed"] == [1]

    def test_form_with_repeated_keys(self) -> None:
        r = post(parser(), "a=1&b=x%20y&a=2&empty=&c=%C3%A9", "application/x-www-form-urlencoded")
        assert r.json()["parsed"] == {"a": ["1", "2"], "b": "x y", "empty": "", "c": "é"}

    def test_text_and_xml(self) -> None:
        assert post(parser(), "héllo", "text/plain").json()["parsed"] == "héllo"
        xml = parser(enable_types=["xml"])
        assert post(xml, "<a/>", "application/xml").json()["parsed"] == "<a/>"
        assert post(xml, "<a/>", "application/atom+xml").json()["parsed"] == "<a/>"

    def test_text_in_declared_charset(self) -> None:
        r = post(parser(), "é".encode("latin-1"), "text/plain; charset=latin-1")
        assert r.json()["parsed"] == "é"

    def test_default_encoding_option(self) -> None:
        r = post(parser(encoding="latin-1"), "é".encode("latin-1"), "text/plain")
        assert r.json()["parsed"] == "é"

    def test_type_not_enabled_is_left_alone(self) -> None:
        c = parser(enable_types=["json"])
        r = post(c, "a=1", "application/x-www-form-urlencoded")
        assert r.json() == {"parsed": None, "raw": "a=1"}
        assert post(c, b"\x00\x01", "application/octet-stream").json()["parsed"] is None
        assert post(c, b"x", None).json()["parsed"] is None

    def test_require_answers_415(self) -> None:
        c = parser(enable_types=["json"], require=True)
        r = post(c, "a=1", "application/x-www-form-urlencoded")
        assert r.status_code == 415
        assert r.text == ("Unsupported Media Type application/x-www-form-urlencoded; expected json")
        assert post(c, b"{}", "application/json").json()["parsed"] == {}

    def test_extend_types(self) -> None:
        c = parser(extend_types={"json": ["application/x-javascript"], "text": "text/csv"})
        assert post(c, b"[2]", "application/x-javascript").json()["parsed"] == [2]
        assert post(c, b"a,b", "text/csv").json()["parsed"] == "a,b"

    def test_empty_json_body_is_an_empty_object(self) -> None:
        assert post(parser(), b"  ", "application/json").json()["parsed"] == {}


class TestMethods:
    @pytest.mark.parametrize("method", ["GET", "HEAD", "DELETE", "OPTIONS"])
    def test_bodyless_methods_are_skipped(self, method: str) -> None:
        seen: list[Any] = []

        async def handler(ctx: Context) -> None:
            seen.append(ctx.request.parsed)
            ctx.body = "ok"

        c = client(body_parser(require=True), handler=handler)
        r = c.request(method, "/", headers={"Content-Type": "application/json"})
        assert r.status_code == 200 and seen == [None]

    def test_delete_with_a_body_is_parsed(self) -> None:
        r = parser().request(
            "DELETE", "/", content=b'{"id": 1}', headers={"Content-Type": "application/json"}
        )
        assert r.json()["parsed"] == {"id": 1}


class TestBadInput:
    @pytest.mark.parametrize(
        ("body", "fragment"),
        [
            (b'{"a": ', "Malformed JSON in request body"),
            (b"{'a': 1}", "Malformed JSON"),
            (b'{"a": 1} trailing', "Malformed JSON"),
            (b'{"a": "\xff"}', "Malformed JSON"),
            (b"\xff\xfe{}", "strict mode"),
            (b"[" * 2000 + b"]" * 2000, "Malformed JSON"),
        ],
    )
    def test_malformed_json_is_400(self, body: bytes, fragment: str) -> None:
        r = post(parser(), body, "application/json")
        assert r.status_code == 400 and fragment in r.text

    @pytest.mark.parametrize("body", [b"1", b'"text"', b"null", b"true", b"  3.5"])
    def test_strict_refuses_scalars(self, body: bytes) -> None:
        r = post(parser(), body, "application/json")
        assert r.status_code == 400 and "strict mode" in r.text
        loose = post(parser(strict=False), body, "application/json")
        assert loose.status_code == 200 and loose.json()["parsed"] == orjson.loads(body)

    def test_bad_utf8_text_is_400(self) -> None:
        r = post(parser(), b"caf\xe9", "text/plain")
        assert r.status_code == 400 and r.text == "Request body is not valid utf-8"

    def test_bad_percent_escape_in_form_is_400(self) -> None:
        r = post(parser(), "a=%ff", "application/x-www-form-urlencoded")
        assert r.status_code == 400 and "not valid UTF-8" in r.text

    def test_unknown_charset_is_415(self) -> None:
        r = post(parser(), b"x", "text/plain; charset=klingon")
        assert r.status_code == 415 and "klingon" in r.text

    def test_too_many_form_fields(self) -> None:
        body = "&".join(f"f{i}=1" for i in range(11))
        r = post(parser(max_fields=10), body, "application/x-www-form-urlencoded")
        assert r.status_code == 413 and "Too many form fields" in r.text
        ok = post(parser(max_fields=11), body, "application/x-www-form-urlencoded")
        assert ok.status_code == 200

    def test_declared_oversize_is_413(self) -> None:
        r = post(parser(json_limit=10), b'{"a": "0123456789"}', "application/json")
        assert r.status_code == 413 and "limit of 10 bytes" in r.text

    async def test_chunked_oversize_stops_reading(self) -> None:
        pulled: list[int] = []

        def chunks() -> Any:
            for i in range(1000):
                pulled.append(i)
                yield b"x" * 1024

        app = App()
        app.use(body_parser(text_limit="4kb"), endpoint(echo))
        sent = await asgi(
            app,
            method="POST",
            headers=[("content-type", "text/plain"), ("transfer-encoding", "chunked")],
            body=chunks(),
        )
        assert sent.status == 413
        assert b"limit of 4096 bytes" in sent.body
        assert len(pulled) < 10  # stopped at the limit, not after the whole megabyte

    async def test_chunked_under_limit(self) -> None:
        app = App()
        app.use(body_parser(), endpoint(echo))
        sent = await asgi(
            app,
            method="POST",
            headers=[("content-type", "application/json")],
            body=[b'{"a":', b" 1", b"}"],
        )
        assert orjson.loads(sent.body)["parsed"] == {"a": 1}

    def test_form_limit_default_is_56kb(self) -> None:
        body = "a=" + "x" * (56 * 1024)
        r = post(parser(), body, "application/x-www-form-urlencoded")
        assert r.status_code == 413

    def test_limits_per_type(self) -> None:
        c = parser(json_limit="5mb", text_limit=4)
        big = b'{"a": "' + b"x" * (2 * 1024 * 1024) + b'"}'
        assert post(c, big, "application/json").status_code == 200  # over the app's 1 MiB
        assert post(c, "12345", "text/plain").status_code == 413

    def test_cached_body_over_the_limit_is_413(self) -> None:
        async def reader(ctx: Context, next: Any) -> None:
            await ctx.request.body()
            await next()

        r = client(reader, body_parser(text_limit=3), handler=echo).post(
            "/", content=b"12345", headers={"Content-Type": "text/plain"}
        )
        assert r.status_code == 413


class TestRawBody:
    @pytest.mark.parametrize("raw_first", [True, False])
    def test_raw_body_in_either_order(self, raw_first: bool) -> None:
        async def raw_reader(ctx: Context, next: Any) -> None:
            ctx.state.raw = await ctx.request.body()
            await next()

        async def handler(ctx: Context) -> None:
            ctx.body = {"raw": ctx.state.raw.decode(), "parsed": ctx.request.parsed}

        stack = [raw_reader, body_parser()] if raw_first else [body_parser(), raw_reader]
        r = client(*stack, handler=handler).post("/", json={"x": 1})
        assert r.json() == {"raw": '{"x":1}', "parsed": {"x": 1}}


class TestOnError:
    def test_hook_answers_its_own_way(self) -> None:
        def hook(err: HttpError, ctx: Context) -> None:
            raise HttpError(422, f"body parse error ({err.status})")

        r = post(parser(on_error=hook), b"{", "application/json")
        assert r.status_code == 422 and r.text == "body parse error (400)"

    def test_hook_returning_goes_on(self) -> None:
        seen: list[int] = []

        async def hook(err: HttpError, ctx: Context) -> None:
            seen.append(err.status)

        async def handler(ctx: Context) -> None:
            ctx.body = {"parsed": ctx.request.parsed}

        c = client(body_parser(on_error=hook, json_limit=2), handler=handler)
        r = post(c, b"[1, 2]", "application/json")
        assert r.status_code == 200 and r.json()["parsed"] is None and seen == [413]


class TestPerRoute:
    def test_route_parser_after_global_one(self) -> None:
        from scallion import Router

        router = Router()
        router.post("/strict", body_parser(enable_types=["json"], require=True), echo)
        app = App()
        app.use(body_parser(), router.routes())
        from scallion.testing import TestClient

        with TestClient(app) as c:
            assert c.post("/strict", json=[1]).json()["parsed"] == [1]
            form = c.post("/strict", data={"a": "1"})
            assert form.status_code == 415


class TestConstruction:
    @pytest.mark.parametrize(
        ("kwargs", "error"),
        [
            ({"enable_types": ["yaml"]}, ValueError),
            ({"json_limit": "5 parsecs"}, ValueError),
            ({"json_limit": -1}, ValueError),
            ({"form_limit": 1.5}, TypeError),
            ({"strict": "yes"}, TypeError),
            ({"encoding": "klingon"}, ValueError),
            ({"extend_types": {"yaml": ["a/b"]}}, ValueError),
            ({"max_fields": 0}, TypeError),
            ({"on_error": 3}, TypeError),
        ],
    )
    def test_bad_options(self, kwargs: dict[str, Any], error: type[Exception]) -> None:
        with pytest.raises(error):
            body_parser(**kwargs)


@pytest.mark.parametrize(
    ("value", "size"),
    [
        (0, 0),
        (512, 512),
        ("512", 512),
        ("100kb", 102400),
        ("5mb", 5 * 1024**2),
        ("1GB", 1024**3),
        ("1.5kb", 1536),
        (" 2 mb ", 2 * 1024**2),
        ("10b", 10),
    ],
)
def test_parse_size(value: int | str, size: int) -> None:
    assert parse_size(value) == size
