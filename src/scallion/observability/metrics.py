"""Prometheus metrics for HTTP traffic: ``app.use(metrics())`` and scrape ``GET /metrics``.

    m = metrics()                       # a fresh CollectorRegistry for this app
    app.use(m, error_handler(), router.routes())
    bff_metrics(m.registry, upstreams=upstreams, caches={"gateway": cache})

Series, labelled by method, route pattern and status:

- ``scallion_http_requests_total`` (counter)
- ``scallion_http_request_duration_seconds`` (histogram)
- ``scallion_http_response_size_bytes`` (histogram; bodies of known length)
- ``scallion_http_requests_in_flight`` (gauge, no labels)

The route label is the router's pattern (``ctx.router_path``: ``/users/:id``), never the
raw path, so a scan of random URLs cannot grow the number of series; requests no route
matched are ``unmatched``, and methods outside the standard set are ``_OTHER``.

Per-request cost is kept to a dict lookup and a few integer additions: the middleware
keeps its own counts and a collector turns them into Prometheus families when scraped,
instead of prometheus-client's locked per-sample objects (twice the instructions per
request and about 8x the CPU time for the counting itself; bench/observability.py).
Counts live in this process: with several workers, each answers ``/metrics`` for itself
(see docs/observability.md).
"""

from __future__ import annotations

import asyncio
import itertools
import re
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from time import perf_counter
from typing import TYPE_CHECKING, Final

from ..errors import ClientDisconnect
from ..middleware.error_handler import classify
from ..types import Next, Scope

if TYPE_CHECKING:
    from prometheus_client.core import Metric
    from prometheus_client.registry import CollectorRegistry

    from ..context import Context

__all__ = [
    "DEFAULT_BUCKETS",
    "SIZE_BUCKETS",
    "HttpMetrics",
    "metrics",
    "require_prometheus",
]

DEFAULT_BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
"""Latency buckets in seconds: a BFF answers in milliseconds, so the low end is finer."""

SIZE_BUCKETS: Final = (100.0, 1_000.0, 10_000.0, 100_000.0, 1_000_000.0, 10_000_000.0)
"""Response size buckets in bytes."""

UNMATCHED: Final = "unmatched"
OTHER_METHOD: Final = "_OTHER"  # OTel's name for a method outside the known set
_METHODS: Final = frozenset(
    ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE")
)
_LABELS: Final = ("method", "route", "status")
_NO_SIZE: Final = frozenset((204, 304))
_NAME: Final = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def require_prometheus() -> None:
    """Import prometheus-client or say how to install it."""
    try:
        import prometheus_client  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "scallion's metrics need prometheus-client: pip install 'scallion[metrics]'"
        ) from exc


class _Series:
    """Counts for one (method, route, status): request count, latency and size histograms."""

    __slots__ = ("buckets", "count", "size_buckets", "size_count", "size_sum", "sum")

    def __init__(self, buckets: int, size_buckets: int) -> None:
        self.count = 0
        self.sum = 0.0
        self.buckets = [0] * (buckets + 1)  # the last one is +Inf
        self.size_count = 0
        self.size_sum = 0.0
        self.size_buckets = [0] * (size_buckets + 1)


def _check_buckets(buckets: Sequence[float], option: str) -> tuple[float, ...]:
    try:
        bounds = tuple(float(b) for b in buckets)
    except (TypeError, ValueError):
        raise TypeError(f"metrics({option}=...) must be a sequence of numbers") from None
    if not bounds or any(b != b or b <= 0 for b in bounds):
        raise ValueError(f"metrics({option}=...) needs at least one positive bound")
    if any(a >= b for a, b in itertools.pairwise(bounds)):
        raise ValueError(f"metrics({option}=...) must be strictly increasing")
    if bounds[-1] == float("inf"):
        bounds = bounds[:-1]  # +Inf is always there
    return bounds


def _cumulative(bounds: tuple[float, ...], counts: list[int]) -> list[tuple[str, float]]:
    out: list[tuple[str, float]] = []
    total = 0
    for bound, count in zip(bounds, counts, strict=False):
        total += count
        out.append((_float_str(bound), total))
    out.append(("+Inf", total + counts[-1]))
    return out


def _float_str(value: float) -> str:
    from prometheus_client.utils import floatToGoString

    text: str = floatToGoString(value)  # type: ignore[no-untyped-call]
    return text


