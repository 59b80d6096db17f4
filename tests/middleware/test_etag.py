"""etag(): tags for str/bytes/JSON/file bodies, none for streams or errors."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from typing import Any

import pytest

from scallion.middleware import etag
from scallion.middleware.etag import etag_for_bytes

from ._helpers_a import client


def body_handler(value: Any, status: int | None = None) -> Any:
    async def handler(ctx: Any) -> None:
        if status is not None:
            ctx.status = status
        ctx.body = value

    return handler


@pytest.mark.parametrize("value", ["hello", b"\x00\x01", {"a": [1, 2]}, [1, "x"]])
def test_tagged_bodies(value: Any) -> None:
    r = client(etag(), handler=body_handler(value)).get("/")
    assert r.headers["etag"] == etag_for_bytes(r.content)
    assert r.headers["etag"].startswith('W/"')


def test_same_body_same_tag_and_different_body_different_tag() -> None:
    c = client(etag(), handler=lambda ctx: setattr(ctx, "body", {"q": ctx.query.get("q")}))
    assert c.get("/?q=1").headers["etag"] == c.get("/?q=1").headers["etag"]
    assert c.get("/?q=1").headers["etag"] != c.get("/?q=2").headers["etag"]


def test_strong_tags() -> None:
    r = client(etag(weak=False), handler=body_handler("x")).get("/")
    assert r.headers["etag"].startswith('"') and not r.headers["etag"].startswith("W/")


def test_existing_etag_is_kept() -> None:
    async def handler(ctx: Any) -> None:
        ctx.set("ETag", '"v42"')
        ctx.body = "x"

    assert client(etag(), handler=handler).get("/").headers["etag"] == '"v42"'


@pytest.mark.parametrize("status", [404, 500, 302])
def test_non_2xx_gets_none(status: int) -> None:
    r = client(etag(), handler=body_handler({"e": 1}, status)).get("/", follow_redirects=False)
    assert "etag" not in r.headers


def test_streams_get_none() -> None:
    async def gen() -> Any:
        yield b"chunk"

    r = client(etag(), handler=body_handler(gen())).get("/")
    assert r.text == "chunk" and "etag" not in r.headers


@pytest.fixture
def data_file() -> Iterator[str]:
    fd, path = tempfile.mkstemp()
    os.write(fd, b"file contents")
    os.close(fd)
    yield path
    os.unlink(path)


def test_files_use_size_and_mtime(data_file: str) -> None:
    async def handler(ctx: Any) -> None:
        ctx.body = open(data_file, "rb")  # noqa: SIM115 - the App closes it

    c = client(etag(), handler=handler)
    first = c.get("/")
    assert first.text == "file contents"
    stat = os.stat(data_file)
    assert first.headers["etag"] == f'W/"{stat.st_size:x}-{stat.st_mtime_ns:x}"'
    os.utime(data_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert c.get("/").headers["etag"] != first.headers["etag"]


def test_bad_option() -> None:
    with pytest.raises(TypeError):
        etag(weak="yes")  # type: ignore[arg-type]
