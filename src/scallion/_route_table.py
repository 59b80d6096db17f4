"""The Router's compiled lookup structure: routes, use-layers, and how a path finds them.

A ``Router`` keeps what was registered, in order. On the first request it flattens itself
(mounted child routers included) into a ``RouteTable``:

* static routes sit in a dict keyed by the normalized path (one trailing slash stripped,
  lowercased), so their lookup costs one dict probe whatever the number of routes;
* parametrised routes sit in a segment trie (a dict of static children, one child for
  "any single segment", and a list of wildcard routes per node), so a lookup costs
  O(segments of the path), not O(routes);
* both are loose filters: each candidate is confirmed with its own ``PathPattern``, which
  applies the route's strict/sensitive options exactly and decodes the params.

Use-layers (``router.use``) are few and scoped by prefix; they are checked in order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from ._paths import PathPattern, Segment
from .compose import as_middleware, compose, middleware_name, ready

if TYPE_CHECKING:
    from .context import Context

__all__ = ["Route", "RouteTable", "UseLayer", "as_middleware", "ready"]  # re-exported

_Fn = Callable[..., Any]


class _SetBodyLimit:
    """First step of a route with ``body_limit=``: sets the request's limit, then goes on."""

    __slots__ = ("limit",)

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def __call__(self, ctx: Context, next: Callable[[], Any]) -> Any:
        ctx.request.body_limit = self.limit
        return next()

    def __repr__(self) -> str:
        return f"body_limit({self.limit})"


class ParamStep:
    """``fn(value, ctx, next)`` from ``router.param(key, fn)`` as a ``(ctx, next)`` step."""

    __slots__ = ("fn", "key")

    def __init__(self, key: str, fn: _Fn) -> None:
        self.key = key
        self.fn = fn

    def __call__(self, ctx: Context, next: Callable[[], Any]) -> Any:
        params = ctx.params
        if self.key not in params:  # an optional param that was not given
            return next()
        return self.fn(params[self.key], ctx, next)

    def __repr__(self) -> str:
        return f"param({self.key!r}, {middleware_name(self.fn)})"


def build_stack(fns: tuple[_Fn, ...], body_limit: int | None) -> _Fn:
    """One ``(ctx, next)`` callable for a route's middleware and handler, built once."""
    steps: list[_Fn] = [] if body_limit is None else [_SetBodyLimit(body_limit)]
    steps.extend(as_middleware(fn) for fn in fns)
    if len(steps) == 1:
        return steps[0]
    return compose(steps)


class Route:
    """One registered route: a pattern, the methods it answers, and its compiled stack.

    ``methods`` is a tuple of upper-case names (``GET`` routes also list ``HEAD``), or
    ``None`` for ``router.all()``. ``path`` is the full pattern, prefixes included.
    """

    __slots__ = (
        "body_limit",
        "entry",
        "exact",
        "handler",
        "index",
        "method_set",
        "methods",
        "middleware",
        "name",
        "owners",
        "param_steps",
        "path",
        "pattern",
        "stack",
    )

    def __init__(
        self,
        path: str,
        methods: tuple[str, ...] | None,
        pattern: PathPattern,
        middleware: tuple[_Fn, ...],
        stack: _Fn,
        *,
        name: str | None = None,
        body_limit: int | None = None,
    ) -> None:
        self.path = path
        self.methods = methods
        self.method_set: frozenset[str] | None = None if methods is None else frozenset(methods)
        self.pattern = pattern
        self.middleware = middleware
        self.stack = stack
        # A route that is one ``(ctx)`` handler: the router calls it without the adapter.
        self.handler: _Fn | None = getattr(stack, "ctx_handler", None)
        self.name = name
        self.body_limit = body_limit
        # Filled when a RouteTable is built (one copy of the Route per table):
        self.index = -1
        self.owners: frozenset[int] = frozenset()
        self.param_steps: tuple[ParamStep, ...] = ()
        self.exact = pattern.is_static and not pattern.strict and not pattern.sensitive
        self.entry: _Fn = self._enter

    def _enter(self, ctx: Context, next: Callable[[], Any]) -> Any:
        ctx.router_path = self.path
        ctx.router_name = self.name
        return self.stack(ctx, next)

    def allows(self, method: str) -> bool:
        """Whether this route answers ``method`` (upper case)."""
        return self.method_set is None or method in self.method_set

    def match(self, raw_path: str) -> dict[str, str] | None:
        """The decoded params if ``raw_path`` matches this route's pattern."""
        return self.pattern.match(raw_path)

    def copy(self, path: str, pattern: PathPattern) -> Route:
        """The same route under another (prefixed) pattern, sharing the compiled stack."""
        return Route(
            path,
            self.methods,
            pattern,
            self.middleware,
            self.stack,
            name=self.name,
            body_limit=self.body_limit,
        )

    def __repr__(self) -> str:
        methods = "ALL" if self.methods is None else ", ".join(self.methods)
        name = f", name={self.name!r}" if self.name is not None else ""
        return f"<Route {self.path!r} [{methods}]{name}>"


