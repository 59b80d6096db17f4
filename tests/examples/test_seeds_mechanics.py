"""The seeds' middleware-mechanics examples print and answer what the seeds say they do."""

from __future__ import annotations

import asyncio
import gc
import re
from typing import Any

import httpx
import pytest
from _seed_loader import load

from scallion import compose
from scallion.testing import AsyncTestClient


async def get(app: Any, url: str = "/", method: str = "GET", **kwargs: Any) -> httpx.Response:
    async with AsyncTestClient(app) as client:
        return await client.request(method, url, **kwargs)


def printed(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().out.splitlines()


async def test_onion_order_prints_one_to_six(capsys: pytest.CaptureFixture[str]) -> None:
    response = await get(load("onion_order").app)
    assert response.text == "Hello World"
    assert printed(capsys) == [
        "1. entering layer one",
        "2. entering layer two",
        "3. entering layer three",
        "4. leaving layer three",
        "5. leaving layer two",
        "6. leaving layer one",
    ]


async def test_next_order_before_and_after(capsys: pytest.CaptureFixture[str]) -> None:
    response = await get(load("next_order").app)
    assert response.text == "Hello World"
    lines = printed(capsys)
    assert lines[:5] == [
        "1. code before next()",
        "2. second middleware starts",
        "-> reached the innermost middleware",
        "3. second middleware ends",
        "4. code after next()",
    ]
    assert re.fullmatch(r"request took \d+ms", lines[5])


async def test_early_return_without_next_stops_the_chain() -> None:
    app = load("early_return").app
    denied = await get(app)
    assert denied.status_code == 401
    allowed = await get(app, headers={"authorization": "Bearer t"})
    assert allowed.status_code == 200
    assert allowed.json()["secret"] == "only with a token"
    assert len(allowed.json()["request_id"]) == 8


async def test_post_processing_reshapes_on_the_way_out() -> None:
    app = load("post_processing").app
    async with AsyncTestClient(app) as client:
        user = await client.get("/user", headers={"x-request-id": "r-1"})
        text = await client.get("/text")
        fail = await client.get("/fail")
    assert user.json() == {"code": 0, "data": {"name": "ann"}, "requestId": "r-1"}
    assert re.fullmatch(r"\d+ms", user.headers["x-response-time"])
    assert text.text == "plain text is left alone"
    assert (fail.status_code, fail.json()) == (400, {"error": "bad input"})


async def test_error_handler_answers_json_and_emits(capsys: pytest.CaptureFixture[str]) -> None:
    module = load("error_handler")
    async with AsyncTestClient(module.app) as client:
        missing = await client.get("/missing")
        crash = await client.get("/crash")
        fine = await client.get("/")
    assert missing.status_code == 404
    assert missing.json() == {"code": 404, "message": "no such thing", "error": None}
    assert crash.status_code == 500
    assert crash.json()["message"] == "something broke"
    assert crash.json()["error"] is None  # production: no stack
    assert fine.text == "fine"
    assert printed(capsys) == [
        "error event: GET /missing: no such thing",
        "error event: GET /crash: something broke",
    ]


async def test_error_handler_shows_the_stack_in_development(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(load("error_handler").app, "env", "development")
    crash = await get(load("error_handler").app, "/crash")
    assert "Traceback" in crash.json()["error"]


async def test_error_event_listener_logs_and_the_client_gets_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    response = await get(load("error_event").app)
    assert response.status_code == 500
    assert response.json() == {"error": "an error happened"}
    assert printed(capsys) == ["global error handler: RuntimeError('an error happened')"]


async def test_logger_prints_in_and_out(capsys: pytest.CaptureFixture[str]) -> None:
    app = load("logger").app
    async with AsyncTestClient(app) as client:
        await client.get("/?q=1")
        await client.get("/nope")
    lines = printed(capsys)
    assert lines[0] == "--> GET /?q=1"
    assert re.fullmatch(r"<-- GET /\?q=1 200 \d+ms", lines[1])
    assert lines[2] == "--> GET /nope"
    assert re.fullmatch(r"<-- GET /nope 404 \d+ms", lines[3])


async def test_logger_factory_options(capsys: pytest.CaptureFixture[str]) -> None:
    module = load("logger_factory")
    loud = await get(module.app, "/x")
    assert re.fullmatch(r"\d+ms", loud.headers["x-response-time"])
    assert re.fullmatch(r"GET /x - \d+ms", printed(capsys)[0])
    quiet = await get(module.quiet_app, "/x")
    assert "x-response-time" not in quiet.headers
    assert printed(capsys) == []


async def test_logger_full_logs_and_rethrows(capsys: pytest.CaptureFixture[str]) -> None:
    app = load("logger_full").app
    async with AsyncTestClient(app) as client:
        ok = await client.get("/")
        boom = await client.get("/boom")
    assert ok.json() == {"ok": True}
    assert boom.status_code == 500
    lines = printed(capsys)
    assert lines[0] == "[request start] GET /"
    assert lines[1].startswith("request headers: {") and "'host': 'testserver'" in lines[1]
    assert lines[2:4] == ["[request done] GET /", "response status: 200"]
    assert re.fullmatch(r"response time: \d+ms", lines[4])
    assert lines[5] == "[request start] GET /boom"
    assert lines[7:9] == ["[request error] GET /boom", "error: ValueError('handler failed')"]
    assert re.fullmatch(r"response time: \d+ms", lines[9])


async def test_response_format_wraps_bodies() -> None:
    app = load("response_format").app
    async with AsyncTestClient(app) as client:
        users = (await client.get("/users")).json()
        created = await client.get("/created")
        missing = await client.get("/missing")
    assert {k: users[k] for k in ("code", "data", "message")} == {
        "code": 0,
        "data": [{"id": 1}],
        "message": "OK",
    }
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", users["timestamp"])
    assert created.status_code == 201
    assert created.json()["code"] == 201
    assert created.json()["message"] == "Created"
    assert (missing.status_code, missing.text) == (404, "Not Found")


async def test_response_format_with_request_id() -> None:
    body = (await get(load("response_format_request_id").app)).json()
    assert body["code"] == 0
    assert body["data"] == "Hello World"
    assert re.fullmatch(r"[a-z0-9]{6}", body["requestId"])
    assert "timestamp" in body


async def test_rate_limit_factory_refuses_past_max() -> None:
    app = load("rate_limit").app
    async with AsyncTestClient(app) as client:
        statuses = [(await client.get("/")).status_code for _ in range(5)]
        other_ip = AsyncTestClient(app, client=("10.0.0.9", 1), lifespan=False)
        async with other_ip:
            assert (await other_ip.get("/")).status_code == 200
        refused = await client.get("/")
    assert statuses == [200, 200, 200, 429, 429]
    assert refused.text == "Too many requests"


async def test_middleware_with_and_without_params(capsys: pytest.CaptureFixture[str]) -> None:
    response = await get(load("middleware_params").app, "/page")
    assert response.text == "route answered"
    assert printed(capsys) == [
        "Koa middleware---router1 params: app-wide",
        "Koa middleware---router1: before next()",
        "Koa middleware---router1 params: {'scope': 'page'}",
        "Koa middleware---router1: before next()",
        "Koa middleware---router2: before next()",
        "route logic",
        "Koa middleware---router2: after next()",
        "Koa middleware---router1: after next()",
        "Koa middleware---router1: after next()",
    ]


async def test_compose_middlewares_act_as_one(capsys: pytest.CaptureFixture[str]) -> None:
    response = await get(load("compose_middlewares").app)
    assert response.text == "Hello World"
    assert printed(capsys) == [
        "middleware 1 in",
        "middleware 2 in",
        "handler",
        "middleware 2 out",
        "middleware 1 out",
    ]


@pytest.mark.parametrize("which", ["teaching", "scallion"])
async def test_compose_walkthrough_both_composes_agree(
    which: str, capsys: pytest.CaptureFixture[str]
) -> None:
    module = load("compose_walkthrough")
    compose_fn = module.teaching_compose if which == "teaching" else compose
    assert await module.run(compose_fn) == "next() called multiple times"
    assert printed(capsys) == [
        "m1 start",
        "m2 start",
        "m3 run",
        "m2 end",
        "m1 end",
        "m3 run",
        "refused: next() called multiple times",
    ]


async def test_the_teaching_compose_keeps_koas_rules() -> None:
    teaching = load("compose_walkthrough").teaching_compose
    with pytest.raises(TypeError):
        teaching("not a list")
    with pytest.raises(TypeError):
        teaching([1])
    order: list[str] = []

    async def outer() -> str:
        order.append("outer next")
        return "outer"

    async def only(ctx: Any, next: Any) -> Any:
        return await next()

    assert await teaching([only])({}, outer) == "outer"
    assert order == ["outer next"]


async def test_compose_walkthrough_app(capsys: pytest.CaptureFixture[str]) -> None:
    assert (await get(load("compose_walkthrough").app)).text == "Hello World"
    assert printed(capsys) == ["m1 start", "m2 start", "m2 end", "m1 end"]


async def test_conditional_middleware() -> None:
    module = load("conditional")
    enabled = await get(module.enabled_app)
    disabled = await get(module.disabled_app)
    assert enabled.headers["x-special"] == "applied"
    assert "x-special" not in disabled.headers
    assert enabled.text == disabled.text == "Hello World"


async def test_resource_release_closes_the_connection_even_on_error() -> None:
    module = load("resource_release")
    async with AsyncTestClient(module.app) as client:
        ok = await client.get("/")
        fail = await client.get("/fail")
    assert ok.json() == {"connection": module.db.opened[-2].number}
    assert fail.status_code == 500
    assert module.db.opened[-2:] and all(c.closed for c in module.db.opened)


async def test_timeout_race_answers_504() -> None:
    app = load("timeout_race").app
    async with AsyncTestClient(app) as client:
        slow = await asyncio.wait_for(client.get("/slow"), 5)
        fast = await client.get("/")
        broken = await client.get("/broken")
    assert (slow.status_code, slow.text) == (504, "Request timeout")
    assert (fast.status_code, fast.text) == (200, "in time")
    assert broken.status_code == 500


async def test_debug_info_logs_start_and_completion(capsys: pytest.CaptureFixture[str]) -> None:
    app = load("debug_info").app
    async with AsyncTestClient(app) as client:
        request_id = (await client.get("/")).json()["request_id"]
        assert (await client.get("/fail")).status_code == 500
    lines = printed(capsys)
    assert lines[0] == f"[{request_id}] Request started: GET /"
    assert re.fullmatch(rf"\[{request_id}\] Request completed in \d+ms", lines[1])
    assert lines[2].endswith("Request started: GET /fail")
    assert re.fullmatch(r"\[[0-9a-f-]{36}\] Request completed in \d+ms", lines[3])


async def test_metrics_are_sent_for_every_request() -> None:
    module = load("metrics")
    module.sent_metrics.clear()
    async with AsyncTestClient(module.app) as client:
        await client.get("/ok")
        await client.post("/fail")
    ok, fail = module.sent_metrics
    assert (ok["path"], ok["method"], ok["status"]) == ("/ok", "GET", 200)
    assert (fail["path"], fail["method"], fail["error"]) == ("/fail", "POST", "handler failed")
    assert "status" not in fail
    assert all(m["duration"] >= 0 for m in module.sent_metrics)


async def test_central_error_handler() -> None:
    module = load("central_error_handler")
    module.errors_seen.clear()
    async with AsyncTestClient(module.app) as client:
        order = await client.get("/order")
        crash = await client.get("/crash")
    assert order.status_code == 409
    assert order.json() == {"error": {"code": "ORDER_PAID", "message": "order already paid"}}
    assert crash.status_code == 500
    assert crash.json() == {"error": {"code": "INTERNAL_ERROR", "message": "database unreachable"}}
    assert [type(e).__name__ for e in module.errors_seen] == ["HttpError", "RuntimeError"]


async def test_avoid_multiple_next() -> None:
    module = load("avoid_multiple_next")
    assert (await get(module.app)).text == "Hello World"
    wrong = await get(module.wrong_app)
    assert wrong.status_code == 500
    assert "next() called multiple times" in str(module.errors_seen[-1])


async def test_express_chain_runs_in_order(capsys: pytest.CaptureFixture[str]) -> None:
    response = await get(load("express_chain").app)
    assert response.text == "Hello World"
    assert printed(capsys) == ["This is executed first.", "m1 run", "m2 run", "m3 run"]


async def test_login_required_guards_one_route() -> None:
    app = load("login_required").app
    async with AsyncTestClient(app) as client:
        anonymous = await client.get("/private")
        logged_in = await client.get("/private", headers={"x-user": "ann"})
        public = await client.get("/public")
    assert anonymous.status_code == 302
    assert anonymous.headers["location"] == "/login"
    assert logged_in.text == "Hello private page!"
    assert public.text == "Hello everyone!"


async def test_four_parameter_error_middleware(capsys: pytest.CaptureFixture[str]) -> None:
    module = load("error_middleware")
    module.errors_seen.clear()
    async with AsyncTestClient(module.app) as client:
        ok = await client.get("/ok")
        invalid = await client.get("/invalid")
        next_err = await client.get("/next-err")
        crash = await client.get("/crash")
    assert ok.text == "fine"
    assert (invalid.status_code, invalid.json()) == (400, {"error": "name is required"})
    assert (next_err.status_code, next_err.json()) == (400, {"error": "passed with next(err)"})
    assert crash.status_code == 500
    assert [str(e) for e in module.errors_seen] == ["unexpected"]
    lines = printed(capsys)
    assert "never runs while an error is passing" not in lines
    assert lines == [
        "error middleware saw: name is required",
        "error middleware saw: passed with next(err)",
        "error middleware saw: unexpected",
    ]


async def test_layer_stack_matches_method_and_path() -> None:
    app = load("layer_stack").app
    async with AsyncTestClient(app) as client:
        listed = await client.get("/users")
        created = await client.post("/users")
        broken = await client.get("/broken")
        unknown = await client.delete("/users")
    assert listed.json() == [{"id": 1}]
    assert (created.status_code, created.json()) == (201, {"created": True})
    assert broken.status_code == 500
    assert broken.text == "done(err): handle_request caught this and called next(err)"
    assert (unknown.status_code, unknown.text) == (404, "done(): no layer for DELETE /users")


async def test_always_await_names_the_forgetful_middleware() -> None:
    module = load("always_await")
    assert (await get(module.app)).text == "Hello World"
    with pytest.warns(RuntimeWarning, match="never awaited"):  # do_async_operation()
        wrong = await get(module.wrong_app)
        gc.collect()
    assert wrong.status_code == 500
    assert "always_await" in wrong.text and "wrong" in wrong.text
    assert "missing an `await`" in str(module.errors_seen[-1])


async def test_error_rethrow_reports_and_keeps_the_error() -> None:
    module = load("error_rethrow")
    module.events.clear()
    response = await get(module.app, "/doc")
    assert (response.status_code, response.text) == (403, "not yours")
    # reported twice, as in Koa: once by the middleware, once by the App it rethrew to
    assert module.events == ["/doc: not yours", "/doc: not yours"]


async def test_state_sharing_between_middleware() -> None:
    app = load("state_sharing").app
    async with AsyncTestClient(app) as client:
        ann = await client.get("/", headers={"authorization": "Bearer ann-token"})
        anon = await client.get("/")
    assert ann.json() == {"hello": "ann"}
    assert anon.json() == {"hello": "stranger"}
