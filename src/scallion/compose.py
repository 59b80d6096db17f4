"""compose(): the onion. ``dispatch(i)`` calls ``middleware[i](ctx, next)``.

Rules (koa-compose's, as DESIGN §2 states them): only a list or tuple of callables is
accepted; calling ``next()`` twice in one middleware raises ``RuntimeError("next() called
multiple times")``; the ``next`` given to a composed chain runs after its last element; the
chain returns what its first middleware returned; a composed chain is middleware itself.

Depth. Koa's recursive ``dispatch`` leans on V8's deep async stacks. In CPython each
``await next()`` nests one more coroutine frame, and a chain of ~500 layers dies with
``RecursionError``. So there are two runners, chosen once, when the chain is composed:

* **direct** (chains up to ``DIRECT_MAX`` layers, i.e. every typical app): ``next()``
  returns the downstream coroutine itself, and ``await next()`` is a plain await in the
  request's own task. Per layer there is only a bound method, as Koa's ``bind``.
* **trampolined** (longer chains): ``await next()`` yields a marker to a driver loop that
  keeps the suspended middleware coroutines on an explicit list, so the C stack stays
  flat whatever the length. I/O futures are relayed to the event loop unchanged, errors
  are thrown into the waiting middleware one by one on the way out, and contextvars and
  cancellation behave as in the direct runner because everything runs in the same task.
  When ``next()`` is awaited somewhere the driver cannot see (``asyncio.wait_for`` runs it
  in a new task), the rest of the chain starts its own driver there.

A middleware that returns while its ``next()`` was called but never awaited (or is still
pending, say in a task it forgot) is almost always a missing ``await``. The checked mode
(``compose(..., checked=True)``, on in development mode) raises a ``RuntimeError`` naming
that middleware; the trampolined runner always checks, since it costs nothing there.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import sys
from collections.abc import Awaitable, Callable, Coroutine, Generator, Sequence
from types import CoroutineType
from typing import Any, Final

from .types import Next

__all__ = ["DIRECT_MAX", "as_middleware", "compose", "middleware_name", "ready"]

DIRECT_MAX: Final = 100
"""Longest chain run with plain nested awaits; longer chains are trampolined."""

_Fn = Callable[..., Any]


def middleware_name(fn: object) -> str:
    """A readable name for error messages: ``module.qualname`` where it exists."""
    name = getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
    if name is None:
        return repr(fn)
    module = getattr(fn, "__module__", None)
    return f"{module}.{name}" if module and module != "builtins" else str(name)


def _missing_await(fn: _Fn, nxt: _CheckedNext | _DeepNext | None = None) -> RuntimeError:
    if nxt is not None:
        coro, nxt._coro = nxt._coro, None
        # Never started and held by nobody else (not a task): close it, so no "coroutine
        # was never awaited" warning leaks next to the real error. (2 = `coro` + the arg.)
        if (
            coro is not None
            and inspect.getcoroutinestate(coro) == inspect.CORO_CREATED
            and sys.getrefcount(coro) == 2
        ):
            coro.close()
    return RuntimeError(
        f"Middleware {middleware_name(fn)} returned before its downstream finished.\n"
        "\tYou are probably missing an `await` before `next()`."
    )


class _Done:
    """An already-finished awaitable: what ``next()`` returns when there is nothing to run."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __await__(self) -> Generator[Any, None, Any]:
        return self.value
        yield  # pragma: no cover - makes this a generator


_NOTHING: Final = _Done(None)


def ready(result: Any) -> Awaitable[Any]:
    """``result`` if it is awaitable, else an awaitable that gives it back."""
    if type(result) is CoroutineType or hasattr(result, "__await__"):
        return result  # type: ignore[no-any-return]
    return _Done(result)


_NEXT_NAMES: Final = frozenset({"next", "next_", "_next", "nxt", "call_next"})


