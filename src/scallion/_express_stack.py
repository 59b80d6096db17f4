"""The pieces of the Express stack: handler kinds, ``next``, routes and layers.

Private to ``scallion.express``, which re-exports the public names (``Route``,
``NextFunction``, ``Handler``, ``ParamHandler``, ``METHODS``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from types import CoroutineType
from typing import Any, Final, Protocol

from ._paths import PathPattern

__all__ = [
    "IDLE",
    "K2",
    "K3",
    "KERR",
    "KSUB",
    "METHODS",
    "ROUTE",
    "ROUTER",
    "UNSET",
    "Handler",
    "Layer",
    "Mountable",
    "NextFunction",
    "NextState",
    "Outcome",
    "ParamHandler",
    "Route",
    "Signal",
    "handler_kind",
    "is_awaitable",
    "name_of",
    "positional",
]


class Mountable:
    """Base of ``Express``: a handler of this type is a nested stack, run in place."""

    __slots__ = ()


Handler = Callable[..., Any]
"""``(req, res, next)``, ``(req, res)`` or error middleware ``(err, req, res, next)``."""

ParamHandler = Callable[..., Any]
"""``(req, res, next, value)`` or ``(req, res, next, value, name)``."""


METHODS: Final = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
"""The verbs with a registration method; ``all`` registers for every method."""

# Handler kinds, decided once at registration.
K2: Final = 2  # (req, res)
K3: Final = 3  # (req, res, next)
KERR: Final = 4  # (err, req, res, next)
KSUB: Final = 5  # a nested Express instance


class Signal:
    """A private marker; identity is all that matters."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<{self.name}>"


UNSET: Final = Signal("next not called")
IDLE: Final = Signal("no handler running")
ROUTE: Final = Signal("route")
ROUTER: Final = Signal("router")

# What one handler (or a nested stack) told the driver: UNSET (stop here), None (go on),
# ROUTE, ROUTER, or an exception that is now passing.
Outcome = Signal | BaseException | None


class NextFunction(Protocol):
    """The ``next`` a handler receives: ``next()``, ``next(err)``, ``next("route")``,
    ``next("router")``. A plain call that returns ``None``; never await it."""

    def __call__(self, err: object = None, /) -> None: ...


class NextState:
    """Where ``next()`` leaves its outcome. One per request, shared by every handler in it.

    Handlers get the bound method ``state.next``, bound once per request by the driver (a
    bound method is cheaper to call than an object with ``__call__``; it is not stored
    here, which would make a reference cycle). Calling it only records the outcome; the
    stack moves on when the handler returns. Calling it twice in one handler, or after the
    handler returned, raises ``RuntimeError``: the stack has already moved on.
    """

    __slots__ = ("_signal",)

    def __init__(self) -> None:
        self._signal: Outcome = IDLE

    def next(self, err: object = None, /) -> None:
        """``next()`` as handlers call it."""
        if self._signal is not UNSET:
            if self._signal is IDLE:
                raise RuntimeError(
                    "next() was called after its handler returned; in scallion the Express "
                    "stack moves on when a handler returns, so call next() before returning "
                    "(write the handler as async and await the work first)"
                )
            raise RuntimeError("next() called multiple times in one handler")
        if err is None:
            self._signal = None
        elif isinstance(err, BaseException):
            self._signal = err
        elif err == "route":
            self._signal = ROUTE
        elif err == "router":
            self._signal = ROUTER
        else:
            self._signal = RuntimeError(f"next() was called with a non-exception error: {err!r}")

    def __repr__(self) -> str:
        return f"<NextState {self._signal!r}>"


def handler_kind(fn: object) -> int:
    """Read a handler's shape once: how many positional parameters it takes."""
    if isinstance(fn, Mountable):
        return KSUB
    if not callable(fn):
        raise TypeError(f"an Express handler must be callable, not {type(fn).__name__}")
    required, total, star = positional(fn)
    if required == 4 and total == 4 and not star:
        return KERR
    if star or total >= 3:
        if required > 3:
            raise TypeError(
                f"handler {name_of(fn)} takes {required} parameters; Express handlers take "
                "(req, res, next), (req, res) or, for error middleware, (err, req, res, next)"
            )
        return K3
    if total == 2:
        return K2
    raise TypeError(
        f"handler {name_of(fn)} takes {total} parameter(s); Express handlers take "
        "(req, res, next), (req, res) or, for error middleware, (err, req, res, next)"
    )


