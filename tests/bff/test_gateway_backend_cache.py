"""A backend's ``cache:``: YAML → gateway → HTTP against real loopback upstreams, counting
the upstream's calls, and the config errors with file, line and field.

The raw loopback upstream (``_loopback``) counts requests per path in ``raw.hits``.
"""

from __future__ import annotations

import asyncio
import os
import textwrap
import time
import uuid
from email.utils import formatdate
from pathlib import Path

import pytest

from scallion.bff.cache import Cache
from scallion.bff.gateway import build_gateway, check_gateway
from scallion.bff.gateway.loader import ConfigError
from scallion.bff.gateway.schema import parse_config
from scallion.testing import AsyncTestClient

from ._gateway_support import Services, open_gateway, services_fixture  # noqa: F401

REDIS_URL = os.environ.get("SCALLION_TEST_REDIS", "redis://127.0.0.1:6379/15")

SHARED = """\
endpoints:
  - path: /a
    backends:
      - {upstream: raw, path: /ok, group: data, cache: {ttl: 30}}
  - path: /b
    backends:
      - {upstream: raw, path: /ok, name: probe, allow: [ok], cache: 30}
"""


async def test_two_endpoints_share_one_cached_backend(tmp_path: Path, services: Services) -> None:
    async with open_gateway(tmp_path, SHARED, services) as (client, gateway):
        a1, b1, a2, b2 = [await client.get(path) for path in ("/a", "/b", "/a", "/b")]
    assert services.raw.hits["/ok"] == 1
    assert a1.json() == a2.json() == {"data": {"ok": True, "server": "raw"}, "missing": []}
    assert b1.json() == b2.json() == {"ok": True, "missing": []}  # each endpoint shapes it
    assert a1.headers["x-scallion-completed"] == "true"
    assert "x-cache" not in a1.headers  # no endpoint cache: the backend's is internal
    stats = gateway.cache.stats
    assert (stats.misses, stats.hits, stats.upstream_calls) == (1, 3, 1)


async def test_concurrent_misses_across_endpoints_make_one_call(
    tmp_path: Path, services: Services
) -> None:
    text = """\
    endpoints:
      - path: /a
        backends: [{upstream: raw, path: "/slow?ms=150", group: a, cache: 30}]
      - path: /b
        backends: [{upstream: raw, path: "/slow?ms=150", group: b, cache: 30}]
    """
    async with open_gateway(tmp_path, text, services) as (client, gateway):
        answers = await asyncio.gather(*(client.get(f"/{'ab'[i % 2]}") for i in range(40)))
    assert [r.status_code for r in answers] == [200] * 40
    assert all(r.json()["missing"] == [] for r in answers)
    assert services.raw.hits["/slow"] == 1
    assert gateway.cache.stats.coalesced == 39


VARY_HEAD = """\
upstreams:
  raw:
    url: "${RAW_URL}"
    timeout: 1
    retry: false
    breaker: false
    propagate_headers: [accept-language]
"""


async def test_vary_headers_keep_separate_entries(tmp_path: Path, services: Services) -> None:
    text = """\
    endpoints:
      - path: /a
        backends:
          - upstream: raw
            path: /echo
            group: echo
            cache: {ttl: 30, vary: [Accept-Language]}
    """
    seen = []
    async with open_gateway(tmp_path, text, services, head=VARY_HEAD) as (client, _):
        for lang in ("en", "en", "fr", "fr", None, None, "en"):
            headers = {"accept-language": lang} if lang else {}
            r = await client.get("/a", headers=headers)
            seen.append(r.json()["echo"]["headers"].get("accept-language"))
    assert seen == ["en", "en", "fr", "fr", None, None, "en"]  # each variant its own entry
    assert services.raw.hits["/echo"] == 3


