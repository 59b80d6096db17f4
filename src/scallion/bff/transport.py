"""How an upstream call reaches the wire: one small interface, four implementations.

``Transport.request(method, url, headers, body, timeout)`` sends one request and returns a
``TransportResponse`` with the whole body read, how long the call took (``elapsed``) and,
apart from it, how long it waited for a pooled connection (``pool_wait``; aiohttp #10313).

- ``H1Transport`` (the default, in ``h1.py``): scallion's own HTTP/1.1 pool on the event
  loop's sockets, parsed by llhttp (``httptools``). It won the client benchmark
  (``bench/clients``): the least CPU per call and per fan-out of every candidate.
- ``PyreqwestTransport``: Rust's reqwest/hyper under a thin Python layer; second in the
  benchmark (each call crosses to the Rust runtime's thread and back). It speaks HTTP/2.
- ``AiohttpTransport``: the pure-Python-ecosystem client most projects already have.
  Swap either in with ``Upstream(..., transport=AiohttpTransport())``.
- ``ASGITransport``: calls an ASGI app (a scallion ``App``) in-process: tests and
  in-process mock services, no sockets.

Failures come out as a few neutral types that the ``Upstream`` turns into the BFF errors:
``ConnectFailed`` (no request reached the upstream, or it closed before answering),
``TransportTimeout``, and ``ResponseBroken`` (the answer started but did not complete:
truncated, reset mid-body, unparseable framing).

Two things make the pools safe under overload (httpcore #550). The connection limit is our
own (``_Limiter``), released in ``finally``, so a cancelled call can never leak a slot; and the
timeout is passed down to the client, because cancelling the Python awaitable does not stop
the Rust request: without it the connection stayed busy until the client's own timeout.
A pool that sees ``heal_after`` connection failures in a row is replaced by a fresh one
(the old one is closed once its in-flight calls are done).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any, Protocol, runtime_checkable
from urllib.parse import unquote, urlsplit

from ..datastructures import Headers
from ..types import ASGIApp, Message

__all__ = [
    "ASGITransport",
    "AiohttpTransport",
    "ConnectFailed",
    "H1Transport",
    "PoolTimeout",
    "PyreqwestTransport",
    "ResponseBroken",
    "Transport",
    "TransportError",
    "TransportResponse",
    "TransportTimeout",
    "default_transport",
]


class TransportError(Exception):
    """The call failed below HTTP; the message says how (never a URL or header)."""


class ConnectFailed(TransportError):
    """No answer started: refused, reset, unresolvable, or closed before the status line."""


class TransportTimeout(TransportError, TimeoutError):
    """The transport's own timeout (connect, pool or total) ran out."""


class PoolTimeout(TransportTimeout):
    """No pooled connection came free in time: our own saturation, not the upstream's."""


class ResponseBroken(TransportError):
    """The answer started but did not complete: truncated body, reset mid-body, bad framing."""


class TransportResponse:
    """A complete upstream answer: status, case-insensitive headers, body bytes, timings."""

    __slots__ = ("body", "elapsed", "headers", "pool_wait", "status")

    def __init__(
        self,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        elapsed: float,
        pool_wait: float = 0.0,
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.elapsed = elapsed
        self.pool_wait = pool_wait

    def __repr__(self) -> str:
        return (
            f"TransportResponse(status={self.status}, {len(self.body)} bytes, "
            f"elapsed={self.elapsed * 1000:.1f}ms, pool_wait={self.pool_wait * 1000:.1f}ms)"
        )


@runtime_checkable
class Transport(Protocol):
    """Sends one request and reads the whole answer; swap implementations freely.

    ``enforces_timeout`` says the transport itself ends every call by its ``timeout``
    (pool wait included), so the ``Upstream`` need not arm a timer of its own per call;
    a transport without the attribute gets one.
    """

    enforces_timeout: bool

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float | None,
    ) -> TransportResponse:
        """``timeout`` bounds the whole call (pool wait included); ``None``: no bound."""
        ...

    async def aclose(self) -> None:
        """Close the pool; in-flight calls finish or fail."""
        ...


