"""Run a middleware only for some requests: ``unless`` (skip when matched) and ``when``.

Usage::

    auth_unless = unless(auth, path=[re.compile(r"^/public"), "/login", "/register"])
    app.use(auth_unless)                         # koa-unless: auth.unless({path: [...]})
    app.use(when(rate_limit(...), method=["POST"]))

Conditions (any one matching counts, as in koa-unless):

* ``path``: a ``str`` matches the decoded ``ctx.path`` exactly (case-sensitive, no
  trailing-slash folding); a compiled regex matches with ``.search`` (JavaScript's
  ``.test``), so anchor it with ``^`` when you mean a prefix.
* ``method``: HTTP methods, case-insensitive.
* ``ext``: file extensions of the path (``"html"`` or ``".html"``), case-insensitive.
* ``custom``: ``fn(ctx) -> bool``.

Because exact paths are case- and slash-sensitive while the Router is not, ``/LOGIN/``
is *not* exempted by ``unless(auth, path=["/login"])``: an exemption is never wider than
what you wrote, so auth fails closed. Use a regex such as ``re.compile(r"^/login/?$",
re.I)`` to widen it on purpose.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from inspect import isawaitable
from typing import TYPE_CHECKING, Any

from ..types import Middleware, MiddlewareLike, Next

if TYPE_CHECKING:
    from ..context import Context

__all__ = ["Matcher", "unless", "when"]

PathRule = str | re.Pattern[str]


def _listify(value: Any, option: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str | re.Pattern):
        return [value]
    if not isinstance(value, Iterable):
        raise TypeError(f"{option}=...) must be a str, a compiled regex or a list of them")
    return list(value)


class Matcher:
    """The compiled conditions shared by ``unless`` and ``when``: ``matcher(ctx) -> bool``."""

    __slots__ = ("custom", "exact", "exts", "methods", "patterns")

    def __init__(
        self,
        *,
        path: PathRule | Iterable[PathRule] | None = None,
        method: str | Iterable[str] | None = None,
        ext: str | Iterable[str] | None = None,
        custom: Callable[[Context], bool] | None = None,
        name: str = "unless",
    ) -> None:
        exact: set[str] = set()
        patterns: list[re.Pattern[str]] = []
        for rule in _listify(path, f"{name}(path"):
            if isinstance(rule, str):
                exact.add(rule)
            elif isinstance(rule, re.Pattern):
                patterns.append(rule)
            else:
                raise TypeError(
                    f"{name}(path=...) entries must be str or re.compile(...) patterns, "
                    f"not {type(rule).__name__}"
                )
        methods = _listify(method, f"{name}(method")
        exts = _listify(ext, f"{name}(ext")
        for label, items in (("method", methods), ("ext", exts)):
            for item in items:
                if not isinstance(item, str) or not item.strip("."):
                    raise TypeError(f"{name}({label}=...) entries must be non-empty str")
        if custom is not None and not callable(custom):
            raise TypeError(f"{name}(custom=...) must be a callable fn(ctx) -> bool")
        if not (exact or patterns or methods or exts or custom):
            raise ValueError(f"{name}() needs at least one of path=, method=, ext= or custom=")
        self.exact = frozenset(exact)
        self.patterns = tuple(patterns)
        self.methods = frozenset(m.upper() for m in methods)
        self.exts = tuple("." + e.lower().lstrip(".") for e in exts)
        self.custom = custom

    def __call__(self, ctx: Context) -> bool:
        if self.methods and ctx.method in self.methods:
            return True
        path = ctx.path
        if path in self.exact:
            return True
        for pattern in self.patterns:
            if pattern.search(path):
                return True
        if self.exts:
            last = path.rsplit("/", 1)[-1].lower()
            if last.endswith(self.exts):
                return True
        return bool(self.custom is not None and self.custom(ctx))

    def __repr__(self) -> str:
        parts = [
            f"path={sorted(self.exact) + [p.pattern for p in self.patterns]!r}",
            f"method={sorted(self.methods)!r}",
            f"ext={list(self.exts)!r}",
        ]
        if self.custom is not None:
            parts.append(f"custom={self.custom!r}")
        return f"Matcher({', '.join(parts)})"


def _build(mw: MiddlewareLike, matcher: Matcher, *, skip_on_match: bool, name: str) -> Middleware:
    if not callable(mw):
        raise TypeError(f"{name}() needs a middleware to wrap, got {mw!r}")

    if skip_on_match:

        async def unless_middleware(ctx: Context, next: Next) -> Any:
            if matcher(ctx):
                return await next()
            result = mw(ctx, next)
            return await result if isawaitable(result) else result

        middleware: Middleware = unless_middleware
    else:

        async def when_middleware(ctx: Context, next: Next) -> Any:
            if matcher(ctx):
                result = mw(ctx, next)
                return await result if isawaitable(result) else result
            return await next()

        middleware = when_middleware
    middleware.__qualname__ = f"{name}({getattr(mw, '__qualname__', repr(mw))})"  # type: ignore[attr-defined]
    middleware.matcher = matcher  # type: ignore[attr-defined]
    middleware.wrapped = mw  # type: ignore[attr-defined]
    return middleware


def unless(
    mw: MiddlewareLike,
    *,
    path: PathRule | Iterable[PathRule] | None = None,
    method: str | Iterable[str] | None = None,
    ext: str | Iterable[str] | None = None,
    custom: Callable[[Context], bool] | None = None,
) -> Middleware:
    """``mw``, skipped for requests matching any condition (see the module docstring)."""
    matcher = Matcher(path=path, method=method, ext=ext, custom=custom, name="unless")
    return _build(mw, matcher, skip_on_match=True, name="unless")


def when(
    mw: MiddlewareLike,
    *,
    path: PathRule | Iterable[PathRule] | None = None,
    method: str | Iterable[str] | None = None,
    ext: str | Iterable[str] | None = None,
    custom: Callable[[Context], bool] | None = None,
) -> Middleware:
    """``mw``, run only for requests matching any condition: the inverse of ``unless``."""
    matcher = Matcher(path=path, method=method, ext=ext, custom=custom, name="when")
    return _build(mw, matcher, skip_on_match=False, name="when")
