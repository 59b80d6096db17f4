"""``req`` and ``res`` for the Express layer: thin views over one scallion ``Context``.

Nothing is copied: headers, query, cookies, status and body live on ``ctx``, so onion
middleware around an ``Express`` instance sees (and can change) what its handlers did.
The views only add what Express has and Koa does not: the mount-relative path
(``req.path``/``req.url`` with ``req.base_url`` stripped), per-layer ``req.params``, and
whether a sending method ran (``res.headers_sent``), which is how the layer knows the
request was answered.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import unquote

import orjson

from ._mime import content_type_for
from .cookies import parse_cookie_header
from .datastructures import Headers
from .errors import reason_phrase
from .response import check_header

if TYPE_CHECKING:
    from .context import Context
    from .express import Express

__all__ = ["ExpressRequest", "ExpressResponse"]

# The same codec options as the response body rules, so res.json() and ctx.body agree.
_JSON_OPTIONS: Final = orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY
_HTML: Final = "text/html; charset=utf-8"
_JSON: Final = "application/json; charset=utf-8"


@lru_cache(maxsize=256)
def _content_type(value: str) -> str:
    """``"json"`` → ``application/json; charset=utf-8``; full types pass, checked once."""
    full = content_type_for(value) or value
    check_header("content-type", full)
    return full


class ExpressRequest:
    """Express's ``req`` over ``ctx``: ``req.params``, ``req.query``, ``req.body``..."""

    __slots__ = ("__dict__", "_app", "_base", "_method", "_params", "_path", "ctx")

    def __init__(self, ctx: Context, app: Express, method: str, raw_path: str) -> None:
        self.ctx = ctx
        self._app = app
        self._method = method
        self._path = raw_path  # raw, relative to the mount point
        self._base = ""  # raw prefix stripped by the mounts we are under
        self._params: dict[str, str] | None = None

    @property
    def app(self) -> Express:
        """The ``Express`` instance whose stack is running (the innermost when nested)."""
        return self._app

    @property
    def method(self) -> str:
        return self._method

    @property
    def params(self) -> dict[str, str]:
        """Path params of the layer now running (decoded), as Express's ``req.params``."""
        params = self._params
        if params is None:
            params = self._params = {}
        return params

    @property
    def path(self) -> str:
        """The decoded path, relative to where this instance is mounted."""
        if not self._base:
            return self.ctx.path
        return unquote(self._path)

    @property
    def url(self) -> str:
        """The raw path relative to the mount point, with the query string."""
        qs = self.ctx.querystring
        return f"{self._path}?{qs}" if qs else self._path

    @property
    def original_url(self) -> str:
        """The raw path and query as the client sent them, whatever the mounts."""
        return self.ctx.url

    @property
    def base_url(self) -> str:
        """The raw path prefix the enclosing mounts stripped (``""`` at the top)."""
        return self._base

    @property
    def query(self) -> dict[str, str | list[str]]:
        """Query parameters: a str per key, a list of str when the key repeats."""
        return self.ctx.query

    @property
    def headers(self) -> Headers:
        """Request headers, case-insensitive."""
        return self.ctx.headers

    @property
    def body(self) -> Any:
        """What a body parser stored (``ctx.request.parsed``), else ``None``."""
        return self.ctx.request.parsed

    @body.setter
    def body(self, value: Any) -> None:
        self.ctx.request.parsed = value

    def get(self, name: str) -> str:
        """A request header, ``""`` when absent; ``Referer`` and ``Referrer`` are one."""
        lname = name.lower()
        if lname in ("referer", "referrer"):
            return self.ctx.get("referer") or self.ctx.get("referrer")
        return self.ctx.get(name)

    header = get

    @property
    def ip(self) -> str:
        """Client address; ``X-Forwarded-For`` only with ``App(proxy=True)``."""
        return self.ctx.ip

    @property
    def hostname(self) -> str:
        return self.ctx.hostname

    @property
    def protocol(self) -> str:
        return self.ctx.protocol

    @property
    def secure(self) -> bool:
        return self.ctx.secure

    @property
    def cookies(self) -> dict[str, str]:
        """Request cookies by name, as sent (signed: ``req.ctx.cookies.get(n, signed=True)``)."""
        header = self.ctx.get("cookie")
        return parse_cookie_header(header) if header else {}

    def accepts(self, *types: str) -> str | None:
        """The best of ``types`` for the Accept header, as ``ctx.accepts``."""
        return self.ctx.accepts(*types)

    def is_type(self, *types: str) -> str | None:
        """Which of ``types`` the request body is, as ``ctx.is_type``."""
        return self.ctx.is_type(*types)

    def __getattr__(self, name: str) -> Any:
        """Names set on ``req`` (``req.user = ...``) live on the view; other names are read
        from ``ctx.state``, so what onion middleware put there is ``req.<name>`` here."""
        if name.startswith("_") or name == "ctx":
            raise AttributeError(name)
        try:
            return getattr(self.ctx.state, name)
        except AttributeError:
            raise AttributeError(
                f"'ExpressRequest' has no attribute {name!r} (and ctx.state has none)"
            ) from None

    def __repr__(self) -> str:
        return f"<ExpressRequest {self._method} {self._base}{self._path}>"