async def test_without_vary_a_per_client_answer_is_not_shared(
    tmp_path: Path, services: Services
) -> None:
    # The upstream says its answer depends on a header the gateway forwards from clients:
    # without that header in vary, sharing it would hand one client's answer to another.
    services.raw.response_headers["/echo"] = [("vary", "Accept-Language")]
    text = """\
    endpoints:
      - path: /a
        backends: [{upstream: raw, path: /echo, group: echo, cache: 30}]
    """
    async with open_gateway(tmp_path, text, services, head=VARY_HEAD) as (client, _):
        langs = []
        for lang in ("en", "fr", "en"):
            r = await client.get("/a", headers={"accept-language": lang})
            langs.append(r.json()["echo"]["headers"]["accept-language"])
    assert langs == ["en", "fr", "en"]
    assert services.raw.hits["/echo"] == 3


async def test_ttl_expiry_makes_a_new_call(tmp_path: Path, services: Services) -> None:
    text = """\
    endpoints:
      - path: /a
        backends: [{upstream: raw, path: /ok, group: data, cache: {ttl: 1}}]
    """
    async with open_gateway(tmp_path, text, services) as (client, _):
        await client.get("/a")
        await client.get("/a")
        assert services.raw.hits["/ok"] == 1
        await asyncio.sleep(1.1)
        r = await client.get("/a")
        assert r.json()["data"]["ok"] is True
    assert services.raw.hits["/ok"] == 2


@pytest.mark.parametrize(
    "headers",
    [
        [("cache-control", "no-store")],
        [("cache-control", "private, max-age=60")],
        [("expires", formatdate(time.time() - 60, usegmt=True))],
        [("expires", "0")],
        [("cache-control", "max-age=60"), ("age", "60")],
        [("cache-control", "max-age=60, max-age=5")],
    ],
)
async def test_the_upstreams_headers_can_forbid_or_shorten_it(
    tmp_path: Path, services: Services, headers: list[tuple[str, str]]
) -> None:
    services.raw.response_headers["/ok"] = headers
    async with open_gateway(tmp_path, SHARED, services) as (client, _):
        for path in ("/a", "/b", "/a"):
            assert (await client.get(path)).json()["missing"] == []
    assert services.raw.hits["/ok"] == 3


async def test_the_upstreams_expires_sets_the_lifetime(tmp_path: Path, services: Services) -> None:
    # ttl says 30 s; the upstream says its answer expires in one second: the upstream wins.
    now = time.time()
    services.raw.response_headers["/ok"] = [
        ("date", formatdate(now, usegmt=True)),
        ("expires", formatdate(now + 1, usegmt=True)),
    ]
    async with open_gateway(tmp_path, SHARED, services) as (client, _):
        await client.get("/a")
        await client.get("/b")
        assert services.raw.hits["/ok"] == 1
        await asyncio.sleep(1.1)
        await client.get("/a")
    assert services.raw.hits["/ok"] == 2


async def test_stale_if_error_answers_with_the_last_good_value(
    tmp_path: Path, services: Services
) -> None:
    text = """\
    endpoints:
      - path: /a
        cache: {ttl: 1}
        backends: [{upstream: raw, path: /ok, group: data, cache: {ttl: 1, sie: 60}}]
    """
    async with open_gateway(tmp_path, text, services) as (client, _):
        first = await client.get("/a")
        assert first.headers["x-cache"] == "MISS" and first.json()["missing"] == []
        await asyncio.sleep(1.1)  # both the endpoint's answer and the backend's entry expire
        services.raw.fail_status = 503
        answers = [await client.get("/a") for _ in range(2)]
    for r in answers:
        assert r.status_code == 200 and r.headers["x-scallion-completed"] == "true"
        assert r.json() == {"data": {"ok": True, "server": "raw"}, "missing": [], "stale": ["data"]}
        # a stale part is not for the endpoint cache to keep: the next request asks again
        assert r.headers["x-cache"] == "MISS" and r.headers["cache-control"] == "no-store"
    assert services.raw.hits["/ok"] == 3


