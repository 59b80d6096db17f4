"""Router: @koa/router's semantics over scallion's own path syntax (``_paths``).

::

    router = Router(prefix="/api")

    @router.get("/users/:id", name="user")
    async def show_user(ctx):
        ctx.body = {"id": ctx.params["id"]}

    app.use(router.routes()).use(router.allowed_methods())

What a request goes through: ``routes()`` finds every route whose pattern matches the raw
path (static routes by one dict probe, parametrised ones through a segment trie; see
``_route_table``), keeps those answering the method, and runs them in registration order,
each one's middleware and handler compiled once at registration. A handler that does not
call ``next`` ends the chain; one that does passes on to the next matching route and then
to the middleware after the router. ``router.use()`` middleware run, in their place in
that order, when a route under their prefix matched (or always, with ``always=True``).
When nothing matches, the router just awaits ``next()``; ``allowed_methods()`` then turns
a known path with the wrong method into 405 and an unknown method into 501.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from functools import partial
from types import CoroutineType
from typing import TYPE_CHECKING, Any, Final, TypeVar, overload
from urllib.parse import urlencode

from ._paths import PathPattern, compile_path, join_paths
from ._route_table import (
    ParamStep,
    Route,
    RouteTable,
    UseLayer,
    build_stack,
    ready,
)
from .compose import compose
from .errors import HttpError
from .request import raw_path_of

if TYPE_CHECKING:
    from .context import Context

__all__ = ["DEFAULT_METHODS", "Route", "Router", "UseLayer"]

DEFAULT_METHODS: Final = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
"""Methods a Router implements unless told otherwise; others get 501 from allowed_methods."""
_MAX_CHAINS: Final = 1024
"""Composed per-request chains kept per router (the combinations seen)."""

_Fn = Callable[..., Any]
F = TypeVar("F", bound=Callable[..., Any])
_NO_ROUTES: Final[list[tuple[Route, dict[str, str]]]] = []


class _Mount:
    """A child router mounted with ``router.use([path], child.routes())``."""

    __slots__ = ("child", "path")

    def __init__(self, path: str, child: Router) -> None:
        self.path = path
        self.child = child


class _Verb:
    """``router.get`` and friends: ``router.get(path, *mw, handler)`` or ``@router.get(path)``."""

    __slots__ = ("methods", "name")

    def __init__(self, *methods: str) -> None:
        self.methods: tuple[str, ...] | None = methods or None

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, router: None, owner: type) -> _Verb: ...
    @overload
    def __get__(self, router: Router, owner: type) -> _BoundVerb: ...
    def __get__(self, router: Router | None, owner: type) -> _Verb | _BoundVerb:
        if router is None:
            return self
        return _BoundVerb(router, self.methods)


class _BoundVerb:
    __slots__ = ("methods", "router")

    def __init__(self, router: Router, methods: tuple[str, ...] | None) -> None:
        self.router = router
        self.methods = methods

    @overload
    def __call__(
        self, path: str, /, *, name: str | None = None, body_limit: int | None = None
    ) -> Callable[[F], F]: ...
    @overload
    def __call__(
        self,
        path: str,
        handler: _Fn,
        /,
        *handlers: _Fn,
        name: str | None = None,
        body_limit: int | None = None,
    ) -> Router: ...
    def __call__(
        self, path: str, /, *handlers: _Fn, name: str | None = None, body_limit: int | None = None
    ) -> Router | Callable[[F], F]:
        return self.router.add(self.methods, path, *handlers, name=name, body_limit=body_limit)


class Dispatch:
    """The middleware ``router.routes()`` returns; ``.router`` is the router behind it."""

    __slots__ = ("router",)

    def __init__(self, router: Router) -> None:
        self.router = router

    def __call__(self, ctx: Context, next: Callable[[], Any] | None = None) -> Awaitable[Any]:
        return self.router._dispatch(None, ctx, _nothing if next is None else next)

    def _first_of(self, rest: Callable[..., Awaitable[Any]]) -> Callable[[Context], Awaitable[Any]]:
        """The app's whole chain when this dispatch is its first layer and ``rest`` the others.

        Skips compose's runner for the dispatch: it calls what follows at most once, so the
        runner's guard has nothing to catch, and a route that answers needs no ``next`` at
        all. ~4k fewer instructions per routed request (callgrind, bench/instr.py).
        """
        # A partial, not a closure: called with ctx it costs no Python frame of its own.
        return partial(self.router._dispatch, rest)

    def __repr__(self) -> str:
        return f"<routes of {self.router!r}>"


class Router:
    """Routes by method and path, with koa-router's prefix, nesting, params and 405/501.

    Args:
        prefix: prepended to every route and use-path of this router (``"/api"``).
        methods: the methods this router implements; ``allowed_methods()`` answers others
            with 501. Defaults to ``DEFAULT_METHODS``.
        strict: a trailing slash matters (``/a`` and ``/a/`` are different routes).
        sensitive: paths are matched case-sensitively.
        body_limit: default request-body limit (bytes) for this router's routes;
            a route's own ``body_limit=`` wins.
    """

    get = _Verb("GET", "HEAD")
    post = _Verb("POST")
    put = _Verb("PUT")
    patch = _Verb("PATCH")
    delete = _Verb("DELETE")
    head = _Verb("HEAD")
    options = _Verb("OPTIONS")
    all = _Verb()

    def __init__(
        self,
        prefix: str = "",
        *,
        methods: Iterable[str] | None = None,
        strict: bool = False,
        sensitive: bool = False,
        body_limit: int | None = None,
    ) -> None:
        if not isinstance(prefix, str):
            raise TypeError(f"Router prefix must be a str, not {type(prefix).__name__}")
        if prefix and not prefix.startswith("/"):
            prefix = "/" + prefix
        compile_path(prefix, end=False, strict=strict, sensitive=sensitive)  # check it early
        self.prefix = prefix
        self.methods: tuple[str, ...] = tuple(
            m.upper() for m in (DEFAULT_METHODS if methods is None else methods)
        )
        self.strict = strict
        self.sensitive = sensitive
        _check_body_limit(body_limit)
        self.body_limit = body_limit
        self._entries: list[Route | UseLayer | _Mount] = []
        self._params: dict[str, list[_Fn]] = {}
        self._table: RouteTable | None = None
        self._chains: dict[tuple[_Fn, ...], Callable[..., Awaitable[Any]]] = {}
        self._parents: list[Router] = []
        self._dispatcher = Dispatch(self)

    def __repr__(self) -> str:
        routes = sum(1 for e in self._entries if isinstance(e, Route))
        prefix = f"prefix={self.prefix!r}, " if self.prefix else ""
        return f"<Router {prefix}routes={routes}>"

    # -- registration ---------------------------------------------------------------------

    def _invalidate(self) -> None:
        """Drop the compiled table (and every parent's); the next request rebuilds it."""
        self._table = None
        self._chains.clear()
        for parent in self._parents:
            parent._invalidate()

    def _compile(self, pattern: str, *, end: bool = True) -> PathPattern:
        return compile_path(pattern, end=end, strict=self.strict, sensitive=self.sensitive)

    @overload
    def add(
        self,
        methods: str | Iterable[str] | None,
        path: str,
        /,
        *,
        name: str | None = None,
        body_limit: int | None = None,
    ) -> Callable[[F], F]: ...
    @overload
    def add(
        self,
        methods: str | Iterable[str] | None,
        path: str,
        handler: _Fn,
        /,
        *handlers: _Fn,
        name: str | None = None,
        body_limit: int | None = None,
    ) -> Router: ...
    def add(
        self,
        methods: str | Iterable[str] | None,
        path: str,
        /,
        *handlers: _Fn,
        name: str | None = None,
        body_limit: int | None = None,
    ) -> Router | Callable[[F], F]:
        """Register a route for ``methods`` (``None`` for all); what every verb calls.

        With handlers, returns the router (so calls chain); without, returns a decorator
        that registers the function and gives it back unchanged.
        """
        if isinstance(methods, str):
            methods = (methods,)
        verbs: tuple[str, ...] | None = None
        if methods is not None:
            verbs = tuple(dict.fromkeys(m.upper() for m in methods))
            if "GET" in verbs and "HEAD" not in verbs:
                verbs = (*verbs[: verbs.index("GET") + 1], "HEAD", *verbs[verbs.index("GET") + 1 :])
        if not isinstance(path, str):
            raise TypeError(
                f"The first argument of a route must be its path (a str), got {path!r}; "
                "pass the route name as name=..."
            )
        if not handlers:

            def decorator(fn: F) -> F:
                self._add_route(verbs, path, (fn,), name, body_limit)
                return fn

            return decorator
        self._add_route(verbs, path, handlers, name, body_limit)
        return self

    def _add_route(
        self,
        methods: tuple[str, ...] | None,
        path: str,
        handlers: tuple[_Fn, ...],
        name: str | None,
        body_limit: int | None,
    ) -> None:
        if name is not None and not isinstance(name, str):
            raise TypeError(f"A route name must be a str, got {name!r}")
        _check_body_limit(body_limit)
        full = join_paths(self.prefix, path, strict=self.strict)
        pattern = self._compile(full)
        limit = self.body_limit if body_limit is None else body_limit
        stack = build_stack(handlers, limit)
        route = Route(full, methods, pattern, handlers, stack, name=name, body_limit=limit)
        self._entries.append(route)
        self._invalidate()

    def use(self, *args: Any, always: bool = False) -> Router:
        """``router.use([path], *middleware)``: middleware for matched routes under ``path``.

        ``path`` may be a str or a list of them; it matches whole segments only (``/a``
        covers ``/a`` and ``/a/b``, never ``/about``). ``child.routes()`` (or a Router)
        mounts the child's routes under ``path``. With ``always=True`` the middleware also
        runs when no route matched, for every request under ``path`` (koajs/router#44).
        """
        paths: list[str] = [""]
        fns = list(args)
        if fns and isinstance(fns[0], str):
            paths = [fns.pop(0)]
        elif fns and isinstance(fns[0], list | tuple):
            paths = list(fns.pop(0))
            if not paths or not all(isinstance(p, str) for p in paths):
                raise TypeError("router.use() takes a path, or a list of path strings, first")
        if not fns:
            raise TypeError("router.use() needs at least one middleware")
        for path in paths:
            group: list[_Fn] = []
            for fn in fns:
                child = _router_of(fn)
                if child is None:
                    if not callable(fn):
                        raise TypeError(f"router.use() takes middleware, got {fn!r}")
                    group.append(fn)
                    continue
                if always:
                    raise ValueError(
                        "always=True applies to middleware; a mounted router's routes only "
                        "run when they match"
                    )
                if group:
                    self._add_use(path, tuple(group), always)
                    group = []
                self._mount(path, child)
            if group:
                self._add_use(path, tuple(group), always)
        return self

    def _add_use(self, path: str, fns: tuple[_Fn, ...], always: bool) -> None:
        full = join_paths(self.prefix, path) if path else self.prefix
        pattern = self._compile(full, end=False)
        stack = build_stack(fns, None)
        layer = UseLayer(full, pattern, fns, stack, always=always, owner=id(self))
        self._entries.append(layer)
        self._invalidate()

    def _mount(self, path: str, child: Router) -> None:
        if child is self or self in child._descendants():
            raise ValueError("A router cannot be mounted inside itself")
        full = join_paths(self.prefix, path) if path else self.prefix
        self._compile(full, end=False)  # reject a bad prefix now...
        child._flatten(full, frozenset(), {}, [])  # ...and a clash with the child's params
        self._entries.append(_Mount(full, child))
        child._parents.append(self)
        self._invalidate()

    def _descendants(self) -> list[Router]:
        found: list[Router] = []
        for entry in self._entries:
            if isinstance(entry, _Mount):
                found.append(entry.child)
                found.extend(entry.child._descendants())
        return found

    def param(self, name: str, fn: _Fn) -> Router:
        """Run ``fn(value, ctx, next)`` before the handlers of routes that have ``:name``.

        Several per name run in the order given; each runs once per request even when
        several matched routes have the param. Applies to mounted child routers too.
        """
        if not callable(fn):
            raise TypeError(f"router.param() takes a callable, got {fn!r}")
        self._params.setdefault(name, []).append(fn)
        self._invalidate()
        return self

    # -- compiled view --------------------------------------------------------------------

    def _flatten(
        self,
        mount: str,
        owners: frozenset[int],
        params: Mapping[str, list[_Fn]],
        out: list[Route | UseLayer],
    ) -> None:
        owners = owners | {id(self)}
        merged: dict[str, list[_Fn]] = {k: list(v) for k, v in params.items()}
        for key, fns in self._params.items():
            merged.setdefault(key, []).extend(fns)
        for entry in self._entries:
            if isinstance(entry, Route):
                route = entry
                if mount:
                    path = join_paths(mount, entry.path, strict=self.strict)
                    route = entry.copy(path, self._compile(path))
                else:
                    route = entry.copy(entry.path, entry.pattern)
                route.owners = owners
                route.param_steps = tuple(
                    ParamStep(key, fn) for key in route.pattern.keys for fn in merged.get(key, ())
                )
                out.append(route)
            elif isinstance(entry, UseLayer):
                layer = entry
                if mount:
                    path = join_paths(mount, entry.path) if entry.path else mount
                    layer = UseLayer(
                        path,
                        self._compile(path, end=False),
                        entry.middleware,
                        entry.stack,
                        always=entry.always,
                        owner=entry.owner,
                    )
                else:
                    layer = UseLayer(
                        entry.path,
                        entry.pattern,
                        entry.middleware,
                        entry.stack,
                        always=entry.always,
                        owner=entry.owner,
                    )
                out.append(layer)
            else:
                inner = join_paths(mount, entry.path) if entry.path else mount
                entry.child._flatten(inner, owners, merged, out)

    def _build(self) -> RouteTable:
        entries: list[Route | UseLayer] = []
        self._flatten("", frozenset(), {}, entries)
        table = self._table = RouteTable(entries)
        return table

    @property
    def stack(self) -> tuple[Route | UseLayer, ...]:
        """Every route and use-layer, mounted children included, in the order they run."""
        table = self._table or self._build()
        return tuple(sorted([*table.routes, *table.uses], key=lambda e: e.index))

    def match(self, raw_path: str, method: str | None = None) -> list[tuple[Route, dict[str, str]]]:
        """The routes matching ``raw_path`` (and ``method``, if given), with their params."""
        table = self._table or self._build()
        hits = table.find(raw_path)
        if method is None:
            return list(hits)
        method = method.upper()
        return [hit for hit in hits if hit[0].allows(method)]

    def route(self, name: str) -> Route | None:
        """The first route registered under ``name``, or None."""
        table = self._table or self._build()
        return table.names.get(name)

    def url(self, name: str, /, query: Mapping[str, Any] | None = None, **params: Any) -> str:
        """The path of the route called ``name`` with ``params`` filled in and encoded.

        ``query`` (a mapping; list values repeat the key) is appended url-encoded.
        Raises ``KeyError`` for an unknown name or a missing param.
        """
        route = self.route(name)
        if route is None:
            raise KeyError(f"No route named {name!r}")
        path = route.pattern.build(params)
        if query:
            qs = urlencode(query, doseq=True)
            if qs:
                path = f"{path}?{qs}"
        return path

    # -- the middleware -------------------------------------------------------------------

    def routes(self) -> Dispatch:
        """The dispatch middleware; it has a ``.router`` attribute (this router)."""
        return self._dispatcher

    middleware = routes

    def _dispatch(
        self,
        rest: Callable[[Context], Awaitable[Any]] | None,
        ctx: Context,
        next: Callable[[], Any] | None = None,
    ) -> Awaitable[Any]:
        """Route ``ctx``; what comes after the router is ``next()``, or ``rest(ctx)``.

        ``rest`` (with ``next`` None) is how the app's first layer is called: the common
        request, one route that answers, never needs a ``next``, so none is made.
        """
        table = self._table or self._build()
        scope = ctx._scope  # not ctx.request: most routes never need a Request object
        raw = scope.get("raw_path")
        raw_path: str = raw.decode("latin-1") if raw else raw_path_of(scope)
        if "?" in raw_path:
            raw_path = raw_path_of(scope)
        hits = table.find(raw_path)
        if len(hits) == 1 and not table.uses:
            route, params = hits[0]
            method_set = route.method_set
            if not route.param_steps and (method_set is None or scope["method"] in method_set):
                # The common case: one route, nothing around it, no per-request chain.
                ctx.matched.append(route)
                if ctx.params:  # _set_params, inlined on the hot path
                    ctx.params.update(params)
                else:
                    ctx.params = params
                ctx.router_path = route.path
                ctx.router_name = route.name
                handler = route.handler
                if handler is not None:
                    result = handler(ctx)
                else:
                    result = route.stack(ctx, next or _continue(rest, ctx))
                return result if type(result) is CoroutineType else ready(result)
        if next is None:
            next = _continue(rest, ctx)
        if not hits:
            if not table.has_always:
                return ready(next())
            return self._dispatch_chain(ctx, next, table, raw_path, _NO_ROUTES)
        method = scope["method"]
        if len(hits) == 1:
            route = hits[0][0]
            ctx.matched.append(route)
            if route.method_set is not None and method not in route.method_set:
                if not table.has_always:
                    return ready(next())
                return self._dispatch_chain(ctx, next, table, raw_path, _NO_ROUTES)
            return self._dispatch_chain(ctx, next, table, raw_path, hits)
        ctx.matched.extend([route for route, _ in hits])
        routes = [hit for hit in hits if hit[0].allows(method)]
        if not routes and not table.has_always:
            return ready(next())
        return self._dispatch_chain(ctx, next, table, raw_path, routes)

    def _dispatch_chain(
        self,
        ctx: Context,
        next: Callable[[], Any],
        table: RouteTable,
        raw_path: str,
        routes: list[tuple[Route, dict[str, str]]],
    ) -> Awaitable[Any]:
        """The general case: use-layers, several routes, or param middleware."""
        steps: list[tuple[int, _Fn, list[ParamStep]]] = []
        params: dict[str, str] = {}
        for route, route_params in routes:
            params.update(route_params)
            steps.append((route.index, route.entry, list(route.param_steps)))
        for layer in table.uses:
            # A use-layer guards the routes of its own router (and of routers mounted in
            # it), not every route that happens to share the prefix.
            if not layer.always and not any(layer.owner in r.owners for r, _ in routes):
                continue
            found = layer.pattern.match_prefix(raw_path)
            if found is None:
                continue
            for key, value in found[0].items():
                params.setdefault(key, value)
            steps.append((layer.index, layer.stack, []))
        if not steps:
            return ready(next())
        steps.sort(key=_first)
        _set_params(ctx, params)
        if routes:
            first = routes[0][0]
            ctx.router_path = first.path
            ctx.router_name = first.name
        chain: list[_Fn] = []
        done: set[tuple[str, int]] = set()
        for _, fn, param_steps in steps:
            for step in param_steps:
                marker = (step.key, id(step.fn))
                if marker not in done:
                    done.add(marker)
                    chain.append(step)
            chain.append(fn)
        if len(chain) == 1:
            return ready(chain[0](ctx, next))
        # Which layers and routes run is one of few combinations: compose each once, not
        # per request (compose builds a runner, which costs far more than a request).
        combination = tuple(chain)
        composed = self._chains.get(combination)
        if composed is None:
            if len(self._chains) >= _MAX_CHAINS:
                self._chains.clear()
            composed = self._chains[combination] = compose(chain)
        result: Awaitable[Any] = composed(ctx, next)
        return result

    def allowed_methods(
        self,
        *,
        throw: bool = False,
        not_implemented: Callable[[], BaseException] | None = None,
        method_not_allowed: Callable[[], BaseException] | None = None,
    ) -> Callable[[Context, Callable[[], Any]], Awaitable[None]]:
        """Middleware answering what no route did: OPTIONS, 405 and 501, with ``Allow``.

        Acts only when downstream left the response unset (status 404, no body):

        * a method outside ``methods`` -> 501;
        * OPTIONS on a known path -> 200, empty body, ``Allow``;
        * a known path with another method -> 405 and ``Allow``.

        With ``throw=True`` it raises ``HttpError`` (carrying ``Allow``) instead of
        answering; ``not_implemented`` / ``method_not_allowed`` are factories for the
        exception to raise instead, and giving either implies ``throw``.
        """
        implemented = frozenset(self.methods)
        router_methods = self.methods
        throw = throw or not_implemented is not None or method_not_allowed is not None

        async def allowed_methods(ctx: Context, next: Callable[[], Any]) -> None:
            await next()
            response = ctx.response
            if response.status != 404 or response.body is not None:
                return
            allowed: dict[str, None] = {}
            for route in ctx.matched:
                if isinstance(route, Route):
                    for method in route.methods or router_methods:
                        allowed[method] = None
            allow = ", ".join(allowed)
            method = ctx.request.method
            if method not in implemented:
                if throw:
                    if not_implemented is not None:
                        raise not_implemented()
                    raise HttpError(501, headers={"Allow": allow} if allow else None)
                response.status = 501
                if allow:
                    response.set("Allow", allow)
                return
            if not allowed:
                return
            if method == "OPTIONS":
                response.status = 200
                response.body = ""
                response.set("Allow", allow)
            elif method not in allowed:
                if throw:
                    if method_not_allowed is not None:
                        raise method_not_allowed()
                    raise HttpError(405, headers={"Allow": allow})
                response.status = 405
                response.set("Allow", allow)

        return allowed_methods

    def redirect(self, source: str, destination: str, status: int = 301) -> Router:
        """Redirect requests for ``source`` (any method) to ``destination`` or a route name."""
        if destination.startswith("/") or "://" in destination:
            target = destination
        else:
            target = self.url(destination)

        def redirect(ctx: Context) -> None:
            ctx.redirect(target)
            ctx.status = status

        return self.add(None, source, redirect)


def _check_body_limit(limit: object) -> None:
    if limit is None:
        return
    if not isinstance(limit, int) or isinstance(limit, bool):
        raise TypeError(f"body_limit must be an int (bytes), got {limit!r}")
    if limit < 0:
        raise ValueError(f"body_limit must be 0 or more bytes, got {limit}")


def _nothing() -> Awaitable[None]:
    """The ``next`` of a dispatch called without one, as compose's chains allow."""
    return ready(None)


def _continue(
    rest: Callable[[Context], Awaitable[Any]] | None, ctx: Context
) -> Callable[[], Awaitable[Any]]:
    """The ``next`` of a dispatch called as the app's first layer: the rest of the chain."""
    if rest is None:
        return _nothing
    return partial(rest, ctx)


def _first(step: tuple[int, _Fn, list[ParamStep]]) -> int:
    return step[0]


def _set_params(ctx: Context, params: dict[str, str]) -> None:
    if ctx.params:
        ctx.params.update(params)
    else:
        ctx.params = params


def _router_of(fn: object) -> Router | None:
    """The Router behind ``child.routes()`` (or a Router given as is), else None."""
    if isinstance(fn, Router):
        return fn
    router = getattr(fn, "router", None)
    return router if isinstance(router, Router) else None
