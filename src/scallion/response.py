"""The write side of a response: status, headers, and the body with its type rules.

The body rules of DESIGN §2 live in one place, ``Response.body``'s setter, and are
tested as a table (``tests/test_response_body_rules.py``):

==========================  =======================================  ==================
assigned value              Content-Type (unless one is already set)  status
==========================  =======================================  ==================
``str``                      ``text/plain; charset=utf-8``, or        200 unless a status
                             ``text/html`` when it starts with ``<``  was set explicitly
``bytes``/``bytearray``      ``application/octet-stream``             idem
``dict``/``list``/other      ``application/json; charset=utf-8``      idem
async iterator, iterator,    ``application/octet-stream`` (an SSE     idem; streamed,
file object                  stream brings ``text/event-stream``)     length unknown
``None``                     removed, with Content-Length             204
==========================  =======================================  ==================

Like Koa's setter, assigning a body quietly sets the status (koa#905): read
``ctx.status`` after the body is set, and the access log shows the final status.
"""

from __future__ import annotations

import os
import re
import stat as stat_module
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any, Final
from urllib.parse import quote

import orjson

from . import _mime
from .errors import reason_phrase

__all__ = ["EMPTY_STATUSES", "Response", "body_kind", "check_header"]

EMPTY_STATUSES: Final = frozenset({204, 205, 304})
REDIRECT_STATUSES: Final = frozenset({300, 301, 302, 303, 305, 307, 308})

TEXT: Final = "text/plain; charset=utf-8"
HTML: Final = "text/html; charset=utf-8"
JSON: Final = "application/json; charset=utf-8"
BINARY: Final = "application/octet-stream"

# Body kinds, decided once when the body is assigned.
KIND_NONE: Final = 0
KIND_BYTES: Final = 1
KIND_TEXT: Final = 2
KIND_JSON: Final = 3
KIND_STREAM: Final = 4  # async iterator
KIND_ITER: Final = 5  # sync iterator
KIND_FILE: Final = 6

_JSON_OPTIONS: Final = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY


def body_kind(value: object) -> int:
    """Which of the body rules applies to ``value``."""
    if value is None:
        return KIND_NONE
    cls = type(value)
    if cls is str:
        return KIND_TEXT
    if cls is bytes or cls is bytearray or cls is memoryview:
        return KIND_BYTES
    if cls is dict or cls is list:
        return KIND_JSON
    if hasattr(value, "__aiter__"):
        return KIND_STREAM
    if hasattr(value, "read") and hasattr(value, "close"):
        return KIND_FILE
    if isinstance(value, Iterator):
        return KIND_ITER
    if isinstance(value, str):
        return KIND_TEXT
    if isinstance(value, bytes | bytearray):
        return KIND_BYTES
    return KIND_JSON


def _looks_html(text: str) -> bool:
    first = text[:1]
    if first == "<":
        return True
    return first.isspace() and text[:4096].lstrip()[:1] == "<"


def check_header(name: str, value: str) -> None:
    """Refuse header names or values that would split the response (CR/LF/NUL)."""
    if "\r" in value or "\n" in value or "\0" in value:
        raise ValueError(f"Invalid character (CR, LF or NUL) in header {name!r}")
    if name in _VALID_NAMES:
        return
    if _TOKEN.fullmatch(name) is None:
        raise ValueError(f"Invalid header name {name!r}")
    if len(_VALID_NAMES) < 1024:  # names come from code; remember the good ones
        _VALID_NAMES.add(name)


_TOKEN: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VALID_NAMES: set[str] = set()


def _header_value(name: str, value: object) -> str:
    text = value if type(value) is str else str(value)
    check_header(name, text)
    return text


def encode_url(url: str) -> str:
    """Percent-encode what may not appear in a ``Location`` header, keeping escapes."""
    return quote(url, safe=":/?#[]@!$&'()*+,;=%~-._")


