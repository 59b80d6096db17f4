"""status_page(): status.json over HTTP, the HTML page, tokens, and a real browser."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from scallion import App
from scallion.bff.breaker import CircuitBreaker
from scallion.bff.cache import Cache
from scallion.bff.upstream import Upstream, Upstreams
from scallion.context import Context
from scallion.observability import RequestRate, status_page, status_route, status_snapshot
from scallion.testing import TestClient
from scallion.types import Next

from .conftest import routed_app, trip

HERE = Path(__file__).parent
TOKEN = "s3cret-token-123"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TestStatusJson:
    def test_breakers_caches_and_load(self, upstream: Upstream) -> None:
        first, second = upstream.instances
        assert first.breaker is not None
        trip(first.breaker)
        second.outstanding, second.calls = 2, 9
        cache = Cache()
        cache.stats.hits, cache.stats.coalesced = 5, 3
        payments = CircuitBreaker("payments")
        app = routed_app(
            status_page(upstreams=Upstreams(upstream), caches={"pages": cache}, breakers=[payments])
        )
        r = TestClient(app).get("/_scallion/status.json")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/json")
        assert r.headers["cache-control"] == "no-store"
        s = r.json()
        users = s["upstreams"]["users"]
        assert users["in_flight"] == 2
        a, b = users["instances"]
        assert a["url"] == "http://127.0.0.1:9" and a["breaker"]["state"] == "open"
        assert a["breaker"]["retry_after"] > 0
        assert b["breaker"]["state"] == "closed" and b["calls"] == 9 and b["in_flight"] == 2
        assert s["caches"]["pages"]["hits"] == 5 and s["caches"]["pages"]["coalesced"] == 3
        assert s["caches"]["pages"]["l1_entries"] == 0
        assert s["breakers"]["payments"]["state"] == "closed"
        from scallion import __version__

        assert s["version"] == __version__
        assert s["uptime"] >= 0

    def test_request_rate_counts_the_last_minute(self) -> None:
        clock = FakeClock()
        client = TestClient(routed_app(status_page(clock=clock)))
        for _ in range(5):
            client.get("/hello")
        client.get("/boom")
        client.get("/unavailable")
        client.get("/forbidden")
        s = client.get("/_scallion/status.json").json()
        assert s["requests"]["last_minute"] == 8  # the page's own polls are not counted
        assert s["requests"]["errors_last_minute"] == 2  # 500 and 503, not the 403
        clock.now += 30
        client.get("/hello")
        s = client.get("/_scallion/status.json").json()
        assert s["requests"]["last_minute"] == 9
        assert s["uptime"] == 30
        assert s["requests"]["per_second"] == round(9 / 30, 3)
        clock.now += 31  # the first eight fall out of the window
        s = client.get("/_scallion/status.json").json()
        assert s["requests"]["last_minute"] == 1
        assert s["requests"]["per_second"] == round(1 / 60, 3)
        clock.now += 3600
        s = client.get("/_scallion/status.json").json()
        assert s["requests"] == {
            "last_minute": 0,
            "errors_last_minute": 0,
            "per_second": 0.0,
            "in_flight": 0,
        }

    def test_in_flight(self) -> None:
        seen: list[int] = []
        page = status_page()

        async def look(ctx: Context, next: Next) -> None:
            assert hasattr(page, "rate")
            seen.append(page.rate.in_flight)
            await next()

        TestClient(routed_app(page, look)).get("/hello")
        assert seen == [1]

    def test_upstreams_default_to_the_apps(self, upstream: Upstream) -> None:
        app = routed_app(status_page())
        Upstreams(upstream).install(app)
        s = TestClient(app).get("/_scallion/status.json").json()
        assert list(s["upstreams"]) == ["users"]
        assert s["caches"] == {} and s["breakers"] == {}

    def test_a_single_upstream_and_cache(self, upstream: Upstream) -> None:
        app = routed_app(status_page(upstreams=upstream, caches=Cache()))
        s = TestClient(app).get("/_scallion/status.json").json()
        assert list(s["upstreams"]) == ["users"] and list(s["caches"]) == ["default"]

    def test_custom_path(self) -> None:
        client = TestClient(routed_app(status_page("/ops/status")))
        assert client.get("/ops/status/status.json").status_code == 200
        assert client.get("/ops/status").status_code == 200
        assert client.get("/ops/status/").status_code == 200
        assert client.get("/_scallion").status_code == 404
        assert client.get("/ops/status/other").status_code == 404  # falls through

    def test_read_only(self) -> None:
        client = TestClient(routed_app(status_page()))
        for method in ("POST", "PUT", "DELETE", "PATCH"):
            r = client.request(method, "/_scallion/status.json")
            assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD"
        r = client.head("/_scallion/status.json")
        assert r.status_code == 200 and r.content == b""

    def test_disabled_is_a_pass_through(self) -> None:
        client = TestClient(routed_app(status_page(enabled=False)))
        assert client.get("/_scallion/status.json").status_code == 404
        assert client.get("/_scallion").status_code == 404
        assert client.get("/hello").text == "hello"

    def test_gateway_snapshot_helpers(self, upstream: Upstream) -> None:
        cache = Cache()
        snap = status_snapshot(Upstreams(upstream), cache)
        assert set(snap) == {"time", "upstreams", "cache"}
        assert snap["upstreams"]["users"]["instances"][0]["breaker"]["state"] == "closed"
        app = App()
        app.use(status_route(Upstreams(upstream), None))
        body = TestClient(app).get("/").json()
        assert "cache" not in body and "users" in body["upstreams"]


class TestToken:
    def client(self) -> TestClient:
        return TestClient(routed_app(status_page(token=TOKEN)))

    @pytest.mark.parametrize(
        "headers",
        [
            {},
            {"Authorization": "Bearer wrong-token-123"},
            {"Authorization": f"Basic {TOKEN}"},
            {"Authorization": "Bearer "},
            {"Authorization": f"Bearer {TOKEN}x"},
            {"Authorization": "Bearer " + "a" * 10_000},
        ],
    )
    def test_refused_without_the_token(self, headers: dict[str, str]) -> None:
        client = self.client()
        for path in ("/_scallion/status.json", "/_scallion"):
            r = client.get(path, headers=headers)
            assert r.status_code == 401
            assert r.headers["www-authenticate"].startswith("Bearer")
            assert "upstreams" not in r.text

    def test_non_ascii_token_is_refused_not_500(self) -> None:
        r = self.client().get(
            "/_scallion/status.json", headers={"Authorization": "Bearer t\u00e9st-token".encode()}
        )
        assert r.status_code == 401

    def test_bearer_header(self) -> None:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        assert self.client().get("/_scallion/status.json", headers=headers).status_code == 200

    def test_query_parameter(self) -> None:
        client = self.client()
        assert client.get(f"/_scallion?token={TOKEN}").status_code == 200
        assert client.get(f"/_scallion/status.json?a=1&token={TOKEN}").status_code == 200
        assert client.get("/_scallion/status.json?token=nope").status_code == 401
        assert client.get("/_scallion/status.json?token=%ff%fe").status_code == 401

    def test_other_routes_need_no_token(self) -> None:
        assert self.client().get("/hello").status_code == 200

    @pytest.mark.parametrize(
        ("kwargs", "error"),
        [
            ({"token": "short"}, ValueError),
            ({"path": "_scallion"}, ValueError),
            ({"path": "/x/"}, ValueError),
            ({"enabled": "no"}, TypeError),
            ({"caches": {"a": object()}}, TypeError),
            ({"breakers": [object()]}, TypeError),
        ],
    )
    def test_bad_options(self, kwargs: dict[str, object], error: type[Exception]) -> None:
        with pytest.raises(error):
            status_page(**kwargs)  # type: ignore[arg-type]


class _Page(HTMLParser):
    """Collects table ids, inline scripts/styles and every URL the page refers to."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[str] = []
        self.urls: list[str] = []
        self.scripts: list[str] = []
        self.styles: list[str] = []
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "table":
            self.tables.append(values.get("id") or "")
        for name in ("src", "href"):
            if values.get(name):
                self.urls.append(str(values[name]))
        if tag in ("script", "style"):
            self._in = tag

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "script":
            self.scripts.append(data)
        elif self._in == "style":
            self.styles.append(data)


