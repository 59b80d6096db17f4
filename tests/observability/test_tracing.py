"""tracing(): a server span per request, W3C context in, the span's context out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from scallion import App, Router
from scallion.bff.transport import ASGITransport
from scallion.bff.upstream import Upstream
from scallion.context import Context
from scallion.middleware import error_handler
from scallion.observability import (
    current_span,
    current_traceparent,
    trace_headers,
    tracing,
)
from scallion.testing import AsyncTestClient, TestClient
from scallion.types import Next

from .conftest import routed_app

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    yield InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> TracerProvider:
    p = TracerProvider()
    p.add_span_processor(SimpleSpanProcessor(exporter))
    return p


def only_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    (span,) = exporter.get_finished_spans()
    return span


class TestServerSpan:
    def test_named_by_route_with_http_attributes(
        self, provider: TracerProvider, exporter: InMemorySpanExporter
    ) -> None:
        client = TestClient(routed_app(tracing(provider)))
        r = client.get("/users/42?x=1", headers={"User-Agent": "ua/1"})
        assert r.status_code == 200
        span = only_span(exporter)
        assert span.name == "GET /users/:id"
        assert span.kind is SpanKind.SERVER
        attrs = dict(span.attributes or {})
        assert attrs["http.request.method"] == "GET"
        assert attrs["http.route"] == "/users/:id"
        assert attrs["url.path"] == "/users/42"
        assert attrs["url.scheme"] == "http"
        assert attrs["http.response.status_code"] == 200
        assert attrs["user_agent.original"] == "ua/1"
        assert "client.address" in attrs
        assert span.status.status_code is StatusCode.UNSET
        assert span.parent is None

    def test_unmatched_request_is_named_by_method(
        self, provider: TracerProvider, exporter: InMemorySpanExporter
    ) -> None:
        TestClient(routed_app(tracing(provider))).get("/nowhere")
        span = only_span(exporter)
        assert span.name == "GET"
        assert "http.route" not in (span.attributes or {})
        assert (span.attributes or {})["http.response.status_code"] == 404

    def test_unknown_method(self, provider: TracerProvider, exporter: InMemorySpanExporter) -> None:
        TestClient(routed_app(tracing(provider))).request("FROB", "/hello")
        span = only_span(exporter)
        attrs = dict(span.attributes or {})
        assert attrs["http.request.method"] == "_OTHER"
        assert attrs["http.request.method_original"] == "FROB"
        assert span.name.startswith("HTTP")

    def test_exception_is_recorded_as_error(
        self, provider: TracerProvider, exporter: InMemorySpanExporter
    ) -> None:
        client = TestClient(routed_app(tracing(provider), error_handler()))
        # error_handler is inside: the span sees the answered 500
        assert client.get("/boom").status_code == 500
        span = only_span(exporter)
        assert span.status.status_code is StatusCode.ERROR
        assert (span.attributes or {})["error.type"] == "500"

    def test_exception_passing_through_is_recorded(
        self, provider: TracerProvider, exporter: InMemorySpanExporter
    ) -> None:
        client = TestClient(routed_app(tracing(provider)))
        assert client.get("/boom").status_code == 500
        span = only_span(exporter)
        assert span.status.status_code is StatusCode.ERROR
        attrs = dict(span.attributes or {})
        assert attrs["error.type"] == "RuntimeError"
        assert attrs["http.response.status_code"] == 500
        (event,) = span.events
        assert event.name == "exception"
        assert (event.attributes or {})["exception.message"] == "kaput"

    def test_client_errors_are_not_span_errors(
        self, provider: TracerProvider, exporter: InMemorySpanExporter
    ) -> None:
        client = TestClient(routed_app(tracing(provider)))
        assert client.get("/forbidden").status_code == 403
        span = only_span(exporter)
        assert span.status.status_code is StatusCode.UNSET
        assert (span.attributes or {})["http.response.status_code"] == 403
        assert not span.events

    def test_5xx_answer_is_an_error(
        self, provider: TracerProvider, exporter: InMemorySpanExporter
    ) -> None:
        TestClient(routed_app(tracing(provider))).get("/unavailable")
        span = only_span(exporter)
        assert span.status.status_code is StatusCode.ERROR
        assert (span.attributes or {})["error.type"] == "503"

    def test_span_is_current_inside_the_chain(
        self, provider: TracerProvider, exporter: InMemorySpanExporter
    ) -> None:
        seen: dict[str, Any] = {}

        async def look(ctx: Context, next: Next) -> None:
            seen["current"] = trace.get_current_span()
            seen["ours"] = current_span(ctx)
            with provider.get_tracer("test").start_as_current_span("child"):
                pass
            await next()

        TestClient(routed_app(tracing(provider), look)).get("/hello")
        child, server = exporter.get_finished_spans()
        assert seen["current"] is seen["ours"]
        assert child.parent is not None
        assert child.parent.span_id == server.context.span_id
        assert trace.get_current_span() is trace.INVALID_SPAN  # detached afterwards


class TestPropagation:
    def test_incoming_traceparent_is_continued(
        self, provider: TracerProvider, exporter: InMemorySpanExporter
    ) -> None:
        client = TestClient(routed_app(tracing(provider)))
        client.get("/hello", headers={"traceparent": TRACEPARENT, "tracestate": "vendor=abc"})
        span = only_span(exporter)
        assert f"{span.context.trace_id:032x}" == TRACE_ID
        assert span.parent is not None and f"{span.parent.span_id:016x}" == PARENT_ID
        assert span.parent.is_remote
        assert span.context.trace_state.get("vendor") == "abc"

    def test_propagate_false_starts_a_new_trace(
        self, provider: TracerProvider, exporter: InMemorySpanExporter
    ) -> None:
        client = TestClient(routed_app(tracing(provider, propagate=False)))
        client.get("/hello", headers={"traceparent": TRACEPARENT})
        span = only_span(exporter)
        assert f"{span.context.trace_id:032x}" != TRACE_ID
        assert span.parent is None

    @pytest.mark.parametrize(
        "header",
        [
            "garbage",
            "00-" + "0" * 32 + "-" + PARENT_ID + "-01",  # all-zero trace id
            "00-" + TRACE_ID + "-" + "0" * 16 + "-01",  # all-zero span id
            "ff-" + TRACE_ID + "-" + PARENT_ID + "-01",  # forbidden version
            "00-" + TRACE_ID + "-" + PARENT_ID + "-01\r\nx: y",
            "x" * 10_000,
        ],
    )
    def test_malformed_traceparent_starts_a_new_trace(
        self, provider: TracerProvider, exporter: InMemorySpanExporter, header: str
    ) -> None:
        client = TestClient(routed_app(tracing(provider)))
        try:
            r = client.get("/hello", headers={"traceparent": header})
        except Exception:  # httpx itself refuses CR/LF in a header: nothing to test then
            assert "\r" in header
            return
        assert r.status_code == 200
        span = only_span(exporter)
        assert span.parent is None

    def test_outgoing_context_is_this_span(
        self, provider: TracerProvider, exporter: InMemorySpanExporter
    ) -> None:
        seen: dict[str, Any] = {}

        async def look(ctx: Context, next: Next) -> None:
            seen["tp"] = current_traceparent(ctx)
            seen["state"] = ctx.state.traceparent
            seen["tracestate"] = ctx.state.tracestate
            seen["headers"] = trace_headers(ctx)
            await next()

        client = TestClient(routed_app(tracing(provider), look))
        client.get("/hello", headers={"traceparent": TRACEPARENT, "tracestate": "vendor=abc"})
        span = only_span(exporter)
        expected = f"00-{TRACE_ID}-{span.context.span_id:016x}-01"
        assert seen["tp"] == seen["state"] == expected
        assert seen["headers"]["traceparent"] == expected
        assert seen["tracestate"] == seen["headers"]["tracestate"] == "vendor=abc"

    def test_helpers_without_tracing(self) -> None:
        seen: dict[str, Any] = {}

        async def look(ctx: Context, next: Next) -> None:
            seen["tp"] = current_traceparent(ctx)
            seen["headers"] = trace_headers(ctx)
            seen["span"] = current_span(ctx)
            await next()

        TestClient(routed_app(look)).get("/hello")
        assert seen == {"tp": None, "headers": {}, "span": None}

    async def test_upstream_call_carries_the_server_span(
        self, provider: TracerProvider, exporter: InMemorySpanExporter
    ) -> None:
        """An upstream call made with ``trace_headers(ctx)`` is a child of this request."""
        received: list[str] = []
        service = App()

        async def echo(ctx: Context) -> None:
            received.append(ctx.get("traceparent"))
            ctx.body = {"ok": True}

        service.use(echo)
        users = Upstream("users", "http://users.internal", transport=ASGITransport(service))
        app = App()
        router = Router()

        @router.get("/page")
        async def page(ctx: Context) -> None:
            resp = await users.get("/u", ctx=ctx, headers=trace_headers(ctx))
            ctx.body = resp.json()

        app.use(tracing(provider), router.routes())
        async with AsyncTestClient(app) as client:
            r = await client.get("/page", headers={"traceparent": TRACEPARENT})
        assert r.status_code == 200
        span = only_span(exporter)
        assert received == [f"00-{TRACE_ID}-{span.context.span_id:016x}-01"]
        await users.aclose()


    async def test_upstream_calls_carry_the_server_span_without_extra_headers(
        self, provider: TracerProvider, exporter: InMemorySpanExporter
    ) -> None:
        """Upstream propagates this request's span (from ``tracing()``), not the caller's."""
        received: list[str] = []
        service = App()

        async def echo(ctx: Context) -> None:
            received.append(ctx.get("traceparent"))
            ctx.body = {"ok": True}

        service.use(echo)
        users = Upstream("users", "http://users.internal", transport=ASGITransport(service))
        app = App()
        router = Router()

        @router.get("/page")
        async def page(ctx: Context) -> None:
            ctx.body = (await users.get("/u", ctx=ctx)).json()

        app.use(tracing(provider), router.routes())
        async with AsyncTestClient(app) as client:
            r = await client.get("/page", headers={"traceparent": TRACEPARENT})
        assert r.status_code == 200
        span = only_span(exporter)
        assert received == [f"00-{TRACE_ID}-{span.context.span_id:016x}-01"]
        await users.aclose()


class TestOptions:
    def test_exporter_builds_a_provider_with_the_service_name(self) -> None:
        exporter = InMemorySpanExporter()
        mw = tracing(exporter=exporter, service_name="shop-bff")
        assert isinstance(mw.provider, TracerProvider)
        TestClient(routed_app(mw)).get("/hello")
        mw.provider.force_flush()
        (span,) = exporter.get_finished_spans()
        assert span.resource.attributes["service.name"] == "shop-bff"
        mw.provider.shutdown()

    def test_default_is_the_global_provider(self) -> None:
        mw = tracing()
        assert mw.provider is trace.get_tracer_provider()
        # no SDK configured globally: requests still work, nothing is recorded
        assert TestClient(routed_app(mw)).get("/hello").status_code == 200

    @pytest.mark.parametrize(
        ("args", "kwargs", "error"),
        [
            ((object(),), {}, TypeError),
            ((), {"propagate": "yes"}, TypeError),
            ((), {"service_name": ""}, ValueError),
            ((TracerProvider(),), {"exporter": InMemorySpanExporter()}, ValueError),
        ],
    )
    def test_bad_options(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], error: type[Exception]
    ) -> None:
        with pytest.raises(error):
            tracing(*args, **kwargs)
