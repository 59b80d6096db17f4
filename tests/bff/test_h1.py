"""``H1Transport`` byte for byte: a scripted loopback server answers exactly what each test
says, and records exactly what the transport wrote.

The behaviour every transport shares (timeouts, pool wait, faults, healing) is tested for
all of them in ``test_transport.py``; here is what only our own HTTP/1.1 code can get wrong:
framing, request smuggling, limits, TLS and connection reuse.
"""

from __future__ import annotations

import asyncio
import datetime
import ssl
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from scallion.bff.h1 import H1Transport, ResponseHeaders
from scallion.bff.transport import (
    ConnectFailed,
    ResponseBroken,
    TransportError,
    TransportTimeout,
)

Script = Callable[[bytes], bytes | None]  # raw request -> raw answer (None: close silently)


def ok(body: bytes = b'{"ok":true}', extra: str = "") -> bytes:
    return (
        f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n{extra}"
        f"content-length: {len(body)}\r\n\r\n"
    ).encode() + body


class Scripted:
    """A raw server: each request (head and Content-Length body) gets ``script(raw)``."""

    def __init__(self, script: Script, ssl_context: ssl.SSLContext | None = None) -> None:
        self.script = script
        self.ssl = ssl_context
        self.requests: list[bytes] = []
        self.connections = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        scheme = "https" if self.ssl else "http"
        return f"{scheme}://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Scripted:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.ssl)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                raw = head + (await reader.readexactly(length) if length else b"")
                self.requests.append(raw)
                answer = self.script(raw)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
                if b"connection: close" in answer.lower():
                    break
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()


@pytest.fixture
async def transport() -> AsyncIterator[H1Transport]:
    t = H1Transport()
    yield t
    await t.aclose()


# -- what goes out -------------------------------------------------------------------------------


async def test_request_bytes_are_exactly_http11(transport: H1Transport) -> None:
    async with Scripted(lambda raw: ok()) as srv:
        resp = await transport.request(
            "POST", srv.url + "/users?x=1#frag", {"x-request-id": "r1"}, b'{"a":1}', 2.0
        )
    assert resp.status == 200
    assert srv.requests == [
        b"POST /users?x=1 HTTP/1.1\r\nx-request-id: r1\r\n"
        + f"host: 127.0.0.1:{srv.port}\r\n".encode()
        + b'content-length: 7\r\n\r\n{"a":1}'
    ]


async def test_a_post_without_a_body_says_length_zero(transport: H1Transport) -> None:
    async with Scripted(lambda raw: ok()) as srv:
        await transport.request("POST", srv.url + "/x", {}, None, 2.0)
        await transport.request("GET", srv.url, {}, None, 2.0)
    assert b"content-length: 0\r\n" in srv.requests[0]
    assert srv.requests[1].startswith(b"GET / HTTP/1.1\r\n")
    assert b"content-length" not in srv.requests[1]


@pytest.mark.parametrize(
    "headers",
    [
        {"x-evil": "a\r\nx-injected: 1"},
        {"x-evil": "a\nb"},
        {"x-evil": "a\rb"},
        {"x-evil\r\nx-injected": "1"},
        {"x-evil": "nul\x00"},
    ],
)
async def test_line_breaks_in_headers_are_refused_before_anything_is_sent(
    transport: H1Transport, headers: dict[str, str]
) -> None:
    async with Scripted(lambda raw: ok()) as srv:
        with pytest.raises(TransportError, match="line break or NUL"):
            await transport.request("GET", srv.url + "/x", headers, None, 2.0)
        assert srv.connections == 0 and srv.requests == []


async def test_a_header_outside_latin1_is_refused(transport: H1Transport) -> None:
    async with Scripted(lambda raw: ok()) as srv:
        with pytest.raises(TransportError, match="latin-1"):
            await transport.request("GET", srv.url, {"x-name": "名前"}, None, 2.0)


async def test_a_hostile_target_is_percent_encoded_not_split(transport: H1Transport) -> None:
    async with Scripted(lambda raw: ok()) as srv:
        await transport.request("GET", srv.url + "/a b\r\nx-injected: 1\r\n/é?q=ü", {}, None, 2.0)
    line = srv.requests[0].split(b"\r\n", 1)[0]
    assert line == b"GET /a%20b%0D%0Ax-injected:%201%0D%0A/%C3%A9?q=%C3%BC HTTP/1.1"
    assert b"x-injected: 1" not in srv.requests[0]