async def test_pass_status_from_a_cached_backend(tmp_path: Path, services: Services) -> None:
    text = """\
    endpoints:
      - path: /a
        backends:
          - {upstream: raw, path: /status/404, group: data, pass_status: [404], cache: 30}
      - path: /b
        backends:
          - {upstream: raw, path: /status/404, group: data, fallback: gone, cache: 30}
    """
    async with open_gateway(tmp_path, text, services) as (client, _):
        a = await client.get("/a")
        b = await client.get("/b")
    assert a.status_code == 404 and a.headers["x-scallion-passed"] == "data"
    assert a.json() == {"error": "status 404", "server": "raw"}
    assert b.status_code == 200 and b.json() == {"data": "gone", "missing": ["data"]}
    assert services.raw.hits["/status/404"] == 2  # failures are not cached


async def test_a_fan_out_caches_each_item(tmp_path: Path, services: Services) -> None:
    text = """\
    endpoints:
      - path: /orders/:id
        backends:
          - {upstream: orders, name: order, path: "/orders/{id}", group: order}
          - upstream: catalog
            name: items
            over: order.items
            path: /items/{item}
            group: items
            cache: 60
    """
    async with open_gateway(tmp_path, text, services) as (client, _):
        first = (await client.get("/orders/1002")).json()
        second = (await client.get("/orders/1002")).json()
    assert first == second and first["missing"] == []
    skus = first["order"]["items"]
    assert [item["sku"] for item in first["items"]] == skus
    calls = services.controls["catalog"].calls
    assert sum(n for path, n in calls.items() if path.startswith("/items/")) == len(set(skus))


async def test_redis_l2_is_shared_by_two_gateways(tmp_path: Path, services: Services) -> None:
    run = uuid.uuid4().hex  # this test's own keys on the shared test Redis
    path = tmp_path / "gateway.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            redis: {REDIS_URL}
            upstreams:
              raw: {{url: "${{RAW_URL}}", timeout: 1, retry: false, breaker: false}}
            endpoints:
              - path: /a
                backends: [{{upstream: raw, path: "/ok?run={run}", group: data, cache: 30}}]
            """
        )
    )
    one = build_gateway(path, env=services.env)
    two = build_gateway(path, env=services.env)  # another worker process, in effect
    key = Cache.key_for("GET", f"upstream://raw/ok?run={run}")
    try:
        async with AsyncTestClient(one.app) as client:
            first = await client.get("/a")
        async with AsyncTestClient(two.app) as client:
            second = await client.get("/a")
        assert (
            first.json()
            == second.json()
            == {
                "data": {"ok": True, "server": "raw"},
                "missing": [],
            }
        )
        assert services.raw.hits["/ok"] == 1
        assert two.cache.stats.l2_hits == 1 and two.cache.stats.upstream_calls == 0
    finally:
        cleaner = Cache(redis=REDIS_URL, namespace="scallion:gateway")
        await cleaner.invalidate(key)
        await cleaner.aclose()


# -- config errors: file, line, field ---------------------------------------------------------

HEAD = """\
upstreams:
  users: {url: "http://127.0.0.1:9001"}
endpoints:
  - path: /a
    backends:
      - upstream: users
        path: /a