class _Limiter:
    """A connection limit whose wait is measured; cancel-safe.

    Taking a free slot is synchronous: the caller checks ``free > 0`` and decrements it
    inline, and gives it back inline when nobody waits (no coroutine, no
    ``asyncio.Semaphore``): ~0.9k instructions per call where ``await acquire()`` behind
    ``sem.locked()`` plus ``release()`` took ~9.8k (callgrind).
    Only when every slot is taken does a call ``wait``. A released slot goes straight to
    the first live waiter, so ``free > 0`` implies nobody is waiting and the fast path
    never jumps the queue; a waiter that leaves after being handed a slot (cancelled, timed
    out) passes it on.
    """

    __slots__ = ("free", "waiters")

    def __init__(self, limit: int | None) -> None:
        # No limit: more slots than calls can ever be in flight.
        self.free = limit if limit else 1 << 62
        self.waiters: deque[asyncio.Future[None]] = deque()

    async def wait(self, timeout: float | None) -> float:
        """Wait for a slot within ``timeout``; return the seconds waited.

        ``PoolTimeout`` when no slot frees up in time.
        """
        if self.free > 0:
            self.free -= 1
            return 0.0
        start = time.perf_counter()
        slot = asyncio.get_running_loop().create_future()
        self.waiters.append(slot)
        timer = asyncio.timeout(timeout)
        try:
            async with timer:
                await slot
        except BaseException as exc:
            if slot.done() and not slot.cancelled():
                self.release()  # handed a slot, but leaving: pass it on
            else:
                slot.cancel()
                with contextlib.suppress(ValueError):
                    self.waiters.remove(slot)
            if isinstance(exc, TimeoutError) and timer.expired():
                raise PoolTimeout("timed out waiting for a pooled connection") from None
            raise
        return time.perf_counter() - start

    def release(self) -> None:
        waiters = self.waiters
        while waiters:
            slot = waiters.popleft()
            if not slot.done():
                slot.set_result(None)
                return
        self.free += 1


class _Healer:
    """Counts connection failures in a row; says when the pool should be replaced."""

    __slots__ = ("after", "failures", "heals", "interval", "last")

    def __init__(self, after: int, interval: float) -> None:
        self.after = after
        self.interval = interval
        self.failures = 0
        self.heals = 0
        self.last = -interval

    def ok(self) -> None:
        self.failures = 0

    def failed(self) -> bool:
        """Record a failure; ``True`` when it is time to rebuild the pool."""
        self.failures += 1
        if self.after <= 0 or self.failures < self.after:
            return False
        now = time.monotonic()
        if now - self.last < self.interval:
            return False
        self.last = now
        self.failures = 0
        self.heals += 1
        return True


