"""metrics(): request counts, latency, sizes and in-flight by route pattern, over HTTP."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.parser import text_string_to_metric_families

from scallion import App, Router
from scallion.bff.breaker import CircuitBreaker
from scallion.bff.cache import Cache
from scallion.bff.upstream import Upstream, Upstreams
from scallion.context import Context
from scallion.middleware import error_handler
from scallion.observability import bff_metrics, bind_breaker_metrics, metrics
from scallion.testing import AsyncTestClient, TestClient
from scallion.types import Next

from .conftest import routed_app, trip


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of a scrape: (name, labels) -> value."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(text: str, name: str, **labels: str) -> float | None:
    return samples(text).get((name, frozenset(labels.items())))


def scrape(client: TestClient) -> str:
    r = client.get("/metrics")
    assert r.status_code == 200
    return r.text


class TestRequests:
    def test_counted_by_route_pattern_not_raw_path(self) -> None:
        client = TestClient(routed_app(metrics()))
        for i in range(30):
            assert client.get(f"/users/{i}").status_code == 200
        text = scrape(client)
        assert value(text, "scallion_http_requests_total", method="GET", route="/users/:id",
                     status="200") == 30  # fmt: skip
        assert "/users/7" not in text and "/users/29" not in text

    def test_nested_routers_give_the_full_pattern(self) -> None:
        app = App()
        m = metrics()
        api, child = Router(prefix="/api"), Router()

        @child.get("/users/:id")
        async def user(ctx: Context) -> None:
            ctx.body = "x"

        api.use("/v1", child.routes())
        app.use(m, api.routes())
        client = TestClient(app)
        client.get("/api/v1/users/3")
        assert value(scrape(client), "scallion_http_requests_total", method="GET",
                     route="/api/v1/users/:id", status="200") == 1  # fmt: skip

    def test_unmatched_paths_share_one_series(self) -> None:
        client = TestClient(routed_app(metrics()))
        for path in ("/wp-admin", "/.env", "/a/b/c", "/%00"):
            assert client.get(path).status_code == 404
        text = scrape(client)
        assert value(text, "scallion_http_requests_total", method="GET", route="unmatched",
                     status="404") == 4  # fmt: skip
        assert "wp-admin" not in text and ".env" not in text

    def test_unknown_methods_are_other(self) -> None:
        client = TestClient(routed_app(metrics()))
        for method in ("FOO", "BAR", "PROPFIND"):
            client.request(method, "/hello")
        text = scrape(client)
        assert "FOO" not in text and "PROPFIND" not in text
        total = sum(
            v
            for (name, labels), v in samples(text).items()
            if name == "scallion_http_requests_total" and ("method", "_OTHER") in labels
        )
        assert total == 3

    def test_status_and_method_labels(self) -> None:
        client = TestClient(routed_app(metrics()))
        client.post("/items")
        client.get("/unavailable")
        text = scrape(client)
        assert value(text, "scallion_http_requests_total", method="POST", route="/items",
                     status="201") == 1  # fmt: skip
        assert value(text, "scallion_http_requests_total", method="GET", route="/unavailable",
                     status="503") == 1  # fmt: skip

    def test_errors_counted_with_the_status_they_get(self) -> None:
        client = TestClient(routed_app(metrics(), error_handler()))
        assert client.get("/forbidden").status_code == 403
        assert client.get("/boom").status_code == 500
        text = scrape(client)
        assert value(text, "scallion_http_requests_total", method="GET", route="/forbidden",
                     status="403") == 1  # fmt: skip
        assert value(text, "scallion_http_requests_total", method="GET", route="/boom",
                     status="500") == 1  # fmt: skip

    def test_errors_passing_through_it_are_classified(self) -> None:
        # No error_handler: the exception goes through metrics() to the App.
        client = TestClient(routed_app(metrics()))
        assert client.get("/forbidden").status_code == 403
        assert client.get("/boom").status_code == 500
        text = scrape(client)
        assert value(text, "scallion_http_requests_total", method="GET", route="/boom",
                     status="500") == 1  # fmt: skip
        assert value(text, "scallion_http_requests_total", method="GET", route="/forbidden",
                     status="403") == 1  # fmt: skip

    def test_group_paths_false_labels_decoded_paths(self) -> None:
        client = TestClient(routed_app(metrics(group_paths=False)))
        client.get("/users/%C3%A9")
        client.get("/nope")
        text = scrape(client)
        assert value(text, "scallion_http_requests_total", method="GET", route="/users/é",
                     status="200") == 1  # fmt: skip
        assert value(text, "scallion_http_requests_total", method="GET", route="unmatched",
                     status="404") == 1  # fmt: skip


class TestLatencyAndSize:
    def test_histogram_buckets_are_cumulative(self) -> None:
        async def slow(ctx: Context, next: Next) -> None:
            await asyncio.sleep(0.03)
            await next()

        client = TestClient(routed_app(metrics(buckets=(0.01, 0.02, 1.0)), slow))
        client.get("/hello")
        text = scrape(client)
        labels = {"method": "GET", "route": "/hello", "status": "200"}
        bucket = "scallion_http_request_duration_seconds_bucket"
        assert value(text, bucket, le="0.01", **labels) == 0
        assert value(text, bucket, le="0.02", **labels) == 0
        assert value(text, bucket, le="1.0", **labels) == 1
        assert value(text, bucket, le="+Inf", **labels) == 1
        assert value(text, "scallion_http_request_duration_seconds_count", **labels) == 1
        total = value(text, "scallion_http_request_duration_seconds_sum", **labels)
        assert total is not None and 0.03 <= total < 1.0

    def test_response_size(self) -> None:
        client = TestClient(routed_app(metrics()))
        client.get("/hello")
        client.get("/hello")
        client.head("/hello")
        client.get("/stream")
        text = scrape(client)
        get = {"method": "GET", "route": "/hello", "status": "200"}
        assert value(text, "scallion_http_response_size_bytes_sum", **get) == 10
        assert value(text, "scallion_http_response_size_bytes_count", **get) == 2
        head = {"method": "HEAD", "route": "/hello", "status": "200"}
        assert value(text, "scallion_http_response_size_bytes_sum", **head) == 0
        # a stream's length is unknown: counted as a request, not as a size
        stream = {"method": "GET", "route": "/stream", "status": "200"}
        assert value(text, "scallion_http_requests_total", **stream) == 1
        assert value(text, "scallion_http_response_size_bytes_count", **stream) is None

    async def test_in_flight_gauge(self) -> None:
        m = metrics()
        release = asyncio.Event()
        entered = asyncio.Event()

        async def hold(ctx: Context, next: Next) -> None:
            entered.set()
            await release.wait()
            await next()

        app = routed_app(m, hold)
        async with AsyncTestClient(app) as client:
            pending = asyncio.ensure_future(client.get("/hello"))
            await entered.wait()
            text = (await client.get("/metrics")).text
            assert value(text, "scallion_http_requests_in_flight") == 1
            release.set()
            await pending
            text = (await client.get("/metrics")).text
            assert value(text, "scallion_http_requests_in_flight") == 0


class TestExposition:
    def test_content_type_and_no_store(self) -> None:
        client = TestClient(routed_app(metrics()))
        r = client.get("/metrics")
        assert r.headers["content-type"] == CONTENT_TYPE_PLAIN_0_0_4
        assert r.headers["cache-control"] == "no-store"

    def test_openmetrics_when_asked(self) -> None:
        client = TestClient(routed_app(metrics()))
        client.get("/hello")
        r = client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
        assert r.headers["content-type"].startswith("application/openmetrics-text")
        assert r.text.rstrip().endswith("# EOF")

    @pytest.mark.parametrize(
        "accept",
        [
            "application/openmetrics-text; version=banana",
            "text/plain; version=1.x.y; escaping=nonsense",
            ";;;,,,=",
            "x" * 5000,
        ],
    )
    def test_hostile_accept_header_still_scrapes(self, accept: str) -> None:
        client = TestClient(routed_app(metrics()))
        r = client.get("/metrics", headers={"Accept": accept})
        assert r.status_code == 200
        assert "scallion_http_requests_in_flight" in r.text

    def test_other_methods_are_405(self) -> None:
        client = TestClient(routed_app(metrics()))
        r = client.post("/metrics", content=b"x")
        assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD"
        assert client.head("/metrics").status_code == 200

    def test_scrapes_are_not_counted(self) -> None:
        client = TestClient(routed_app(metrics()))
        scrape(client)
        assert 'route="unmatched"' not in scrape(client)

    def test_custom_path_and_none(self) -> None:
        client = TestClient(routed_app(metrics(path="/_prom")))
        assert client.get("/_prom").status_code == 200
        assert client.get("/metrics").status_code == 404
        m = metrics(path=None)
        client = TestClient(routed_app(m))
        assert client.get("/metrics").status_code == 404
        client.get("/hello")
        from prometheus_client import generate_latest

        assert 'route="/hello"' in generate_latest(m.registry).decode()


class TestRegistry:
    def test_each_app_gets_its_own_registry(self) -> None:
        a, b = TestClient(routed_app(metrics())), TestClient(routed_app(metrics()))
        a.get("/hello")
        assert 'route="/hello"' in scrape(a)
        assert 'route="/hello"' not in scrape(b)
        assert REGISTRY.get_sample_value("scallion_http_requests_in_flight") is None

    def test_a_given_registry_is_used(self) -> None:
        registry = CollectorRegistry()
        m = metrics(registry)
        assert m.registry is registry
        TestClient(routed_app(m)).get("/hello")
        labels = {"method": "GET", "route": "/hello", "status": "200"}
        assert registry.get_sample_value("scallion_http_requests_total", labels) == 1

    def test_two_on_one_registry_are_refused(self) -> None:
        registry = CollectorRegistry()
        metrics(registry)
        with pytest.raises(ValueError, match="Duplicated"):
            metrics(registry)

    def test_namespace(self) -> None:
        client = TestClient(routed_app(metrics(namespace="shop")))
        client.get("/hello")
        text = scrape(client)
        assert "shop_http_requests_total" in text and "scallion_" not in text


class TestOptions:
    @pytest.mark.parametrize(
        ("kwargs", "error"),
        [
            ({"registry": object()}, TypeError),
            ({"path": "metrics"}, ValueError),
            ({"buckets": ()}, ValueError),
            ({"buckets": (0.5, 0.1)}, ValueError),
            ({"buckets": (-1.0, 1.0)}, ValueError),
            ({"buckets": ("a",)}, TypeError),
            ({"size_buckets": (10.0, 10.0)}, ValueError),
            ({"group_paths": "yes"}, TypeError),
            ({"namespace": "my-app"}, ValueError),
        ],
    )
    def test_bad_options(self, kwargs: dict[str, object], error: type[Exception]) -> None:
        with pytest.raises(error):
            metrics(**kwargs)  # type: ignore[arg-type]

    def test_inf_bound_is_implicit(self) -> None:
        m = metrics(buckets=(0.1, 1.0, float("inf")))
        assert m.bounds == (0.1, 1.0)


class TestBffMetrics:
    def test_breaker_state_and_transitions(self, upstream: Upstream) -> None:
        m = metrics()
        bff_metrics(m.registry, upstreams=Upstreams(upstream))
        client = TestClient(routed_app(m))
        first, second = upstream.instances
        assert first.breaker is not None
        text = scrape(client)
        who = {"upstream": "users", "instance": first.label}
        assert value(text, "scallion_breaker_state", **who) == 0
        trip(first.breaker)
        text = scrape(client)
        assert value(text, "scallion_breaker_state", **who) == 2
        assert value(text, "scallion_breaker_failure_rate", **who) == 0  # window reset on open
        assert value(text, "scallion_breaker_state", upstream="users",
                     instance=second.label) == 0  # fmt: skip
        assert value(text, "scallion_breaker_transitions_total", **who,
                     **{"from": "closed", "to": "open"}) == 1  # fmt: skip
        from scallion.bff.errors import BreakerOpen

        with pytest.raises(BreakerOpen):
            first.breaker.try_acquire()
        assert value(scrape(client), "scallion_breaker_rejected_total", **who) == 1

    def test_upstream_load(self, upstream: Upstream) -> None:
        m = metrics()
        bff_metrics(m.registry, upstreams=upstream)
        first = upstream.instances[0]
        first.calls, first.outstanding = 12, 3
        text = scrape(TestClient(routed_app(m)))
        who = {"upstream": "users", "instance": first.label}
        assert value(text, "scallion_upstream_calls_total", **who) == 12
        assert value(text, "scallion_upstream_in_flight", **who) == 3

    async def test_cache_hits_misses_and_coalescing(self) -> None:
        cache = Cache()
        m = metrics()
        bff_metrics(m.registry, caches={"pages": cache})
        gate = asyncio.Event()

        async def fetch() -> dict[str, int]:
            await gate.wait()
            return {"v": 1}

        waiting = [asyncio.ensure_future(cache.get_or_fetch("k", fetch)) for _ in range(5)]
        await asyncio.sleep(0.01)
        gate.set()
        await asyncio.gather(*waiting)
        await cache.get_or_fetch("k", fetch)
        async with AsyncTestClient(routed_app(m)) as client:
            text = (await client.get("/metrics")).text
        assert value(text, "scallion_cache_misses_total", cache="pages") == 1
        assert value(text, "scallion_cache_coalesced_total", cache="pages") == 4
        assert value(text, "scallion_cache_hits_total", cache="pages") == 1
        assert value(text, "scallion_cache_l1_entries", cache="pages") == 1
        await cache.aclose()

    def test_single_cache_is_default(self) -> None:
        registry = CollectorRegistry()
        bff_metrics(registry, caches=Cache())
        assert registry.get_sample_value("scallion_cache_hits_total", {"cache": "default"}) == 0

    def test_bind_breaker_metrics_on_plain_breakers(self) -> None:
        registry = CollectorRegistry()
        breaker = CircuitBreaker("payments", minimum_calls=2)
        bind_breaker_metrics(breaker, registry)
        trip(breaker)
        who = {"upstream": "payments", "instance": ""}
        assert registry.get_sample_value("scallion_breaker_state", who) == 2

    def test_sources_added_later_and_no_duplicates(self, upstream: Upstream) -> None:
        registry = CollectorRegistry()
        collector = bff_metrics(registry)
        collector.add_upstreams(upstream)
        collector.add_breakers([upstream, *upstream.breakers()])  # already there: ignored
        first = upstream.instances[0]
        assert first.breaker is not None
        trip(first.breaker)
        who = {"upstream": "users", "instance": first.label, "from": "closed", "to": "open"}
        assert registry.get_sample_value("scallion_breaker_transitions_total", who) == 1

    def test_bad_sources(self) -> None:
        registry = CollectorRegistry()
        with pytest.raises(TypeError):
            bff_metrics(registry, caches={"x": object()})  # type: ignore[dict-item]
        with pytest.raises(TypeError):
            bff_metrics(registry, breakers=[object()])  # type: ignore[list-item]
        collector = bff_metrics(registry, caches={"a": Cache()})
        with pytest.raises(ValueError, match="already exported"):
            collector.add_caches({"a": Cache()})

    def test_gateway_style_app_exposes_both(self, upstream: Upstream) -> None:
        app = App()
        m = metrics()
        bff_metrics(m.registry, upstreams=upstream, caches=Cache())
        app.use(m)
        text = scrape(TestClient(app))
        assert "scallion_http_requests_in_flight" in text
        assert "scallion_breaker_state" in text and "scallion_cache_hits_total" in text
