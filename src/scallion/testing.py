"""Test clients that speak HTTP to an app in-process, on httpx's ASGI transport.

``TestClient(app)`` is synchronous (it runs an event loop in a helper thread) and, used
as a context manager, runs the app's startup and shutdown hooks. ``AsyncTestClient`` is
the same for ``async def`` tests.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, TypeVar

try:
    import httpx
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError("scallion.testing needs httpx: pip install 'scallion[testing]'") from exc

from .types import ASGIApp

__all__ = ["AsyncTestClient", "TestClient"]

_T = TypeVar("_T")
BASE_URL = "http://testserver"


class _Lifespan:
    """Drives the ASGI lifespan protocol of an app, for the clients' ``with`` blocks."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self._inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def _receive(self) -> dict[str, Any]:
        return await self._inbox.get()

    async def _send(self, message: Any) -> None:
        await self._outbox.put(dict(message))

    async def startup(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}
        self._task = asyncio.ensure_future(self._app(scope, self._receive, self._send))
        await self._inbox.put({"type": "lifespan.startup"})
        message = await self._outbox.get()
        if message["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"startup failed: {message.get('message', '')}")

    async def shutdown(self) -> None:
        await self._inbox.put({"type": "lifespan.shutdown"})
        message = await self._outbox.get()
        if self._task is not None:
            await self._task
        if message["type"] != "lifespan.shutdown.complete":
            raise RuntimeError(f"shutdown failed: {message.get('message', '')}")


def _transport(app: ASGIApp, client: tuple[str, int]) -> httpx.ASGITransport:
    return httpx.ASGITransport(app=app, client=client)


class AsyncTestClient(httpx.AsyncClient):
    """``async with AsyncTestClient(app) as client: r = await client.get("/")``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        base_url: str = BASE_URL,
        client: tuple[str, int] = ("127.0.0.1", 50000),
        lifespan: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(transport=_transport(app, client), base_url=base_url, **kwargs)
        self._lifespan = _Lifespan(app) if lifespan else None

    async def __aenter__(self) -> AsyncTestClient:
        await super().__aenter__()
        if self._lifespan is not None:
            await self._lifespan.startup()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None = None,
        exc: BaseException | None = None,
        tb: TracebackType | None = None,
    ) -> None:
        if self._lifespan is not None:
            await self._lifespan.shutdown()
        await super().__aexit__(exc_type, exc, tb)


class TestClient:
    """A synchronous client: ``TestClient(app).get("/users/1").json()``.

    Every httpx verb is available (``get``, ``post``, ``request``...). Inside ``with`` the
    app's startup and shutdown hooks run, as under a real server.
    """

    __test__ = False  # not a pytest test class

    def __init__(self, app: ASGIApp, *, base_url: str = BASE_URL, **kwargs: Any) -> None:
        self.app = app
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._client = self._call(self._make(app, base_url, kwargs))
        self._lifespan: _Lifespan | None = None

    @staticmethod
    async def _make(app: ASGIApp, base_url: str, kwargs: dict[str, Any]) -> httpx.AsyncClient:
        client = kwargs.pop("client", ("127.0.0.1", 50000))
        return httpx.AsyncClient(transport=_transport(app, client), base_url=base_url, **kwargs)

    def _call(self, coro: Coroutine[Any, Any, _T]) -> _T:
        if self._loop.is_closed():
            coro.close()
            raise RuntimeError("TestClient is closed")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        return self._call(self._client.request(method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def head(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("HEAD", url, **kwargs)

    def options(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("OPTIONS", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PUT", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("DELETE", url, **kwargs)

    @property
    def cookies(self) -> httpx.Cookies:
        return self._client.cookies

    def __enter__(self) -> TestClient:
        self._lifespan = _Lifespan(self.app)
        self._call(self._lifespan.startup())
        return self

    def __exit__(self, *exc: object) -> None:
        if self._lifespan is not None:
            self._call(self._lifespan.shutdown())
            self._lifespan = None
        self.close()

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._call(self._client.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()
