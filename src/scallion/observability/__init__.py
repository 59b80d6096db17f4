"""Observability: Prometheus metrics, OpenTelemetry traces, structured logs, a status page.

    m = metrics()                                   # GET /metrics
    bff_metrics(m.registry, upstreams=upstreams, caches={"gateway": cache})
    app.use(m, tracing(provider), status_page(upstreams=upstreams, token=secret))
    configure_logging("json")

prometheus-client and OpenTelemetry are imported only when ``metrics()`` / ``tracing()``
are called (``pip install 'scallion[metrics,tracing]'``). See docs/observability.md.
"""

from .bff_metrics import (
    BREAKER_STATE_VALUES,
    BffCollector,
    bff_metrics,
    bind_breaker_metrics,
)
from .logging import HumanFormatter, JsonFormatter, RequestContextFilter, configure_logging
from .metrics import DEFAULT_BUCKETS, SIZE_BUCKETS, HttpMetrics, metrics
from .status import RequestRate, StatusPage, status_page, status_route, status_snapshot
from .tracing import Tracing, current_span, current_traceparent, trace_headers, tracing

__all__ = [
    "BREAKER_STATE_VALUES",
    "DEFAULT_BUCKETS",
    "SIZE_BUCKETS",
    "BffCollector",
    "HttpMetrics",
    "HumanFormatter",
    "JsonFormatter",
    "RequestContextFilter",
    "RequestRate",
    "StatusPage",
    "Tracing",
    "bff_metrics",
    "bind_breaker_metrics",
    "configure_logging",
    "current_span",
    "current_traceparent",
    "metrics",
    "status_page",
    "status_route",
    "status_snapshot",
    "trace_headers",
    "tracing",
]