def _positional(fn: _Fn) -> tuple[int, int, bool] | None:
    """(required positional, all positional, has *args), or None when it cannot be told."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    required = total = 0
    varargs = False
    for param in signature.parameters.values():
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            total += 1
            # A second parameter called ``next`` takes the chain, default or not
            # (``composed(ctx, next=None)``, a router's dispatch).
            if param.default is param.empty or (total == 2 and param.name in _NEXT_NAMES):
                required += 1
        elif param.kind is param.VAR_POSITIONAL:
            varargs = True
        elif param.kind is param.KEYWORD_ONLY and param.default is param.empty:
            raise TypeError(
                f"{middleware_name(fn)} has a required keyword-only parameter "
                f"{param.name!r}; middleware takes (ctx, next) and handlers (ctx)"
            )
    return required, total, varargs


def as_middleware(fn: _Fn) -> _Fn:
    """Adapt a ``(ctx)`` handler to ``(ctx, next)``, once, at registration.

    Decided by the *required* positional parameters: two (or ``*args``) means
    ``(ctx, next)``; one means ``(ctx)``, which ends the chain where it stands. Defaults do
    not count, so ``lambda ctx, i=i: ...`` is a ``(ctx)`` handler. Callables whose
    signature cannot be read (some builtins) are taken to be ``(ctx, next)``.
    """
    if not callable(fn):
        raise TypeError(f"Route handlers and middleware must be callable, got {fn!r}")
    shape = _positional(fn)
    if shape is None:
        return fn
    required, total, varargs = shape
    if required > 2:
        raise TypeError(
            f"{middleware_name(fn)} takes {required} required arguments; "
            "middleware takes (ctx, next) and handlers (ctx)"
        )
    if varargs or required == 2:
        return fn
    if total == 0:
        raise TypeError(
            f"{middleware_name(fn)} takes no arguments; "
            "middleware takes (ctx, next) and handlers (ctx)"
        )

    def ctx_only(ctx: Any, next: Any) -> Any:
        return fn(ctx)

    ctx_only.ctx_handler = fn  # type: ignore[attr-defined]  # the router calls it directly

    ctx_only.__name__ = getattr(fn, "__name__", ctx_only.__name__)
    ctx_only.__qualname__ = getattr(fn, "__qualname__", ctx_only.__qualname__)
    ctx_only.__module__ = getattr(fn, "__module__", ctx_only.__module__)
    return ctx_only


def _call_outer(outer: Callable[[], Any] | None) -> Awaitable[Any]:
    return _NOTHING if outer is None else ready(outer())


# -- direct runner --------------------------------------------------------------------


def _direct_runner(fns: tuple[_Fn, ...]) -> Callable[..., Awaitable[Any]]:
    """Build the direct runner for ``fns``: Koa's ``dispatch(i)``, one method per layer.

    Per request there is one small object; ``next`` for layer ``i`` is its bound method
    ``d{i+1}``, and Koa's shared ``index`` catches a second call. The methods are
    generated (as ``dataclasses`` generates ``__init__``) because a bound method with
    the index written in is what CPython 3.11 calls fastest: a layer costs ~2.6k
    instructions this way against ~4.9k for a per-layer ``next`` object with
    ``__call__`` (callgrind; ``bench/micro.py`` measures it in ns).
    """
    n = len(fns)
    namespace: dict[str, Any] = {"CoroutineType": CoroutineType, "ready": ready}
    lines = ["class _Run:", "    __slots__ = ('ctx', 'index', 'outer')"]
    for i, fn in enumerate(fns):
        namespace[f"fn{i}"] = fn
        lines += [
            f"    def d{i}(self):",
            f"        if {i} <= self.index:",
            "            raise RuntimeError('next() called multiple times')",
            f"        self.index = {i}",
        ]
        if inspect.iscoroutinefunction(fn):  # it can only return a coroutine: no check
            lines.append(f"        return fn{i}(self.ctx, self.d{i + 1})")
        else:
            lines += [
                f"        result = fn{i}(self.ctx, self.d{i + 1})",
                "        return result if type(result) is CoroutineType else ready(result)",
            ]
    lines += [
        f"    def d{n}(self):",
        f"        if {n} <= self.index:",
        "            raise RuntimeError('next() called multiple times')",
        f"        self.index = {n}",
        "        outer = self.outer",
        "        return ready(None) if outer is None else ready(outer())",
    ]
    code = compile("\n".join(lines), "<scallion.compose chain>", "exec")
    exec(code, namespace)
    run_class = namespace["_Run"]
    new = object.__new__

    def direct(ctx: Any, next: Next | None = None) -> Awaitable[Any]:
        run = new(run_class)
        run.ctx = ctx
        run.index = -1
        run.outer = next
        return run.d0()  # type: ignore[no-any-return]

    return direct


class _CheckedNext:
    """A layer's ``next`` in checked mode: wraps the downstream to catch a missing ``await``."""

    __slots__ = ("_called", "_coro", "_ctx", "_done", "_fns", "_index", "_outer")

    def __init__(
        self, fns: tuple[_Fn, ...], ctx: Any, index: int, outer: Callable[[], Any] | None
    ) -> None:
        self._fns = fns
        self._ctx = ctx
        self._index = index
        self._outer = outer
        self._called = False
        self._done = False
        self._coro: Coroutine[Any, Any, Any] | None = None

    def __call__(self) -> Awaitable[Any]:
        if self._called:
            raise RuntimeError("next() called multiple times")
        self._called = True
        coro = self._coro = self._run()
        return coro

    async def _run(self) -> Any:
        try:
            if self._index == len(self._fns):
                return await _call_outer(self._outer)
            return await _run_checked(self._fns, self._ctx, self._index, self._outer)
        finally:
            self._done = True


