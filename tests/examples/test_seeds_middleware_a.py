"""The seeds' middleware examples (batch A) answer as the seed says they should."""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from _seed_loader import SEEDS, load

from scallion.middleware import ConfigError, from_config
from scallion.testing import TestClient


@pytest.fixture
def client_of() -> Any:
    opened: list[TestClient] = []

    def make(app: Any, **kw: Any) -> TestClient:
        c = TestClient(app, **kw)
        opened.append(c)
        return c

    yield make
    for c in opened:
        c.close()


class TestAuthUnless:
    def test_public_paths_skip_auth(self, client_of: Any) -> None:
        c = client_of(load("mw_auth_unless").app)
        assert c.get("/public/info").json() == {"service": "demo", "public": True}
        assert c.post("/register").status_code == 201
        assert "token" in c.post("/login").json()

    def test_everything_else_needs_a_token(self, client_of: Any) -> None:
        c = client_of(load("mw_auth_unless").app)
        r = c.get("/profile")
        assert r.status_code == 401
        assert r.json() == {"code": 401, "message": "No authentication token provided"}
        bad = c.get("/profile", headers={"Authorization": "Bearer forged.token.here"})
        assert bad.status_code == 401 and bad.json()["message"] == "Authentication failed"
        token = c.post("/login").json()["token"]
        ok = c.get("/profile", headers={"Authorization": f"Bearer {token}"})
        assert ok.json() == {"user": "alice"}

    def test_exemptions_are_exact(self, client_of: Any) -> None:
        c = client_of(load("mw_auth_unless").app)
        assert c.post("/login/").status_code == 401  # not "/login": auth still runs
        assert c.get("/Public/info").status_code == 401


class TestTimeout:
    def test_answers_504_request_timeout(self, client_of: Any) -> None:
        c = client_of(load("mw_timeout").build(0.05, report_seconds=1.0))
        assert c.get("/slow?ms=0").text == "done"
        started = time.perf_counter()
        r = c.get("/slow?ms=2000")
        assert time.perf_counter() - started < 1
        assert r.status_code == 504 and r.text == "Request timeout"

    def test_route_deadline_and_exempt_stream(self, client_of: Any) -> None:
        c = client_of(load("mw_timeout").build(0.05, report_seconds=1.0))
        assert c.get("/report?ms=150").json() == {"report": "ready"}
        events = c.get("/events")
        assert events.status_code == 200 and events.text.count("data: ") == 3


class TestSecurityHeaders:
    def test_headers_and_csrf(self, client_of: Any) -> None:
        c = client_of(load("mw_security_headers").app)
        page = c.get("/form")
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["x-xss-protection"] == "1; mode=block"
        assert "default-src 'self'" in page.headers["content-security-policy"]
        token = page.text.split('name="_csrf" value="')[1].split('"')[0]
        saved = c.post("/comments", data={"_csrf": token, "text": "hi"})
        assert saved.status_code == 201 and saved.json() == {"saved": "hi"}

    def test_forged_post_is_403_with_headers(self, client_of: Any) -> None:
        c = client_of(load("mw_security_headers").app)
        c.get("/form")
        r = c.post("/comments", data={"_csrf": "forged", "text": "x"})
        assert r.status_code == 403
        assert r.json()["message"] == "CSRF token mismatch"
        assert r.headers["x-frame-options"] == "DENY"


class TestConfig:
    def test_yaml_config(self, client_of: Any) -> None:
        mod = load("mw_config")
        assert mod.app.middleware[0].names == (
            "error_handler",
            "request_id",
            "response_time",
            "security_headers",
            "cors",
            "body_parser",
        )
        c = client_of(mod.app)
        r = c.get("/hello")
        assert r.json() == {"hello": "config"}
        assert r.headers["x-request-id"] and r.headers["x-response-time"].endswith("ms")
        assert r.headers["content-security-policy"] == "default-src 'self'"
        fail = c.get("/fail")
        assert fail.status_code == 418 and fail.json()["message"] == "short and stout"
        origin = {"Origin": "https://web.example"}
        assert c.get("/hello", headers=origin).headers["access-control-allow-origin"] == "*"
        preflight = c.options("/hello", headers={**origin, "Access-Control-Request-Method": "PUT"})
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-methods"] == "GET, POST, PUT, DELETE"
        assert c.post("/echo", json={"a": 1}).json() == {"parsed": {"a": 1}}
        assert c.post("/echo", data={"b": "2"}).json() == {"parsed": {"b": "2"}}
        assert (
            c.post("/echo", content=b"{", headers={"Content-Type": "application/json"})
            .json()["message"]
            .startswith("Malformed JSON")
        )

    def test_dict_config(self, client_of: Any) -> None:
        c = client_of(load("mw_config").dict_app)
        assert c.get("/hello").json() == {
            "code": 0,
            "data": {"hello": "config"},
            "message": "success",
        }

    def test_mistakes_are_caught_at_start_up(self, tmp_path: Path) -> None:
        broken = tmp_path / "middleware.yaml"
        shutil.copy(SEEDS / "mw_config.yaml", broken)
        broken.write_text(broken.read_text().replace("responseTime:", "responseTme:"))
        with pytest.raises(ConfigError, match=r"middleware\.yaml, entry 'responseTme'"):
            from_config(broken)
        with pytest.raises(ConfigError, match="unknown option 'digitz'"):
            from_config({"responseTime": {"enabled": True, "options": {"digitz": 1}}})


