"""``H1Transport``: scallion's own HTTP/1.1 client pool, on the event loop's sockets.

Why our own: a fan-out over pyreqwest spent most of its CPU crossing between the event
loop and the Rust runtime's thread (the request goes out through tokio, the answer comes
back through ``call_soon_threadsafe``: a wake-up per call, on the same CPU). An
``asyncio.Protocol`` on the loop's own sockets, with llhttp (``httptools``, the parser
uvicorn uses) doing the parsing, does the same work in about a third of the CPU:
``python -m bench.clients`` and ``python -m bench bff`` measure it beside pyreqwest,
aiohttp and Koa + undici (bench/README.md).

What it does, and no more, because an upstream is a known service and not the web:
HTTP/1.1 (and TLS) with a keep-alive pool per origin (the most recently used connection
first, so idle ones age out), one request per connection at a time, the whole body read
(up to ``max_body_bytes``), no redirects, cookies, proxies or decompression. Every call
ends by its ``timeout`` (pool wait and connect included): the timer closes the socket, so
no request outlives it. A connection the upstream closed while idle is retried once on a
fresh one when the method is idempotent and no byte of an answer came back.

The request line and headers are checked before anything is written: a target is
percent-encoded if it holds anything but visible ASCII, and a header name or value with a
line break or NUL is refused, so nothing a client sends can split the request.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import ssl as _ssl
import time
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import httptools

from .timers import Deadlines
from .transport import (
    ConnectFailed,
    PoolTimeout,
    ResponseBroken,
    TransportError,
    TransportResponse,
    TransportTimeout,
    _Healer,
    _Limiter,
)

__all__ = ["H1Transport", "ResponseHeaders"]

# A connection the upstream closed while idle may be retried, but only for these.
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
# Methods that carry a body get a Content-Length even when the body is empty (else 411).
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
# Header names the transport writes itself: a caller's value would frame the body twice.
_FRAMING = frozenset({"content-length", "transfer-encoding"})
_UNSAFE_TARGET = re.compile(r"[^\x21-\x7e]")
_TARGET_SAFE = "!#$%&'()*+,/:;=?@[]~"
_NO_BODY_STATUS = frozenset({204, 304})

_Answer = tuple[int, list[tuple[bytes, bytes]], bytes]  # status, header lines, body


class ResponseHeaders(Mapping[str, str]):
    """An answer's header lines, as received; a case-insensitive mapping built when read.

    ``headers[name]`` is the first line of that name, ``getall(name)`` every line (a
    cache reads every ``Cache-Control`` line).
    """

    __slots__ = ("_index", "_lines")

    def __init__(self, lines: list[tuple[bytes, bytes]]) -> None:
        self._lines = lines
        self._index: dict[str, list[str]] | None = None

    def _built(self) -> dict[str, list[str]]:
        index = self._index
        if index is None:
            index = self._index = {}
            for name, value in self._lines:
                key = name.decode("latin-1").lower()
                text = value.decode("latin-1")
                found = index.get(key)
                if found is None:
                    index[key] = [text]
                else:
                    found.append(text)
        return index

    @property
    def raw(self) -> list[tuple[bytes, bytes]]:
        """The lines as they came: ``(name, value)`` bytes, in order."""
        return self._lines

    def __getitem__(self, name: str) -> str:
        return self._built()[name.lower()][0]

    def get(self, name: str, default: Any = None) -> Any:
        found = self._built().get(name.lower())
        return found[0] if found else default

    def getall(self, name: str) -> list[str]:
        return list(self._built().get(name.lower(), ()))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._built()

    def __iter__(self) -> Iterator[str]:
        return iter(self._built())

    def __len__(self) -> int:
        return len(self._built())

    def __repr__(self) -> str:
        return f"ResponseHeaders({self._built()!r})"


class _Origin:
    """Where connections go (host, port, TLS) and the idle ones waiting there."""

    __slots__ = ("host", "host_line", "idle", "port", "server_hostname", "ssl")

    def __init__(self, host: str, port: int, ssl: _ssl.SSLContext | None, host_line: str) -> None:
        self.host = host
        self.port = port
        self.ssl = ssl
        self.server_hostname = host if ssl is not None else None
        self.host_line = host_line
        self.idle: list[_Connection] = []


class _Connection(asyncio.Protocol):
    """One keep-alive socket and the parser of the answer currently being read.

    The parser calls back the ``on_*`` methods; the answer's status, header lines and
    body chunks collect here until ``on_message_complete`` resolves ``waiter`` with them.
    The result is taken at that moment and the lists start afresh: a second answer
    nobody asked for cannot touch it, and marks the connection unfit for reuse.
    """

    __slots__ = (
        "_max_body",
        "_max_head",
        "chunks",
        "closed",
        "eof_body",
        "head_only",
        "head_size",
        "headers",
        "idle_since",
        "in_idle",
        "origin",
        "parser",
        "received",
        "reusable",
        "serial",
        "size",
        "status",
        "transport",
        "waiter",
    )

    def __init__(self, origin: _Origin, max_body: int, max_head: int) -> None:
        self.origin = origin
        self._max_body = max_body
        self._max_head = max_head
        self.parser = httptools.HttpResponseParser(self)
        self.transport: asyncio.Transport | None = None
        self.waiter: asyncio.Future[_Answer] | None = None
        self.closed = False
        self.in_idle = False
        self.idle_since = 0.0
        self.reusable = False
        self.serial = 0
        self._reset(None, False)

    def _reset(self, waiter: asyncio.Future[_Answer] | None, head_only: bool) -> None:
        self.serial += 1
        self.waiter = waiter
        self.head_only = head_only
        self.received = False
        self._clear()

    def _clear(self) -> None:
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []
        self.status = 0
        self.size = 0
        self.head_size = 0
        self.eof_body = False

    # -- asyncio ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self.waiter is None:  # bytes nobody asked for: the connection is out of step
            self.abort()
            return
        self.received = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(ResponseBroken("the upstream switched protocols (not supported)"))
        except httptools.HttpParserError as err:
            self._fail(ResponseBroken(f"malformed response: {err}"))

    def eof_received(self) -> bool:
        return False  # close our side too; connection_lost settles the answer

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.reusable = False
        if self.in_idle:
            self.in_idle = False
            idle = self.origin.idle
            if self in idle:
                idle.remove(self)
        waiter = self.waiter
        if waiter is None or waiter.done():
            return
        if self.eof_body and self.status:
            self._finish()  # a body delimited by the end of the connection
        elif not self.received:
            waiter.set_exception(
                ConnectFailed("the upstream closed the connection before answering")
            )
        else:
            waiter.set_exception(ResponseBroken("the upstream closed the connection mid-answer"))

    # -- httptools callbacks ---------------------------------------------------------------

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))
        self.head_size += len(name) + len(value) + 4
        if self.head_size > self._max_head:
            self._fail(ResponseBroken(f"response headers exceed {self._max_head} bytes"))

    def on_headers_complete(self) -> None:
        waiter = self.waiter
        if waiter is None or waiter.done():
            self.reusable = False  # a second answer to one request: out of step
        status = self.parser.get_status_code()
        self.status = status
        if status == 101:
            self._fail(ResponseBroken("the upstream switched protocols (not supported)"))
            return
        if status < 200:
            return  # informational: the real answer follows
        if self.head_only:
            # llhttp does not know the request was HEAD and would wait for the body its
            # Content-Length announces: finish here and drop the connection.
            self.reusable = False
            self._finish()
            return
        if status in _NO_BODY_STATUS:
            return
        for name, _value in self.headers:
            if len(name) in (14, 17) and name.lower() in (b"content-length", b"transfer-encoding"):
                return
        self.eof_body = True  # neither length nor chunks: the body ends with the connection

    def on_body(self, body: bytes) -> None:
        self.size += len(body)
        if self.size > self._max_body:
            self._fail(ResponseBroken(f"response body exceeds {self._max_body} bytes"))
            return
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        if self.status < 200:  # 100 Continue, 103 Early Hints: wait for the real answer
            self._clear()
            return
        waiter = self.waiter
        if waiter is None or waiter.done():  # the end of an answer nobody asked for
            self.reusable = False
            return
        self.reusable = not self.closed and self.parser.should_keep_alive()
        self._finish()

    # -- settling --------------------------------------------------------------------------

    def _finish(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            chunks = self.chunks
            body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            waiter.set_result((self.status, self.headers, body))
            self.headers = []
            self.chunks = []

    def _fail(self, err: BaseException) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_exception(err)
        self.abort()

    def expire(self) -> None:
        """The call's deadline: fail the answer and close the socket, so nothing outlives it."""
        self._fail(TransportTimeout("the upstream did not answer in time"))

    def abort(self) -> None:
        """Close the socket at once; the connection is never reused after this."""
        self.reusable = False
        transport = self.transport
        if transport is not None and not self.closed:
            self.closed = True
            transport.abort()