class _Retiring:
    """Closes replaced pools once the calls still running on them are done."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[None]] = set()

    def retire(self, close: Any, inflight: Any, grace: float) -> None:
        async def run() -> None:
            deadline = time.monotonic() + grace
            while inflight() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            with contextlib.suppress(Exception):
                await close()

        task = asyncio.get_running_loop().create_task(run())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def drain(self) -> None:
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)


# -- pyreqwest ----------------------------------------------------------------------------------


class _Pool:
    """One generation of a pool and the calls still running on it."""

    __slots__ = ("client", "inflight")

    def __init__(self, client: Any) -> None:
        self.client = client
        self.inflight = 0


class PyreqwestTransport:
    """The default transport: pyreqwest (reqwest + hyper + tokio) with a measured pool wait.

    Args:
        max_connections: calls in flight (hence connections) at once; beyond it calls wait,
            and that wait is ``pool_wait``. ``None``: unlimited.
        connect_timeout: seconds to establish a TCP connection.
        pool_idle_timeout: seconds an idle keep-alive connection is kept.
        heal_after: replace the pool after this many connection failures in a row (0: never).
        heal_interval: at most one replacement per this many seconds.
    """

    enforces_timeout = True

    def __init__(
        self,
        *,
        max_connections: int | None = 256,
        connect_timeout: float = 2.0,
        pool_idle_timeout: float = 60.0,
        heal_after: int = 5,
        heal_interval: float = 1.0,
    ) -> None:
        from pyreqwest import exceptions as exc

        self._exc = exc
        self._connect_timeout = connect_timeout
        self._idle = pool_idle_timeout
        self._max = max_connections
        self._limiter = _Limiter(max_connections)
        self._healer = _Healer(heal_after, heal_interval)
        self._retiring = _Retiring()
        self._pool = self._new_pool()
        self._closed = False

    def _new_pool(self) -> _Pool:
        from pyreqwest.client import ClientBuilder

        builder = (
            ClientBuilder()
            .connect_timeout(timedelta(seconds=self._connect_timeout))
            .pool_idle_timeout(timedelta(seconds=self._idle))
            .follow_redirects(False)
            .tcp_nodelay(True)
        )
        if self._max:
            builder = builder.max_connections(self._max)
        builder = builder.http1_only()
        return _Pool(builder.build())

    @property
    def heals(self) -> int:
        """How many times the pool was replaced after repeated connection failures."""
        return self._healer.heals

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float | None,
    ) -> TransportResponse:
        if self._closed:
            raise ConnectFailed("transport is closed")
        start = time.perf_counter()
        limiter = self._limiter
        if limiter.free > 0:
            limiter.free -= 1  # the fast path: a free slot, taken without awaiting
            pool_wait = 0.0
        else:
            pool_wait = await limiter.wait(timeout)
        pool = self._pool
        pool.inflight += 1
        exc = self._exc
        try:
            builder = pool.client.request(method, url)
            if headers:  # even an empty mapping costs pyreqwest ~3k instructions to read
                builder = builder.headers(headers)
            if body is not None:
                builder = builder.body_bytes(body)
            if timeout is not None:
                # The Rust request must end by itself: cancelling our await does not stop it.
                if pool_wait:
                    timeout -= time.perf_counter() - start
                if timeout <= 0:
                    raise PoolTimeout("timed out waiting for a pooled connection")
                builder = builder.timeout(_timedelta(timeout))
            resp = await builder.build().send()
            data = (await resp.bytes()).to_bytes()
            status = resp.status
        except exc.RequestTimeoutError as err:
            raise TransportTimeout(_message(err, "timed out")) from None
        except exc.ConnectError as err:
            self._failed(pool)
            raise ConnectFailed(_message(err, "connection failed")) from None
        except (exc.ReadError, exc.WriteError, exc.DecodeError) as err:
            raise ResponseBroken(_message(err, "response broken")) from None
        except exc.PyreqwestError as err:
            raise TransportError(_message(err, "request failed")) from None
        finally:
            pool.inflight -= 1
            if limiter.waiters:
                limiter.release()
            else:
                limiter.free += 1
        healer = self._healer
        if healer.failures:
            healer.ok()
        return TransportResponse(
            status, _LazyHeaders(resp), data, time.perf_counter() - start - pool_wait, pool_wait
        )

    def _failed(self, pool: _Pool) -> None:
        if pool is self._pool and self._healer.failed() and not self._closed:
            self._pool = self._new_pool()
            self._retiring.retire(pool.client.close, lambda: pool.inflight, 30.0)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._retiring.drain()
        await self._pool.client.close()


def _message(err: BaseException, fallback: str) -> str:
    """The innermost cause of a pyreqwest error: "Connection refused (os error 111)"."""
    details = err.args[1] if len(err.args) > 1 and isinstance(err.args[1], dict) else None
    causes = details.get("causes") if details else None
    if causes:
        return str(causes[-1].get("message", fallback))
    return str(err.args[0]) if err.args else fallback


_TIMEOUTS: dict[int, timedelta] = {}


def _timedelta(seconds: float) -> timedelta:
    """``seconds`` as the ``timedelta`` pyreqwest wants, rounded down to whole milliseconds.

    Rounding down never lets a call outlive its limit, and it makes the usual value (the
    upstream's timeout, minus the microseconds since it was computed) one cached object:
    ``timedelta(seconds=x)`` costs ~4.9k instructions, the lookup ~2.1k. Deadlines give
    other values; the cache stops growing at 1,024 of them.
    """
    ms = int(seconds * 1000)
    found = _TIMEOUTS.get(ms)
    if found is None:
        if ms <= 0:
            return timedelta(seconds=max(seconds, 0.0))
        found = timedelta(milliseconds=ms)
        if len(_TIMEOUTS) < 1024:
            _TIMEOUTS[ms] = found
    return found


class _LazyHeaders(Mapping[str, str]):
    """A pyreqwest response's headers, converted to Python only when someone reads them.

    Reading ``resp.headers`` builds a ``HeaderMap`` (~6.7k instructions a call,
    ``python -m bench.bff.percall``); most fan-outs only parse the body.
    """

    __slots__ = ("_map", "_resp")

    def __init__(self, resp: Any) -> None:
        self._resp = resp
        self._map: Mapping[str, str] | None = None

    def _headers(self) -> Mapping[str, str]:
        found = self._map
        if found is None:
            found = self._map = self._resp.headers
            self._resp = None
        return found

    def __getitem__(self, name: str) -> str:
        return self._headers()[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self._headers().get(name, default)

    def getall(self, name: str) -> list[str]:
        """Every line of a repeated header (``HeaderMap.getall``): caching reads them all."""
        return list(self._headers().getall(name))  # type: ignore[attr-defined]

    def __contains__(self, name: object) -> bool:
        return name in self._headers()

    def __iter__(self) -> Iterator[str]:
        return iter(self._headers())

    def __len__(self) -> int:
        return len(self._headers())

    def __repr__(self) -> str:
        return repr(self._headers())


# -- aiohttp ------------------------------------------------------------------------------------


class AiohttpTransport:
    """aiohttp's ``ClientSession`` behind the same interface.

    The session is created on first use (it binds to the running loop). Connection limits
    are our limiter (aiohttp's connector is unlimited), so ``pool_wait`` is measured the
    same way for every transport without aiohttp's per-request tracing overhead.
    """

    enforces_timeout = True

    def __init__(
        self,
        *,
        max_connections: int | None = 256,
        connect_timeout: float = 2.0,
        pool_idle_timeout: float = 60.0,
        heal_after: int = 5,
        heal_interval: float = 1.0,
    ) -> None:
        import aiohttp

        self._aiohttp = aiohttp
        self._connect_timeout = connect_timeout
        self._idle = pool_idle_timeout
        self._limiter = _Limiter(max_connections)
        self._healer = _Healer(heal_after, heal_interval)
        self._retiring = _Retiring()
        self._pool: _Pool | None = None
        self._closed = False

    @property
    def heals(self) -> int:
        return self._healer.heals

    def _new_session(self) -> Any:
        aiohttp = self._aiohttp
        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=self._idle)
        return aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding"),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=self._connect_timeout),
        )

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float | None,
    ) -> TransportResponse:
        if self._closed:
            raise ConnectFailed("transport is closed")
        aiohttp = self._aiohttp
        pool = self._pool
        if pool is None:
            pool = self._pool = _Pool(self._new_session())
        session = pool.client
        start = time.perf_counter()
        limiter = self._limiter
        if limiter.free > 0:
            limiter.free -= 1
            pool_wait = 0.0
        else:
            pool_wait = await limiter.wait(timeout)
        pool.inflight += 1
        try:
            remaining = None
            if timeout is not None:
                remaining = timeout - (time.perf_counter() - start)
                if remaining <= 0:
                    raise PoolTimeout("timed out waiting for a pooled connection")
            async with session.request(
                method,
                url,
                headers=headers,
                data=body,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=remaining, sock_connect=self._connect_timeout),
            ) as resp:
                data = await resp.read()
                status = resp.status
                resp_headers = resp.headers
        except PoolTimeout:
            raise
        except (TimeoutError, aiohttp.ServerTimeoutError) as err:
            raise TransportTimeout(str(err) or "timed out") from None
        except (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError) as err:
            self._failed(pool)
            raise ConnectFailed(str(err) or type(err).__name__) from None
        except (aiohttp.ClientPayloadError, aiohttp.ClientResponseError) as err:
            raise ResponseBroken(str(err) or type(err).__name__) from None
        except aiohttp.ClientError as err:
            self._failed(pool)
            raise ConnectFailed(str(err) or type(err).__name__) from None
        finally:
            pool.inflight -= 1
            limiter.release()
        self._healer.ok()
        return TransportResponse(
            status, resp_headers, data, time.perf_counter() - start - pool_wait, pool_wait
        )

    def _failed(self, pool: _Pool) -> None:
        if pool is self._pool and self._healer.failed() and not self._closed:
            self._pool = _Pool(self._new_session())
            self._retiring.retire(pool.client.close, lambda: pool.inflight, 30.0)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._retiring.drain()
        if self._pool is not None:
            await self._pool.client.close()


# -- in-process ASGI ----------------------------------------------------------------------------


class ASGITransport:
    """Calls an ASGI app in-process: tests, and mock services without sockets.

    The URL's host and port become the scope's ``server``; the app sees a normal HTTP/1.1
    request from ``client``. An exception escaping the app is ``ResponseBroken``.
    """

    enforces_timeout = False

    def __init__(self, app: ASGIApp, *, client: tuple[str, int] = ("127.0.0.1", 50000)) -> None:
        self.app = app
        self.client = client

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float | None,
    ) -> TransportResponse:
        start = time.perf_counter()
        parts = urlsplit(url)
        host = parts.hostname or "localhost"
        port = parts.port or (443 if parts.scheme == "https" else 80)
        raw_path = parts.path or "/"
        raw_headers = [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()
        ]
        if "host" not in headers:
            raw_headers.insert(0, (b"host", parts.netloc.encode("latin-1")))
        payload = body or b""
        if payload and "content-length" not in headers:
            raw_headers.append((b"content-length", str(len(payload)).encode()))
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "method": method.upper(),
            "scheme": parts.scheme or "http",
            "path": unquote(raw_path),
            "raw_path": raw_path.encode("latin-1"),
            "query_string": parts.query.encode("latin-1"),
            "root_path": "",
            "headers": raw_headers,
            "server": (host, port),
            "client": self.client,
            "state": {},
        }
        done = asyncio.Event()
        sent_body = False
        status = 0
        out_headers: list[tuple[bytes, bytes]] = []
        chunks: list[bytes] = []

        async def receive() -> Message:
            nonlocal sent_body
            if not sent_body:
                sent_body = True
                return {"type": "http.request", "body": payload, "more_body": False}
            await done.wait()
            return {"type": "http.disconnect"}

        async def send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                out_headers.extend(message.get("headers", ()))
            elif message["type"] == "http.response.body":
                chunks.append(bytes(message.get("body", b"")))
                if not message.get("more_body", False):
                    done.set()

        try:
            await self.app(scope, receive, send)
        except Exception as err:
            raise ResponseBroken(f"in-process app raised {type(err).__name__}") from err
        finally:
            done.set()
        if not status:
            raise ResponseBroken("in-process app sent no response")
        elapsed = time.perf_counter() - start
        return TransportResponse(status, Headers(out_headers), b"".join(chunks), elapsed, 0.0)

    async def aclose(self) -> None:
        return None


def default_transport(**options: Any) -> Transport:
    """The measured winner: scallion's own ``H1Transport`` (``bench/clients``)."""
    return H1Transport(**options)


# Last, because h1.py builds on the types above (the import cycle is safe from here).
from .h1 import H1Transport  # noqa: E402