async def _run_checked(
    fns: tuple[_Fn, ...], ctx: Any, index: int, outer: Callable[[], Any] | None
) -> Any:
    fn = fns[index]
    nxt = _CheckedNext(fns, ctx, index + 1, outer)
    result = await ready(fn(ctx, nxt))
    if nxt._called and not nxt._done:
        raise _missing_await(fn, nxt)
    return result


# -- trampolined runner ---------------------------------------------------------------


class _Driver:
    """Runs ``fns[start:]`` keeping suspended middleware on a list instead of the C stack."""

    __slots__ = ("_ctx", "_fns", "_outer", "_sending", "_task")

    def __init__(self, fns: tuple[_Fn, ...], ctx: Any, outer: Callable[[], Any] | None) -> None:
        self._fns = fns
        self._ctx = ctx
        self._outer = outer
        self._sending = False
        self._task: asyncio.Task[Any] | None = None

    def run(self, start: int) -> Generator[Any, Any, Any]:
        try:
            self._task = asyncio.current_task()
        except RuntimeError:  # driven by hand, without a running loop
            self._task = None
        fns = self._fns
        # Each frame: (iterator being driven, its _DeepNext or None, the middleware).
        stack: list[tuple[Any, _DeepNext | None, _Fn | None]] = []
        value: Any = None
        error: BaseException | None = None
        pending: int | None = start  # index of the middleware to start next, if any
        while True:
            if pending is not None:
                index, pending = pending, None
                try:
                    if index == len(fns):
                        frame: tuple[Any, _DeepNext | None, _Fn | None] = (
                            _call_outer(self._outer).__await__(),
                            None,
                            None,
                        )
                    else:
                        fn = fns[index]
                        nxt = _DeepNext(self, index + 1)
                        result = fn(self._ctx, nxt)
                        if type(result) is not CoroutineType and not hasattr(result, "__await__"):
                            value = result
                            if nxt._called:
                                error = _missing_await(fn, nxt)
                            if not stack:
                                break
                            stack[-1][1]._done = True  # type: ignore[union-attr]
                            continue
                        frame = (result.__await__(), nxt, fn)
                except BaseException as exc:
                    error = exc
                    if not stack:
                        break
                    stack[-1][1]._done = True  # type: ignore[union-attr]
                    continue
                stack.append(frame)
                value = None
            iterator, nxt_of_top, fn_of_top = stack[-1]
            self._sending = True
            try:
                if error is not None:
                    thrown, error = error, None
                    yielded = iterator.throw(thrown)
                else:
                    yielded = iterator.send(value)
            except StopIteration as stop:
                stack.pop()
                value = stop.value
                if nxt_of_top is not None and nxt_of_top._called and not nxt_of_top._done:
                    error = _missing_await(fn_of_top, nxt_of_top)  # type: ignore[arg-type]
                if not stack:
                    break
                stack[-1][1]._done = True  # type: ignore[union-attr]
                continue
            except BaseException as exc:
                stack.pop()
                error = exc
                if not stack:
                    break
                stack[-1][1]._done = True  # type: ignore[union-attr]
                continue
            finally:
                self._sending = False
            if type(yielded) is _DeepNext and yielded._driver is self:
                pending = yielded._index
                continue
            try:
                value = yield yielded  # a real future: let the event loop handle it
            except BaseException as exc:
                error = exc
        if error is not None:
            raise error
        return value

    def owns_current_frame(self) -> bool:
        """True while this driver is stepping a coroutine in the current task."""
        if not self._sending:
            return False
        try:
            return asyncio.current_task() is self._task
        except RuntimeError:
            return self._task is None