async def test_caller_framing_headers_cannot_frame_the_body_twice(
    transport: H1Transport,
) -> None:
    """A Content-Length or Transfer-Encoding from the caller would smuggle a request."""
    async with Scripted(lambda raw: ok()) as srv:
        await transport.request(
            "POST",
            srv.url + "/x",
            {"Content-Length": "0", "Transfer-Encoding": "chunked"},
            b"abc",
            2.0,
        )
    raw = srv.requests[0].lower()
    assert raw.count(b"content-length") == 1 and b"content-length: 3\r\n" in raw
    assert b"transfer-encoding" not in raw


async def test_the_callers_host_header_wins(transport: H1Transport) -> None:
    async with Scripted(lambda raw: ok()) as srv:
        await transport.request("GET", srv.url, {"Host": "api.internal"}, None, 2.0)
    assert srv.requests[0].count(b"ost: ") == 1
    assert b"Host: api.internal\r\n" in srv.requests[0]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://127.0.0.1/x", "unsupported URL scheme"),
        ("http://user:pw@127.0.0.1:1/x", "credentials"),
        ("http://127.0.0.1:99999/x", "invalid upstream URL"),
        ("http:///x", "no host"),
    ],
)
async def test_bad_urls_are_clear_errors(transport: H1Transport, url: str, message: str) -> None:
    with pytest.raises(TransportError, match=message):
        await transport.request("GET", url, {}, None, 2.0)


# -- what comes back -----------------------------------------------------------------------------


async def test_chunked_answers_are_joined(transport: H1Transport) -> None:
    answer = (
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    )
    async with Scripted(lambda raw: answer) as srv:
        first = await transport.request("GET", srv.url, {}, None, 2.0)
        second = await transport.request("GET", srv.url, {}, None, 2.0)
    assert first.body == second.body == b"hello world"
    assert srv.connections == 1  # the chunked framing ended the answer: kept alive


async def test_a_body_delimited_by_close_is_complete(transport: H1Transport) -> None:
    """No Content-Length, not chunked: the body ends with the connection (RFC 9112 §6.3)."""

    def script(raw: bytes) -> bytes:
        return b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n" + b"x" * 70_000

    async with Scripted(script) as srv:
        resp = await transport.request("GET", srv.url, {}, None, 2.0)
        again = await transport.request("GET", srv.url, {}, None, 2.0)
    assert resp.body == again.body == b"x" * 70_000
    assert srv.connections == 2


async def test_connection_close_is_not_reused(transport: H1Transport) -> None:
    async with Scripted(lambda raw: ok(extra="connection: close\r\n")) as srv:
        for _ in range(3):
            assert (await transport.request("GET", srv.url, {}, None, 2.0)).status == 200
    assert srv.connections == 3


async def test_informational_answers_are_skipped(transport: H1Transport) -> None:
    answer = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n" + ok(
        b"real"
    )
    async with Scripted(lambda raw: answer) as srv:
        resp = await transport.request("GET", srv.url, {}, None, 2.0)
        assert resp.status == 200 and resp.body == b"real"
        assert "link" not in resp.headers
        assert (await transport.request("GET", srv.url, {}, None, 2.0)).body == b"real"


async def test_head_answers_end_at_the_headers(transport: H1Transport) -> None:
    """The answer to HEAD announces a length it does not send: no wait for it."""
    answer = b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n"
    async with Scripted(lambda raw: answer) as srv:
        start = time.perf_counter()
        resp = await transport.request("HEAD", srv.url, {}, None, 2.0)
        assert time.perf_counter() - start < 0.5
        assert resp.status == 200 and resp.body == b""
        assert resp.headers["content-length"] == "1000"


async def test_no_body_statuses(transport: H1Transport) -> None:
    answers = iter([b"HTTP/1.1 204 No Content\r\n\r\n", b"HTTP/1.1 304 Not Modified\r\n\r\n"])
    async with Scripted(lambda raw: next(answers)) as srv:
        assert (await transport.request("GET", srv.url, {}, None, 2.0)).status == 204
        resp = await transport.request("GET", srv.url, {}, None, 2.0)
    assert resp.status == 304 and resp.body == b""
    assert srv.connections == 1


