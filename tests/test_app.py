"""App: building the onion, events, state and modes (DESIGN §2 "App")."""

from __future__ import annotations

from typing import Any

import pytest
from _core_helpers import http

from scallion import App, Context
from scallion.testing import TestClient


async def hello(ctx: Context, next: Any) -> None:
    ctx.body = "hello"


def test_use_returns_the_app_so_calls_chain() -> None:
    async def a(ctx: Context, next: Any) -> None:
        ctx.set("x-a", "1")
        await next()

    app = App()
    assert app.use(a) is app
    assert app.use(a, a).use(hello) is app
    response = http(app)
    assert response.text == "hello"
    assert response.headers["x-a"] == "1"


@pytest.mark.parametrize("bad", [None, 1, "mw", object()])
def test_use_refuses_a_non_callable(bad: Any) -> None:
    app = App()
    with pytest.raises(TypeError, match="callable"):
        app.use(bad)
    assert app.middleware == []


def test_use_after_the_first_request_raises_and_says_why() -> None:
    app = App().use(hello)
    http(app)
    with pytest.raises(RuntimeError, match="first request") as info:
        app.use(hello)
    assert "frozen" in str(info.value)


def test_a_sync_middleware_returning_next_continues_the_chain() -> None:
    app = App().use(lambda ctx, next: next()).use(hello)
    assert http(app).text == "hello"


def test_an_empty_app_answers_404_not_found() -> None:
    response = http(App())
    assert response.status_code == 404
    assert response.text == "Not Found"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"


def test_app_state_is_shared_across_requests() -> None:
    app = App()
    app.state.hits = 0

    async def count(ctx: Context, next: Any) -> None:
        ctx.app.state.hits += 1
        ctx.body = {"hits": ctx.app.state.hits}

    with TestClient(app.use(count)) as client:
        client.get("/")
        assert client.get("/").json() == {"hits": 2}
    assert "hits" in app.state


def test_on_and_emit_call_listeners_with_the_arguments() -> None:
    app = App()
    calls: list[tuple[Any, ...]] = []
    app.on("custom", lambda *args: calls.append(args))
    app.on("custom", lambda *args: calls.append(("second", *args)))
    assert app.emit("custom", 1, "two") is True
    assert calls == [(1, "two"), ("second", 1, "two")]
    assert app.emit("nobody-listens") is False


def test_on_as_a_decorator_returns_the_function_unchanged() -> None:
    app = App()

    @app.on("startup")
    async def boot() -> None:
        pass

    @app.on("custom")
    def sync_listener(value: int) -> None:
        pass

    assert boot.__name__ == "boot"
    assert app.listeners("startup") == [boot]
    assert app.listeners("custom") == [sync_listener]


def test_on_refuses_a_non_callable_listener() -> None:
    with pytest.raises(TypeError):
        App().on("error", "not a function")  # type: ignore[call-overload]


def test_a_listener_that_raises_does_not_stop_the_others() -> None:
    app = App()
    calls: list[str] = []

    def bad() -> None:
        raise ValueError("listener bug")

    app.on("custom", bad)
    app.on("custom", lambda: calls.append("ran"))
    assert app.emit("custom") is True
    assert calls == ["ran"]


def test_env_defaults_to_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCALLION_ENV", raising=False)
    app = App()
    assert app.env == "production"
    assert app.development is False


def test_env_comes_from_scallion_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCALLION_ENV", "development")
    assert App().env == "development"
    assert App().development is True
    assert App(env="production").development is False


def test_options_are_kept_on_the_app() -> None:
    app = App(proxy=True, keys=["k1", b"k2"], body_limit=10)
    assert app.proxy is True
    assert app.keys == ["k1", b"k2"]
    assert app.body_limit == 10
    assert App().proxy is False
    assert App().keys == []


def test_callback_is_the_asgi_callable() -> None:
    app = App()
    assert app.callback() is app


def test_ctx_respond_false_lets_a_middleware_write_the_asgi_response_itself() -> None:
    async def raw(ctx: Context, next: Any) -> None:
        ctx.respond = False
        await ctx.send({"type": "http.response.start", "status": 202, "headers": []})
        await ctx.send({"type": "http.response.body", "body": b"raw"})

    response = http(App().use(raw))
    assert response.status_code == 202
    assert response.text == "raw"


def test_a_websocket_scope_is_closed_politely() -> None:
    import asyncio

    sent: list[dict[str, Any]] = []

    async def send(message: Any) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    asyncio.run(App()({"type": "websocket", "path": "/"}, receive, send))
    assert sent == [{"type": "websocket.close", "code": 1000}]
