"""One ``Context`` per request: the request, the response, shared state, and Koa's delegates.

The delegates are written out as typed properties at the bottom of the class, grouped by
side, so editors and mypy see them (Koa lists its own as a table in ``context.js``).
Note that ``ctx.type`` and ``ctx.length`` are the *response*'s (koa#1343); the request's
are ``ctx.request.content_type`` and ``ctx.request.length``.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, NoReturn

from .cookies import Cookies
from .datastructures import Headers, State
from .errors import HttpError
from .request import Request
from .response import Response
from .types import Receive, Scope, Send

if TYPE_CHECKING:
    from .app import App

__all__ = ["Context", "current_context", "track_current_context"]

_current: ContextVar[Context] = ContextVar("scallion.context")
_blank = object.__new__  # a State without running __init__ (it has nothing to set)


class _Tracking:
    """Whether apps that did not say (``App(track_context=None)``) set ``current_context``."""

    enabled = False


def track_current_context(enabled: bool = True) -> None:
    """Make ``current_context()`` work in every app that leaves ``track_context`` unset.

    ``configure_logging()`` and ``RequestContextFilter()`` call it: log records find their
    request through it. Process-wide, like the logging configuration itself.
    """
    _Tracking.enabled = enabled


def current_context() -> Context:
    """The Context of the request being handled in this task (Koa 3's ``app.currentContext``).

    Opt-in, as in Koa 3 (``asyncLocalStorage: true``): setting and resetting the context
    variable costs ~2.6k instructions per request, 2.6 % of a plaintext request through
    granian (``python -m bench hinstr``), so an app sets it only with
    ``App(track_context=True)``, or after ``track_current_context()`` (which
    ``configure_logging()`` calls). Raises ``LookupError`` outside a request, or when the
    app does not track its context.
    """
    try:
        return _current.get()
    except LookupError:
        raise LookupError(
            "current_context(): no request context here. It is set inside a request when "
            "the app tracks it: App(track_context=True), or configure_logging() / "
            "track_current_context() before the app serves."
        ) from None


class Context:
    """``ctx``: what every middleware receives."""

    __slots__ = (
        "__dict__",
        "_cookies",
        "_request",
        "_scope",
        "app",
        "matched",
        "params",
        "receive",
        "respond",
        "response",
        "router_name",
        "router_path",
        "send",
        "state",
    )

    def __init__(self, app: App, scope: Scope, receive: Receive, send: Send) -> None:
        self.app = app
        self._scope = scope
        self._request: Request | None = None
        self.response = Response()
        self.receive = receive
        self.send = send
        self.params: dict[str, str] = {}
        # A plain slot, not a lazy property: middleware read ctx.state on every layer, and
        # a property getter is a Python call each time (~5k instructions per request
        # across mw10's ten layers), while a blank State costs ~0.2k to make.
        self.state: State = _blank(State)
        self._cookies: Cookies | None = None
        self.respond = True
        """Set to ``False`` when a middleware writes the ASGI response itself."""
        self.matched: list[Any] = []
        self.router_path: str | None = None
        self.router_name: str | None = None

    @property
    def request(self) -> Request:
        """The request side (made on first use: a plain route may never need it)."""
        request = self._request
        if request is None:
            request = self._request = Request(self._scope, self.receive, self.app)
        return request

    @property
    def scope(self) -> Scope:
        return self._scope

    @property
    def cookies(self) -> Cookies:
        cookies = self._cookies
        if cookies is None:
            cookies = self._cookies = Cookies(self)
        return cookies

    def throw(
        self,
        status: int = 500,
        message: str | None = None,
        *,
        expose: bool | None = None,
        headers: Mapping[str, str | list[str]] | None = None,
        **props: Any,
    ) -> NoReturn:
        """Raise ``HttpError(status, message, ...)``: ``ctx.throw(403, "admins only")``."""
        raise HttpError(status, message, expose=expose, headers=headers, **props)

    def assert_(self, condition: object, status: int = 500, message: str | None = None) -> None:
        """``ctx.assert_(user, 401, "log in first")``: throw unless ``condition`` holds."""
        if not condition:
            raise HttpError(status, message)

    @property
    def fresh(self) -> bool:
        """True when the client's cached copy (If-None-Match / If-Modified-Since) is current."""
        method = self.request.method
        if method not in ("GET", "HEAD"):
            return False
        status = self.response.status
        if not (200 <= status < 300 or status == 304):
            return False
        from ._fresh import is_fresh

        return is_fresh(self.request.headers, self.response)

    @property
    def stale(self) -> bool:
        return not self.fresh

    def __repr__(self) -> str:
        return f"<Context {self.request.method} {self.request.url} -> {self.response.status}>"

    # -- request delegates -----------------------------------------------------------

    @property
    def method(self) -> str:
        """Request method (from ``ctx.request``)."""
        return self._scope["method"]  # type: ignore[no-any-return]

    @property
    def path(self) -> str:
        """Decoded request path (from ``ctx.request``)."""
        return self._scope["path"]  # type: ignore[no-any-return]

    @property
    def url(self) -> str:
        """Raw path plus query string (from ``ctx.request``)."""
        return self.request.url

    @property
    def origin(self) -> str:
        return self.request.origin

    @property
    def href(self) -> str:
        return self.request.href

    @property
    def query(self) -> dict[str, str | list[str]]:
        """Parsed query string (from ``ctx.request``)."""
        return self.request.query

    @query.setter
    def query(self, value: Mapping[str, str | list[str]]) -> None:
        self.request.query = value

    @property
    def querystring(self) -> str:
        return self.request.querystring

    @property
    def headers(self) -> Headers:
        """Request headers, case-insensitive (from ``ctx.request``)."""
        return self.request.headers

    @property
    def header(self) -> Headers:
        return self.request.headers

    def get(self, name: str) -> str:
        """A request header, or ``""`` (from ``ctx.request``)."""
        return self.request.get(name)

    @property
    def host(self) -> str:
        return self.request.host

    @property
    def hostname(self) -> str:
        return self.request.hostname

    @property
    def ip(self) -> str:
        """Client address; ``X-Forwarded-For`` only with ``App(proxy=True)``."""
        return self.request.ip

    @property
    def ips(self) -> list[str]:
        return self.request.ips

    @property
    def protocol(self) -> str:
        return self.request.protocol

    @property
    def secure(self) -> bool:
        return self.request.secure

    def accepts(self, *types: str) -> str | None:
        return self.request.accepts(*types)

    def is_type(self, *types: str) -> str | None:
        return self.request.is_type(*types)

    # -- response delegates ----------------------------------------------------------

    @property
    def body(self) -> Any:
        """Response body (to ``ctx.response``); assigning it applies the body rules."""
        return self.response._body

    @body.setter
    def body(self, value: Any) -> None:
        self.response.body = value

    @property
    def status(self) -> int:
        """Response status (to ``ctx.response``); 404 until something sets it."""
        return self.response._status

    @status.setter
    def status(self, value: int) -> None:
        self.response.status = value

    @property
    def message(self) -> str:
        return self.response.message

    @message.setter
    def message(self, value: str) -> None:
        self.response.message = value

    @property
    def type(self) -> str:
        """Response mime type without parameters (to ``ctx.response``)."""
        return self.response.type

    @type.setter
    def type(self, value: str | None) -> None:
        self.response.type = value

    @property
    def length(self) -> int | None:
        """Response length, when known (to ``ctx.response``)."""
        return self.response.length

    @length.setter
    def length(self, value: int) -> None:
        self.response.length = value

    @property
    def headers_sent(self) -> bool:
        return self.response.headers_sent

    def set(self, name: str | Mapping[str, Any], value: Any = None) -> None:
        """Set a response header (to ``ctx.response``)."""
        self.response.set(name, value)

    def append(self, name: str, value: Any) -> None:
        self.response.append(name, value)

    def remove(self, name: str) -> None:
        self.response.remove(name)

    def has(self, name: str) -> bool:
        return self.response.has(name)

    def vary(self, field: str) -> None:
        self.response.vary(field)

    def redirect(self, url: str) -> None:
        self.response.redirect(url)

    def attachment(self, filename: str | None = None) -> None:
        self.response.attachment(filename)