async def test_repeated_headers_are_all_kept() -> None:
    headers = ResponseHeaders(
        [(b"Cache-Control", b"max-age=60"), (b"cache-control", b"public"), (b"X-A", b"1")]
    )
    assert headers["CACHE-CONTROL"] == "max-age=60"
    assert headers.getall("cache-control") == ["max-age=60", "public"]
    assert headers.get("x-missing", "d") == "d" and headers.getall("x-missing") == []
    assert sorted(headers) == ["cache-control", "x-a"] and len(headers) == 2
    assert "x-a" in headers and 1 not in headers
    assert headers.raw[0] == (b"Cache-Control", b"max-age=60")


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b"HTTP/1.1 abc OK\r\n\r\n", "malformed response"),
        (b"SSH-2.0-OpenSSH\r\n\r\n", "malformed response"),
        (b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello", "malformed"),
        (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n", "malformed"),
        (b"HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\n\r\n", "switched"),
    ],
)
async def test_garbage_framing_is_a_broken_response(
    transport: H1Transport, answer: bytes, message: str
) -> None:
    async with Scripted(lambda raw: answer) as srv:
        with pytest.raises(ResponseBroken, match=message):
            await transport.request("GET", srv.url, {}, None, 2.0)


async def test_an_oversize_body_is_refused_without_reading_it_all() -> None:
    t = H1Transport(max_body_bytes=1000)
    try:
        async with Scripted(lambda raw: ok(b"x" * 100_000)) as srv:
            with pytest.raises(ResponseBroken, match="exceeds 1000 bytes"):
                await t.request("GET", srv.url, {}, None, 2.0)
            small = H1Transport(max_body_bytes=1000)
            srv.script = lambda raw: ok(b"x" * 1000)
            assert len((await small.request("GET", srv.url, {}, None, 2.0)).body) == 1000
            await small.aclose()
    finally:
        await t.aclose()


async def test_oversize_headers_are_refused() -> None:
    t = H1Transport(max_header_bytes=4096)
    try:
        answer = ok(extra="".join(f"x-h{i}: {'v' * 100}\r\n" for i in range(100)))
        async with Scripted(lambda raw: answer) as srv:
            with pytest.raises(ResponseBroken, match="headers exceed 4096 bytes"):
                await t.request("GET", srv.url, {}, None, 2.0)
    finally:
        await t.aclose()


async def test_an_answer_nobody_asked_for_retires_the_connection(transport: H1Transport) -> None:
    """Two answers to one request: the first is the answer, the socket is not reused."""
    async with Scripted(lambda raw: ok(b"one") + ok(b"two")) as srv:
        assert (await transport.request("GET", srv.url, {}, None, 2.0)).body == b"one"
        assert (await transport.request("GET", srv.url, {}, None, 2.0)).body == b"one"
    assert srv.connections == 2


