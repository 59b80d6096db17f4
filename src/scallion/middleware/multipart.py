"""``multipart/form-data`` uploads, streamed through python-multipart with hard limits.

Usage::

    router.post("/upload", multipart(max_file_size="20mb", max_files=3), save_upload)
    # in save_upload: form = ctx.request.parsed; form.files["avatar"] is an UploadFile
    #                 await form.files["avatar"].save(f"/srv/avatars/{user_id}.png")

The body is parsed as it arrives (never buffered whole): fields become strings in
``form.fields``, files become ``UploadFile`` objects in ``form.files``, spooled in memory
up to ``spool_max_size`` and to a temporary file on disk past it. A name sent more than
once maps to a list. The result is ``ctx.request.parsed``, a ``FormData``; every file is
closed (and its temporary file removed) when the chain below returns, so read or
``save()`` uploads in the handler.

Bad input is a clear 4xx: no or bad boundary, a malformed or truncated body, a part
without a name, or a field that is not valid UTF-8 is 400; a file, field, header line,
part count or total body over its limit is 413, found while streaming; a file type outside
``allowed_types`` is 415, as is a non-multipart body when ``require=True``. File names
are reduced to their last path component, so ``../../etc/passwd`` arrives as ``passwd``.

python-multipart is optional: ``pip install 'scallion[multipart]'``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import Iterable
from typing import IO, TYPE_CHECKING, Any, Final

from .. import _mime
from ..errors import HttpError
from ..types import Middleware, Next
from ._sizes import parse_size

if TYPE_CHECKING:
    from ..context import Context
    from ..request import Request

__all__ = ["FormData", "UploadFile", "multipart", "safe_filename"]

_INSTALL: Final = "pip install 'scallion[multipart]'"
_MAX_HEADER_LINES: Final = 16


class UploadFile:
    """One uploaded file: its name, type, size and a spooled ``file`` holding the bytes."""

    __slots__ = ("_on_disk", "content_type", "file", "filename", "headers", "size")

    def __init__(
        self,
        filename: str,
        content_type: str,
        file: IO[bytes],
        headers: dict[str, str],
        size: int = 0,
    ) -> None:
        self.filename = filename
        """The client's file name, reduced to its last path component (may be ``""``)."""
        self.content_type = content_type
        self.file = file
        self.headers = headers
        self.size = size
        self._on_disk = False

    async def read(self, size: int = -1) -> bytes:
        """Read from the current position (the start, at first)."""
        if self._on_disk:
            return await asyncio.to_thread(self.file.read, size)
        return self.file.read(size)

    async def seek(self, offset: int) -> None:
        self.file.seek(offset)

    async def save(self, path: str | os.PathLike[str]) -> int:
        """Copy the whole upload to ``path`` (off the event loop); returns the byte count."""

        def copy() -> int:
            self.file.seek(0)
            with open(path, "wb") as out:
                shutil.copyfileobj(self.file, out, 1024 * 1024)
            self.file.seek(0)
            return self.size

        return await asyncio.to_thread(copy)

    def close(self) -> None:
        """Close the file; a spooled temporary file on disk is removed."""
        self.file.close()

    def __repr__(self) -> str:
        return f"<UploadFile {self.filename!r} {self.content_type} {self.size} bytes>"


class FormData:
    """A parsed multipart body: ``fields`` (str or list of str) and ``files``."""

    __slots__ = ("fields", "files")

    def __init__(self) -> None:
        self.fields: dict[str, str | list[str]] = {}
        self.files: dict[str, UploadFile | list[UploadFile]] = {}

    def get(self, name: str, default: Any = None) -> Any:
        """A field's value or a file by its name (fields first), else ``default``."""
        if name in self.fields:
            return self.fields[name]
        return self.files.get(name, default)

    def __getitem__(self, name: str) -> Any:
        if name in self.fields:
            return self.fields[name]
        return self.files[name]

    def __contains__(self, name: object) -> bool:
        return name in self.fields or name in self.files

    def uploads(self) -> list[UploadFile]:
        """Every file, in the order received."""
        found: list[UploadFile] = []
        for value in self.files.values():
            found.extend(value if isinstance(value, list) else [value])
        return found

    def close(self) -> None:
        for upload in self.uploads():
            upload.close()

    def __repr__(self) -> str:
        return f"<FormData fields={list(self.fields)} files={list(self.files)}>"


