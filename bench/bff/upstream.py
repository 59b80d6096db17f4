"""The fan-out benchmark's upstream services: raw asyncio + uvloop, fixed latency, counted.

One process listens on one port per service (``users`` 20 ms, ``orders`` 30 ms, ``catalog``
40 ms) and answers each request after exactly its delay with a fixed JSON body; no
framework, keep-alive, so it is never the bottleneck (about 10 µs of CPU per request).
Every answered call is counted per port:

    GET /_count    {"count": N}     calls answered since start or the last reset
    GET /_reset    {"count": 0}     set the counter to zero

(neither is delayed nor counted). A path that is not the service's own is a 404, so a
gateway calling the wrong URL fails its check instead of being timed.

    python -m bench.bff.upstream --listen users:8701 --listen orders:8702 ...

``--latency-ms 0`` answers every service at once (``bench.bff.percall`` measures the
gateway's own cost per call that way).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal

from bench.bff.common import SERVICES, Service


def _response(status: str, body: bytes) -> bytes:
    return (
        f"HTTP/1.1 {status}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode() + body


NOT_FOUND = _response("404 Not Found", b'{"error":"not found"}')


class Counter:
    __slots__ = ("calls",)

    def __init__(self) -> None:
        self.calls = 0


class UpstreamProtocol(asyncio.Protocol):
    """Just enough HTTP/1.1 (request line, head, Content-Length body) to answer in order."""

    __slots__ = ("buf", "counter", "delay", "loop", "path", "response", "transport")

    def __init__(self, service: Service, counter: Counter, latency_ms: int | None = None) -> None:
        self.buf = bytearray()
        self.delay = (service.latency_ms if latency_ms is None else latency_ms) / 1000
        self.path = service.path.encode()
        self.response = _response("200 OK", service.body)
        self.counter = counter
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        while True:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                return
            length = 0
            pos = buf.find(b"ontent-length:", 0, end)
            if pos < 0:
                pos = buf.find(b"ONTENT-LENGTH:", 0, end)
            if pos >= 0:
                stop = buf.find(b"\r\n", pos, end + 2)
                length = int(buf[pos + 14 : stop])
            total = end + 4 + length
            if len(buf) < total:
                return
            first = buf.find(b" ")
            target = bytes(buf[first + 1 : buf.find(b" ", first + 1)])
            del buf[:total]
            self._answer(target)

    def _answer(self, target: bytes) -> None:
        transport = self.transport
        if transport is None:
            return
        if target == self.path:
            self.counter.calls += 1
            if self.delay > 0:
                self.loop.call_later(self.delay, self._send)
            else:
                transport.write(self.response)
        elif target == b"/_count":
            transport.write(_response("200 OK", b'{"count":%d}' % self.counter.calls))
        elif target == b"/_reset":
            self.counter.calls = 0
            transport.write(_response("200 OK", b'{"count":0}'))
        else:
            transport.write(NOT_FOUND)

    def _send(self) -> None:
        if self.transport is not None:
            self.transport.write(self.response)


async def serve(
    host: str, listen: list[tuple[Service, int]], latency_ms: int | None = None
) -> None:
    """Listen on each ``(service, port)`` until SIGTERM/SIGINT (``latency_ms``: override)."""
    loop = asyncio.get_running_loop()
    servers = []
    for service, port in listen:
        counter = Counter()
        servers.append(
            await loop.create_server(
                lambda s=service, c=counter: UpstreamProtocol(s, c, latency_ms),  # type: ignore[misc]
                host,
                port,
                backlog=4096,
                reuse_address=True,
            )
        )
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    print(f"ready {os.getpid()}", flush=True)
    await stop.wait()
    for server in servers:
        server.close()


def main() -> None:
    by_name = {s.name: s for s in SERVICES}
    parser = argparse.ArgumentParser(prog="python -m bench.bff.upstream")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--listen",
        action="append",
        required=True,
        help=f"SERVICE:PORT (repeatable); services: {', '.join(by_name)}",
    )
    parser.add_argument(
        "--latency-ms", type=int, default=None, help="every service's delay (0: at once)"
    )
    args = parser.parse_args()
    listen = []
    for item in args.listen:
        name, _, port = item.partition(":")
        listen.append((by_name[name], int(port)))
    import uvloop

    uvloop.run(serve(args.host, listen, args.latency_ms))


if __name__ == "__main__":
    main()