def sha(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


class TestHtmlPage:
    def test_self_contained_page_with_strict_csp(self) -> None:
        r = TestClient(routed_app(status_page())).get("/_scallion")
        assert r.status_code == 200
        assert r.headers["content-type"] == "text/html; charset=utf-8"
        assert r.headers["x-frame-options"] == "DENY"
        page = _Page()
        page.feed(r.text)
        assert page.tables == ["upstreams", "caches", "breakers"]
        assert page.urls == []  # no CDN, no external script, style or font
        assert not re.search(r"https?://", r.text)
        csp = r.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "connect-src 'self'" in csp
        (script,) = page.scripts
        (style,) = page.styles
        assert sha(script) in csp and sha(style) in csp
        assert "status.json" in script and "textContent" in script
        assert "innerHTML" not in script  # names from the snapshot are never parsed as HTML


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.timeout(90)
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)")
def test_dashboard_renders_in_a_real_browser(tmp_path: Path) -> None:
    """uvicorn serves the page; headless Chromium runs its script; the DOM shows the rows."""
    assert CHROMIUM is not None
    port = free_port()
    env = {**os.environ, "DASH_TOKEN": TOKEN}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "_dash_app:app", "--app-dir", str(HERE),
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/_scallion"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(url + "/status.json", params={"token": TOKEN}).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.1)
        with tempfile.TemporaryDirectory(dir=tmp_path) as profile:
            done = subprocess.run(
                [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
                 "--virtual-time-budget=3000", "--dump-dom", f"{url}?token={TOKEN}"],
                capture_output=True,
                text=True,
                timeout=60,
            )  # fmt: skip
        dom = done.stdout
        rows = re.findall(r'<tr class="breaker-row"([^>]*)>', dom)
        assert len(rows) == 4, dom[-2000:]
        assert sum('data-state="open"' in r for r in rows) == 2  # users@:9 and payments
        assert sum('data-state="closed"' in r for r in rows) == 2
        assert '<span class="state open">open</span>' in dom
        assert 'data-cache="pages"' in dom and "90.4%" in dom
        conn = re.search(r'<span id="conn" class="([^"]*)">([^<]*)</span>', dom)
        assert conn is not None and conn.group(1) == "muted", dom[-2000:]
        assert conn.group(2).startswith("live · ")  # the token reached status.json too
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


def test_request_rate_slots() -> None:
    clock = FakeClock()
    rate = RequestRate(clock)
    for second in range(120):
        clock.now = 1000.0 + second
        rate.hit(second % 10 == 0)
    assert rate.last_minute() == (60, 6)