def positional(fn: Callable[..., Any]) -> tuple[int, int, bool]:
    """(required positional, all positional, has *args) for ``fn``."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):  # some builtins have no signature: assume (req, res, next)
        return 3, 3, False
    required = total = 0
    star = False
    for p in sig.parameters.values():
        if p.kind is p.VAR_POSITIONAL:
            star = True
        elif p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            total += 1
            if p.default is p.empty:
                required += 1
    return required, total, star


def name_of(fn: object) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)


def is_awaitable(value: object) -> bool:
    return type(value) is CoroutineType or inspect.isawaitable(value)


class Layer:
    """One stack entry: a path matcher plus either a handler (``use``) or a ``Route``."""

    __slots__ = (
        "fn",
        "keys",
        "kind",
        "param_keys",
        "pattern",
        "plain",
        "prefix",
        "route",
        "static",
    )

    def __init__(
        self,
        pattern: PathPattern | None,
        static: str | None,
        prefix: str | None,
        kind: int,
        fn: Any,
        route: Route | None,
    ) -> None:
        self.pattern = pattern  # None: matches every path (use() with no path, or "/")
        self.static = static  # exact static path in canonical form (routes only)
        self.prefix = prefix  # static prefix in canonical form (use() only)
        self.kind = kind
        self.fn = fn
        self.route = route
        self.keys: tuple[str, ...] = tuple(pattern.keys) if pattern is not None else ()
        self.param_keys: tuple[str, ...] = ()  # keys with param() callbacks, set at build
        # The common case the driver runs without the general checks: use() on every
        # path with a regular (req, res, next) handler.
        self.plain = pattern is None and route is None and kind == K3


class Route:
    """Handlers for one path, by method: ``ex.route("/book").get(h1).post(h2)``.

    Handlers run in registration order; ``next("route")`` leaves the route, error
    middleware in the route only sees errors raised by the route's own handlers.
    """

    __slots__ = ("_all", "_methods", "_stack", "path")

    def __init__(self, path: str) -> None:
        self.path = path
        self._stack: list[tuple[str | None, int, Any]] = []
        self._methods: set[str] = set()
        self._all = False

    def handles(self, method: str) -> bool:
        """Whether a request with ``method`` has a handler here (HEAD is served by GET)."""
        m = self._methods
        return self._all or method in m or (method == "HEAD" and "GET" in m)

    def _add(self, method: str | None, handlers: Sequence[Handler]) -> Route:
        if not handlers:
            raise TypeError(f"route {self.path!r} needs at least one handler")
        entries = [(method, handler_kind(fn), fn) for fn in handlers]
        self._stack.extend(entries)
        if method is None:
            self._all = True
        else:
            self._methods.add(method)
        return self

    def get(self, *handlers: Handler) -> Route:
        return self._add("GET", handlers)

    def post(self, *handlers: Handler) -> Route:
        return self._add("POST", handlers)

    def put(self, *handlers: Handler) -> Route:
        return self._add("PUT", handlers)

    def patch(self, *handlers: Handler) -> Route:
        return self._add("PATCH", handlers)

    def delete(self, *handlers: Handler) -> Route:
        return self._add("DELETE", handlers)

    def head(self, *handlers: Handler) -> Route:
        return self._add("HEAD", handlers)

    def options(self, *handlers: Handler) -> Route:
        return self._add("OPTIONS", handlers)

    def all(self, *handlers: Handler) -> Route:
        return self._add(None, handlers)

    def __repr__(self) -> str:
        methods = "ALL" if self._all else ",".join(sorted(self._methods))
        return f"<Route {self.path!r} [{methods}] handlers={len(self._stack)}>"
