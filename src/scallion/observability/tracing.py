"""OpenTelemetry tracing: a server span per request, W3C trace context in and out.

    provider = TracerProvider(resource=Resource.create({"service.name": "shop-bff"}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    app.use(tracing(provider), error_handler(), router.routes())

Each request gets a ``SERVER`` span named ``GET /users/:id`` (the route pattern; just the
method when no route matched) with the HTTP semantic-convention attributes
(``http.request.method``, ``url.path``, ``url.scheme``, ``http.route``,
``http.response.status_code``, ``client.address``, ``user_agent.original``...). A 5xx or an
exception marks it as an error, and the exception is recorded on it.

An incoming ``traceparent``/``tracestate`` continues the caller's trace (``propagate=False``
starts a new trace instead: use it at a public edge, so clients cannot choose your trace
ids or sampling). While the rest of the chain runs, the span is OpenTelemetry's current
span, and ``ctx.state.traceparent`` / ``ctx.state.tracestate`` carry it for outgoing
calls: the upstream client sends those instead of the incoming header, so upstream spans
are children of this one. ``trace_headers(ctx)`` gives every header of the configured
propagator (baggage too) for other clients.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Final

from ..errors import ClientDisconnect
from ..middleware.error_handler import classify
from ..types import Next

if TYPE_CHECKING:
    from opentelemetry.propagators.textmap import Getter
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Span, TracerProvider

    from ..context import Context
    from ..datastructures import Headers

__all__ = [
    "SPAN_ATTR",
    "Tracing",
    "current_span",
    "current_traceparent",
    "require_opentelemetry",
    "trace_headers",
    "tracing",
]

SPAN_ATTR: Final = "_scallion_span"
"""Where the request's server span is kept on ``ctx`` (read it with ``current_span``)."""

_METHODS: Final = frozenset(
    ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE")
)


def require_opentelemetry() -> None:
    """Import the OpenTelemetry API or say how to install it."""
    try:
        import opentelemetry.trace  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "scallion's tracing needs OpenTelemetry: pip install 'scallion[tracing]'"
        ) from exc


def _header_getter() -> Getter[Headers]:
    """A propagation ``Getter`` over the request's case-insensitive headers."""
    from opentelemetry.propagators.textmap import Getter

    class HeaderGetter(Getter["Headers"]):
        def get(self, carrier: Headers, key: str) -> list[str] | None:
            value = carrier.get(key)
            return None if value is None else [value]

        def keys(self, carrier: Headers) -> list[str]:
            return list(carrier.keys())

    return HeaderGetter()


def current_span(ctx: Context) -> Span | None:
    """The request's server span, or ``None`` when ``tracing()`` is not in the chain."""
    span: Span | None = ctx.__dict__.get(SPAN_ATTR)
    return span


def current_traceparent(ctx: Context) -> str | None:
    """The W3C ``traceparent`` naming this request's span, for an outgoing call."""
    span = current_span(ctx)
    if span is None:
        return None
    sc = span.get_span_context()
    if not sc.is_valid:
        return None
    return f"00-{sc.trace_id:032x}-{sc.span_id:016x}-{sc.trace_flags:02x}"


def trace_headers(ctx: Context) -> dict[str, str]:
    """Every header the global propagator writes for this request's span (W3C trace
    context and baggage by default); empty without ``tracing()``."""
    span = current_span(ctx)
    if span is None:
        return {}
    from opentelemetry import trace
    from opentelemetry.propagate import get_global_textmap

    carrier: dict[str, str] = {}
    get_global_textmap().inject(carrier, context=trace.set_span_in_context(span))
    return carrier