class ExpressResponse:
    """Express's ``res`` over ``ctx``: ``res.status(404).json({...})``, ``res.send()``, ...

    The sending methods (``send``, ``json``, ``end``, ``redirect``, ``send_status``) set the
    body on ``ctx`` and mark the request answered; the App writes it after the onion unwinds,
    so outer middleware still sees and may change it.
    """

    __slots__ = ("_answered", "_locals", "ctx", "req")

    def __init__(self, ctx: Context, req: ExpressRequest) -> None:
        self.ctx = ctx
        self.req = req
        self._answered = False
        self._locals: dict[str, Any] | None = None

    # ------------------------------------------------------------------ headers/status

    def status(self, code: int) -> ExpressResponse:
        """Set the status; chains: ``res.status(201).json(item)``."""
        self.ctx.status = code
        return self

    @property
    def status_code(self) -> int:
        return self.ctx.status

    def set(self, name: str | Mapping[str, Any], value: Any = None) -> ExpressResponse:
        """Set a header (or several from a mapping); a list value sends one line each."""
        if isinstance(name, Mapping):
            for key, val in name.items():
                self._set_one(key, val)
        else:
            self._set_one(name, value)
        return self

    header = set

    def _set_one(self, name: str, value: Any) -> None:
        if isinstance(value, str) and name.lower() == "content-type":
            self.ctx.response.headers["content-type"] = _content_type(value)
        else:
            self.ctx.set(name, value)

    def get(self, name: str) -> str:
        """A response header as set so far, ``""`` when absent."""
        return self.ctx.response.get(name)

    def append(self, name: str, value: str | list[str]) -> ExpressResponse:
        self.ctx.append(name, value)
        return self

    def vary(self, field: str) -> ExpressResponse:
        self.ctx.vary(field)
        return self

    def location(self, url: str) -> ExpressResponse:
        self.ctx.set("Location", url)
        return self

    def type(self, value: str) -> ExpressResponse:
        """Set Content-Type from a mime type or a short name/extension (``"json"``, ``"png"``)."""
        self.ctx.response.headers["content-type"] = _content_type(value)
        return self

    content_type = type

    def cookie(self, name: str, value: str, **options: Any) -> ExpressResponse:
        """Set a cookie; options as ``ctx.cookies.set`` (``max_age``, ``path``, ``signed``...)."""
        self.ctx.cookies.set(name, value, **options)
        return self

    def clear_cookie(self, name: str, **options: Any) -> ExpressResponse:
        """Expire a cookie; give the same ``path``/``domain`` it was set with."""
        options.pop("max_age", None)
        options.pop("expires", None)
        self.ctx.cookies.set(name, None, **options)
        return self

    @property
    def locals(self) -> dict[str, Any]:
        """Per-request values; the same storage as ``ctx.state`` (``res.locals["u"]`` is
        ``ctx.state.u``)."""
        found = self._locals
        if found is None:
            found = self._locals = vars(self.ctx.state)
        return found

    @property
    def headers_sent(self) -> bool:
        """True once a sending method ran (or the response is on the wire)."""
        return self._answered or bool(self.ctx.response.headers_sent)

    # ------------------------------------------------------------------ sending

    def send(self, body: Any = None) -> ExpressResponse:
        """Send a body: str as ``text/html``, bytes as ``application/octet-stream``,
        ``None`` as an empty body, anything else as JSON. A Content-Type set earlier wins."""
        if body is None:
            body = ""
        if isinstance(body, str):
            self._put(body, _HTML)
        elif isinstance(body, (bytes, bytearray, memoryview)):
            self._put(body, "application/octet-stream")
        else:
            self.json(body)
        return self

    def json(self, obj: Any) -> ExpressResponse:
        """Send ``obj`` as JSON; ``res.json(None)`` sends ``null``.

        A dict or list stays as it is on ``ctx.body`` (outer onion middleware can still
        read it); other values are encoded here, with the body rules' JSON options.
        """
        cls = type(obj)
        if cls is dict or cls is list:
            self._put(obj, _JSON)
        else:
            self._put(orjson.dumps(obj, option=_JSON_OPTIONS), _JSON)
        return self

    def end(self, data: str | bytes | None = None) -> ExpressResponse:
        """End the response with ``data`` (or nothing); no Content-Type is added."""
        ctx = self.ctx
        had_type = "content-type" in ctx.response.headers
        ctx.body = b"" if data is None else data
        if not had_type:
            ctx.remove("Content-Type")
        self._answered = True
        return self

    def send_status(self, code: int) -> ExpressResponse:
        """Set the status and send its reason phrase as ``text/plain``."""
        self.ctx.status = code
        self._put(reason_phrase(code), "text/plain; charset=utf-8", force=True)
        return self

    def redirect(self, status_or_url: int | str, url: str | None = None) -> ExpressResponse:
        """``res.redirect(url)`` (302) or ``res.redirect(301, url)``."""
        if url is None:
            if not isinstance(status_or_url, str):
                raise TypeError("redirect() needs a URL: redirect(url) or redirect(status, url)")
            target = status_or_url
        else:
            if not isinstance(status_or_url, int):
                raise TypeError("redirect(status, url) takes the status first")
            self.ctx.status = status_or_url
            target = url
        self.ctx.redirect(target)
        self._answered = True
        return self

    def _put(self, body: Any, content_type: str, *, force: bool = False) -> None:
        response = self.ctx.response
        headers = response.headers
        had_type = not force and "content-type" in headers
        response.body = body
        if not had_type:
            headers["content-type"] = content_type  # one of our constants: no check needed
        self._answered = True

    def __repr__(self) -> str:
        return f"<ExpressResponse status={self.ctx.status} answered={self._answered}>"
