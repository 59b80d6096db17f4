"""The Express layer: a linear ``(req, res, next)`` stack that mounts as ONE onion layer.

::

    ex = Express()

    @ex.get("/users/:id")
    def show(req, res):
        res.json({"id": req.params["id"]})

    app.use(timing).use(ex)     # onion middleware around an Express stack

Express 5 semantics. The stack is a list of layers tried in order: ``use()`` layers match
a path prefix on whole segments, route layers (``get``/``post``/.../``route()``) match the
whole path and a method. A handler is ``(req, res, next)`` or ``(req, res)``, sync or
async; one with four parameters ``(err, req, res, next)`` is error middleware and only
runs while an error is passing. The arity is read once, at registration.

``next()`` is a plain call that never runs anything itself: it records what the handler
wants, and the driver acts on it when the handler returns (or its awaitable finishes).
``next()`` continues, ``next(err)`` or an exception (sync raise, async raise, rejected
awaitable) skips to the next error middleware, ``next("route")`` skips the rest of the
current route's handlers, ``next("router")`` leaves this instance. A handler that returns
without calling ``next()`` ends the stack.

The driver (``Express.__call__``) is one loop over the stack with an index, so a stack of
thousands of sync handlers costs no recursion; async handlers are awaited in place, in
the request's own task. Only nested ``Express`` instances add a frame each.

Leaving the stack. When the stack runs out, or a handler calls ``next("router")``, or it
ends without any sending method (``send``/``json``/``end``/``redirect``/``send_status``)
having been called, the request falls through to the next onion layer. An error that no
error middleware handled is raised out of the layer, so the App's error handling (or an
outer onion middleware) sees the original exception.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, overload

from ._express_stack import (
    IDLE,
    K2,
    K3,
    KERR,
    KSUB,
    METHODS,
    ROUTE,
    ROUTER,
    UNSET,
    Handler,
    Layer,
    Mountable,
    NextFunction,
    NextState,
    Outcome,
    ParamHandler,
    Route,
    handler_kind,
    is_awaitable,
    name_of,
    positional,
)
from ._express_views import ExpressRequest, ExpressResponse
from ._paths import PathPattern, compile_path
from .request import raw_path_of
from .types import Next

if TYPE_CHECKING:
    from .context import Context

__all__ = [
    "METHODS",
    "Express",
    "ExpressRequest",
    "ExpressResponse",
    "Handler",
    "NextFunction",
    "ParamHandler",
    "Route",
]

H = TypeVar("H", bound=Callable[..., Any])


class Express(Mountable):
    """An Express-style app/router with a linear stack; itself an onion middleware.

    Args:
        strict: a trailing slash matters (``/a`` and ``/a/`` differ).
        case_sensitive: ``/A`` and ``/a`` differ.
        merge_params: when mounted under a path with params, keep the parent's
            ``req.params`` visible in this instance's handlers.
    """

    __slots__ = (
        "_dynamic",
        "_index",
        "_params",
        "_stack",
        "case_sensitive",
        "locals",
        "merge_params",
        "strict",
    )

    def __init__(
        self, *, strict: bool = False, case_sensitive: bool = False, merge_params: bool = False
    ) -> None:
        self.strict = strict
        self.case_sensitive = case_sensitive
        self.merge_params = merge_params
        self.locals: dict[str, Any] = {}
        """App-wide values, as Express's ``app.locals``; reach them as ``req.app.locals``."""
        self._stack: list[Layer] = []
        self._params: dict[str, list[tuple[int, ParamHandler]]] = {}
        self._index: dict[str, tuple[Layer, ...]] | None = None
        self._dynamic: tuple[Layer, ...] = ()

    # ----------------------------------------------------------------- registration

    @overload
    def use(self, path: str, /) -> Callable[[H], H]: ...
    @overload
    def use(
        self, path: str | Sequence[str], handler: Handler, /, *handlers: Handler
    ) -> Express: ...
    @overload
    def use(self, handler: Handler, /, *handlers: Handler) -> Express: ...
    def use(self, *args: Any) -> Any:
        """``use([path], *handlers)``: middleware for every method under a path prefix.

        The prefix matches whole segments and is stripped from ``req.path``/``req.url``
        while the handlers run (``req.base_url`` holds it). A nested ``Express`` is a
        handler too. Called with only a path, returns a decorator.
        """
        if args and (isinstance(args[0], str) or _is_path_list(args[0])):
            paths: Sequence[str] = [args[0]] if isinstance(args[0], str) else args[0]
            handlers = args[1:]
        else:
            paths, handlers = ["/"], args
        if not handlers:
            if len(args) == 1 and isinstance(args[0], str):
                return self._decorator(None, paths, use=True)
            raise TypeError("use() needs at least one handler")
        for path in paths:
            for fn in handlers:
                self._push(self._use_layer(path, fn))
        return self

    def route(self, path: str) -> Route:
        """A ``Route`` for ``path``, registered now, to which verbs chain."""
        route = Route(path)
        self._push(self._route_layer(path, route))
        return route

    @overload
    def param(self, name: str) -> Callable[[H], H]: ...
    @overload
    def param(self, name: str, fn: ParamHandler) -> Express: ...
    def param(self, name: str, fn: ParamHandler | None = None) -> Any:
        """Run ``fn(req, res, next, value)`` before layers whose path has ``:name``.

        Runs once per request for each distinct value, in registration order; several
        callbacks per name are allowed. Without ``fn``, returns a decorator.
        """
        if fn is None:

            def register(f: H) -> H:
                self.param(name, f)
                return f

            return register
        if not callable(fn):
            raise TypeError(f"param() needs a callable, not {type(fn).__name__}")
        _, total, star = positional(fn)
        if total < 4 and not star:
            raise TypeError(
                f"param handler {name_of(fn)} must take (req, res, next, value[, name])"
            )
        self._params.setdefault(name, []).append((5 if star or total >= 5 else 4, fn))
        self._index = None
        return self

    @overload
    def get(self, path: str | Sequence[str]) -> Callable[[H], H]: ...
    @overload
    def get(self, path: str | Sequence[str], *handlers: Handler) -> Express: ...
    def get(self, path: str | Sequence[str], *handlers: Handler) -> Any:
        """``get(path, *handlers)`` or ``@get(path)``; also serves HEAD."""
        return self._verb("GET", path, handlers)

    @overload
    def post(self, path: str | Sequence[str]) -> Callable[[H], H]: ...
    @overload
    def post(self, path: str | Sequence[str], *handlers: Handler) -> Express: ...
    def post(self, path: str | Sequence[str], *handlers: Handler) -> Any:
        return self._verb("POST", path, handlers)

    @overload
    def put(self, path: str | Sequence[str]) -> Callable[[H], H]: ...
    @overload
    def put(self, path: str | Sequence[str], *handlers: Handler) -> Express: ...
    def put(self, path: str | Sequence[str], *handlers: Handler) -> Any:
        return self._verb("PUT", path, handlers)

    @overload
    def patch(self, path: str | Sequence[str]) -> Callable[[H], H]: ...
    @overload
    def patch(self, path: str | Sequence[str], *handlers: Handler) -> Express: ...
    def patch(self, path: str | Sequence[str], *handlers: Handler) -> Any:
        return self._verb("PATCH", path, handlers)

    @overload
    def delete(self, path: str | Sequence[str]) -> Callable[[H], H]: ...
    @overload
    def delete(self, path: str | Sequence[str], *handlers: Handler) -> Express: ...
    def delete(self, path: str | Sequence[str], *handlers: Handler) -> Any:
        return self._verb("DELETE", path, handlers)

    @overload
    def head(self, path: str | Sequence[str]) -> Callable[[H], H]: ...
    @overload
    def head(self, path: str | Sequence[str], *handlers: Handler) -> Express: ...
    def head(self, path: str | Sequence[str], *handlers: Handler) -> Any:
        return self._verb("HEAD", path, handlers)

    @overload
    def options(self, path: str | Sequence[str]) -> Callable[[H], H]: ...
    @overload
    def options(self, path: str | Sequence[str], *handlers: Handler) -> Express: ...
    def options(self, path: str | Sequence[str], *handlers: Handler) -> Any:
        return self._verb("OPTIONS", path, handlers)

    @overload
    def all(self, path: str | Sequence[str]) -> Callable[[H], H]: ...
    @overload
    def all(self, path: str | Sequence[str], *handlers: Handler) -> Express: ...
    def all(self, path: str | Sequence[str], *handlers: Handler) -> Any:
        """Handlers for every method on ``path``."""
        return self._verb(None, path, handlers)

    def _verb(self, method: str | None, path: Any, handlers: tuple[Handler, ...]) -> Any:
        paths: Sequence[str] = [path] if isinstance(path, str) else path
        if not isinstance(path, str) and not _is_path_list(path):
            raise TypeError(f"a route path must be a str or a list of str, not {path!r}")
        if not handlers:
            return self._decorator(method, paths, use=False)
        for p in paths:
            route = Route(p)
            route._add(method, handlers)
            self._push(self._route_layer(p, route))
        return self

    def _decorator(self, method: str | None, paths: Sequence[str], *, use: bool) -> Any:
        def register(fn: H) -> H:
            if use:
                for p in paths:
                    self._push(self._use_layer(p, fn))
            else:
                self._verb(method, list(paths), (fn,))
            return fn

        return register

    # ----------------------------------------------------------------- layers

    def _canonical(self, raw: str) -> str:
        """The form static paths are compared in: the raw path, lower-cased unless sensitive."""
        return raw if self.case_sensitive else raw.lower()

    def _compile(self, path: str, *, end: bool) -> PathPattern:
        if not isinstance(path, str):
            raise TypeError(f"a path must be a str, not {type(path).__name__}")
        return compile_path(path, end=end, strict=self.strict, sensitive=self.case_sensitive)

    def _use_layer(self, path: str, fn: Any) -> Layer:
        kind = handler_kind(fn)
        if path in ("", "/"):
            return Layer(None, None, None, kind, fn, None)
        pattern = self._compile(path, end=False)
        prefix = None
        # A static prefix is compared as a string; under strict, '/api/' asks for more
        # after the slash, which only the pattern knows how to say.
        if pattern.is_static and not (self.strict and path.endswith("/")):
            prefix = self._canonical(pattern.build({}))
            if prefix == "/":
                return Layer(None, None, None, kind, fn, None)
        return Layer(pattern, None, prefix, kind, fn, None)

    def _route_layer(self, path: str, route: Route) -> Layer:
        pattern = self._compile(path, end=True)
        static = None
        if pattern.is_static:
            static = self._canonical(pattern.build({}))
            if not self.strict and static.endswith("/"):
                static = static[:-1]
        return Layer(pattern, static, None, 0, None, route)

    def _push(self, layer: Layer) -> None:
        self._stack.append(layer)
        self._index = None

    def _build_index(self) -> dict[str, tuple[Layer, ...]]:
        """Candidate layers per exact static path, in stack order.

        A request whose path equals a static route's path gets that route plus every
        non-static layer; any other path gets only the non-static layers. So static
        routes are matched by one dict lookup, never by a regex.
        """
        for layer in self._stack:
            layer.param_keys = tuple(k for k in layer.keys if k in self._params)
        by_static: dict[str, list[Layer]] = {}
        for layer in self._stack:
            if layer.static is not None:
                by_static.setdefault(layer.static, [])
        for layer in self._stack:
            if layer.static is None:
                for lst in by_static.values():
                    lst.append(layer)
            else:
                by_static[layer.static].append(layer)
        self._dynamic = tuple(layer for layer in self._stack if layer.static is None)
        self._index = {key: tuple(lst) for key, lst in by_static.items()}
        return self._index

    # ----------------------------------------------------------------- dispatch

    async def __call__(
        self,
        ctx: Context,
        next: Next,
        _req: ExpressRequest | None = None,
        _res: ExpressResponse | None = None,
        _nxt: NextState | None = None,
    ) -> Outcome:
        """Run the stack as one onion layer: ``app.use(ex)``.

        The ``_req``/``_res``/``_nxt`` parameters are private: a parent instance passes its
        views when this one is nested, and then gets back the outcome (UNSET: stopped,
        None: fell out, or the error still passing) instead of the onion behaviour. The
        driver lives here rather than in a helper so that a request costs one coroutine.
        """
        # Reading attributes back from `req` is slower than usual (it has __getattr__), so
        # the top level keeps what it needs in locals.
        parent_params: dict[str, str] | None = None
        if _req is None or _res is None or _nxt is None:
            top = True
            scope = ctx._scope  # not ctx.request: a plain handler never needs a Request
            method: str = scope["method"]
            raw_bytes = scope.get("raw_path")
            # Without raw_path from the server, or with one carrying the query, the long
            # way. (63 is "?": int membership skips the buffer protocol `b"?" in` costs.)
            raw: str = (
                raw_bytes.decode("latin-1")
                if raw_bytes and 63 not in raw_bytes
                else raw_path_of(scope)
            ) or "/"
            base = ""
            saved_app = self
            req = ExpressRequest(ctx, self, method, raw)
            res = ExpressResponse(ctx, req)
            nxt = NextState()
        else:
            top = False
            req, res, nxt = _req, _res, _nxt
            raw, base, method, saved_app = req._path, req._base, req._method, req._app
            if self.merge_params:
                parent_params = req._params
            req._app = self
        call_next = nxt.next
        index = self._index if self._index is not None else self._build_index()
        lraw = raw if self.case_sensitive else raw.lower()
        # The same normalisation as _paths: one trailing slash means nothing unless strict.
        key = lraw[:-1] if not self.strict and lraw[-1:] == "/" else lraw
        layers = index.get(key, self._dynamic)
        plain_ok = not parent_params  # merged params need the general path's copy
        err: BaseException | None = None
        outcome: Outcome = None
        seen: dict[str, str] | None = None  # param() values already processed
        route_stack: list[tuple[str | None, int, Any]] | None = None
        route_method = method
        ri = 0
        i = 0
        n = len(layers)
        while True:
            stripped = False
            if route_stack is not None:
                # Next handler of the current route for this method and error state.
                kind = 0
                fn: Any = None
                while ri < len(route_stack):
                    m, k, f = route_stack[ri]
                    ri += 1
                    if (m is None or m == route_method) and (k == KERR) == (err is not None):
                        kind, fn = k, f
                        break
                if fn is None:
                    route_stack = None
                    continue
            else:
                if i >= n:
                    outcome = err
                    break
                layer = layers[i]
                i += 1
                if layer.plain and plain_ok:
                    # Fast path: a use() layer for every path, (req, res, next) handler.
                    if err is not None:
                        continue
                    req._params = None
                    fn = layer.fn
                    nxt._signal = UNSET
                    try:
                        result = fn(req, res, call_next)
                        if result is not None and result is not res and is_awaitable(result):
                            await result
                        outcome = nxt._signal
                    except Exception as exc:
                        outcome = exc
                    nxt._signal = IDLE
                    if outcome is None or outcome is ROUTE:
                        continue
                    if outcome is UNSET or outcome is ROUTER:
                        break
                    assert isinstance(outcome, BaseException)
                    err = outcome
                    continue
                route = layer.route
                params: dict[str, str] | None = None
                if route is not None:
                    if err is not None:
                        continue
                    methods = route._methods
                    if not (
                        route._all or method in methods or (method == "HEAD" and "GET" in methods)
                    ):
                        continue
                    if layer.static is None:
                        assert layer.pattern is not None
                        params = layer.pattern.match(raw)
                        if params is None:
                            continue
                else:
                    kind = layer.kind
                    if (kind == KERR) != (err is not None):
                        continue
                    consumed = 0
                    if layer.pattern is not None:
                        prefix = layer.prefix
                        if prefix is not None:
                            if lraw != prefix and not lraw.startswith(prefix + "/"):
                                continue
                            consumed = len(prefix)
                        else:
                            found = layer.pattern.match_prefix(raw)
                            if found is None:
                                continue
                            params, consumed = found
                if parent_params:
                    params = {**parent_params, **params} if params else dict(parent_params)
                req._params = params
                if layer.param_keys and err is None and params:
                    if seen is None:
                        seen = {}
                    outcome = await self._run_params(layer, params, seen, req, res, nxt)
                    if outcome is not None:
                        if outcome is UNSET or outcome is ROUTER:
                            break
                        if isinstance(outcome, BaseException):
                            err = outcome
                        continue  # ROUTE or an error: skip this layer
                if route is not None:
                    # The pattern, as the Router reports it, for metrics and traces.
                    ctx.router_path = req._base + route.path if req._base else route.path
                    route_stack = route._stack
                    route_method = (
                        "GET" if method == "HEAD" and "HEAD" not in route._methods else method
                    )
                    ri = 0
                    continue
                fn = layer.fn
                if consumed:
                    stripped = True
                    removed = raw[:consumed]
                    req._base = base + (removed[:-1] if removed[-1] == "/" else removed)
                    rest = raw[consumed:]
                    req._path = rest if rest[:1] == "/" else "/" + rest
            # One call site for every handler.
            if kind == KSUB:
                outcome = await fn(ctx, next, req, res, nxt)
            else:
                nxt._signal = UNSET
                try:
                    if kind == K3:
                        result = fn(req, res, call_next)
                    elif kind == K2:
                        result = fn(req, res)
                    else:
                        result = fn(err, req, res, call_next)
                    # `return res.send(...)` is common: res is not awaitable, skip the check.
                    if result is not None and result is not res and is_awaitable(result):
                        await result
                    outcome = nxt._signal
                except Exception as exc:
                    outcome = exc
                nxt._signal = IDLE
            if stripped:
                req._path = raw
                req._base = base
            if outcome is None:
                err = None
            elif outcome is ROUTE:
                err = None
                route_stack = None
            elif outcome is UNSET or outcome is ROUTER:
                break
            else:
                assert isinstance(outcome, BaseException)
                err = outcome
        req._app = saved_app
        # A caught exception's traceback holds this frame: drop the locals that hold the
        # exception, or every failed request leaves a reference cycle for the GC.
        err = None
        if not top:
            if outcome is ROUTER:
                return None
            holder = [outcome]  # hand the outcome back without a local still holding it
            outcome = None
            return holder.pop()
        if outcome is UNSET:
            if res._answered:
                return None
        elif isinstance(outcome, BaseException):
            try:
                raise outcome
            finally:
                outcome = None
        await next()
        return None

    async def _run_params(
        self,
        layer: Layer,
        params: dict[str, str],
        seen: dict[str, str],
        req: ExpressRequest,
        res: ExpressResponse,
        nxt: NextState,
    ) -> Outcome:
        """Run ``param()`` callbacks for ``layer``; None means go on to the layer."""
        call_next = nxt.next
        for name in layer.param_keys:
            if name not in params:
                continue
            value = params[name]
            if seen.get(name) == value:
                continue
            outcome: Outcome
            for arity, fn in self._params[name]:
                nxt._signal = UNSET
                try:
                    if arity == 4:
                        result = fn(req, res, call_next, value)
                    else:
                        result = fn(req, res, call_next, value, name)
                    if result is not None and is_awaitable(result):
                        await result
                    outcome = nxt._signal
                except Exception as exc:
                    outcome = exc
                nxt._signal = IDLE
                if outcome is not None:
                    holder = [outcome]  # no local may keep a caught exception (see __call__)
                    outcome = None
                    return holder.pop()
            seen[name] = value
        return None

    def __repr__(self) -> str:
        return f"<Express layers={len(self._stack)}>"


def _is_path_list(value: object) -> bool:
    return (
        isinstance(value, (list, tuple)) and bool(value) and all(isinstance(v, str) for v in value)
    )