def tracing(
    tracer_provider: TracerProvider | None = None,
    *,
    service_name: str = "scallion",
    propagate: bool = True,
    exporter: SpanExporter | None = None,
) -> Tracing:
    """A server span per request.

    Args:
        tracer_provider: the provider to trace with; default OpenTelemetry's global one
            (a no-op until the application or ``opentelemetry-instrument`` sets one).
        service_name: ``service.name`` of the provider made for ``exporter``.
        propagate: continue the trace of an incoming ``traceparent``; ``False`` starts
            every request on a new trace (a public edge).
        exporter: a ``SpanExporter`` (OTLP, console...): builds an SDK ``TracerProvider``
            for this middleware with a batch processor (flushed at exit). Give either
            ``tracer_provider`` or ``exporter``.
    """
    require_opentelemetry()
    from opentelemetry import trace

    if not isinstance(propagate, bool):
        raise TypeError("tracing(propagate=...) must be a bool")
    if not isinstance(service_name, str) or not service_name:
        raise ValueError("tracing(service_name=...) must be a non-empty str")
    if exporter is not None:
        if tracer_provider is not None:
            raise ValueError("tracing(): give either tracer_provider or exporter, not both")
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        sdk = SdkTracerProvider(resource=Resource.create({"service.name": service_name}))
        sdk.add_span_processor(BatchSpanProcessor(exporter))
        tracer_provider = sdk
    elif tracer_provider is None:
        tracer_provider = trace.get_tracer_provider()
    elif not isinstance(tracer_provider, trace.TracerProvider):
        raise TypeError("tracing(tracer_provider=...) must be an OpenTelemetry TracerProvider")
    return Tracing(tracer_provider, propagate)


class Tracing:
    """The ``tracing()`` middleware; ``provider`` is the ``TracerProvider`` it uses."""

    __slots__ = (
        "_attach",
        "_detach",
        "_error",
        "_getter",
        "_server",
        "_set_span",
        "_textmap",
        "_tracer",
        "propagate",
        "provider",
    )

    def __init__(self, provider: TracerProvider, propagate: bool) -> None:
        from opentelemetry import context as otel_context
        from opentelemetry import trace
        from opentelemetry.propagate import get_global_textmap

        from .. import __version__

        self.provider = provider
        self.propagate = propagate
        self._tracer = provider.get_tracer("scallion", __version__)
        self._attach = otel_context.attach
        self._detach = otel_context.detach
        self._set_span = trace.set_span_in_context
        self._textmap = get_global_textmap  # read per request: it may be set after us
        self._server = trace.SpanKind.SERVER
        self._getter = _header_getter()
        self._error = trace.StatusCode.ERROR

    async def __call__(self, ctx: Context, next: Next) -> None:
        scope = ctx._scope
        request = ctx.request
        headers = request.headers
        parent = self._textmap().extract(headers, getter=self._getter) if self.propagate else None
        method: str = scope["method"]
        known = method in _METHODS
        name = method if known else "HTTP"
        attributes: dict[str, str | int] = {
            "http.request.method": method if known else "_OTHER",
            "url.path": scope["path"],
            "url.scheme": request.protocol,
            "network.protocol.version": scope.get("http_version", "1.1"),
        }
        if not known:
            attributes["http.request.method_original"] = method
        client = scope.get("client")
        if client:
            attributes["client.address"] = client[0]
        server = scope.get("server")
        if server:
            attributes["server.address"] = server[0]
            if server[1] is not None:
                attributes["server.port"] = server[1]
        agent = headers.get("user-agent")
        if agent:
            attributes["user_agent.original"] = agent
        span = self._tracer.start_span(
            name,
            context=parent,
            kind=self._server,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        )
        ctx.__dict__[SPAN_ATTR] = span
        sc = span.get_span_context()
        if sc.is_valid:
            state = ctx.state
            state.traceparent = f"00-{sc.trace_id:032x}-{sc.span_id:016x}-{sc.trace_flags:02x}"
            tracestate = sc.trace_state.to_header()
            if tracestate:
                state.tracestate = tracestate
        token = self._attach(self._set_span(span, parent))
        status: int | None = None
        failed = False
        try:
            await next()
            status = ctx.response.status
        except (ClientDisconnect, asyncio.CancelledError) as err:
            span.set_attribute("error.type", type(err).__name__)  # the client went away
            raise
        except Exception as err:
            status = classify(err).status
            if status >= 500:  # a 4xx is the client's problem, not the server span's
                failed = True
                span.record_exception(err)
                span.set_attribute("error.type", type(err).__qualname__)
                span.set_status(self._error, f"{type(err).__name__}: {err}")
            raise
        finally:
            self._detach(token)
            route = ctx.router_path
            if route is not None:
                span.set_attribute("http.route", route)
                span.update_name(f"{name} {route}")
            if status is not None:
                span.set_attribute("http.response.status_code", status)
                if status >= 500 and not failed:
                    span.set_attribute("error.type", str(status))
                    span.set_status(self._error)
            span.end()

    def __repr__(self) -> str:
        return f"<Tracing provider={type(self.provider).__name__} propagate={self.propagate}>"