class Response:
    """``ctx.response``: see the module docstring for the body rules."""

    __slots__ = (
        "_body",
        "_encoded",
        "_explicit_null",
        "_explicit_status",
        "_kind",
        "_message",
        "_status",
        "headers",
        "headers_sent",
    )

    def __init__(self) -> None:
        self._status = 404
        self._explicit_status = False
        self._message: str | None = None
        self._body: Any = None
        self._kind = KIND_NONE
        self._encoded: bytes | None = None
        self._explicit_null = False
        self.headers: dict[str, str | list[str]] = {}
        """Lower-cased header name → value, or a list of values sent as separate lines."""
        self.headers_sent = False

    # -- status ----------------------------------------------------------------------

    @property
    def status(self) -> int:
        """404 until something sets it (a body, or an explicit status)."""
        return self._status

    @status.setter
    def status(self, code: int) -> None:
        if type(code) is not int:
            if isinstance(code, bool) or not isinstance(code, int):
                raise TypeError(f"status code must be an int, not {type(code).__name__}")
            code = int(code)
        if not 100 <= code <= 999:
            raise ValueError(f"invalid status code: {code}")
        self._explicit_status = True
        self._status = code
        self._message = None
        if code in EMPTY_STATUSES and self._body is not None:
            self.body = None

    @property
    def message(self) -> str:
        """The status message: the reason phrase unless one was set."""
        return self._message if self._message is not None else reason_phrase(self._status)

    @message.setter
    def message(self, value: str) -> None:
        self._message = value

    # -- body ------------------------------------------------------------------------

    @property
    def body(self) -> Any:
        return self._body

    @body.setter
    def body(self, value: Any) -> None:
        original = self._body
        self._body = value
        self._encoded = None
        headers = self.headers
        if type(value) is str:  # the most common body, decided without a call
            kind = self._kind = KIND_TEXT
            if not self._explicit_status:
                self._status = 200
            self._explicit_null = False
            headers.pop("content-length", None)
            if "content-type" not in headers:
                first = value[:1]
                headers["content-type"] = (
                    HTML if first == "<" or (first.isspace() and _looks_html(value)) else TEXT
                )
            return
        kind = self._kind = body_kind(value)
        if kind == KIND_NONE:
            if self._status not in EMPTY_STATUSES:
                self._status = 204
                self._explicit_status = True
                self._message = None
            self._explicit_null = True
            headers.pop("content-type", None)
            headers.pop("content-length", None)
            headers.pop("transfer-encoding", None)
            return
        self._explicit_null = False
        if not self._explicit_status:
            self._status = 200
        set_type = "content-type" not in headers
        if kind == KIND_TEXT:
            headers.pop("content-length", None)
            if set_type:
                headers["content-type"] = HTML if _looks_html(value) else TEXT
        elif kind == KIND_JSON:
            headers.pop("content-length", None)
            if set_type:
                headers["content-type"] = JSON
        elif kind == KIND_BYTES:
            headers.pop("content-length", None)
            if set_type:
                headers["content-type"] = BINARY
        else:
            if original is not None and original is not value:
                headers.pop("content-length", None)
            if set_type:
                headers["content-type"] = getattr(value, "content_type", None) or BINARY
            for name, extra in getattr(value, "extra_headers", ()):
                headers.setdefault(name, extra)

    def encoded(self) -> bytes | None:
        """The body as bytes for str/bytes/JSON bodies (cached); ``None`` for streams."""
        encoded = self._encoded
        if encoded is not None:
            return encoded
        kind = self._kind
        body = self._body
        if kind == KIND_TEXT:
            encoded = body.encode("utf-8")
        elif kind == KIND_JSON:
            encoded = orjson.dumps(body, option=_JSON_OPTIONS)
        elif kind == KIND_BYTES:
            encoded = bytes(body)
        else:
            return None
        self._encoded = encoded
        return encoded

    @property
    def kind(self) -> int:
        return self._kind

    @property
    def explicit_null(self) -> bool:
        """True when the body was set to ``None`` on purpose (send nothing, not "Not Found")."""
        return self._explicit_null

    # -- type and length -------------------------------------------------------------

    @property
    def type(self) -> str:
        """The bare response mime type (``text/plain``), or ``""``."""
        value = self.headers.get("content-type")
        return _mime.bare(value) if isinstance(value, str) else ""

    @type.setter
    def type(self, value: str | None) -> None:
        full = _mime.content_type_for(value) if value else ""
        if full:
            self.headers["content-type"] = full
        else:
            self.headers.pop("content-type", None)

    @property
    def length(self) -> int | None:
        """Content-Length if set, else the length of a str/bytes/JSON body; ``None`` for streams."""
        value = self.headers.get("content-length")
        if isinstance(value, str) and value.isdigit():
            return int(value)
        encoded = self.encoded()
        if encoded is not None:
            return len(encoded)
        if self._kind == KIND_FILE:
            return _file_remaining(self._body)
        return None

    @length.setter
    def length(self, value: int) -> None:
        self.headers["content-length"] = str(int(value))

    # -- headers ---------------------------------------------------------------------

    def get(self, name: str) -> str:
        """A header's value (list values joined with ``, ``), or ``""``."""
        value = self.headers.get(name.lower())
        if value is None:
            return ""
        return value if isinstance(value, str) else ", ".join(value)

    def has(self, name: str) -> bool:
        return name.lower() in self.headers

    def set(self, name: str | Mapping[str, Any], value: Any = None) -> None:
        """Set a header; a list sends one line per item; numbers become strings."""
        if not isinstance(name, str):
            for key, item in name.items():
                self.set(key, item)
            return
        key = name.lower()
        if isinstance(value, list | tuple):
            self.headers[key] = [_header_value(name, item) for item in value]
        else:
            self.headers[key] = _header_value(name, value)

    def append(self, name: str, value: Any) -> None:
        """Add a value, keeping any already set (``Set-Cookie``, ``Link``...)."""
        key = name.lower()
        new = (
            [_header_value(name, v) for v in value]
            if isinstance(value, list | tuple)
            else [_header_value(name, value)]
        )
        existing = self.headers.get(key)
        if existing is None:
            self.headers[key] = new if len(new) > 1 else new[0]
        elif isinstance(existing, list):
            existing.extend(new)
        else:
            self.headers[key] = [existing, *new]

    def remove(self, name: str) -> None:
        self.headers.pop(name.lower(), None)

    def vary(self, field: str) -> None:
        """Add ``field`` to ``Vary`` unless it (or ``*``) is already there."""
        current = self.get("vary")
        if current.strip() == "*":
            return
        present = {f.strip().lower() for f in current.split(",") if f.strip()}
        additions = [f.strip() for f in field.split(",") if f.strip()]
        if "*" in additions:
            self.headers["vary"] = "*"
            return
        for item in additions:
            if item.lower() not in present:
                current = f"{current}, {item}" if current else item
                present.add(item.lower())
        if current:
            self.headers["vary"] = current

    def redirect(self, url: str) -> None:
        """302 (unless a 3xx is set) to ``url``, with a short text body."""
        self.set("location", encode_url(url))
        if self._status not in REDIRECT_STATUSES:
            self.status = 302
        self.type = "text/plain; charset=utf-8"
        self.body = f"Redirecting to {url}."

    def attachment(self, filename: str | None = None) -> None:
        """``Content-Disposition: attachment``, typing the body by the file's extension."""
        if filename is None:
            self.set("content-disposition", "attachment")
            return
        base = os.path.basename(filename)
        ext = os.path.splitext(base)[1]
        if ext:
            self.type = ext
        ascii_name = base.encode("ascii", "ignore").decode().replace('"', "")
        value = f'attachment; filename="{ascii_name}"'
        if ascii_name != base:
            value += f"; filename*=UTF-8''{quote(base)}"
        self.set("content-disposition", value)

    @property
    def etag(self) -> str:
        return self.get("etag")

    @etag.setter
    def etag(self, value: str) -> None:
        if not value.startswith(('"', 'W/"')):
            value = f'"{value}"'
        self.set("etag", value)

    @property
    def last_modified(self) -> datetime | None:
        value = self.get("last-modified")
        if not value:
            return None
        try:
            return parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None

    @last_modified.setter
    def last_modified(self, value: datetime | float) -> None:
        when = value if isinstance(value, datetime) else datetime.fromtimestamp(value, tz=UTC)
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        self.set("last-modified", format_datetime(when.astimezone(UTC), usegmt=True))

    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """Headers as ASGI wants them: one ``(name, value)`` pair per line."""
        cache = _ENCODED
        raw: list[tuple[bytes, bytes]] = []
        for name, value in self.headers.items():
            key = cache.get(name) or _encode_name(name)
            if type(value) is str:
                raw.append((key, cache.get(value) or value.encode()))
            else:
                raw.extend((key, item.encode()) for item in value)
        return raw

    def raw_headers_with_length(self, length: int) -> list[tuple[bytes, bytes]]:
        """``raw_headers()`` with ``Content-Length: length`` set (in ``headers`` too)."""
        headers = self.headers
        headers.pop("content-length", None)
        # raw_headers() written out: one call less on every response (~400 instructions).
        cache = _ENCODED
        raw: list[tuple[bytes, bytes]] = []
        for name, value in headers.items():
            key = cache.get(name) or _encode_name(name)
            if type(value) is str:
                raw.append((key, cache.get(value) or value.encode()))
            else:
                raw.extend((key, item.encode()) for item in value)
        text = headers["content-length"] = str(length)
        raw.append((b"content-length", _LENGTHS[length] if length < 4096 else text.encode()))
        return raw

    def __repr__(self) -> str:
        return f"<Response {self._status} {self.type or '-'}>"


_ENCODED: dict[str, bytes] = {
    value: value.encode()
    for value in (TEXT, HTML, JSON, BINARY, "0", "content-type", "content-length", "vary")
}
"""Pre-encoded common header names and values; header names are added as they are met."""


_LENGTHS: Final = tuple(str(n).encode() for n in range(4096))
"""Content-Length values of small bodies, encoded once."""


def _encode_name(name: str) -> bytes:
    encoded = name.encode("latin-1")
    if len(_ENCODED) < 1024:  # header names come from code, but stay bounded anyway
        _ENCODED[name] = encoded
    return encoded


def _file_remaining(file: Any) -> int | None:
    try:
        stat = os.fstat(file.fileno())
        position = file.tell()
    except (AttributeError, OSError, ValueError):
        return None
    if not stat_module.S_ISREG(stat.st_mode):
        return None
    return max(0, int(stat.st_size) - int(position))