class _DeepNext:
    """``next`` in a trampolined chain: awaiting it hands control back to the driver."""

    __slots__ = ("_called", "_coro", "_done", "_driver", "_index")

    def __init__(self, driver: _Driver, index: int) -> None:
        self._driver = driver
        self._index = index
        self._called = False
        self._done = False
        self._coro: Coroutine[Any, Any, Any] | None = None

    def __call__(self) -> Coroutine[Any, Any, Any]:
        if self._called:
            raise RuntimeError("next() called multiple times")
        self._called = True
        coro = self._coro = _await_deep(self)
        return coro

    def __await__(self) -> Generator[Any, Any, Any]:
        driver = self._driver
        if driver.owns_current_frame():
            return (yield self)
        # Awaited outside the driver (e.g. in a task made by asyncio.wait_for):
        # run the rest of the chain with a driver of its own, right here.
        try:
            own = _Driver(driver._fns, driver._ctx, driver._outer)
            return (yield from own.run(self._index))
        finally:
            self._done = True


async def _await_deep(nxt: _DeepNext) -> Any:
    # A real coroutine, so ``asyncio.create_task(next())`` works as in the direct runner.
    return await nxt


class _Trampoline:
    __slots__ = ("_driver",)

    def __init__(self, driver: _Driver) -> None:
        self._driver = driver

    def __await__(self) -> Generator[Any, Any, Any]:
        return self._driver.run(0)


# -- compose --------------------------------------------------------------------------


def compose(
    middleware: Sequence[_Fn], *, checked: bool | None = None
) -> Callable[..., Awaitable[Any]]:
    """Compose ``middleware`` into one middleware ``composed(ctx, next=None)``.

    Args:
        middleware: a list or tuple of ``(ctx, next)`` callables; later changes to the
            list do not affect the composed chain. A callable taking only ``(ctx)`` (as
            Koa users write ``app.use(async ctx => ...)``) is adapted once, here.
        checked: detect a middleware that returned before the ``next()`` it called
            finished (a missing ``await``). Defaults to on when ``SCALLION_ENV`` is
            ``development``. The App passes its own mode.
    """
    if not isinstance(middleware, list | tuple):
        raise TypeError("Middleware stack must be a list or tuple of callables")
    for fn in middleware:
        if not callable(fn):
            raise TypeError(f"Middleware must be callable, got {fn!r}")
    fns = tuple(as_middleware(fn) for fn in middleware)
    if checked is None:
        checked = os.environ.get("SCALLION_ENV") == "development"

    if len(fns) > DIRECT_MAX:

        def trampolined(ctx: Any, next: Next | None = None) -> Awaitable[Any]:
            return _Trampoline(_Driver(fns, ctx, next))

        composed: Callable[..., Awaitable[Any]] = trampolined
    elif checked:

        def checked_chain(ctx: Any, next: Next | None = None) -> Awaitable[Any]:
            if not fns:
                return _call_outer(next)
            return _run_checked(fns, ctx, 0, next)

        composed = checked_chain
    else:
        composed = _direct_runner(fns)
    composed.middleware = fns  # type: ignore[attr-defined]
    return composed
