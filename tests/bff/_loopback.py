"""Real loopback HTTP/1.1 upstreams for the upstream-client tests, with every fault on a path.

A raw asyncio server (no framework in the way, so each fault is exactly what it says):

    GET /ok                 200 {"ok": true, "server": <name>}
    ANY /echo               200 JSON of method, path, query, headers and body
    GET /slow?ms=N          200 after N ms
    GET /hang               reads the request and never answers (until the client closes)
    GET /status/N           status N with a small JSON error body
    GET /garbage            200 application/json whose body is not JSON
    GET /array              200 a JSON array
    GET /truncated          Content-Length: 100, sends 20 bytes, closes
    GET /stall-body         headers and part of the body, then nothing (until the client closes)
    GET /chunked-cut        chunked, sends one chunk, closes without the last chunk
    GET /close              closes the connection without answering
    GET /flaky?fail=N       the first N requests to this server answer 503, then 200
    GET /versioned          200 {"version": server.version} with ``server.etag`` and
                            ``server.last_modified`` as ETag / Last-Modified (when set);
                            304 (no body, ``server.not_modified_headers``) when
                            If-None-Match equals the ETag or, without it, when
                            If-Modified-Since equals the Last-Modified; every request
                            answers 304 while ``server.always_304`` is set

``server.fail_status = 500`` makes every request answer that status;
``server.response_headers["/ok"] = [("expires", "0")]`` adds headers to a path's answers
(cache tests: ``Cache-Control``, ``Expires``, ``Date``, ``Age``, ``Vary``). ``server.hits``
counts requests per path, ``server.connections`` accepted sockets and
``server.open_connections`` those still open.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections import Counter
from urllib.parse import parse_qsl, urlsplit

_REASONS = {
    200: "OK",
    404: "Not Found",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def free_port() -> int:
    """A loopback port nobody listens on (connecting to it is refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _response(status: int, body: bytes, ctype: str = "application/json") -> bytes:
    reason = _REASONS.get(status, "Status")
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: {ctype}\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class LoopbackServer:
    """One upstream instance on 127.0.0.1:<port>."""

    def __init__(self, name: str = "a") -> None:
        self.name = name
        self.hits: Counter[str] = Counter()
        self.connections = 0
        self.open_connections = 0
        self.flaky_failures = 0
        self.default_delay = 0.0
        self.fail_status = 0  # when set, every request answers this status
        self.response_headers: dict[str, list[tuple[str, str]]] = {}
        self.requests: list[dict[str, object]] = []
        self.version = 1
        self.etag: str | None = None
        self.last_modified: str | None = None
        self.not_modified_headers: list[tuple[str, str]] = []
        self.always_304 = False
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> LoopbackServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        if self._server is not None:
            await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open_connections += 1
        self._writers.add(writer)
        try:
            while await self._one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass
        finally:
            self.open_connections -= 1
            self._writers.discard(writer)
            writer.transport.abort()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        body = b""
        if "content-length" in headers:
            body = await reader.readexactly(int(headers["content-length"]))
        parts = urlsplit(target)
        path = parts.path
        query = dict(parse_qsl(parts.query))
        self.hits[path] += 1
        self.requests.append({"method": method, "target": target, "path": path, "headers": headers})
        if self.default_delay:
            await asyncio.sleep(self.default_delay)
        send = writer.write
        extra = self.response_headers.get(path)
        if extra:
            lines = "".join(f"{name}: {value}\r\n" for name, value in extra).encode("latin-1")

            def send(data: bytes) -> None:  # the extra headers go right after the status line
                status, crlf, rest = data.partition(b"\r\n")
                writer.write(status + crlf + lines + rest)

        if self.fail_status:
            err = json.dumps({"error": "forced", "server": self.name}).encode()
            send(_response(self.fail_status, err))
        elif path == "/ok":
            send(_response(200, json.dumps({"ok": True, "server": self.name}).encode()))
        elif path == "/echo":
            payload = {
                "server": self.name,
                "method": method,
                "path": path,
                "query": query,
                "headers": headers,
                "body": body.decode("utf-8", "replace"),
            }
            send(_response(200, json.dumps(payload).encode()))
        elif path == "/slow":
            await asyncio.sleep(int(query.get("ms", "100")) / 1000)
            send(_response(200, json.dumps({"ok": True, "server": self.name}).encode()))
        elif path == "/hang":
            await reader.read()  # until the client gives up and closes
            return False
        elif path.startswith("/status/"):
            status = int(path.rsplit("/", 1)[1])
            err = json.dumps({"error": f"status {status}", "server": self.name}).encode()
            send(_response(status, err))
        elif path == "/garbage":
            send(_response(200, b"<html>this is not json</html>"))
        elif path == "/array":
            send(_response(200, b"[1, 2, 3]"))
        elif path == "/truncated":
            send(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n"
                b'{"user": {"id": 7, '
            )
            await writer.drain()
            return False
        elif path == "/stall-body":
            send(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n"
                b'{"user": '
            )
            await writer.drain()
            await reader.read()
            return False
        elif path == "/chunked-cut":
            send(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                b"transfer-encoding: chunked\r\n\r\n"
                b'a\r\n{"items": \r\n'
            )
            await writer.drain()
            return False
        elif path == "/close":
            return False
        elif path == "/versioned":
            send(self._versioned(headers))
        elif path == "/flaky":
            if self.flaky_failures < int(query.get("fail", "0")):
                self.flaky_failures += 1
                send(_response(503, b'{"error": "flaky"}'))
            else:
                send(_response(200, json.dumps({"ok": True, "server": self.name}).encode()))
        else:
            send(_response(404, b'{"error": "not found"}'))
        await writer.drain()
        return headers.get("connection", "").lower() != "close"

    def _versioned(self, headers: dict[str, str]) -> bytes:
        """``/versioned``: a 200 with the validators, or a bare 304 when they match."""
        none_match = headers.get("if-none-match")
        since = headers.get("if-modified-since")
        if self.always_304 or (
            (none_match is not None and none_match == self.etag)
            or (none_match is None and since is not None and since == self.last_modified)
        ):
            extra = "".join(f"{n}: {v}\r\n" for n, v in self.not_modified_headers)
            return f"HTTP/1.1 304 Not Modified\r\n{extra}\r\n".encode("latin-1")
        validators = ""
        if self.etag is not None:
            validators += f"etag: {self.etag}\r\n"
        if self.last_modified is not None:
            validators += f"last-modified: {self.last_modified}\r\n"
        body = json.dumps({"version": self.version}).encode()
        head = (
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
            f"{validators}content-length: {len(body)}\r\n\r\n"
        )
        return head.encode("latin-1") + body