async def test_a_trickling_upstream_is_cut_at_the_timeout(transport: H1Transport) -> None:
    """Slow-loris from the upstream side: bytes keep coming, the deadline still holds."""

    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n")
        try:
            for _ in range(100):
                writer.write(b"x")
                await writer.drain()
                await asyncio.sleep(0.02)
        except ConnectionError:
            pass
        writer.close()

    server = await asyncio.start_server(trickle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        start = time.perf_counter()
        with pytest.raises(TransportTimeout):
            await transport.request("GET", f"http://127.0.0.1:{port}/", {}, None, 0.3)
        assert 0.25 < time.perf_counter() - start < 0.6
    finally:
        server.close()
        await server.wait_closed()


async def test_idle_connections_older_than_the_idle_timeout_are_not_reused() -> None:
    t = H1Transport(pool_idle_timeout=0.1)
    try:
        async with Scripted(lambda raw: ok()) as srv:
            await t.request("GET", srv.url, {}, None, 2.0)
            await t.request("GET", srv.url, {}, None, 2.0)
            assert srv.connections == 1
            await asyncio.sleep(0.15)
            await t.request("GET", srv.url, {}, None, 2.0)
            assert srv.connections == 2
    finally:
        await t.aclose()


async def test_a_non_idempotent_call_on_a_dead_connection_is_not_replayed(
    transport: H1Transport,
) -> None:
    """The upstream takes the POST and closes without answering: it may have acted on
    it, so the transport must not send it again."""
    answers = iter([ok(), None])
    async with Scripted(lambda raw: next(answers)) as srv:
        await transport.request("GET", srv.url, {}, None, 2.0)
        with pytest.raises(ConnectFailed, match="before answering"):
            await transport.request("POST", srv.url + "/pay", {}, b"1", 2.0)
    assert [r.split(b" ", 1)[0] for r in srv.requests] == [b"GET", b"POST"]


def test_options_are_checked() -> None:
    with pytest.raises(ValueError):
        H1Transport(connect_timeout=0)
    with pytest.raises(ValueError):
        H1Transport(max_header_bytes=0)


async def test_calls_after_close_are_refused_and_in_flight_ones_finish() -> None:
    t = H1Transport()

    def slow(raw: bytes) -> bytes:
        return ok(b"done")

    async with Scripted(slow) as srv:
        call = asyncio.ensure_future(t.request("GET", srv.url, {}, None, 2.0))
        await asyncio.sleep(0)
        await t.aclose()
        assert (await call).body == b"done"
        with pytest.raises(ConnectFailed, match="closed"):
            await t.request("GET", srv.url, {}, None, 2.0)


# -- TLS -----------------------------------------------------------------------------------------


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    import ipaddress

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp / "cert.pem", tmp / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


async def test_https_upstreams_are_verified(tmp_path: Path) -> None:
    cert, key = _self_signed(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    trusting = H1Transport(ssl=ssl.create_default_context(cafile=str(cert)))
    default = H1Transport()
    try:
        async with Scripted(lambda raw: ok(b"secret"), server_ctx) as srv:
            for _ in range(3):
                resp = await trusting.request("GET", srv.url + "/s", {}, None, 2.0)
                assert resp.body == b"secret"
            assert srv.connections == 1  # kept alive over TLS too
            with pytest.raises(ConnectFailed, match="TLS handshake failed"):
                await default.request("GET", srv.url + "/s", {}, None, 2.0)
    finally:
        await trusting.aclose()
        await default.aclose()


# -- deadlines -----------------------------------------------------------------------------------


async def test_a_short_deadline_behind_a_long_one_still_ends_on_time(
    transport: H1Transport,
) -> None:
    """One timer serves every call in flight: a later call with an earlier deadline re-arms it."""

    def script(raw: bytes) -> bytes:
        return b"" if b"/hang" in raw else ok()

    async with Scripted(script) as srv:
        long = asyncio.ensure_future(transport.request("GET", srv.url + "/hang", {}, None, 5.0))
        await asyncio.sleep(0.05)
        start = time.perf_counter()
        with pytest.raises(TransportTimeout):
            await transport.request("GET", srv.url + "/hang", {}, None, 0.2)
        assert 0.15 < time.perf_counter() - start < 0.5
        assert not long.done()
        long.cancel()
        with pytest.raises(asyncio.CancelledError):
            await long


async def test_finished_calls_do_not_pile_up_behind_a_long_one(transport: H1Transport) -> None:
    """Calls are not removed from the deadline heap when they end; a long call in flight
    keeps the timer far off, so the heap is compacted instead of growing with every call."""

    def script(raw: bytes) -> bytes:
        return b"" if b"/hang" in raw else ok()

    async with Scripted(script) as srv:
        long = asyncio.ensure_future(transport.request("GET", srv.url + "/hang", {}, None, 30.0))
        await asyncio.sleep(0.02)
        for _ in range(30):
            await asyncio.gather(
                *(transport.request("GET", srv.url + "/ok", {}, None, 10.0) for _ in range(100))
            )
        assert len(transport._deadlines._heap) <= 1024 + 100
        long.cancel()
        with pytest.raises(asyncio.CancelledError):
            await long


async def test_deadlines_hold_on_a_second_event_loop() -> None:
    """A transport made once (at import, say) and used from two loops in turn."""
    t = H1Transport()

    async def hang_once() -> float:
        async with Scripted(lambda raw: b"" if b"/hang" in raw else ok()) as srv:
            assert (await t.request("GET", srv.url, {}, None, 1.0)).status == 200
            start = time.perf_counter()
            with pytest.raises(TransportTimeout):
                await t.request("GET", srv.url + "/hang", {}, None, 0.15)
            return time.perf_counter() - start

    def run() -> float:
        return asyncio.run(hang_once())

    loop = asyncio.get_running_loop()
    for _ in range(2):
        took = await loop.run_in_executor(None, run)
        assert 0.1 < took < 0.5
