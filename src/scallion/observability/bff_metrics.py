"""Prometheus metrics for the BFF layer: breakers, upstream load and cache counters.

    m = metrics()
    bff_metrics(m.registry, upstreams=upstreams, caches={"gateway": cache})

Nothing here runs per request: one collector reads the breakers' ``metrics()``, the
instances' call counters and each ``Cache.stats`` when Prometheus scrapes. The only
thing counted as it happens is breaker transitions, through the breakers'
``on_state_change`` listeners.

Series (labels ``upstream`` and ``instance``; a breaker that belongs to no upstream is
labelled with its own name and ``instance=""``):

- ``scallion_breaker_state``: 0 closed, 1 half-open, 2 open
- ``scallion_breaker_failure_rate``, ``scallion_breaker_slow_call_rate``,
  ``scallion_breaker_window_calls``: the sliding window as the breaker sees it
- ``scallion_breaker_rejected_total``: calls refused while open or probing
- ``scallion_breaker_transitions_total{from,to}``
- ``scallion_upstream_calls_total``, ``scallion_upstream_in_flight``
- ``scallion_cache_<counter>_total{cache}`` for every ``CacheStats`` counter (hits,
  misses, stale, coalesced, ...) and ``scallion_cache_l1_entries`` / ``_l1_bytes``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Final, TypeAlias

from ..bff.breaker import BreakerState, CircuitBreaker
from ..bff.cache import Cache
from ..bff.upstream import Upstream, Upstreams
from .metrics import require_prometheus

if TYPE_CHECKING:
    from prometheus_client.core import Metric
    from prometheus_client.registry import CollectorRegistry

    from ..bff.balancer import Instance

__all__ = [
    "BREAKER_STATE_VALUES",
    "BffCollector",
    "BreakerSource",
    "CacheSource",
    "bff_metrics",
    "bind_breaker_metrics",
]

BREAKER_STATE_VALUES: Final = {
    BreakerState.CLOSED: 0,
    BreakerState.HALF_OPEN: 1,
    BreakerState.OPEN: 2,
}
"""The value of ``scallion_breaker_state`` for each state (higher is worse)."""

BreakerSource: TypeAlias = (
    CircuitBreaker | Upstream | Upstreams | Iterable[CircuitBreaker | Upstream]
)
"""What ``bind_breaker_metrics`` accepts: breakers, upstreams, or an ``Upstreams``."""

CacheSource: TypeAlias = Cache | Mapping[str, Cache]
"""One cache (labelled ``default``) or caches by name."""

_CACHE_COUNTERS: Final = (
    ("hits", "Fresh values served from L1 or L2 (negative hits included)."),
    ("misses", "Calls that went upstream themselves."),
    ("stale", "Stale values served (revalidating or after an error)."),
    ("coalesced", "Calls answered by another caller's upstream call."),
    ("negative_hits", "Cached failures raised again."),
    ("l2_hits", "Values found in L2 (Redis)."),
    ("l2_errors", "Failed L2 operations."),
    ("l2_outages", "Times L2 went from up to down."),
    ("upstream_calls", "Loader calls made by the cache."),
    ("upstream_errors", "Loader calls that failed."),
    ("refreshes", "Background refreshes started."),
    ("refresh_errors", "Background refreshes that failed."),
    ("revalidations", "Conditional fetches (the stored entry's validators sent)."),
    ("not_modified", "Conditional fetches answered 304: the stored value refreshed."),
)


class _Breaker:
    """A breaker with its labels and the transitions counted since it was bound."""

    __slots__ = ("breaker", "instance", "transitions", "upstream")

    def __init__(self, breaker: CircuitBreaker, upstream: str, instance: str) -> None:
        self.breaker = breaker
        self.upstream = upstream
        self.instance = instance
        self.transitions: dict[tuple[str, str], int] = {}
        breaker.on_state_change(self._changed)

    def _changed(self, _: CircuitBreaker, old: BreakerState, new: BreakerState) -> None:
        key = (old.value, new.value)
        self.transitions[key] = self.transitions.get(key, 0) + 1


class BffCollector:
    """Exports breakers, upstream instances and caches to one ``CollectorRegistry``.

    Add sources later with ``add_upstreams``, ``add_breakers`` and ``add_caches``.
    """

    def __init__(self, namespace: str = "scallion") -> None:
        self.namespace = namespace
        self._breakers: list[_Breaker] = []
        self._instances: list[tuple[str, Instance]] = []
        self._caches: dict[str, Cache] = {}
        self._seen: set[int] = set()

    def add_upstreams(self, upstreams: Upstream | Iterable[Upstream]) -> None:
        """Export each upstream's instances (calls, in flight) and their breakers."""
        for upstream in [upstreams] if isinstance(upstreams, Upstream) else upstreams:
            if not isinstance(upstream, Upstream):
                raise TypeError(f"expected an Upstream, got {type(upstream).__name__}")
            for instance in upstream.instances:
                if id(instance) in self._seen:
                    continue
                self._seen.add(id(instance))
                self._instances.append((upstream.name, instance))
                if instance.breaker is not None:
                    self._add_breaker(instance.breaker, upstream.name, instance.label)

    def add_breakers(self, breakers: BreakerSource) -> None:
        """Export breakers; upstreams given here are added whole (``add_upstreams``)."""
        if isinstance(breakers, CircuitBreaker | Upstream):
            breakers = [breakers]
        for item in breakers:
            if isinstance(item, Upstream):
                self.add_upstreams(item)
            elif isinstance(item, CircuitBreaker):
                self._add_breaker(item, item.name, "")
            else:
                raise TypeError(f"expected a CircuitBreaker or Upstream, got {type(item).__name__}")

    def add_caches(self, caches: CacheSource) -> None:
        """Export ``Cache.stats``; a single cache is labelled ``cache="default"``."""
        items = {"default": caches} if isinstance(caches, Cache) else dict(caches)
        for name, cache in items.items():
            if not isinstance(cache, Cache):
                raise TypeError(f"expected a Cache for {name!r}, got {type(cache).__name__}")
            if name in self._caches and self._caches[name] is not cache:
                raise ValueError(f"a different cache is already exported as {name!r}")
            self._caches[name] = cache

    def _add_breaker(self, breaker: CircuitBreaker, upstream: str, instance: str) -> None:
        if any(b.breaker is breaker for b in self._breakers):
            return
        self._breakers.append(_Breaker(breaker, upstream, instance))

    # -- the collector ---------------------------------------------------------------------

    def describe(self) -> list[Metric]:
        return list(self._families(empty=True))

    def collect(self) -> Iterator[Metric]:
        return self._families(empty=False)

    def _families(self, *, empty: bool) -> Iterator[Metric]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        ns = self.namespace
        who = ("upstream", "instance")
        state = GaugeMetricFamily(
            f"{ns}_breaker_state", "Breaker state: 0 closed, 1 half-open, 2 open.", labels=who
        )
        failure_rate = GaugeMetricFamily(
            f"{ns}_breaker_failure_rate", "Failed share of the window's calls.", labels=who
        )
        slow_rate = GaugeMetricFamily(
            f"{ns}_breaker_slow_call_rate", "Slow share of the window's calls.", labels=who
        )
        window = GaugeMetricFamily(
            f"{ns}_breaker_window_calls", "Calls in the breaker's window.", labels=who
        )
        rejected = CounterMetricFamily(
            f"{ns}_breaker_rejected", "Calls refused by an open breaker.", labels=who
        )
        transitions = CounterMetricFamily(
            f"{ns}_breaker_transitions",
            "Breaker state changes.",
            labels=(*who, "from", "to"),
        )
        calls = CounterMetricFamily(
            f"{ns}_upstream_calls", "Calls sent to the upstream instance.", labels=who
        )
        in_flight = GaugeMetricFamily(
            f"{ns}_upstream_in_flight", "Calls in flight to the upstream instance.", labels=who
        )
        cache_counters = [
            CounterMetricFamily(f"{ns}_cache_{name}", doc, labels=("cache",))
            for name, doc in _CACHE_COUNTERS
        ]
        l1_entries = GaugeMetricFamily(
            f"{ns}_cache_l1_entries", "Entries in the in-process cache.", labels=("cache",)
        )
        l1_bytes = GaugeMetricFamily(
            f"{ns}_cache_l1_bytes", "Bytes held by the in-process cache.", labels=("cache",)
        )
        if not empty:
            for b in self._breakers:
                labels = (b.upstream, b.instance)
                m = b.breaker.metrics()
                state.add_metric(labels, BREAKER_STATE_VALUES[m.state])
                failure_rate.add_metric(labels, m.failure_rate)
                slow_rate.add_metric(labels, m.slow_call_rate)
                window.add_metric(labels, m.calls)
                rejected.add_metric(labels, m.rejected)
                for (old, new), count in list(b.transitions.items()):
                    transitions.add_metric((*labels, old, new), count)
            for upstream, instance in self._instances:
                labels = (upstream, instance.label)
                calls.add_metric(labels, instance.calls)
                in_flight.add_metric(labels, instance.outstanding)
            for name, cache in self._caches.items():
                stats = cache.stats
                for family, (counter, _) in zip(cache_counters, _CACHE_COUNTERS, strict=True):
                    family.add_metric((name,), getattr(stats, counter))
                l1_entries.add_metric((name,), len(cache.l1))
                l1_bytes.add_metric((name,), cache.l1.bytes)
        yield from (state, failure_rate, slow_rate, window, rejected, transitions)
        yield from (calls, in_flight, *cache_counters, l1_entries, l1_bytes)


def bff_metrics(
    registry: CollectorRegistry,
    *,
    upstreams: Upstream | Iterable[Upstream] | None = None,
    caches: CacheSource | None = None,
    breakers: BreakerSource | None = None,
    namespace: str = "scallion",
) -> BffCollector:
    """Register one ``BffCollector`` in ``registry`` for these upstreams, caches, breakers.

    Call it once per registry (a second collector would export the same names, which
    prometheus-client refuses); add more sources to the returned collector instead.
    """
    require_prometheus()
    collector = BffCollector(namespace)
    if upstreams is not None:
        collector.add_upstreams(upstreams)
    if breakers is not None:
        collector.add_breakers(breakers)
    if caches is not None:
        collector.add_caches(caches)
    registry.register(collector)
    return collector


def bind_breaker_metrics(
    breaker_or_upstreams: BreakerSource, registry: CollectorRegistry
) -> BffCollector:
    """Export breaker states and transitions (and the upstreams' load) to ``registry``."""
    return bff_metrics(registry, breakers=breaker_or_upstreams)
