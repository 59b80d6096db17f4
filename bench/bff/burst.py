"""N identical requests at the same instant, and the upstream call counters around them.

The coalescing measurement: every connection is opened first, then every request is
written in one pass of the loop, so all N arrive while the first one's upstream calls
(>= 40 ms) are still in flight. The upstreams count the calls they answered.
"""

from __future__ import annotations

import asyncio
import http.client

import orjson

from bench.bff.common import SERVICES

HOST = "127.0.0.1"


class Answer:
    __slots__ = ("body", "content_type", "status")

    def __init__(self, status: int, content_type: str, body: bytes) -> None:
        self.status = status
        self.content_type = content_type
        self.body = body


async def _read_answer(reader: asyncio.StreamReader) -> Answer:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                break
            chunks.append(chunk[:-2])
        body = b"".join(chunks)
    else:
        body = await reader.read()
    return Answer(status, headers.get("content-type", ""), body)


async def burst(port: int, path: str, n: int, timeout: float = 20.0) -> list[Answer]:
    """``n`` concurrent ``GET path`` on ``n`` fresh connections, written at once."""
    conns = await asyncio.gather(*(asyncio.open_connection(HOST, port) for _ in range(n)))
    request = f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\nAccept: */*\r\n\r\n".encode()
    try:
        for _, writer in conns:
            writer.write(request)
        async with asyncio.timeout(timeout):
            return list(await asyncio.gather(*(_read_answer(reader) for reader, _ in conns)))
    finally:
        for _, writer in conns:
            writer.close()


def run_burst(port: int, path: str, n: int) -> list[Answer]:
    return asyncio.run(burst(port, path, n))


def upstream_calls(ports: dict[str, int], *, reset: bool = False) -> dict[str, int]:
    """Each service's call counter (``reset``: set them to zero and return zeros)."""
    out: dict[str, int] = {}
    for service in SERVICES:
        conn = http.client.HTTPConnection(HOST, ports[service.name], timeout=5)
        try:
            conn.request("GET", "/_reset" if reset else "/_count")
            resp = conn.getresponse()
            out[service.name] = int(orjson.loads(resp.read())["count"])
        finally:
            conn.close()
    return out
