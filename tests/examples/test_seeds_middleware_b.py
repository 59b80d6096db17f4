"""The seeds' examples for body parsing, static files, CORS, compression and routing (batch B)."""

from __future__ import annotations

from typing import Any

import pytest
from _seed_loader import load

from scallion.testing import TestClient


@pytest.fixture
def client_of() -> Any:
    opened: list[TestClient] = []

    def make(app: Any) -> TestClient:
        c = TestClient(app)
        opened.append(c)
        return c

    yield make
    for c in opened:
        c.close()


class TestBodyParsing:
    def test_json_and_form(self, client_of: Any) -> None:
        c = client_of(load("body_parsing").app)
        r = c.post("/users", json={"name": "ann", "age": 3})
        assert r.status_code == 201 and r.json() == {"created": "ann", "fields": ["age", "name"]}
        form = c.post("/users", data={"name": "bob"})
        assert form.status_code == 201 and form.json()["created"] == "bob"

    def test_limits_and_bad_input(self, client_of: Any) -> None:
        c = client_of(load("body_parsing").app)
        big = {"name": "x" * (3 * 1024 * 1024)}  # over the app's 1 MiB, under jsonLimit 5mb
        assert c.post("/users", json=big).status_code == 201
        huge = b'{"name": "' + b"x" * (6 * 1024 * 1024) + b'"}'
        over = c.post("/users", content=huge, headers={"Content-Type": "application/json"})
        assert over.status_code == 413 and over.json()["message"].startswith(
            "Request body is larger than the limit of 5242880 bytes"
        )
        bad = c.post("/users", content=b'{"name": ', headers={"Content-Type": "application/json"})
        assert bad.status_code == 400 and "Malformed JSON" in bad.json()["message"]
        text = c.post("/echo", content=b"plain", headers={"Content-Type": "text/plain"})
        assert text.json() == {"parsed": None, "bytes": 5}  # text is not enabled


class TestStaticFiles:
    def test_files_and_fallthrough(self, client_of: Any) -> None:
        c = client_of(load("static_files").app)
        home = c.get("/")
        assert home.status_code == 200 and "Served by serve_static" in home.text
        assert home.headers["content-type"] == "text/html; charset=utf-8"
        css = c.get("/css/site.css")
        assert css.headers["content-type"] == "text/css; charset=utf-8"
        assert c.get("/api/hello").json() == {"hello": "from a route"}
        assert c.get("/nothing-here").status_code == 404

    def test_caching_ranges_and_traversal(self, client_of: Any) -> None:
        c = client_of(load("static_files").app)
        first = c.get("/robots.txt")
        again = c.get("/robots.txt", headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304
        part = c.get("/robots.txt", headers={"Range": "bytes=0-9"})
        assert part.status_code == 206 and part.text == "User-agent"
        for path in ("/%2e%2e/static_files.py", "/..%2fstatic_files.py", "/%2e%2e%5cx"):
            r = c.get(path)
            assert r.status_code in (400, 404) and "serve_static" not in r.text


class TestCors:
    def test_seed_options(self, client_of: Any) -> None:
        c = client_of(load("cors_setup").app)
        origin = {"Origin": "https://web.example"}
        r = c.get("/items", headers=origin)
        assert r.json() == [{"id": 1}] and r.headers["access-control-allow-origin"] == "*"
        pre = c.options(
            "/items/1",
            headers={
                **origin,
                "Access-Control-Request-Method": "DELETE",
                "Access-Control-Request-Headers": "authorization",
            },
        )
        assert pre.status_code == 204
        assert pre.headers["access-control-allow-methods"] == "GET, POST, PUT, DELETE"
        assert pre.headers["access-control-allow-headers"] == "Content-Type, Authorization"
        err = c.get("/private", headers=origin)
        assert err.status_code == 401 and err.headers["access-control-allow-origin"] == "*"

    def test_credentials_need_listed_origins(self, client_of: Any) -> None:
        from scallion.middleware import cors

        with pytest.raises(ValueError, match="wildcard"):
            cors(origin="*", credentials=True)
        c = client_of(load("cors_setup").credentials_app)
        ok = c.get("/items", headers={"Origin": "https://app.example.com"})
        assert ok.headers["access-control-allow-origin"] == "https://app.example.com"
        assert ok.headers["access-control-allow-credentials"] == "true"
        assert ok.headers["vary"] == "Origin"
        other = c.get("/items", headers={"Origin": "https://evil.example"})
        assert other.status_code == 200 and "access-control-allow-origin" not in other.headers


class TestRawBody:
    @pytest.mark.parametrize("name", ["raw_first", "parser_first"])
    def test_both_orders_work(self, client_of: Any, name: str) -> None:
        mod = load("raw_body")
        c = client_of(getattr(mod, name))
        raw = b'{"event": "push",  "id": 7}'
        headers = {"Content-Type": "application/json", "X-Signature": mod.sign(raw)}
        r = c.post("/hook", content=raw, headers=headers)
        assert r.json() == {"event": "push", "raw_bytes": len(raw)}
        forged = c.post("/hook", content=raw, headers={**headers, "X-Signature": "0" * 64})
        assert forged.status_code == 401


class TestRouterBasics:
    def test_routes_and_allowed_methods(self, client_of: Any) -> None:
        c = client_of(load("router_basics").app)
        assert c.get("/").text == "Hello World"
        created = c.post("/users", json={"name": "ann"})
        assert created.status_code == 201 and created.json()["name"] == "ann"
        options = c.options("/users")
        assert options.status_code == 200 and "POST" in options.headers["allow"]
        wrong = c.delete("/")
        assert wrong.status_code == 405 and "GET" in wrong.headers["allow"]
        assert c.request("PROPFIND", "/").status_code == 501


class TestThirdLayer:
    def test_stack(self, client_of: Any) -> None:
        c = client_of(load("third_party_layer").app)
        origin = {"Origin": "https://web.example"}
        note = c.post("/notes", data={"text": "hi"}, headers=origin)
        assert note.status_code == 201 and note.json() == {"note": {"text": "hi"}}
        assert note.headers["access-control-allow-origin"] == "*"
        report = c.get("/report", headers={"Accept-Encoding": "br"})
        assert report.headers["content-encoding"] == "br" and len(report.json()["rows"]) == 200
        assert report.headers["vary"] == "Accept-Encoding"
        page = c.get("/index.html", headers={"Accept-Encoding": "gzip"})
        assert "Served by serve_static" in page.text  # small: under the threshold
        assert c.get("/missing").status_code == 404