def _add(target: dict[str, Any], key: str, value: Any) -> None:
    existing = target.get(key)
    if existing is None:
        target[key] = value
    elif isinstance(existing, list):
        existing.append(value)
    else:
        target[key] = [existing, value]


def safe_filename(name: str) -> str:
    """The last path component of a client file name, without control characters."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if ch >= " " and ch != "\x7f").strip()
    if name in (".", ".."):
        return "upload"
    return name


def _write_all(pending: list[tuple[UploadFile, bytes]]) -> None:
    for upload, data in pending:
        upload.file.write(data)


def multipart(
    *,
    max_file_size: int | str = "10mb",
    max_files: int = 10,
    max_fields: int = 1000,
    max_field_size: int | str = "1mb",
    max_part_header_size: int | str = "16kb",
    max_body_size: int | str | None = None,
    spool_max_size: int | str = "1mb",
    upload_dir: str | os.PathLike[str] | None = None,
    allowed_types: Iterable[str] | None = None,
    require: bool = False,
) -> Middleware:
    """Parse ``multipart/form-data`` bodies into ``ctx.request.parsed`` (a ``FormData``).

    Args:
        max_file_size: most bytes in one file (413 past it).
        max_files, max_fields: most file parts and field parts (413 past them).
        max_field_size: most bytes in one field's value.
        max_part_header_size: most bytes in one header line of a part (at most 16 lines).
        max_body_size: the whole body's limit; default ``max_files * max_file_size``
            plus 1 MiB for fields and headers.
        spool_max_size: files larger than this move from memory to a temporary file.
        upload_dir: where temporary files go (default: the system temp directory).
        allowed_types: file content types accepted (``["image/*", "application/pdf"]``);
            others answer 415.
        require: answer 415 to a request whose body is not multipart/form-data.
    """
    try:
        from python_multipart.exceptions import FormParserError, MultipartParseError
        from python_multipart.multipart import MultipartParser, parse_options_header
    except ImportError:  # pragma: no cover - depends on the install
        raise ImportError(f"multipart() needs python-multipart: {_INSTALL}") from None
    file_limit = parse_size(max_file_size, "max_file_size")
    field_limit = parse_size(max_field_size, "max_field_size")
    header_limit = parse_size(max_part_header_size, "max_part_header_size")
    spool = parse_size(spool_max_size, "spool_max_size")
    for name, count in (("max_files", max_files), ("max_fields", max_fields)):
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise TypeError(f"multipart({name}=...) must be an int >= 0")
    body_limit = (
        file_limit * max_files + 1024 * 1024
        if max_body_size is None
        else parse_size(max_body_size, "max_body_size")
    )
    if header_limit < 64:
        raise ValueError("multipart(max_part_header_size=...) must be at least 64 bytes")
    directory = None if upload_dir is None else os.fspath(upload_dir)
    if directory is not None and not os.path.isdir(directory):
        raise ValueError(f"multipart(upload_dir=...): {directory!r} is not a directory")
    patterns = None
    if allowed_types is not None:
        items = [allowed_types] if isinstance(allowed_types, str) else list(allowed_types)
        if not all(isinstance(item, str) and item for item in items):
            raise TypeError("multipart(allowed_types=...) must be a list of content types")
        patterns = tuple(_mime.expand(item) or item.lower() for item in items)
    if not isinstance(require, bool):
        raise TypeError("multipart(require=...) must be a bool")

    class _Parse:
        """The state of one body being parsed; the parser's callbacks are its methods."""

        def __init__(self, form: FormData) -> None:
            self.form = form
            self.files = 0
            self.fields = 0
            self.ended = False
            self.headers: dict[str, str] = {}
            self.header_name = bytearray()
            self.header_value = bytearray()
            self.name = ""
            self.upload: UploadFile | None = None
            self.value = bytearray()
            self.pending: list[tuple[UploadFile, bytes]] = []

        def on_part_begin(self) -> None:
            self.headers = {}
            self.upload = None
            self.value = bytearray()

        def on_header_field(self, data: bytes, start: int, end: int) -> None:
            self.header_name += data[start:end]

        def on_header_value(self, data: bytes, start: int, end: int) -> None:
            self.header_value += data[start:end]

        def on_header_end(self) -> None:
            name = self.header_name.decode("latin-1").strip().lower()
            self.headers[name] = self.header_value.decode("latin-1").strip()
            self.header_name = bytearray()
            self.header_value = bytearray()

        def on_headers_finished(self) -> None:
            disposition, params = parse_options_header(self.headers.get("content-disposition"))
            raw_name = params.get(b"name")
            if disposition.lower() != b"form-data" or raw_name is None:
                raise HttpError(400, "Multipart part without a form-data name")
            self.name = raw_name.decode("utf-8", "replace")
            filename = params.get(b"filename")
            if filename is None:
                self.fields += 1
                if self.fields > max_fields:
                    raise HttpError(413, f"Too many form fields (the limit is {max_fields})")
                return
            self.files += 1
            if self.files > max_files:
                raise HttpError(413, f"Too many files (the limit is {max_files})")
            content_type = self.headers.get("content-type") or "application/octet-stream"
            if patterns is not None:
                bare = _mime.bare(content_type)
                if not any(_mime.mime_matches(p, bare) for p in patterns):
                    raise HttpError(415, f"File type {bare} is not accepted")
            file = tempfile.SpooledTemporaryFile(max_size=spool, dir=directory)  # noqa: SIM115
            self.upload = UploadFile(
                safe_filename(filename.decode("utf-8", "replace")),
                content_type,
                file,
                self.headers,
            )
            _add(self.form.files, self.name, self.upload)

        def on_part_data(self, data: bytes, start: int, end: int) -> None:
            upload = self.upload
            size = end - start
            if upload is None:
                if len(self.value) + size > field_limit:
                    raise HttpError(413, f"Field {self.name!r} is larger than {field_limit} bytes")
                self.value += data[start:end]
                return
            upload.size += size
            if upload.size > file_limit:
                raise HttpError(413, f"File {upload.filename!r} is larger than {file_limit} bytes")
            self.pending.append((upload, data[start:end]))

        def on_part_end(self) -> None:
            if self.upload is None:
                try:
                    value = self.value.decode("utf-8")
                except UnicodeDecodeError:
                    raise HttpError(400, f"Field {self.name!r} is not valid UTF-8") from None
                _add(self.form.fields, self.name, value)

        def on_end(self) -> None:
            self.ended = True

        async def flush(self) -> None:
            """Write the file data the last chunk brought; to disk off the event loop."""
            pending = self.pending
            if not pending:
                return
            self.pending = []
            if any(upload.size > spool for upload, _ in pending):
                await asyncio.to_thread(_write_all, pending)
            else:
                _write_all(pending)
            for upload, _ in pending:
                if upload.size > spool:
                    upload._on_disk = True

    async def parse(request: Request, boundary: bytes) -> FormData:
        form = FormData()
        state = _Parse(form)
        callbacks: Any = {
            name: getattr(state, name)
            for name in (
                "on_part_begin",
                "on_header_field",
                "on_header_value",
                "on_header_end",
                "on_headers_finished",
                "on_part_data",
                "on_part_end",
                "on_end",
            )
        }
        try:
            try:
                parser = MultipartParser(
                    boundary,
                    callbacks,
                    max_header_count=_MAX_HEADER_LINES,
                    max_header_size=header_limit,
                )
                request.body_limit = body_limit
                async for chunk in request.stream():
                    parser.write(chunk)
                    await state.flush()
                parser.finalize()
            except MultipartParseError as exc:
                if str(exc).startswith("Maximum header"):
                    raise HttpError(413, f"Multipart part headers too large: {exc}") from None
                raise HttpError(400, f"Malformed multipart body: {exc}") from None
            except FormParserError as exc:
                raise HttpError(400, f"Malformed multipart body: {exc}") from None
            if not state.ended:
                raise HttpError(400, "Multipart body is truncated (no closing boundary)")
            for upload in form.uploads():
                upload.file.seek(0)
        except BaseException:
            form.close()
            raise
        return form

    async def multipart_middleware(ctx: Context, next: Next) -> Any:
        request = ctx.request
        if not request.is_type("multipart/form-data"):
            if require:
                got = request.content_type or "none"
                raise HttpError(415, f"Unsupported Media Type {got}; expected multipart/form-data")
            return await next()
        _, params = parse_options_header(request.get("content-type"))
        boundary = params.get(b"boundary")
        if not boundary:
            raise HttpError(400, "Multipart body without a boundary in its Content-Type")
        if len(boundary) > 200:
            raise HttpError(400, "Multipart boundary is longer than 200 characters")
        form = await parse(request, boundary)
        request.parsed = form
        try:
            return await next()
        finally:
            form.close()

    return multipart_middleware