class UseLayer:
    """Middleware from ``router.use([path], ...)``: runs for matched routes under ``path``.

    With ``always=True`` it also runs when no route matched, for any request under its
    prefix that reaches the router (koajs/router#44).
    """

    __slots__ = ("always", "index", "middleware", "owner", "path", "pattern", "stack")

    def __init__(
        self,
        path: str,
        pattern: PathPattern,
        middleware: tuple[_Fn, ...],
        stack: _Fn,
        *,
        always: bool,
        owner: int,
    ) -> None:
        self.path = path
        self.pattern = pattern
        self.middleware = middleware
        self.stack = stack
        self.always = always
        self.owner = owner
        self.index = -1

    def __repr__(self) -> str:
        names = ", ".join(middleware_name(fn) for fn in self.middleware)
        always = ", always=True" if self.always else ""
        return f"<UseLayer {self.path or '/'!r} [{names}]{always}>"


class _Node:
    __slots__ = ("any", "here", "rest", "static")

    def __init__(self) -> None:
        self.static: dict[str, _Node] | None = None
        self.any: _Node | None = None
        self.here: list[Route] = []
        self.rest: list[Route] = []


_NO_HITS: Final[list[tuple[Route, dict[str, str]]]] = []


class RouteTable:
    """Flattened, indexed routes and use-layers of one router (children included)."""

    __slots__ = ("has_always", "names", "routes", "static", "trie", "trie_used", "uses")

    def __init__(self, entries: list[Route | UseLayer]) -> None:
        self.routes: list[Route] = []
        self.uses: list[UseLayer] = []
        self.static: dict[str, list[Route]] = {}
        self.names: dict[str, Route] = {}
        self.trie = _Node()
        self.trie_used = False
        self.has_always = False
        for index, entry in enumerate(entries):
            entry.index = index
            if isinstance(entry, UseLayer):
                self.uses.append(entry)
                self.has_always = self.has_always or entry.always
                continue
            self.routes.append(entry)
            if entry.name is not None:
                self.names.setdefault(entry.name, entry)
            for shape in entry.pattern.shapes():
                self._insert(entry, shape)

    def _insert(self, route: Route, shape: tuple[str | Segment, ...]) -> None:
        if all(isinstance(seg, str) for seg in shape):
            key = "".join("/" + str(seg) for seg in shape)
            bucket = self.static.setdefault(key, [])
            if route not in bucket:
                bucket.append(route)
            return
        self.trie_used = True
        node = self.trie
        for seg in shape:
            if seg is Segment.REST:
                node.rest.append(route)
                return
            if seg is Segment.ANY:
                if node.any is None:
                    node.any = _Node()
                node = node.any
                continue
            assert isinstance(seg, str)
            if node.static is None:
                node.static = {}
            child = node.static.get(seg)
            if child is None:
                child = node.static[seg] = _Node()
            node = child
        node.here.append(route)

    def _trie_candidates(self, key: str) -> list[Route]:
        """Routes whose shape fits the segments of ``key``, in no particular order.

        Walks down without recursion; a branch not taken (a static child *and* an "any"
        child both fit) is kept on a list only when there is one.
        """
        segments = key.split("/")  # key is "" or starts with "/": segments[0] == ""
        count = len(segments)
        found: list[Route] = []
        pending: list[tuple[_Node, int]] | None = None
        node = self.trie
        i = 1
        while True:
            if node.rest:
                found.extend(node.rest)
            if i >= count:
                found.extend(node.here)
            else:
                static = node.static
                child = static.get(segments[i]) if static is not None else None
                any_child = node.any
                if child is not None:
                    if any_child is not None:
                        if pending is None:
                            pending = []
                        pending.append((any_child, i + 1))
                    node = child
                    i += 1
                    continue
                if any_child is not None:
                    node = any_child
                    i += 1
                    continue
            if not pending:
                return found
            node, i = pending.pop()

    def find(self, raw_path: str) -> list[tuple[Route, dict[str, str]]]:
        """Every route whose pattern matches ``raw_path``, in registration order."""
        # Indexing, not startswith/endswith: those parse their arguments, ~250 instructions.
        if not raw_path or raw_path[0] != "/":  # "OPTIONS *" and other non-paths
            return _NO_HITS
        key = (raw_path[:-1] if raw_path[-1] == "/" else raw_path).lower()
        hits: list[tuple[Route, dict[str, str]]] = []
        static = self.static.get(key)
        if static is not None:
            for route in static:
                if route.exact:
                    hits.append((route, {}))
                else:
                    params = route.pattern.match(raw_path)
                    if params is not None:
                        hits.append((route, params))
        if self.trie_used:
            candidates = self._trie_candidates(key)
            if len(candidates) == 1:
                params = candidates[0].pattern.match(raw_path)
                if params is not None:
                    hits.append((candidates[0], params))
            elif candidates:
                seen: set[int] = set()
                for route in candidates:
                    if route.index in seen:
                        continue
                    seen.add(route.index)
                    params = route.pattern.match(raw_path)
                    if params is not None:
                        hits.append((route, params))
                if static is not None or len(hits) > 1:
                    hits.sort(key=_by_index)
        return hits


def _by_index(hit: tuple[Route, dict[str, str]]) -> int:
    return hit[0].index