class H1Transport:
    """scallion's own HTTP/1.1 pool: asyncio sockets, llhttp parsing, measured pool wait.

    Args:
        max_connections: calls in flight (hence connections) at once, over all origins;
            beyond it calls wait, and that wait is ``pool_wait``. ``None``: unlimited.
        connect_timeout: seconds to establish a TCP (and TLS) connection.
        pool_idle_timeout: an idle keep-alive connection older than this is closed
            instead of reused.
        max_body_bytes: a larger answer is ``ResponseBroken`` (a hostile or broken
            upstream cannot fill the gateway's memory).
        max_header_bytes: the same for the answer's header lines.
        ssl: the TLS context for ``https`` upstreams (default: the system's trust store,
            hostname checked).
        heal_after: after this many failed connects in a row, drop every idle connection
            (they are likely dead too; 0: never).
        heal_interval: at most one such drop per this many seconds.
    """

    enforces_timeout = True

    def __init__(
        self,
        *,
        max_connections: int | None = 256,
        connect_timeout: float = 2.0,
        pool_idle_timeout: float = 60.0,
        max_body_bytes: int = 64 * 1024 * 1024,
        max_header_bytes: int = 64 * 1024,
        ssl: _ssl.SSLContext | None = None,
        heal_after: int = 5,
        heal_interval: float = 1.0,
    ) -> None:
        if connect_timeout <= 0 or pool_idle_timeout <= 0:
            raise ValueError("connect_timeout and pool_idle_timeout must be > 0 seconds")
        if max_body_bytes < 0 or max_header_bytes < 1:
            raise ValueError("max_body_bytes must be >= 0 and max_header_bytes >= 1")
        self._connect_timeout = connect_timeout
        self._idle = pool_idle_timeout
        self._max_body = max_body_bytes
        self._max_head = max_header_bytes
        self._ssl = ssl
        self._limiter = _Limiter(max_connections)
        self._healer = _Healer(heal_after, heal_interval)
        self._origins: dict[str, _Origin] = {}
        self._deadlines = Deadlines()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    @property
    def heals(self) -> int:
        """How many times the idle connections were dropped after failed connects."""
        return self._healer.heals

    # -- one call --------------------------------------------------------------------------

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
            limiter.free -= 1  # a free slot, taken without awaiting
            pool_wait = 0.0
        else:
            pool_wait = await limiter.wait(timeout)
        try:
            loop = asyncio.get_running_loop()
            if loop is not self._loop:
                self._new_loop(loop)
            deadline = None
            if timeout is not None:
                left = timeout - (time.perf_counter() - start) if pool_wait else timeout
                if left <= 0:
                    raise PoolTimeout("timed out waiting for a pooled connection")
                deadline = loop.time() + left
            origin, data = self._prepare(method, url, headers, body)
            conn = self._checkout(origin, loop.time())
            retried = False
            while True:
                if conn is None:
                    conn = await self._connect(loop, origin, deadline)
                    fresh = True
                else:
                    fresh = False
                waiter: asyncio.Future[_Answer] = loop.create_future()
                conn._reset(waiter, method == "HEAD")
                if deadline is not None:
                    self._deadlines.add(loop, deadline, conn)
                try:
                    conn.transport.write(data)  # type: ignore[union-attr]
                    status, lines, payload = await waiter
                    conn.serial += 1  # the call is over: its deadline entry goes stale
                except ConnectFailed:
                    conn.abort()
                    # An idle connection the upstream had closed: once more, on a new one.
                    if fresh or retried or method not in _IDEMPOTENT:
                        raise
                    retried = True
                    conn = None
                    continue
                except BaseException:
                    conn.abort()
                    raise
                break
            response = TransportResponse(
                status,
                ResponseHeaders(lines),
                payload,
                time.perf_counter() - start - pool_wait,
                pool_wait,
            )
            conn.waiter = None
            if conn.reusable and not self._closed:
                conn.in_idle = True
                conn.idle_since = loop.time()
                origin.idle.append(conn)
            else:
                conn.abort()
            return response
        finally:
            if limiter.waiters:
                limiter.release()
            else:
                limiter.free += 1

    def _new_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Used from another event loop (a transport made at import, tests): the idle
        sockets belong to the old loop, which may be closed; forget them."""
        if self._loop is not None:
            for origin in self._origins.values():
                origin.idle = []
        self._loop = loop

    def _checkout(self, origin: _Origin, now: float) -> _Connection | None:
        """The most recently used idle connection that is still open and not too old."""
        idle = origin.idle
        while idle:
            conn = idle.pop()
            conn.in_idle = False
            if conn.closed:
                continue
            if now - conn.idle_since > self._idle:
                conn.abort()
                continue
            return conn
        return None

    async def _connect(
        self, loop: asyncio.AbstractEventLoop, origin: _Origin, deadline: float | None
    ) -> _Connection:
        limit = self._connect_timeout
        if deadline is not None:
            left = deadline - loop.time()
            if left <= 0:
                raise TransportTimeout("timed out before a connection was made")
            timed_by_call = left < limit
            limit = min(limit, left)
        else:
            timed_by_call = False
        max_body, max_head = self._max_body, self._max_head
        try:
            async with asyncio.timeout(limit):
                _transport, conn = await loop.create_connection(
                    lambda: _Connection(origin, max_body, max_head),
                    origin.host,
                    origin.port,
                    ssl=origin.ssl,
                    server_hostname=origin.server_hostname,
                )
        except TimeoutError:
            if timed_by_call:
                raise TransportTimeout("the upstream did not answer in time") from None
            self._connect_failed()
            raise TransportTimeout(f"no connection within {limit:g}s") from None
        except _ssl.SSLError as err:
            self._connect_failed()
            raise ConnectFailed(f"TLS handshake failed: {err.reason or err}") from None
        except OSError as err:
            self._connect_failed()
            raise ConnectFailed(_os_message(err)) from None
        healer = self._healer
        if healer.failures:
            healer.ok()
        return conn

    def _connect_failed(self) -> None:
        if self._healer.failed():
            self._drop_idle()

    def _drop_idle(self) -> None:
        for origin in self._origins.values():
            idle, origin.idle = origin.idle, []
            for conn in idle:
                conn.in_idle = False
                conn.abort()

    # -- the request bytes -----------------------------------------------------------------

    def _prepare(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> tuple[_Origin, bytes]:
        """The origin to call and the request's bytes (head and body), checked."""
        begin = url.find("://") + 3
        end = url.find("/", begin)
        query = url.find("?", begin)
        if end < 0 or 0 <= query < end:
            end = query
        if end < 0:
            key, target = url, "/"
        else:
            key, target = url[:end], url[end:]
            if target[0] == "?":
                target = "/" + target
            if "#" in target:
                target = target.partition("#")[0]
        origin = self._origins.get(key)
        if origin is None:
            origin = self._origins[key] = self._origin(key)
        if _UNSAFE_TARGET.search(target):
            target = quote(target, safe=_TARGET_SAFE)
        lines = [f"{method} {target} HTTP/1.1\r\n"]
        host = True
        for name, value in headers.items():
            low = name.lower()
            if low in _FRAMING:
                continue
            if low == "host":
                host = False
            lines.append(f"{name}: {value}\r\n")
        if host:
            lines.append(origin.host_line)
        if body is not None:
            lines.append(f"content-length: {len(body)}\r\n")
        elif method in _BODY_METHODS:
            lines.append("content-length: 0\r\n")
        lines.append("\r\n")
        head = "".join(lines)
        count = len(lines)
        if head.count("\n") != count or head.count("\r") != count or "\x00" in head:
            raise TransportError("a request header name or value holds a line break or NUL")
        if " " in method or not method:
            raise TransportError(f"invalid method {method!r}")
        try:
            data = head.encode("latin-1")
        except UnicodeEncodeError:
            raise TransportError("a request header is not latin-1 text") from None
        return origin, data + body if body else data

    def _origin(self, key: str) -> _Origin:
        try:
            parts = urlsplit(key)
            port = parts.port
        except ValueError as err:
            raise TransportError(f"invalid upstream URL: {err}") from None
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise TransportError(f"unsupported URL scheme {scheme!r} (http or https)")
        host = parts.hostname
        if not host:
            raise TransportError("the upstream URL has no host")
        netloc = parts.netloc.rpartition("@")[2]
        host_line = f"host: {netloc}\r\n"
        if parts.username is not None:
            raise TransportError(
                "credentials in an upstream URL are not sent; pass an Authorization header"
            )
        context = None
        if scheme == "https":
            context = self._ssl or _default_ssl()
        return _Origin(host, port or (443 if context else 80), context, host_line)

    async def aclose(self) -> None:
        """Close the idle connections; calls in flight finish, then close theirs."""
        if self._closed:
            return
        self._closed = True
        self._drop_idle()


_SSL: _ssl.SSLContext | None = None


def _default_ssl() -> _ssl.SSLContext:
    global _SSL
    if _SSL is None:
        _SSL = _ssl.create_default_context()
    return _SSL


def _os_message(err: OSError) -> str:
    """The reason ("Connection refused", "cannot resolve the host"), never the address."""
    if isinstance(err, socket.gaierror):
        return f"cannot resolve the host: {err.strerror}"
    if err.errno:
        return f"connection failed: {os.strerror(err.errno)}"
    return "connection failed: no address of the host accepted a connection"