class HttpMetrics:
    """The ``metrics()`` middleware and the collector that exports what it counted.

    It is registered in ``registry`` (``self.registry``), where other collectors can join
    it (``bff_metrics(m.registry, ...)``).
    """

    __slots__ = (
        "_series",
        "bounds",
        "group_paths",
        "in_flight",
        "namespace",
        "path",
        "registry",
        "size_bounds",
    )

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        path: str | None,
        buckets: tuple[float, ...],
        size_buckets: tuple[float, ...],
        group_paths: bool,
        namespace: str,
    ) -> None:
        self.registry = registry
        self.path = path
        self.bounds = buckets
        self.size_bounds = size_buckets
        self.group_paths = group_paths
        self.namespace = namespace
        self.in_flight = 0
        self._series: dict[tuple[str, str, int], _Series] = {}
        registry.register(self)

    # -- the middleware --------------------------------------------------------------------

    async def __call__(self, ctx: Context, next: Next) -> None:
        scope = ctx._scope
        if scope["path"] == self.path:
            self._expose(ctx)
            return
        self.in_flight += 1
        start = perf_counter()
        try:
            await next()
        except (ClientDisconnect, asyncio.CancelledError):
            self.in_flight -= 1
            self._record(ctx, scope, 499, perf_counter() - start, False)
            raise
        except Exception as err:
            self.in_flight -= 1
            self._record(ctx, scope, classify(err).status, perf_counter() - start, False)
            raise
        self.in_flight -= 1
        self._record(ctx, scope, ctx.response.status, perf_counter() - start, True)

    def _record(
        self, ctx: Context, scope: Scope, status: int, elapsed: float, answered: bool
    ) -> None:
        method: str = scope["method"]
        if method not in _METHODS:
            method = OTHER_METHOD
        route = ctx.router_path
        if route is None:
            route = UNMATCHED
        elif not self.group_paths:
            route = scope["path"]
        key = (method, route, status)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _Series(len(self.bounds), len(self.size_bounds))
        series.count += 1
        series.sum += elapsed
        series.buckets[bisect_left(self.bounds, elapsed)] += 1
        if not answered:
            return  # the error response is written later, by error_handler or the App
        if method == "HEAD" or status in _NO_SIZE:
            size: int | None = 0
        else:
            try:
                size = ctx.response.length
            except TypeError:  # a body JSON cannot encode: the App answers 500 for it
                size = None
        if size is not None:
            series.size_count += 1
            series.size_sum += size
            series.size_buckets[bisect_left(self.size_bounds, size)] += 1

    def _expose(self, ctx: Context) -> None:
        from prometheus_client.exposition import choose_encoder, generate_latest

        if ctx.method not in ("GET", "HEAD"):
            ctx.status = 405
            ctx.set("allow", "GET, HEAD")
            ctx.body = "Method Not Allowed"
            return
        try:
            encoder, content_type = choose_encoder(ctx.get("accept"))
        except Exception:  # a malformed version in Accept: answer the classic format
            encoder, content_type = generate_latest, _plain_content_type()
        ctx.body = encoder(self.registry)
        ctx.set("content-type", content_type)
        ctx.set("cache-control", "no-store")

    # -- the collector ---------------------------------------------------------------------

    def describe(self) -> list[Metric]:
        return list(self._families(empty=True))

    def collect(self) -> Iterator[Metric]:
        return self._families(empty=False)

    def _families(self, *, empty: bool) -> Iterator[Metric]:
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        ns = self.namespace
        requests = CounterMetricFamily(
            f"{ns}_http_requests", "HTTP requests answered.", labels=_LABELS
        )
        duration = HistogramMetricFamily(
            f"{ns}_http_request_duration_seconds",
            "Time from entering the metrics middleware to leaving it.",
            labels=_LABELS,
            unit="seconds",
        )
        size = HistogramMetricFamily(
            f"{ns}_http_response_size_bytes",
            "Response body size, for bodies of known length.",
            labels=_LABELS,
            unit="bytes",
        )
        in_flight = GaugeMetricFamily(
            f"{ns}_http_requests_in_flight", "HTTP requests being handled now."
        )
        if not empty:
            for (method, route, status), s in list(self._series.items()):
                labels = (method, route, str(status))
                requests.add_metric(labels, s.count)
                duration.add_metric(labels, _cumulative(self.bounds, s.buckets), s.sum)
                if s.size_count:
                    size.add_metric(
                        labels, _cumulative(self.size_bounds, s.size_buckets), s.size_sum
                    )
            in_flight.add_metric((), self.in_flight)
        yield requests
        yield duration
        yield size
        yield in_flight

    def __repr__(self) -> str:
        return f"<HttpMetrics path={self.path!r} series={len(self._series)}>"


def _plain_content_type() -> str:
    from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

    return CONTENT_TYPE_PLAIN_0_0_4


def metrics(
    registry: CollectorRegistry | None = None,
    *,
    path: str | None = "/metrics",
    buckets: Sequence[float] = DEFAULT_BUCKETS,
    size_buckets: Sequence[float] = SIZE_BUCKETS,
    group_paths: bool = True,
    namespace: str = "scallion",
) -> HttpMetrics:
    """Count requests, time them and answer ``GET {path}`` in the Prometheus text format.

    Args:
        registry: the ``CollectorRegistry`` to register in; default a fresh one for this
            middleware (never prometheus-client's global ``REGISTRY`` unless passed).
        path: where to answer scrapes (``None``: nowhere; export ``registry`` yourself).
        buckets: latency histogram bounds in seconds.
        size_buckets: response size histogram bounds in bytes.
        group_paths: label by route pattern (``/users/:id``); ``False`` labels matched
            routes by their decoded path instead (one series per URL: debugging only).
        namespace: the prefix of every metric name.

    Put it outermost (before ``error_handler()``) to time everything; inside it, an error
    passing through is counted with the status ``error_handler`` will answer.
    """
    require_prometheus()
    from prometheus_client.registry import CollectorRegistry

    if registry is None:
        registry = CollectorRegistry()
    elif not isinstance(registry, CollectorRegistry):
        raise TypeError("metrics(registry=...) must be a prometheus_client CollectorRegistry")
    if path is not None and (not isinstance(path, str) or not path.startswith("/")):
        raise ValueError(f"metrics(path=...) must start with '/', got {path!r}")
    if not isinstance(group_paths, bool):
        raise TypeError("metrics(group_paths=...) must be a bool")
    if not isinstance(namespace, str) or not _NAME.fullmatch(namespace):
        raise ValueError(f"metrics(namespace=...) must be an identifier, got {namespace!r}")
    return HttpMetrics(
        registry,
        path=path,
        buckets=_check_buckets(buckets, "buckets"),
        size_buckets=_check_buckets(size_buckets, "size_buckets"),
        group_paths=group_paths,
        namespace=namespace,
    )