"""


def errors_of(snippet: str) -> list[str]:
    text = HEAD + textwrap.indent(textwrap.dedent(snippet), " " * 8)
    config, errors = parse_config(text, "gateway.yaml", {})
    assert config is None and errors and all(isinstance(e, ConfigError) for e in errors)
    return [str(e) for e in errors]


FIELD = "endpoints[0].backends[0]"


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ("cache: {ttl: -1}", f"8: {FIELD}.cache.ttl: must be greater than 0, got -1"),
        ("cache: {ttl: 0}", f"8: {FIELD}.cache.ttl: must be greater than 0, got 0"),
        ("cache: 0", f"8: {FIELD}.cache.ttl: must be greater than 0, got 0"),
        ("cache: {ttl: soon}", f"8: {FIELD}.cache.ttl: must be a number, not a string"),
        ("cache: {ttl: true}", f"8: {FIELD}.cache.ttl: must be a number, not a boolean"),
        ("cache: {ttl: 100000}", f"8: {FIELD}.cache.ttl: must be at most 86400, got 100000"),
        ("cache: {vary: [a]}", f"8: {FIELD}.cache: missing required field 'ttl'"),
        (
            "cache: {ttl: 5, varry: [a]}",
            f"8: {FIELD}.cache.varry: unknown field 'varry' (did you mean 'vary'?)",
        ),
        ("cache: {ttl: 5, size: 3}", f"8: {FIELD}.cache.size: unknown field 'size'"),
        ("cache: {ttl: 5, swr: -1}", f"8: {FIELD}.cache.swr: must not be negative, got -1"),
        ("cache: {ttl: 5, sie: x}", f"8: {FIELD}.cache.sie: must be a number, not a string"),
        (
            "cache: {ttl: 5, vary: [accept language]}",
            f"8: {FIELD}.cache.vary: 'accept language' is not a header name",
        ),
        ("cache: {ttl: 5, vary: 7}", f"8: {FIELD}.cache.vary: must be a list of non-empty"),
        ("cache: true", f"8: {FIELD}.cache: must be a mapping, not a boolean"),
        ("cache: [30]", f"8: {FIELD}.cache: must be a mapping, not a list"),
        ("method: POST\ncache: 30", f"9: {FIELD}.cache: only GET backends can be cached, not POST"),
        (
            "forward_body: true\ncache: 30",
            f"9: {FIELD}.cache: a cached backend cannot forward the request body",
        ),
        (
            "pass_status: [404, 203]\ncache: 30",
            f"8: {FIELD}.pass_status: a cached backend cannot pass 203 through",
        ),
        # the line of the offending field inside a block mapping
        ("cache:\n  vary: [a]\n  ttl: -3", f"10: {FIELD}.cache.ttl: must be greater than 0"),
    ],
)
def test_cache_config_errors_name_file_line_and_field(snippet: str, expected: str) -> None:
    errors = errors_of(snippet)
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"gateway.yaml:{expected}"), errors


@pytest.mark.parametrize(
    "snippet",
    [
        "cache: 30",
        "cache: 0.5",
        "cache: {ttl: 30}",
        "cache: {ttl: 30, vary: Accept-Language}",
        "cache: {ttl: 30, vary: [accept-language, x-tenant], swr: 60, sie: 600}",
        "cache: null",
        "cache: false",
        "pass_status: all\ncache: 30",
        "pass_status: [200, 404]\ncache: 30",
    ],
)
def test_valid_cache_configs(snippet: str) -> None:
    text = HEAD + textwrap.indent(textwrap.dedent(snippet), " " * 8)
    config, errors = parse_config(text, "gateway.yaml", {})
    assert errors == [] and config is not None


def test_the_parsed_cache_config() -> None:
    text = HEAD + "        cache: {ttl: 30, vary: [Accept-Language, accept-language], swr: 5}\n"
    config, _ = parse_config(text, "gateway.yaml", {})
    assert config is not None
    cache = config.endpoints[0].backends[0].cache
    assert cache is not None
    assert (cache.ttl, cache.vary, cache.swr, cache.sie) == (30.0, ("accept-language",), 5.0, 0.0)


def test_check_gateway_reports_backend_cache_errors(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(HEAD + "        cache: {ttl: 5, stale: 9}\n")
    assert [str(e) for e in check_gateway(path)] == [
        f"{path}:8: {FIELD}.cache.stale: unknown field 'stale'"
    ]
    path.write_text(HEAD + "        cache: {ttl: 5, vary: [x-tenant], swr: 9, sie: 60}\n")
    assert check_gateway(path) == []