class TestErrorMapping:
    def test_mapping(self, client_of: Any, caplog: pytest.LogCaptureFixture) -> None:
        c = client_of(load("mw_error_mapping").app)
        invalid = c.post("/users", json={"name": "ann", "age": "old"})
        assert invalid.status_code == 400
        body = invalid.json()
        assert body["message"] == "Validation failed" and body["details"][0]["loc"] == ["age"]
        assert body["request_id"] == invalid.headers["x-request-id"]
        assert c.post("/users", json={"name": "ann", "age": 3}).status_code == 201
        jwt_error = c.get("/me", headers={"Authorization": "Bearer nope"})
        assert (jwt_error.status_code, jwt_error.json()["message"]) == (
            401,
            "Authentication failed",
        )
        missing = c.get("/orders/7")
        assert (missing.status_code, missing.json()["message"]) == (404, "order 7 not found")
        with caplog.at_level(logging.WARNING, logger="examples.errors"):
            crash = c.get("/crash")
        assert crash.status_code == 500
        assert crash.json()["message"] == "Internal Server Error"
        assert "hunter2" not in crash.text and "stack" not in crash.json()
        assert any("hunter2" in r.getMessage() for r in caplog.records)  # logged, not sent


class TestOrdering:
    def test_recommended_stack(self, client_of: Any, caplog: pytest.LogCaptureFixture) -> None:
        mod = load("mw_ordering")
        c = client_of(mod.app)
        with caplog.at_level(logging.INFO, logger="examples.access"):
            public = c.get("/public/ping")
            denied = c.get("/me")
            me = c.get("/me", headers={"Authorization": "Bearer secret-token"})
            boom = c.get("/boom", headers={"Authorization": "Bearer secret-token"})
        assert public.json() == {"pong": True}
        for r in (public, denied, me, boom):
            assert r.headers["x-request-id"] and r.headers["x-response-time"]
            assert r.headers["x-frame-options"] == "DENY"
        assert denied.status_code == 401
        assert denied.json() == {
            "code": 401,
            "message": "Unauthorized",
            "request_id": denied.headers["x-request-id"],
        }
        assert me.json() == {"user": "alice"}
        assert boom.status_code == 500 and boom.json()["message"] == "Internal Server Error"
        lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "examples.access"]
        assert [(x["path"], x["status"]) for x in lines] == [
            ("/public/ping", 200),
            ("/me", 401),
            ("/me", 200),
            ("/boom", 500),
        ]

    def test_third_layer(self, client_of: Any) -> None:
        c = client_of(load("mw_ordering").app)
        token = {"Authorization": "Bearer secret-token"}
        note = c.post("/notes", json={"text": "hi"}, headers=token)
        assert note.status_code == 201 and note.json() == {"by": "alice", "note": {"text": "hi"}}
        origin = {"Origin": "https://web.example"}
        preflight = c.options("/me", headers={**origin, "Access-Control-Request-Method": "GET"})
        assert preflight.status_code == 204  # answered before auth, as browsers need
        denied = c.get("/me", headers=origin)
        assert denied.status_code == 401 and denied.headers["access-control-allow-origin"] == "*"
        bad = c.post(
            "/notes", content=b"{oops", headers={**token, "Content-Type": "application/json"}
        )
        assert bad.status_code == 400 and bad.json()["message"].startswith("Malformed JSON")
        big = c.post(
            "/notes", json={"text": "x" * 5000}, headers={**token, "Accept-Encoding": "gzip"}
        )
        assert (
            big.headers["content-encoding"] == "gzip" and big.json()["note"]["text"] == "x" * 5000
        )

    def test_wrong_order_is_not_caught(self, client_of: Any) -> None:
        r = client_of(load("mw_ordering").wrong_order).get("/boom")
        assert r.status_code == 500
        assert r.headers["content-type"].startswith("text/plain")  # the App's fallback, not JSON
