"""multipart(): uploads streamed with limits, spooled, cleaned up, and hostile bodies refused."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pytest

from scallion import App, Context
from scallion.middleware import multipart
from scallion.middleware.multipart import FormData, UploadFile, safe_filename

from ._helpers_a import client, endpoint
from ._helpers_b import asgi

B = b"scallion-boundary-42"
CTYPE = "multipart/form-data; boundary=" + B.decode()


def part(
    name: str | None,
    value: bytes,
    *,
    filename: str | None = None,
    ctype: str | None = None,
    headers: tuple[bytes, ...] = (),
) -> bytes:
    disposition = b"Content-Disposition: form-data"
    if name is not None:
        disposition += b'; name="' + name.encode() + b'"'
    if filename is not None:
        disposition += b'; filename="' + filename.encode() + b'"'
    lines = [disposition, *headers]
    if ctype:
        lines.append(b"Content-Type: " + ctype.encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + value + b"\r\n"


def form_body(*parts: bytes, boundary: bytes = B, close: bool = True) -> bytes:
    body = b"".join(b"--" + boundary + b"\r\n" + p for p in parts)
    return body + (b"--" + boundary + b"--\r\n" if close else b"")


async def describe(ctx: Context) -> None:
    form: FormData = ctx.request.parsed
    files: dict[str, Any] = {}
    for name, value in form.files.items():
        uploads = value if isinstance(value, list) else [value]
        files[name] = [
            {
                "filename": u.filename,
                "type": u.content_type,
                "size": u.size,
                "data": (await u.read()).decode("latin-1"),
            }
            for u in uploads
        ]
    ctx.body = {"fields": form.fields, "files": files}


def send(body: bytes, ctype: str = CTYPE, **options: Any) -> Any:
    return client(multipart(**options), handler=describe).post(
        "/", content=body, headers={"Content-Type": ctype}
    )


async def send_chunked(app: App, body: bytes, size: int = 1024, ctype: str = CTYPE) -> Any:
    chunks = [body[i : i + size] for i in range(0, len(body), size)]
    return await asgi(
        app,
        method="POST",
        headers=[("content-type", ctype), ("transfer-encoding", "chunked")],
        body=chunks,
    )


class TestNormalUse:
    def test_fields_and_files_from_http_client(self) -> None:
        r = client(multipart(), handler=describe).post(
            "/",
            data={"name": "ann", "tags": ["a", "b"]},
            files=[
                ("avatar", ("me.png", b"\x89PNG...", "image/png")),
                ("docs", ("a.txt", b"first", "text/plain")),
                ("docs", ("b.txt", b"second", "text/plain")),
            ],
        )
        assert r.status_code == 200
        body = r.json()
        assert body["fields"] == {"name": "ann", "tags": ["a", "b"]}
        assert body["files"]["avatar"] == [
            {"filename": "me.png", "type": "image/png", "size": 7, "data": "\x89PNG..."}
        ]
        assert [f["data"] for f in body["files"]["docs"]] == ["first", "second"]

    def test_form_data_access(self) -> None:
        seen: dict[str, Any] = {}

        async def handler(ctx: Context) -> None:
            form = ctx.request.parsed
            seen["name"] = form["name"]
            seen["file"] = form.get("f")
            seen["missing"] = form.get("nope", "default")
            seen["contains"] = ("name" in form, "f" in form, "x" in form)
            seen["repr"] = repr(form)
            ctx.body = "ok"

        body = form_body(part("name", b"ann"), part("f", b"xyz", filename="x.bin"))
        r = client(multipart(), handler=handler).post(
            "/", content=body, headers={"Content-Type": CTYPE}
        )
        assert r.status_code == 200
        assert seen["name"] == "ann" and isinstance(seen["file"], UploadFile)
        assert seen["file"].headers["content-disposition"].startswith("form-data")
        assert seen["file"].content_type == "application/octet-stream"
        assert seen["missing"] == "default" and seen["contains"] == (True, True, False)
        assert "FormData" in seen["repr"]

    def test_spooled_to_disk_in_upload_dir_and_cleaned_up(self, tmp_path: Path) -> None:
        kept: list[UploadFile] = []
        data = os.urandom(300_000)
        saved = tmp_path / "saved.bin"

        async def handler(ctx: Context) -> None:
            upload = ctx.request.parsed.files["big"]
            kept.append(upload)
            where = os.readlink(f"/proc/self/fd/{upload.file.fileno()}")
            assert where.startswith(str(tmp_path / "uploads"))
            assert await upload.save(saved) == len(data)
            assert await upload.read(4) == data[:4]
            await upload.seek(0)
            ctx.body = {"size": upload.size}

        (tmp_path / "uploads").mkdir()
        c = client(
            multipart(spool_max_size="64kb", upload_dir=tmp_path / "uploads"), handler=handler
        )
        body = form_body(part("big", data, filename="big.bin"))
        r = c.post("/", content=body, headers={"Content-Type": CTYPE})
        assert r.json() == {"size": len(data)}
        assert saved.read_bytes() == data
        assert kept[0].file.closed  # closed once the chain returned

    async def test_streamed_in_small_chunks(self) -> None:
        data = os.urandom(50_000)
        app = App()
        app.use(multipart(spool_max_size=1000), endpoint(describe))
        body = form_body(
            part("a", b"1"), part("f1", data, filename="1.bin"), part("f2", b"two", filename="2")
        )
        sent = await send_chunked(app, body, size=777)
        assert sent.status == 200
        files = orjson.loads(sent.body)["files"]
        assert files["f1"][0]["data"].encode("latin-1") == data
        assert files["f2"][0]["data"] == "two"

    def test_non_multipart_passes(self) -> None:
        async def handler(ctx: Context) -> None:
            ctx.body = {"parsed": ctx.request.parsed}

        c = client(multipart(), handler=handler)
        assert c.post("/", json={"a": 1}).json() == {"parsed": None}
        assert c.get("/").json() == {"parsed": None}

    def test_require(self) -> None:
        r = client(multipart(require=True), handler=describe).post("/", json={"a": 1})
        assert r.status_code == 415
        assert "expected multipart/form-data" in r.text

    def test_allowed_types(self) -> None:
        ok = send(
            form_body(part("f", b"x", filename="a.png", ctype="image/png")),
            allowed_types=["image/*"],
        )
        assert ok.status_code == 200
        bad = send(
            form_body(part("f", b"x", filename="a.exe", ctype="application/x-msdownload")),
            allowed_types=["image/*", "application/pdf"],
        )
        assert bad.status_code == 415 and "application/x-msdownload" in bad.text
        field = send(form_body(part("note", b"text")), allowed_types=["image/*"])
        assert field.status_code == 200  # fields are not files


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("photo.jpg", "photo.jpg"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("/abs/path.txt", "path.txt"),
        ("C:\\Users\\me\\cv.pdf", "cv.pdf"),
        ("..", "upload"),
        ("dir/..", "upload"),
        ("", ""),
        ("a\x01b\x7f.txt", "ab.txt"),
        ("  spaced.txt  ", "spaced.txt"),
        ("résumé.pdf", "résumé.pdf"),
    ],
)
def test_safe_filename(raw: str, clean: str) -> None:
    assert safe_filename(raw) == clean


def test_traversal_filename_over_http() -> None:
    r = send(form_body(part("f", b"x", filename="../../etc/passwd")))
    assert r.json()["files"]["f"][0]["filename"] == "passwd"


class TestHostile:
    @pytest.mark.parametrize(
        ("ctype", "fragment"),
        [
            ("multipart/form-data", "without a boundary"),
            ("multipart/form-data; boundary=", "without a boundary"),
            ("multipart/form-data; boundary=" + "x" * 300, "longer than 200"),
        ],
    )
    def test_bad_boundary(self, ctype: str, fragment: str) -> None:
        r = send(form_body(part("a", b"1")), ctype=ctype)
        assert r.status_code == 400 and fragment in r.text

    @pytest.mark.parametrize(
        "body",
        [
            b"",
            b"garbage without any boundary",
            form_body(part("a", b"1"), close=False),
            form_body(part("a", b"1"))[:-20],
            b"--" + B + b'\r\nContent-Disposition: form-data; name="a"\r\n',
            b"--" + B + b"\r\nno colon header\r\n\r\nx\r\n--" + B + b"--\r\n",
            b"--wrong-boundary\r\n" + part("a", b"1") + b"--wrong-boundary--\r\n",
        ],
    )
    def test_malformed_or_truncated_is_400(self, body: bytes) -> None:
        r = send(body)
        assert r.status_code == 400, r.text

    def test_part_without_name(self) -> None:
        r = send(form_body(part(None, b"1")))
        assert r.status_code == 400 and "without a form-data name" in r.text

    def test_field_not_utf8(self) -> None:
        r = send(form_body(part("a", b"caf\xe9")))
        assert r.status_code == 400 and "not valid UTF-8" in r.text

    def test_huge_part_header(self) -> None:
        big = b"X-Big: " + b"a" * 20_000
        r = send(form_body(part("a", b"1", headers=(big,))))
        assert r.status_code == 413 and "headers too large" in r.text
        small = send(form_body(part("a", b"1", headers=(b"X-Ok: 1",))), max_part_header_size=64)
        assert small.status_code == 200

    def test_too_many_header_lines(self) -> None:
        lines = tuple(f"X-H{i}: v".encode() for i in range(40))
        assert send(form_body(part("a", b"1", headers=lines))).status_code == 413

    def test_too_many_files(self) -> None:
        parts = [part(f"f{i}", b"x", filename=f"{i}.txt") for i in range(4)]
        r = send(form_body(*parts), max_files=3)
        assert r.status_code == 413 and "Too many files (the limit is 3)" in r.text
        assert send(form_body(*parts[:3]), max_files=3).status_code == 200

    def test_too_many_fields(self) -> None:
        parts = [part(f"k{i}", b"v") for i in range(6)]
        r = send(form_body(*parts), max_fields=5)
        assert r.status_code == 413 and "Too many form fields" in r.text

    def test_field_too_big(self) -> None:
        r = send(form_body(part("a", b"x" * 101)), max_field_size=100)
        assert r.status_code == 413 and "larger than 100 bytes" in r.text

    async def test_file_too_big_found_while_streaming(self) -> None:
        pulled = 0
        chunk = b"y" * 4096

        def body() -> Any:
            nonlocal pulled
            head = b"--" + B + b"\r\n" + part("f", b"", filename="big.bin")[:-2]
            yield head
            for _ in range(10_000):  # 40 MB offered; the limit is 64 KiB
                pulled += 1
                yield chunk

        app = App()
        app.use(multipart(max_file_size="64kb", max_body_size="1gb"), endpoint(describe))
        sent = await asgi(
            app,
            method="POST",
            headers=[("content-type", CTYPE), ("transfer-encoding", "chunked")],
            body=body(),
        )
        assert sent.status == 413 and b"larger than 65536 bytes" in sent.body
        assert pulled < 40  # stopped at the limit, not after reading 40 MB

    def test_total_body_limit_declared(self) -> None:
        body = form_body(part("f", b"z" * 5000, filename="a"))
        r = send(body, max_body_size=1000)
        assert r.status_code == 413 and "limit of 1000 bytes" in r.text

    async def test_total_body_limit_chunked(self) -> None:
        app = App()
        app.use(multipart(max_body_size=2000), endpoint(describe))
        body = form_body(*[part(f"k{i}", b"v" * 100) for i in range(40)])
        sent = await send_chunked(app, body, size=256)
        assert sent.status == 413

    def test_uploads_closed_after_an_error(self) -> None:
        kept: list[UploadFile] = []

        async def handler(ctx: Context) -> None:
            kept.extend(ctx.request.parsed.uploads())
            raise RuntimeError("handler failed")

        r = client(multipart(), handler=handler).post(
            "/", content=form_body(part("f", b"x", filename="a")), headers={"Content-Type": CTYPE}
        )
        assert r.status_code == 500 and kept and kept[0].file.closed


class TestConstruction:
    @pytest.mark.parametrize(
        ("kwargs", "error"),
        [
            ({"max_file_size": "big"}, ValueError),
            ({"max_files": -1}, TypeError),
            ({"max_fields": "10"}, TypeError),
            ({"max_part_header_size": 10}, ValueError),
            ({"upload_dir": "/definitely/not/here"}, ValueError),
            ({"allowed_types": [3]}, TypeError),
            ({"require": "yes"}, TypeError),
        ],
    )
    def test_bad_options(self, kwargs: dict[str, Any], error: type[Exception]) -> None:
        with pytest.raises(error):
            multipart(**kwargs)
