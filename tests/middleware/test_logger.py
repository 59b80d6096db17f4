"""logger(): access lines with the final status, redaction, both formats."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pydantic
import pytest

from scallion import HttpError
from scallion.middleware import error_handler, logger, request_id
from scallion.middleware.logger import redact_querystring

from ._helpers_a import client


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def records(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines(stream)]


async def created(ctx: Any) -> None:
    ctx.status = 201
    ctx.body = {"id": 7}


class TestJsonLines:
    def test_fields(self) -> None:
        out = io.StringIO()
        c = client(request_id(), logger(format="json", stream=out), handler=created)
        c.get("/users?page=2", headers={"User-Agent": "pytest-ua", "X-Request-ID": "abc-1"})
        (rec,) = records(out)
        assert rec["method"] == "GET"
        assert rec["path"] == "/users?page=2"
        assert rec["status"] == 201  # the final status, set by the handler
        assert rec["bytes"] == len(b'{"id":7}')
        assert rec["request_id"] == "abc-1"
        assert rec["ip"] == "127.0.0.1"
        assert rec["user_agent"] == "pytest-ua"
        assert isinstance(rec["duration_ms"], float) and rec["duration_ms"] >= 0
        assert rec["time"].endswith("+00:00")
        assert "error" not in rec and "headers" not in rec

    def test_query_secrets_are_redacted(self) -> None:
        out = io.StringIO()
        c = client(logger(format="json", stream=out))
        c.get("/cb?code=1&access_token=SECRET1&Password=SECRET2&%74oken=SECRET3&q=keep")
        path = records(out)[0]["path"]
        assert "SECRET" not in path
        assert path.startswith("/cb?code=1&access_token=[REDACTED]&Password=[REDACTED]")
        assert path.endswith("&q=keep")

    def test_404_and_unknown_length(self) -> None:
        out = io.StringIO()

        async def stream(ctx: Any) -> None:
            async def gen() -> Any:
                yield b"x"

            ctx.body = gen()

        client(logger(format="json", stream=out), handler=stream).get("/s")
        client(logger(format="json", stream=out), handler=lambda ctx: None).get("/missing")
        first, second = records(out)
        assert first["status"] == 200 and first["bytes"] is None
        assert second["status"] == 404

    def test_include_headers_redacts_secrets(self) -> None:
        out = io.StringIO()

        async def handler(ctx: Any) -> None:
            ctx.cookies.set("sid", "SESSIONSECRET")
            ctx.body = "ok"

        c = client(logger(format="json", stream=out, include_headers=True), handler=handler)
        c.get(
            "/",
            headers={
                "Authorization": "Bearer TOKENSECRET",
                "Cookie": "sid=COOKIESECRET",
                "X-Api-Key": "KEYSECRET",
                "X-Trace": "visible",
            },
        )
        rec = records(out)[0]
        assert "SECRET" not in json.dumps(rec)
        assert rec["headers"]["authorization"] == "[REDACTED]"
        assert rec["headers"]["x-trace"] == "visible"
        assert rec["response_headers"]["set-cookie"] == "[REDACTED]"

    def test_custom_redaction_lists(self) -> None:
        out = io.StringIO()
        c = client(
            logger(
                format="json",
                stream=out,
                include_headers=True,
                redact_headers=["x-trace"],
                redact_query=["q"],
            )
        )
        c.get("/?q=hidden&token=shown", headers={"X-Trace": "t"})
        rec = records(out)[0]
        assert rec["path"] == "/?q=[REDACTED]&token=shown"
        assert rec["headers"]["x-trace"] == "[REDACTED]"


class TestErrors:
    @pytest.mark.parametrize(
        ("err", "status"),
        [
            (HttpError(403, "no"), 403),
            (RuntimeError("boom"), 500),
            (pydantic.ValidationError.from_exception_data("M", []), 400),
        ],
    )
    def test_passing_error_is_logged_with_its_status_and_reraised(
        self, err: BaseException, status: int
    ) -> None:
        out = io.StringIO()

        async def handler(ctx: Any) -> None:
            raise err

        r = client(error_handler(), logger(format="json", stream=out), handler=handler).get("/")
        assert r.status_code == status  # re-raised, then answered by error_handler
        rec = records(out)[0]
        assert rec["status"] == status
        assert rec["error"] == type(err).__name__
        assert rec["bytes"] is None


class TestHumanLines:
    def test_line_shape(self) -> None:
        out = io.StringIO()
        c = client(request_id(), logger(stream=out), handler=created)
        c.get("/a?token=t0p", headers={"User-Agent": "ua/1", "X-Request-ID": "rid-9"})
        (line,) = lines(out)
        assert line.startswith('127.0.0.1 "GET /a?token=[REDACTED]" 201 8 ')
        assert line.endswith('ms rid=rid-9 "ua/1"')

    def test_hostile_user_agent_cannot_forge_fields(self) -> None:
        out = io.StringIO()
        client(logger(stream=out)).get("/", headers={"User-Agent": 'x" 200 "evil\x1b[31m'})
        (line,) = lines(out)
        assert '\\" 200 \\"evil\\x1b[31m"' in line
        assert "\x1b" not in line

    def test_error_is_named(self) -> None:
        out = io.StringIO()

        async def handler(ctx: Any) -> None:
            raise KeyError("k")

        client(error_handler(), logger(stream=out), handler=handler).get("/")
        assert lines(out)[0].endswith(" error=KeyError")


class TestLoggingModule:
    def test_default_logger_and_record_fields(self, caplog: pytest.LogCaptureFixture) -> None:
        with caplog.at_level(logging.INFO, logger="scallion.access"):
            client(logger()).get("/x")
        (record,) = [r for r in caplog.records if r.name == "scallion.access"]
        assert record.levelno == logging.INFO
        assert '"GET /x" 200' in record.getMessage()
        assert record.access["status"] == 200  # type: ignore[attr-defined]

    def test_named_logger_and_level(self, caplog: pytest.LogCaptureFixture) -> None:
        with caplog.at_level(logging.DEBUG, logger="myapp.http"):
            client(logger(logger="myapp.http", level=logging.DEBUG, format="json")).get("/")
        (record,) = [r for r in caplog.records if r.name == "myapp.http"]
        assert record.levelno == logging.DEBUG
        assert json.loads(record.getMessage())["path"] == "/"

    def test_disabled_logger_costs_nothing_and_breaks_nothing(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        quiet = logging.getLogger("scallion.test.quiet")
        quiet.setLevel(logging.WARNING)
        with caplog.at_level(logging.WARNING, logger="scallion.test.quiet"):
            r = client(logger(logger=quiet)).get("/")
        assert r.status_code == 200
        assert not [rec for rec in caplog.records if rec.name == "scallion.test.quiet"]


class TestOptions:
    def test_bad_options(self) -> None:
        with pytest.raises(ValueError, match="format"):
            logger(format="xml")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="not both"):
            logger(stream=io.StringIO(), logger="x")
        with pytest.raises(TypeError):
            logger(stream=object())  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            logger(logger=42)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="list of str"):
            logger(redact_headers="authorization")
        with pytest.raises(TypeError):
            logger(level="INFO")  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            logger(include_headers="yes")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("a=1", "a=1"),
        ("token=x", "token=[REDACTED]"),
        ("TOKEN=x&b=2", "TOKEN=[REDACTED]&b=2"),
        ("api%5Fkey=x", "api%5Fkey=[REDACTED]"),
        ("token", "token"),
        ("token=", "token=[REDACTED]"),
        ("=x&&secret=y", "=x&&secret=[REDACTED]"),
    ],
)
def test_redact_querystring(query: str, expected: str) -> None:
    secret = frozenset({"token", "api_key", "secret"})
    assert redact_querystring(query, secret) == expected


def test_unencodable_body_does_not_break_the_log_line() -> None:
    out = io.StringIO()

    async def handler(ctx: Any) -> None:
        ctx.body = {"when": object()}  # orjson cannot encode this

    r = client(logger(format="json", stream=out), handler=handler).get("/")
    assert r.status_code == 500
    assert records(out)[0]["bytes"] is None
