"""serve_static(): files, caching, ranges, precompression, and no way out of root."""

from __future__ import annotations

import gzip
import os
from email.utils import formatdate
from pathlib import Path
from typing import Any

import brotli
import pytest

from scallion import App, Context
from scallion.middleware import serve_static
from scallion.testing import TestClient

from ._helpers_a import client, closing, endpoint
from ._helpers_b import asgi

SECRET = b"TOP-SECRET-OUTSIDE-ROOT"
BINARY = bytes(range(100))


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "secret.txt").write_bytes(SECRET)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret2.txt").write_bytes(SECRET)
    (outside / "index.html").write_bytes(SECRET)
    root = tmp_path / "public"
    (root / "sub").mkdir(parents=True)
    (root / "noindex").mkdir()
    (root / ".git").mkdir()
    files = {
        "index.html": b"<h1>home</h1>",
        "style.css": b"body { color: red }",
        "app.js": b"console.log('plain')",
        "data.json": b'{"a": 1}',
        "image.png": b"\x89PNG fake",
        "blob.qqzz": b"?",
        "data.bin": BINARY,
        "empty.txt": b"",
        "about.html": b"<p>about</p>",
        "sub/index.html": b"<h1>sub</h1>",
        "sub/page.html": b"<p>page</p>",
        "noindex/file.txt": b"file",
        ".env": b"SECRET=1",
        ".git/config": b"[core]",
        "with space.txt": b"spaced",
        "é.txt": b"accent",
        "big.txt": os.urandom(200_000),
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    (root / "app.js.gz").write_bytes(gzip.compress(b"console.log('gz')"))
    (root / "app.js.br").write_bytes(brotli.compress(b"console.log('br')"))
    (root / "link_in").symlink_to(root / "style.css")
    (root / "link_out").symlink_to(tmp_path / "secret.txt")
    (root / "dirlink_out").symlink_to(outside)
    return root


def static(root: Path, *before: Any, handler: Any = None, **options: Any) -> TestClient:
    async def fallback(ctx: Context) -> None:
        ctx.status = 404
        ctx.body = "fell through"

    app = App()
    app.use(*before, serve_static(root, **options), endpoint(handler or fallback))
    return closing(TestClient(app))


class TestServing:
    @pytest.mark.parametrize(
        ("path", "body", "ctype"),
        [
            ("/", b"<h1>home</h1>", "text/html; charset=utf-8"),
            ("/index.html", b"<h1>home</h1>", "text/html; charset=utf-8"),
            ("/style.css", b"body { color: red }", "text/css; charset=utf-8"),
            ("/data.json", b'{"a": 1}', "application/json; charset=utf-8"),
            ("/image.png", b"\x89PNG fake", "image/png"),
            ("/blob.qqzz", b"?", "application/octet-stream"),
            ("/sub/", b"<h1>sub</h1>", "text/html; charset=utf-8"),
            ("/sub", b"<h1>sub</h1>", "text/html; charset=utf-8"),
            ("/sub/page.html", b"<p>page</p>", "text/html; charset=utf-8"),
            ("/with%20space.txt", b"spaced", "text/plain; charset=utf-8"),
            ("/%C3%A9.txt", b"accent", "text/plain; charset=utf-8"),
            ("/link_in", b"body { color: red }", "text/css; charset=utf-8"),
            ("/sub//page.html", b"<p>page</p>", "text/html; charset=utf-8"),
            ("/./style.css", b"body { color: red }", "text/css; charset=utf-8"),
        ],
    )
    def test_files(self, site: Path, path: str, body: bytes, ctype: str) -> None:
        r = static(site).get(path)
        assert r.status_code == 200 and r.content == body
        assert r.headers["content-type"] == ctype
        assert r.headers["content-length"] == str(len(body))
        assert r.headers["accept-ranges"] == "bytes"
        assert r.headers["cache-control"] == "max-age=0"
        assert r.headers["etag"].startswith('"') and r.headers["last-modified"].endswith("GMT")

    def test_big_file_streams_whole(self, site: Path) -> None:
        r = static(site).get("/big.txt")
        assert r.content == (site / "big.txt").read_bytes()

    def test_empty_file(self, site: Path) -> None:
        r = static(site).get("/empty.txt")
        assert r.status_code == 200 and r.content == b"" and r.headers["content-length"] == "0"

    def test_head(self, site: Path) -> None:
        r = static(site).head("/style.css")
        assert r.status_code == 200 and r.content == b""
        assert r.headers["content-length"] == "19"

    @pytest.mark.parametrize("path", ["/missing.txt", "/noindex/", "/noindex", "/sub/missing"])
    def test_not_found_falls_through(self, site: Path, path: str) -> None:
        r = static(site).get(path)
        assert r.status_code == 404 and r.text == "fell through"

    @pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS"])
    def test_other_methods_fall_through(self, site: Path, method: str) -> None:
        assert static(site).request(method, "/style.css").text == "fell through"


class TestHidden:
    @pytest.mark.parametrize("path", ["/.env", "/.git/config", "/%2eenv", "/sub/../.env"])
    def test_dotfiles_not_served(self, site: Path, path: str) -> None:
        r = static(site).get(path)
        assert r.status_code in (400, 404) and b"SECRET=1" not in r.content

    def test_hidden_true(self, site: Path) -> None:
        c = static(site, hidden=True)
        assert c.get("/.env").content == b"SECRET=1"
        assert c.get("/.git/config").content == b"[core]"


TRAVERSALS = [
    "/../secret.txt",
    "/%2e%2e/secret.txt",
    "/%2E%2E/secret.txt",
    "/%2e%2E/secret.txt",
    "/..%2fsecret.txt",
    "/..%2Fsecret.txt",
    "/%2e%2e%2fsecret.txt",
    "/%2e%2e%2Fsecret.txt",
    "/.%2e/secret.txt",
    "/%2e./secret.txt",
    "/sub/../../secret.txt",
    "/sub/%2e%2e/%2e%2e/secret.txt",
    "/sub/..%2f..%2fsecret.txt",
    "/..%5csecret.txt",
    "/%5c..%5csecret.txt",
    "/..\\secret.txt",
    "/sub\\..\\..\\secret.txt",
    "/secret.txt%00.html",
    "/%00",
    "/..%00/secret.txt",
    "/%c0%ae%c0%ae/secret.txt",
    "/%c0%ae%c0%ae%c0%afsecret.txt",
    "/%e0%80%ae%e0%80%ae/secret.txt",
    "/%c0%2e%c0%2e/secret.txt",
    "/%ff%fe/secret.txt",
    "/%252e%252e/secret.txt",
    "/%252e%252e%252fsecret.txt",
    "/....//secret.txt",
    "/..;/secret.txt",
    "/link_out",
    "/dirlink_out/secret2.txt",
    "/dirlink_out/",
    "/dirlink_out",
    "/%2e%2e",
    "/..",
]


class TestTraversal:
    @pytest.mark.parametrize("raw", TRAVERSALS)
    async def test_nothing_outside_root(self, site: Path, raw: str) -> None:
        app = App()
        app.use(serve_static(site, index="index.html", hidden=True))
        sent = await asgi(app, raw.replace("%", "_"), raw_path=raw.encode("latin-1"))
        assert sent.status in (400, 404), (raw, sent.status)
        assert SECRET not in sent.body

    @pytest.mark.parametrize("raw", TRAVERSALS)
    async def test_under_a_prefix(self, site: Path, raw: str) -> None:
        app = App()
        app.use(serve_static(site / "sub", prefix="/static", fallthrough=False))
        sent = await asgi(app, "/static", raw_path=b"/static" + raw.encode("latin-1"))
        assert sent.status in (400, 404) and SECRET not in sent.body
        assert b"<p>about</p>" not in sent.body

    async def test_absolute_path(self, site: Path, tmp_path: Path) -> None:
        app = App()
        app.use(serve_static(site))
        for raw in ("/" + str(tmp_path / "secret.txt"), str(tmp_path / "secret.txt")):
            sent = await asgi(app, raw, raw_path=raw.encode())
            assert sent.status == 404 and SECRET not in sent.body
        encoded = "/" + str(tmp_path / "secret.txt").replace("/", "%2f")
        sent = await asgi(app, "/x", raw_path=encoded.encode())
        assert sent.status == 404 and SECRET not in sent.body

    @pytest.mark.parametrize("raw", ["/%2e%2e/secret.txt", "/a%00b", "/%c0%ae", "/a%5cb"])
    async def test_malformed_paths_are_400(self, site: Path, raw: str) -> None:
        app = App()
        app.use(serve_static(site))
        sent = await asgi(app, "/", raw_path=raw.encode())
        assert sent.status == 400


class TestCaching:
    def test_etag_304(self, site: Path) -> None:
        c = static(site)
        first = c.get("/style.css")
        again = c.get("/style.css", headers={"If-None-Match": first.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == first.headers["etag"]
        weak = c.get("/style.css", headers={"If-None-Match": "W/" + first.headers["etag"]})
        assert weak.status_code == 304
        listed = c.get("/style.css", headers={"If-None-Match": '"x", ' + first.headers["etag"]})
        assert listed.status_code == 304
        other = c.get("/style.css", headers={"If-None-Match": '"other"'})
        assert other.status_code == 200 and other.content
        no_cache = c.get(
            "/style.css",
            headers={"If-None-Match": first.headers["etag"], "Cache-Control": "no-cache"},
        )
        assert no_cache.status_code == 200

    def test_if_modified_since(self, site: Path) -> None:
        c = static(site)
        future = formatdate(os.stat(site / "style.css").st_mtime + 60, usegmt=True)
        past = formatdate(os.stat(site / "style.css").st_mtime - 60, usegmt=True)
        assert c.get("/style.css", headers={"If-Modified-Since": future}).status_code == 304
        assert c.get("/style.css", headers={"If-Modified-Since": past}).status_code == 200
        assert c.get("/style.css", headers={"If-Modified-Since": "garbage"}).status_code == 200
        both = c.get("/style.css", headers={"If-Modified-Since": future, "If-None-Match": '"n"'})
        assert both.status_code == 200  # If-None-Match wins

    def test_etag_and_last_modified_off(self, site: Path) -> None:
        r = static(site, etag=False, last_modified=False).get(
            "/style.css", headers={"If-None-Match": "*"}
        )
        assert r.status_code == 200
        assert "etag" not in r.headers and "last-modified" not in r.headers

    def test_max_age_immutable(self, site: Path) -> None:
        r = static(site, max_age=31536000, immutable=True).get("/style.css")
        assert r.headers["cache-control"] == "max-age=31536000, immutable"


class TestRanges:
    @pytest.mark.parametrize(
        ("header", "status", "body", "content_range"),
        [
            ("bytes=0-0", 206, BINARY[:1], "bytes 0-0/100"),
            ("bytes=0-9", 206, BINARY[:10], "bytes 0-9/100"),
            ("bytes=-5", 206, BINARY[-5:], "bytes 95-99/100"),
            ("bytes=90-", 206, BINARY[90:], "bytes 90-99/100"),
            ("bytes=99-", 206, BINARY[99:], "bytes 99-99/100"),
            ("bytes=10-999", 206, BINARY[10:], "bytes 10-99/100"),
            ("bytes=-500", 206, BINARY, "bytes 0-99/100"),
            (" bytes = 3 - 4 ", 206, BINARY[3:5], "bytes 3-4/100"),
            ("bytes=100-", 416, None, "bytes */100"),
            ("bytes=9999999-", 416, None, "bytes */100"),
            ("bytes=99999999999999999999999999-", 416, None, "bytes */100"),
            ("bytes=-0", 416, None, "bytes */100"),
            ("bytes=abc", 200, BINARY, None),
            ("bytes=5-2", 200, BINARY, None),
            ("bytes=1-x", 200, BINARY, None),
            ("bytes=--5", 200, BINARY, None),
            ("bytes=", 200, BINARY, None),
            ("bytes=0-1,5-6", 200, BINARY, None),
            ("items=0-5", 200, BINARY, None),
            ("bytes=٣-5", 200, BINARY, None),
            ("bytes=²-5", 200, BINARY, None),
        ],
    )
    def test_range(
        self, site: Path, header: str, status: int, body: bytes | None, content_range: str | None
    ) -> None:
        r = static(site).get("/data.bin", headers={"Range": header.encode()})
        assert r.status_code == status
        assert r.headers.get("content-range") == content_range
        if body is not None:
            assert r.content == body and r.headers["content-length"] == str(len(body))

    def test_empty_file_range(self, site: Path) -> None:
        r = static(site).get("/empty.txt", headers={"Range": "bytes=0-"})
        assert r.status_code == 416 and r.headers["content-range"] == "bytes */0"

    def test_head_range(self, site: Path) -> None:
        r = static(site).head("/data.bin", headers={"Range": "bytes=0-9"})
        assert r.status_code == 206 and r.content == b""
        assert r.headers["content-length"] == "10"

    def test_if_range(self, site: Path) -> None:
        c = static(site)
        tag = c.get("/data.bin").headers["etag"]
        modified = c.get("/data.bin").headers["last-modified"]
        ask = {"Range": "bytes=0-1"}
        assert c.get("/data.bin", headers={**ask, "If-Range": tag}).status_code == 206
        assert c.get("/data.bin", headers={**ask, "If-Range": modified}).status_code == 206
        assert c.get("/data.bin", headers={**ask, "If-Range": '"stale"'}).status_code == 200
        assert c.get("/data.bin", headers={**ask, "If-Range": "W/" + tag}).status_code == 200
        old = "Mon, 01 Jan 2001 00:00:00 GMT"
        assert c.get("/data.bin", headers={**ask, "If-Range": old}).status_code == 200

    def test_big_range_across_chunks(self, site: Path) -> None:
        data = (site / "big.txt").read_bytes()
        r = static(site).get("/big.txt", headers={"Range": "bytes=1000-150000"})
        assert r.status_code == 206 and r.content == data[1000:150001]


class TestPrecompressed:
    @pytest.mark.parametrize(
        ("accept", "body", "encoding"),
        [
            ("br, gzip", b"console.log('br')", "br"),
            ("gzip", b"console.log('gz')", "gzip"),
            ("gzip, br;q=0", b"console.log('gz')", "gzip"),
            ("identity", b"console.log('plain')", None),
            ("zstd", b"console.log('plain')", None),
        ],
    )
    def test_variants(self, site: Path, accept: str, body: bytes, encoding: str | None) -> None:
        r = static(site).get("/app.js", headers={"Accept-Encoding": accept})
        assert r.content == body  # httpx decodes the encoding
        assert r.headers.get("content-encoding") == encoding
        assert r.headers["content-type"] == "text/javascript; charset=utf-8"
        assert r.headers["vary"] == "Accept-Encoding"

    def test_off(self, site: Path) -> None:
        r = static(site, precompressed=False).get("/app.js", headers={"Accept-Encoding": "br"})
        assert r.content == b"console.log('plain')" and "content-encoding" not in r.headers

    def test_etag_differs_per_variant(self, site: Path) -> None:
        c = static(site)
        br = c.get("/app.js", headers={"Accept-Encoding": "br"}).headers["etag"]
        plain = c.get("/app.js", headers={"Accept-Encoding": "identity"}).headers["etag"]
        assert br != plain


class TestOptions:
    def test_prefix(self, site: Path) -> None:
        c = static(site, prefix="/static/")
        assert c.get("/static/style.css").content == b"body { color: red }"
        assert c.get("/static").content == b"<h1>home</h1>"
        assert c.get("/style.css").text == "fell through"
        assert c.get("/staticstyle.css").text == "fell through"

    def test_index_none_and_custom(self, site: Path) -> None:
        assert static(site, index=None).get("/sub/").text == "fell through"
        assert static(site, index="page.html").get("/sub/").content == b"<p>page</p>"

    def test_extensions(self, site: Path) -> None:
        c = static(site, extensions=["html", ".htm"])
        assert c.get("/about").content == b"<p>about</p>"
        assert c.get("/about.txt").text == "fell through"

    def test_fallthrough_false(self, site: Path) -> None:
        r = static(site, fallthrough=False).get("/missing.txt")
        assert r.status_code == 404 and r.text == "Not Found"
        dot = static(site, fallthrough=False).get("/.env")
        assert dot.status_code == 404

    def test_defer(self, site: Path) -> None:
        async def handler(ctx: Context) -> None:
            if ctx.path == "/style.css":
                ctx.body = "from the route"

        c = static(site, defer=True, handler=handler)
        assert c.get("/style.css").text == "from the route"
        assert c.get("/data.json").json() == {"a": 1}
        assert c.get("/missing").status_code == 404
        strict = static(site, defer=True, fallthrough=False, handler=handler)
        assert strict.get("/missing").text == "Not Found"

    def test_set_headers(self, site: Path) -> None:
        seen: list[str] = []

        def add(ctx: Context, path: str, st: os.stat_result) -> None:
            seen.append(os.path.basename(path))
            ctx.set("X-Size", str(st.st_size))

        r = static(site, set_headers=add).get("/style.css")
        assert r.headers["x-size"] == "19" and seen == ["style.css"]

    @pytest.mark.parametrize(
        ("kwargs", "error"),
        [
            ({"prefix": "static"}, ValueError),
            ({"max_age": -1}, TypeError),
            ({"max_age": 1.5}, TypeError),
            ({"index": "a/b.html"}, ValueError),
            ({"set_headers": 3}, TypeError),
        ],
    )
    def test_bad_options(self, site: Path, kwargs: dict[str, Any], error: type[Exception]) -> None:
        with pytest.raises(error):
            serve_static(site, **kwargs)

    def test_root_must_be_a_directory(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="not a directory"):
            serve_static(tmp_path / "nope")


def test_behind_compress(site: Path) -> None:
    from scallion.middleware import compress

    c = client(compress(threshold=10), serve_static(site))
    plain = c.get("/big.txt", headers={"Accept-Encoding": "gzip"})
    assert plain.content == (site / "big.txt").read_bytes()
    pre = c.get("/app.js", headers={"Accept-Encoding": "br"})
    assert pre.headers["content-encoding"] == "br" and pre.content == b"console.log('br')"
    part = c.get("/data.bin", headers={"Accept-Encoding": "gzip", "Range": "bytes=0-3"})
    assert part.status_code == 206 and part.content == BINARY[:4]
