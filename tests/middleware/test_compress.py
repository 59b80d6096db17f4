"""compress(): negotiation, whole and streamed bodies, what is left alone."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import brotli
import pytest
import zstandard

from scallion import App, Context, sse
from scallion.middleware import compress
from scallion.middleware._negotiate import preferred_encoding

from ._helpers_a import client, endpoint
from ._helpers_b import Sent, asgi

TEXT = "scallion onion layers " * 200  # 4400 bytes, compressible


def decode(encoding: str, data: bytes) -> bytes:
    if encoding == "gzip":
        return gzip.decompress(data)
    if encoding == "br":
        return brotli.decompress(data)  # type: ignore[no-any-return]
    return zstandard.ZstdDecompressor().decompressobj().decompress(data)


def incremental(encoding: str) -> Callable[[bytes], bytes]:
    if encoding == "gzip":
        return zlib.decompressobj(31).decompress
    if encoding == "br":
        return brotli.Decompressor().process  # type: ignore[no-any-return]
    return zstandard.ZstdDecompressor().decompressobj().decompress


def app_for(handler: Any, *middleware: Any, **options: Any) -> App:
    app = App()
    app.use(*middleware or (compress(**options),), endpoint(handler))
    return app


async def text_body(ctx: Context) -> None:
    ctx.body = TEXT


async def call(app: App, accept: str | None = "gzip, br, zstd", **kw: Any) -> Sent:
    headers = [("accept-encoding", accept)] if accept is not None else []
    return await asgi(app, headers=headers, **kw)


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("", None),
        ("gzip", "gzip"),
        ("gzip, deflate, br", "br"),
        ("gzip, br, zstd", "br"),
        ("br;q=0.5, gzip", "gzip"),
        ("br;q=0.9, zstd;q=1.0", "zstd"),
        ("br;q=0, *", "zstd"),
        ("br;q=0, zstd;q=0, *;q=0.1", "gzip"),
        ("*", "br"),
        ("*;q=0", None),
        ("identity", None),
        ("identity;q=0", None),
        ("gzip;q=0.2, identity;q=0.5", None),
        ("zstd", "zstd"),
        ("x-gzip", "gzip"),
        ("GZIP", "gzip"),
        ("gzip;q=abc", None),
        ("deflate", None),
        ("gzip;q=0.001", "gzip"),
        (" br ; q=1 , gzip ; q=0.5", "br"),
        (",,,;;;", None),
    ],
)
async def test_negotiation(accept: str, expected: str | None) -> None:
    assert preferred_encoding(accept, ("br", "zstd", "gzip")) == expected
    sent = await call(app_for(text_body), accept)
    assert sent.headers.get("content-encoding") == expected
    assert sent.headers["vary"] == "Accept-Encoding"
    body = decode(expected, sent.body) if expected else sent.body
    assert body.decode() == TEXT


@pytest.mark.parametrize("encoding", ["gzip", "br", "zstd"])
async def test_whole_body_round_trip(encoding: str) -> None:
    async def handler(ctx: Context) -> None:
        ctx.body = {"items": list(range(500))}
        ctx.set("ETag", '"abc"')

    sent = await call(app_for(handler), encoding)
    assert sent.headers["content-encoding"] == encoding
    assert sent.headers["content-type"] == "application/json; charset=utf-8"
    assert int(sent.headers["content-length"]) == len(sent.body) < 2000
    assert sent.headers["etag"] == 'W/"abc"'
    assert (
        decode(encoding, sent.body)
        == b'{"items":[' + b",".join(str(i).encode() for i in range(500)) + b"]}"
    )


def test_over_http_client_decodes() -> None:
    r = client(compress(), handler=text_body).get("/", headers={"Accept-Encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip" and r.text == TEXT


@pytest.mark.parametrize("encoding", ["gzip", "br", "zstd"])
async def test_streamed_body_is_flushed_per_chunk(encoding: str) -> None:
    parts = [f"chunk {i} ".encode() * 30 for i in range(40)]

    async def handler(ctx: Context) -> None:
        async def gen() -> AsyncIterator[bytes]:
            for part in parts:
                yield part

        ctx.type = "text/plain"
        ctx.set("Content-Length", str(sum(map(len, parts))))
        ctx.body = gen()

    sent = await call(app_for(handler), encoding)
    assert sent.headers["content-encoding"] == encoding
    assert "content-length" not in sent.headers
    feed = incremental(encoding)
    chunks = [c for c in sent.chunks if c]
    outputs = [feed(chunk) for chunk in chunks]
    assert outputs[: len(parts)] == parts  # every chunk decodes to its part at once
    assert b"".join(outputs) == b"".join(parts)


async def test_sync_iterator_and_file_bodies(tmp_path: Path) -> None:
    data = TEXT.encode() * 10
    file = tmp_path / "big.txt"
    file.write_bytes(data)

    async def from_file(ctx: Context) -> None:
        ctx.type = "text/plain"
        ctx.body = open(file, "rb")  # noqa: SIM115 - the App closes it

    async def from_iter(ctx: Context) -> None:
        ctx.type = "text/plain"
        ctx.body = iter([data[:100], data[100:]])

    for handler in (from_file, from_iter):
        sent = await call(app_for(handler), "gzip")
        assert sent.headers["content-encoding"] == "gzip"
        assert gzip.decompress(sent.body) == data


async def test_small_file_under_threshold(tmp_path: Path) -> None:
    file = tmp_path / "small.txt"
    file.write_bytes(b"tiny")

    async def handler(ctx: Context) -> None:
        ctx.type = "text/plain"
        ctx.body = open(file, "rb")  # noqa: SIM115

    sent = await call(app_for(handler), "gzip")
    assert "content-encoding" not in sent.headers and sent.body == b"tiny"


async def test_large_body_compressed_off_loop() -> None:
    big = ("0123456789abcdef" * 32 * 1024).encode()  # 512 KiB

    async def handler(ctx: Context) -> None:
        ctx.type = "text/plain"
        ctx.body = big

    sent = await call(app_for(handler), "br")
    assert brotli.decompress(sent.body) == big


class TestLeftAlone:
    async def test_under_threshold(self) -> None:
        async def handler(ctx: Context) -> None:
            ctx.body = "short"

        sent = await call(app_for(handler))
        assert "content-encoding" not in sent.headers and sent.body == b"short"
        bigger = await call(app_for(handler, threshold=0))
        assert bigger.headers["content-encoding"] == "br"

    @pytest.mark.parametrize(
        ("ctype", "compressed"),
        [
            ("text/html; charset=utf-8", True),
            ("text/css", True),
            ("application/javascript", True),
            ("image/svg+xml", True),
            ("application/problem+json", True),
            ("application/atom+xml", True),
            ("image/png", False),
            ("video/mp4", False),
            ("application/zip", False),
            ("application/octet-stream", False),
            ("font/woff2", False),
            ("text/event-stream", False),
        ],
    )
    async def test_default_filter(self, ctype: str, compressed: bool) -> None:
        async def handler(ctx: Context) -> None:
            ctx.type = ctype
            ctx.body = TEXT.encode()

        sent = await call(app_for(handler))
        assert ("content-encoding" in sent.headers) is compressed
        assert ("vary" in sent.headers) is compressed

    async def test_custom_filter(self) -> None:
        async def handler(ctx: Context) -> None:
            ctx.type = "application/octet-stream"
            ctx.body = TEXT.encode()

        sent = await call(app_for(handler, filter=lambda t: t.startswith("application/")))
        assert sent.headers["content-encoding"] == "br"
        text = await call(app_for(text_body, filter=lambda t: False))
        assert "content-encoding" not in text.headers

    async def test_already_encoded(self) -> None:
        async def handler(ctx: Context) -> None:
            ctx.type = "text/plain"
            ctx.set("Content-Encoding", "gzip")
            ctx.body = gzip.compress(TEXT.encode())

        sent = await call(app_for(handler))
        assert sent.headers["content-encoding"] == "gzip"
        assert gzip.decompress(sent.body).decode() == TEXT

    async def test_head(self) -> None:
        sent = await call(app_for(text_body), method="HEAD")
        assert "content-encoding" not in sent.headers
        assert sent.headers["vary"] == "Accept-Encoding" and sent.body == b""

    @pytest.mark.parametrize("status", [204, 304])
    async def test_empty_statuses(self, status: int) -> None:
        async def handler(ctx: Context) -> None:
            ctx.body = TEXT
            ctx.status = status

        sent = await call(app_for(handler))
        assert sent.status == status and "content-encoding" not in sent.headers

    async def test_partial_content(self) -> None:
        async def handler(ctx: Context) -> None:
            ctx.body = TEXT
            ctx.status = 206

        sent = await call(app_for(handler))
        assert "content-encoding" not in sent.headers and sent.body.decode() == TEXT

    async def test_no_transform(self) -> None:
        async def handler(ctx: Context) -> None:
            ctx.set("Cache-Control", "public, no-transform")
            ctx.body = TEXT

        assert "content-encoding" not in (await call(app_for(handler))).headers

    async def test_ctx_compress_switch(self) -> None:
        async def off(ctx: Context) -> None:
            ctx.compress = False  # type: ignore[attr-defined]
            ctx.body = TEXT

        async def on(ctx: Context) -> None:
            ctx.compress = True  # type: ignore[attr-defined]
            ctx.type = "image/png"
            ctx.body = TEXT.encode()

        assert "content-encoding" not in (await call(app_for(off))).headers
        assert (await call(app_for(on))).headers["content-encoding"] == "br"

    async def test_not_found_and_errors(self) -> None:
        async def nothing(ctx: Context) -> None:
            return None

        async def boom(ctx: Context) -> None:
            ctx.throw(400, "x" * 5000)

        assert (await call(app_for(nothing))).status == 404
        error = await call(app_for(boom))
        assert error.status == 400 and "content-encoding" not in error.headers


class TestEventStreams:
    @staticmethod
    async def events(ctx: Context) -> None:
        async def gen() -> AsyncIterator[dict[str, int]]:
            for i in range(3):
                yield {"n": i}

        ctx.body = sse(gen())

    async def test_excluded_by_default(self) -> None:
        sent = await call(app_for(self.events))
        assert "content-encoding" not in sent.headers
        assert sent.body.count(b"data: ") == 3

    async def test_flushed_per_event_when_allowed(self) -> None:
        sent = await call(app_for(self.events, filter=lambda t: True), "gzip")
        assert sent.headers["content-encoding"] == "gzip"
        feed = incremental("gzip")
        decoded = [feed(c) for c in sent.chunks if c]
        assert [d for d in decoded if d.startswith(b"data: ")] == [
            b'data: {"n":0}\n\n',
            b'data: {"n":1}\n\n',
            b'data: {"n":2}\n\n',
        ]


class TestConstruction:
    @pytest.mark.parametrize(
        ("kwargs", "error"),
        [
            ({"threshold": -1}, TypeError),
            ({"threshold": "1kb"}, TypeError),
            ({"encodings": ["deflate"]}, ValueError),
            ({"encodings": []}, ValueError),
            ({"level": {"gzip": 12}}, ValueError),
            ({"level": {"br": "max"}}, ValueError),
            ({"level": {"lzma": 1}}, ValueError),
            ({"filter": "text/*"}, TypeError),
        ],
    )
    def test_bad_options(self, kwargs: dict[str, Any], error: type[Exception]) -> None:
        with pytest.raises(error):
            compress(**kwargs)

    async def test_levels_and_one_encoding(self) -> None:
        sent = await call(app_for(text_body, encodings="gzip", level={"gzip": 1}))
        assert sent.headers["content-encoding"] == "gzip"
        assert gzip.decompress(sent.body).decode() == TEXT
