"""conditional_get(): 304 for fresh GET/HEAD 2xx requests, with etag() or Last-Modified."""

from __future__ import annotations

import os
import tempfile
from typing import Any

from scallion.middleware import conditional_get, etag

from ._helpers_a import client

MODIFIED = "Wed, 21 Oct 2015 07:28:00 GMT"


async def page(ctx: Any) -> None:
    ctx.set("Last-Modified", MODIFIED)
    ctx.set("Cache-Control", "max-age=60")
    ctx.body = {"page": 1}


def tagged() -> Any:
    return client(conditional_get(), etag(), handler=page)


def test_matching_if_none_match_is_304_without_body() -> None:
    c = tagged()
    first = c.get("/")
    assert first.status_code == 200
    tag = first.headers["etag"]
    r = c.get("/", headers={"If-None-Match": tag})
    assert r.status_code == 304
    assert r.content == b""
    assert r.headers["etag"] == tag
    assert r.headers["cache-control"] == "max-age=60"
    assert "content-type" not in r.headers and "content-length" not in r.headers


def test_weak_comparison_lists_and_star() -> None:
    c = tagged()
    tag = c.get("/").headers["etag"]
    strong = tag.removeprefix("W/")
    assert c.get("/", headers={"If-None-Match": f'"nope", {strong}'}).status_code == 304
    assert c.get("/", headers={"If-None-Match": "*"}).status_code == 304


def test_non_matching_tag_is_200() -> None:
    r = tagged().get("/", headers={"If-None-Match": '"something-else"'})
    assert r.status_code == 200 and r.json() == {"page": 1}


def test_if_modified_since() -> None:
    c = client(conditional_get(), handler=page)
    assert c.get("/", headers={"If-Modified-Since": MODIFIED}).status_code == 304
    later = "Thu, 22 Oct 2015 07:28:00 GMT"
    assert c.get("/", headers={"If-Modified-Since": later}).status_code == 304
    earlier = "Tue, 20 Oct 2015 07:28:00 GMT"
    assert c.get("/", headers={"If-Modified-Since": earlier}).status_code == 200


def test_garbage_dates_are_not_fresh() -> None:
    c = client(conditional_get(), handler=page)
    assert c.get("/", headers={"If-Modified-Since": "yesterday-ish"}).status_code == 200


def test_no_cache_request_is_never_fresh() -> None:
    c = tagged()
    tag = c.get("/").headers["etag"]
    r = c.get("/", headers={"If-None-Match": tag, "Cache-Control": "no-cache"})
    assert r.status_code == 200


def test_head_is_304_too() -> None:
    c = tagged()
    tag = c.get("/").headers["etag"]
    assert c.head("/", headers={"If-None-Match": tag}).status_code == 304


def test_unsafe_methods_and_errors_are_never_304() -> None:
    async def handler(ctx: Any) -> None:
        ctx.set("ETag", '"fixed"')
        ctx.status = int(ctx.query.get("status", "200"))
        ctx.body = "x"

    c = client(conditional_get(), handler=handler)
    assert c.post("/", headers={"If-None-Match": '"fixed"'}).status_code == 200
    assert c.get("/?status=404", headers={"If-None-Match": '"fixed"'}).status_code == 404


def test_file_body_is_closed_on_304() -> None:
    fd, path = tempfile.mkstemp()
    os.write(fd, b"abc")
    os.close(fd)
    opened: list[Any] = []

    async def handler(ctx: Any) -> None:
        f = open(path, "rb")  # noqa: SIM115 - closed by conditional_get or the App
        opened.append(f)
        ctx.body = f

    try:
        c = client(conditional_get(), etag(), handler=handler)
        tag = c.get("/").headers["etag"]
        assert c.get("/", headers={"If-None-Match": tag}).status_code == 304
        assert all(f.closed for f in opened)
    finally:
        os.unlink(path)
