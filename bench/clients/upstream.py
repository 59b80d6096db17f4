"""A minimal keep-alive HTTP/1.1 upstream on raw asyncio + uvloop, for client benchmarks.

It answers every request with the same small JSON body, optionally after a fixed delay,
so the benchmark measures the client and not the server. Run it in its own process:
``python -m bench.clients.upstream --listen 8701 --listen 8702:20``.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import signal

BODY = b'{"id":42,"name":"alice","email":"alice@example.com","tags":["a","b","c"],"ok":true}'
HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
    + str(len(BODY)).encode()
    + b"\r\n\r\n"
)
RESPONSE = HEAD + BODY


class UpstreamProtocol(asyncio.Protocol):
    """Parses just enough HTTP/1.1 (head + Content-Length body) to answer each request."""

    __slots__ = ("buf", "delay", "loop", "transport")

    def __init__(self, delay: float) -> None:
        self.buf = bytearray()
        self.delay = delay
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
            head = bytes(buf[:end]).lower()
            length = 0
            pos = head.find(b"content-length:")
            if pos >= 0:
                stop = head.find(b"\r\n", pos)
                length = int(head[pos + 15 : stop if stop >= 0 else None])
            total = end + 4 + length
            if len(buf) < total:
                return
            del buf[:total]
            if self.delay:
                self.loop.call_later(self.delay, self._send)
            else:
                self._send()

    def _send(self) -> None:
        if self.transport is not None:
            self.transport.write(RESPONSE)


def _factory(delay: float) -> asyncio.Protocol:
    return UpstreamProtocol(delay)


async def serve(host: str, listen: list[tuple[int, float]]) -> None:
    """Listen on each ``(port, delay_ms)`` pair until SIGTERM/SIGINT."""
    loop = asyncio.get_running_loop()
    servers = [
        await loop.create_server(
            functools.partial(_factory, delay_ms / 1000),
            host,
            port,
            backlog=4096,
            reuse_address=True,
        )
        for port, delay_ms in listen
    ]
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    print(f"ready {os.getpid()}", flush=True)
    await stop.wait()
    for server in servers:
        server.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--listen", action="append", required=True, help="PORT[:DELAY_MS], repeatable"
    )
    args = parser.parse_args()
    listen = []
    for item in args.listen:
        port, _, delay = item.partition(":")
        listen.append((int(port), float(delay or 0)))
    import uvloop

    uvloop.run(serve(args.host, listen))


if __name__ == "__main__":
    main()
