"""configure_logging(): JSON and human lines with the request's id, access lines as fields."""

from __future__ import annotations

import io
import json
import logging
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from scallion.context import Context
from scallion.middleware import error_handler, logger, request_id
from scallion.observability import (
    HumanFormatter,
    JsonFormatter,
    RequestContextFilter,
    configure_logging,
    tracing,
)
from scallion.testing import TestClient
from scallion.types import Next

from .conftest import routed_app

app_log = logging.getLogger("scallion.test.handler")


@pytest.fixture(autouse=True)
def _restore(restore_scallion_logger: None) -> None:
    """configure_logging changes the ``scallion`` logger: every test here puts it back."""


def records(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


async def chatty(ctx: Context, next: Next) -> None:
    app_log.info("loading user %s", 7, extra={"user_id": 7})
    await next()


class TestJson:
    def test_access_line_is_emitted_as_fields(self) -> None:
        out = io.StringIO()
        configure_logging("json", stream=out)
        client = TestClient(routed_app(request_id(), logger(), chatty))
        client.get("/users/3?token=abc", headers={"X-Request-ID": "req-42", "User-Agent": "t"})
        mine, access = records(out)
        assert access["logger"] == "scallion.access" and access["level"] == "info"
        assert access["method"] == "GET" and access["status"] == 200
        assert access["path"] == "/users/3?token=[REDACTED]"  # logger()'s redaction kept
        assert access["request_id"] == "req-42"
        assert access["bytes"] == len(b'{"id":"3"}')
        assert access["message"] == "GET /users/3?token=[REDACTED] 200"
        assert access["time"].endswith("Z")
        assert "abc" not in out.getvalue()
        # the handler's own line carries the same request id
        assert mine["logger"] == "scallion.test.handler"
        assert mine["message"] == "loading user 7"
        assert mine["request_id"] == "req-42"
        assert mine["user_id"] == 7

    def test_outside_a_request_there_is_no_request_id(self) -> None:
        out = io.StringIO()
        configure_logging("json", stream=out)
        logging.getLogger("scallion.bff").warning("redis down")
        (rec,) = records(out)
        assert rec["message"] == "redis down" and rec["level"] == "warning"
        assert "request_id" not in rec and "trace_id" not in rec

    def test_exceptions_are_one_json_line(self) -> None:
        out = io.StringIO()
        configure_logging("json", stream=out)
        try:
            raise ValueError("bad\nvalue")
        except ValueError:
            logging.getLogger("scallion").exception("failed")
        (rec,) = records(out)
        assert rec["error"] == "ValueError"
        assert "Traceback" in rec["exception"] and "bad\nvalue" in rec["exception"]
        assert len(out.getvalue().splitlines()) == 1

    def test_unserialisable_extras_become_strings(self) -> None:
        out = io.StringIO()
        configure_logging("json", stream=out)
        logging.getLogger("scallion").info("x", extra={"thing": object(), "n": {1, 2}})
        (rec,) = records(out)
        assert rec["thing"].startswith("<object object")

    def test_trace_ids_with_tracing(self) -> None:
        out = io.StringIO()
        configure_logging("json", stream=out)
        client = TestClient(routed_app(tracing(TracerProvider()), request_id(), chatty))
        tid = "4bf92f3577b34da6a3ce929d0e0e4736"
        client.get("/hello", headers={"traceparent": f"00-{tid}-00f067aa0ba902b7-01"})
        (rec,) = records(out)
        assert rec["trace_id"] == tid and len(rec["span_id"]) == 16

    def test_uncaught_error_logged_by_the_app(self) -> None:
        out = io.StringIO()
        configure_logging("json", stream=out)
        client = TestClient(routed_app(request_id()))
        assert client.get("/boom", headers={"X-Request-ID": "rid-9"}).status_code == 500
        errors = [r for r in records(out) if r.get("error") == "RuntimeError"]
        assert errors and "kaput" in errors[0]["exception"]

    def test_error_access_line(self) -> None:
        out = io.StringIO()
        configure_logging("json", stream=out)
        client = TestClient(routed_app(error_handler(), request_id(), logger()))
        client.get("/forbidden")
        (access,) = [r for r in records(out) if r["logger"] == "scallion.access"]
        assert access["status"] == 403 and access["error"] == "HttpError"


class TestHuman:
    def test_line_with_request_id(self) -> None:
        out = io.StringIO()
        configure_logging("human", stream=out)
        client = TestClient(routed_app(request_id(), logger(), chatty))
        client.get("/hello", headers={"X-Request-ID": "rid-1"})
        mine, access = out.getvalue().splitlines()
        assert mine.endswith("INFO  scallion.test.handler [rid-1] loading user 7")
        assert " scallion.access [rid-1] " in access and '"GET /hello" 200' in access

    def test_no_request_id_outside_requests(self) -> None:
        out = io.StringIO()
        configure_logging("human", level="DEBUG", stream=out)
        logging.getLogger("scallion.x").debug("plain")
        assert out.getvalue().rstrip().endswith("DEBUG scallion.x plain")


class TestConfigure:
    def test_calling_again_replaces_its_handler(self) -> None:
        first, second = io.StringIO(), io.StringIO()
        configure_logging("json", stream=first)
        handler = configure_logging("human", stream=second)
        logging.getLogger("scallion").info("once")
        assert first.getvalue() == "" and second.getvalue().rstrip().endswith("once")
        ours = [h for h in logging.getLogger("scallion").handlers if h is handler]
        assert len(ours) == 1 and isinstance(handler.formatter, HumanFormatter)

    def test_leaves_other_handlers_alone(self) -> None:
        other = logging.NullHandler()
        target = logging.getLogger("scallion")
        target.addHandler(other)
        configure_logging(stream=io.StringIO())
        configure_logging(stream=io.StringIO())
        assert other in target.handlers
        target.removeHandler(other)

    def test_level_and_propagation(self) -> None:
        out = io.StringIO()
        configure_logging("json", level=logging.WARNING, stream=out)
        target = logging.getLogger("scallion")
        assert target.level == logging.WARNING and target.propagate is False
        logging.getLogger("scallion.access").info("dropped")
        assert out.getvalue() == ""
        configure_logging("json", level="info", stream=out, propagate=True)
        assert target.level == logging.INFO and target.propagate is True

    def test_the_handler_has_the_filter_and_formatter(self) -> None:
        handler = configure_logging("json", stream=io.StringIO())
        assert isinstance(handler.formatter, JsonFormatter)
        assert any(isinstance(f, RequestContextFilter) for f in handler.filters)

    @pytest.mark.parametrize(
        ("kwargs", "error"),
        [
            ({"format": "xml"}, ValueError),
            ({"level": "LOUD"}, ValueError),
            ({"level": 1.5}, TypeError),
            ({"level": True}, TypeError),
            ({"stream": object()}, TypeError),
        ],
    )
    def test_bad_options(self, kwargs: dict[str, Any], error: type[Exception]) -> None:
        with pytest.raises(error):
            configure_logging(**kwargs)
