"""The App: an ASGI 3 callable that runs the composed onion once per request.

``App.__call__`` builds a Context, runs the chain, turns an uncaught error into a
response (Koa's ``ctx.onerror``), and hands the result to ``respond()``, the one place
where a body becomes ASGI messages. The chain is composed once, on the first request or
at startup, and frozen: ``use()`` after that is a ``RuntimeError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import inspect
import logging
import os
import traceback
from collections.abc import Callable, Iterable
from typing import Any, Literal, TypeVar, overload

from . import response as _r
from .compose import compose
from .context import Context, _current, _Tracking
from .datastructures import State
from .errors import ClientDisconnect, error_status, reason_phrase
from .request import DEFAULT_BODY_LIMIT
from .types import Message, MiddlewareLike, Receive, Scope, Send

__all__ = ["App"]

logger = logging.getLogger("scallion")

_F = TypeVar("_F", bound=Callable[..., Any])
PENDING_ERROR_HEADERS = "_scallion_error_headers"
"""Where middleware park headers for an error response when the error cannot take them."""
_CHUNK = 64 * 1024
_SMALL_FILE = 64 * 1024


class App:
    """The application: ``app = App(); app.use(mw); granian --interface asgi mod:app``.

    Args:
        env: ``"development"`` shows tracebacks in error responses and checks for a
            missing ``await next()``; ``"production"`` never shows a traceback. Defaults to
            ``$SCALLION_ENV``, else production.
        proxy: trust ``X-Forwarded-For/-Host/-Proto`` (only behind your own proxy).
        keys: secrets for signed cookies; the first signs, all verify.
        body_limit: default request-body limit in bytes (1 MiB).
        gc_tuning: when a server has run the startup hooks (ASGI lifespan), tune the
            garbage collector for serving, once per process (``tune_gc_once``: freeze
            what exists then, collect the young generation less often); ``False`` leaves
            the collector alone.
        track_context: set ``current_context()`` for each request (Koa 3's
            ``asyncLocalStorage``); ``None`` follows ``track_current_context()``, which
            ``configure_logging()`` turns on.
    """

    def __init__(
        self,
        *,
        env: Literal["development", "production"] | str | None = None,
        proxy: bool = False,
        keys: Iterable[str | bytes] | None = None,
        body_limit: int = DEFAULT_BODY_LIMIT,
        gc_tuning: bool = True,
        track_context: bool | None = None,
    ) -> None:
        self.env = env or os.environ.get("SCALLION_ENV") or "production"
        self.gc_tuning = gc_tuning
        self.track_context = track_context
        self.proxy = proxy
        self.keys: list[str | bytes] = list(keys or [])
        self.body_limit = body_limit
        self.state = State()
        self.middleware: list[MiddlewareLike] = []
        self._listeners: dict[str, list[Callable[..., Any]]] = {}
        self._handler: Callable[..., Any] | None = None
        self._background: set[asyncio.Task[Any]] = set()

    @property
    def development(self) -> bool:
        return self.env == "development"

    # -- building --------------------------------------------------------------------

    def use(self, *middleware: MiddlewareLike) -> App:
        """Append middleware to the onion; returns the app so calls chain."""
        if self._handler is not None:
            raise RuntimeError(
                "app.use() after the app started serving: the middleware chain is composed "
                "once, on the first request, and then frozen. Register middleware before that."
            )
        for fn in middleware:
            if not callable(fn):
                raise TypeError(f"Middleware must be callable, got {fn!r}")
        self.middleware.extend(middleware)
        return self

    def _build(self) -> Callable[..., Any]:
        if self._handler is None:
            chain = self.middleware
            first_of = getattr(chain[0], "_first_of", None) if chain else None
            if first_of is not None:  # a router first: see Dispatch._first_of
                self._handler = first_of(compose(chain[1:], checked=self.development))
            else:
                self._handler = compose(chain, checked=self.development)
        return self._handler

    # -- events ----------------------------------------------------------------------

    @overload
    def on(self, event: str) -> Callable[[_F], _F]: ...
    @overload
    def on(self, event: str, fn: _F) -> _F: ...
    def on(self, event: str, fn: _F | None = None) -> _F | Callable[[_F], _F]:
        """Listen for ``"error"`` (``(err, ctx)``), ``"startup"``, ``"shutdown"`` or your own.

        Works as ``app.on("error", fn)`` and as the decorator ``@app.on("startup")``.
        """
        if fn is None:
            return lambda f: self.on(event, f)
        if not callable(fn):
            raise TypeError(f"Listener must be callable, got {fn!r}")
        self._listeners.setdefault(event, []).append(fn)
        return fn

    def listeners(self, event: str) -> list[Callable[..., Any]]:
        return list(self._listeners.get(event, ()))

    def emit(self, event: str, *args: Any) -> bool:
        """Call ``event``'s listeners; async ones run in the background. True if any."""
        listeners = self._listeners.get(event)
        if not listeners:
            return False
        for listener in listeners:
            try:
                result = listener(*args)
            except Exception:
                logger.exception("listener %r for %r failed", listener, event)
                continue
            if inspect.isawaitable(result):
                self._spawn(result)
        return True

    def _spawn(self, awaitable: Any) -> None:
        async def run() -> None:
            try:
                await awaitable
            except Exception:
                logger.exception("async event listener failed")

        task = asyncio.ensure_future(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _run_hooks(self, event: str) -> None:
        for listener in self._listeners.get(event, ()):
            result = listener()
            if inspect.isawaitable(result):
                await result

    async def startup(self) -> None:
        """Run ``startup`` listeners in order and freeze the chain."""
        await self._run_hooks("startup")
        self._build()

    async def shutdown(self) -> None:
        """Run ``shutdown`` listeners, then wait briefly for background listener tasks."""
        await self._run_hooks("shutdown")
        if self._background:
            await asyncio.wait(set(self._background), timeout=5)

    # -- ASGI ------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._other(scope, receive, send)
            return
        handler = self._handler or self._build()
        ctx = Context(self, scope, receive, send)
        track = self.track_context
        token = _current.set(ctx) if (_Tracking.enabled if track is None else track) else None
        try:
            try:
                await handler(ctx)
            except ClientDisconnect:
                logger.debug("client disconnected while sending the request body")
                return
            except Exception as err:
                self._on_error(ctx, err)
            if ctx.respond:
                res = ctx.response
                # The common case (an in-memory body, not HEAD, not 204/304) inlines what
                # respond() would do: going through respond() and _send_whole() costs ~3.5k
                # of ~32k instructions per plaintext request (callgrind, 2026-11-21).
                if (
                    0 < res._kind <= _r.KIND_JSON
                    and res._status not in _r.EMPTY_STATUSES
                    and scope["method"] != "HEAD"
                ):
                    try:
                        body = res.encoded()
                    except TypeError as err:  # a JSON body orjson cannot serialize
                        self._on_error(ctx, err)
                        body = res.encoded()
                    res.headers_sent = True
                    await send(
                        {
                            "type": "http.response.start",
                            "status": res._status,
                            "headers": res.raw_headers_with_length(len(body)),  # type: ignore[arg-type]
                        }
                    )
                    await send({"type": "http.response.body", "body": body})
                else:
                    await self.respond(ctx)
        finally:
            if token is not None:
                _current.reset(token)

    async def _other(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1000})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.startup()
                except Exception as exc:
                    logger.exception("startup failed")
                    await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                    return
                if self.gc_tuning:
                    tune_gc_once()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await self.shutdown()
                except Exception as exc:
                    logger.exception("shutdown failed")
                    await send({"type": "lifespan.shutdown.failed", "message": repr(exc)})
                    return
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- errors ----------------------------------------------------------------------

    def _report(self, err: BaseException, ctx: Context) -> None:
        if self.emit("error", err, ctx):
            return
        status = error_status(err)
        if status == 404 or getattr(err, "expose", False) is True:
            return
        logger.error("%s %s -> %s: %r", ctx.method, ctx.url, status, err, exc_info=err)

    def _on_error(self, ctx: Context, err: BaseException) -> None:
        """Turn an uncaught error into the response (Koa's ``ctx.onerror``)."""
        self._report(err, ctx)
        res = ctx.response
        if res.headers_sent:
            return
        status = error_status(err)
        expose = getattr(err, "expose", False) is True
        message = getattr(err, "message", None) if expose else None
        if not isinstance(message, str):
            message = str(err) if expose else reason_phrase(status)
        res.headers = {}
        # The error's own headers, and any parked on ctx for an error that cannot carry
        # attributes (see middleware._util.add_error_headers).
        for headers in (ctx.__dict__.get(PENDING_ERROR_HEADERS), getattr(err, "headers", None)):
            if not isinstance(headers, dict):
                continue
            for name, value in headers.items():
                try:
                    res.set(name, value)
                except (TypeError, ValueError):
                    logger.warning("dropped invalid error header %r", name)
        res.status = status
        res.type = "text/plain; charset=utf-8"
        if self.development:
            message += "\n\n" + "".join(traceback.format_exception(err))
        res.body = message
        ctx.respond = True

    # -- respond ---------------------------------------------------------------------

    async def respond(self, ctx: Context) -> None:
        """Write ``ctx.response`` as ASGI messages: one ``start`` and, if small, one body."""
        res = ctx.response
        send = ctx.send
        status = res._status
        head = ctx.scope["method"] == "HEAD"  # not ctx.request: no Request just for this
        if status in _r.EMPTY_STATUSES:
            res.headers.pop("content-type", None)
            res.headers.pop("content-length", None)
            res.headers.pop("transfer-encoding", None)
            await self._send_whole(res, send, status, b"", head=True, length=False)
            return
        kind = res._kind
        if kind == _r.KIND_NONE:
            if res._explicit_null:
                res.headers.pop("content-type", None)
                res.headers.pop("transfer-encoding", None)
                await self._send_whole(res, send, status, b"", head=False)
                return
            body = res.message.encode()
            res.headers["content-type"] = _r.TEXT
            await self._send_whole(res, send, status, body, head=head)
            return
        if kind <= _r.KIND_JSON:
            try:
                body = res.encoded()  # type: ignore[assignment]
            except TypeError as err:  # a JSON body orjson cannot serialize
                self._on_error(ctx, err)
                body = res.encoded()  # type: ignore[assignment]
            await self._send_whole(res, send, res._status, body, head=head)
            return
        if kind == _r.KIND_FILE and not head:  # HEAD: the stream path sends only headers
            small = _read_small_file(res._body)
            if small is not None:
                await self._send_whole(res, send, res._status, small, head=head)
                return
        await self._send_stream(ctx, head)

    async def _send_whole(
        self,
        res: _r.Response,
        send: Send,
        status: int,
        body: bytes,
        *,
        head: bool,
        length: bool = True,
    ) -> None:
        # HEAD too: the length GET would have had
        raw = res.raw_headers_with_length(len(body)) if length else res.raw_headers()
        res.headers_sent = True
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": b"" if head else body})

    async def _send_stream(self, ctx: Context, head: bool) -> None:
        res = ctx.response
        source = res._body
        if res._kind == _r.KIND_FILE and "content-length" not in res.headers:
            remaining = _r._file_remaining(source)
            if remaining is not None:
                res.headers["content-length"] = str(remaining)
        res.headers_sent = True
        await ctx.send(
            {"type": "http.response.start", "status": res._status, "headers": res.raw_headers()}
        )
        if head:
            await _close_source(source)
            await ctx.send({"type": "http.response.body", "body": b""})
            return
        task = asyncio.current_task()
        disconnected = asyncio.Event()
        watcher = asyncio.ensure_future(_watch_disconnect(ctx.receive, disconnected, task))
        try:
            async for chunk in _chunks(source, res._kind):
                if disconnected.is_set():
                    break
                await ctx.send({"type": "http.response.body", "body": chunk, "more_body": True})
        except asyncio.CancelledError:
            if not disconnected.is_set():
                raise
            if task is not None:
                task.uncancel()
            logger.debug("client disconnected during a streamed response")
            return
        except (OSError, ClientDisconnect):
            logger.debug("client went away during a streamed response")
            return
        except Exception as err:
            # Headers are gone; log it, then end the response so the connection is not left open.
            self._report(err, ctx)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await watcher
            await _close_source(source)
        if not disconnected.is_set():
            with contextlib.suppress(OSError):
                await ctx.send({"type": "http.response.body", "body": b"", "more_body": False})

    # -- conveniences ----------------------------------------------------------------

    def listen(self, port: int = 3000, host: str = "127.0.0.1", **options: Any) -> None:
        """Serve this app in the foreground (a quick start; ``scallion serve`` for production)."""
        from .server import run_app

        run_app(self, host=host, port=port, **options)

    def callback(self) -> App:
        """The ASGI callable (Koa's ``app.callback()``): the app itself."""
        return self

    def __repr__(self) -> str:
        return f"<App env={self.env!r} middleware={len(self.middleware)}>"


def _read_small_file(file: Any) -> bytes | None:
    """A small regular file's remaining bytes, read at once (the file is then closed).

    For a few KiB from the page cache a blocking read costs microseconds, far less than
    the streaming path's thread-pool hops and disconnect watcher (the static scenario of
    ``bench/`` ran at ~0.2x raw ASGI before this). Larger files are streamed.
    """
    remaining = _r._file_remaining(file)
    if remaining is None or remaining > _SMALL_FILE:
        return None
    try:
        data: bytes = file.read()
        return data
    finally:
        with contextlib.suppress(Exception):
            file.close()


async def _watch_disconnect(
    receive: Receive, disconnected: asyncio.Event, task: asyncio.Task[Any] | None
) -> None:
    """Cancel the streaming task as soon as the client disconnects (Starlette #297)."""
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            disconnected.set()
            if task is not None:
                task.cancel()
            return


async def _chunks(source: Any, kind: int) -> Any:
    if kind == _r.KIND_STREAM:
        async for chunk in source:
            if chunk:
                yield _as_bytes(chunk)
    elif kind == _r.KIND_ITER:
        for chunk in source:
            if chunk:
                yield _as_bytes(chunk)
    else:  # file
        loop = asyncio.get_running_loop()
        while True:
            chunk = await loop.run_in_executor(None, source.read, _CHUNK)
            if not chunk:
                return
            yield _as_bytes(chunk)


def _as_bytes(chunk: Any) -> bytes:
    if type(chunk) is bytes:
        return chunk
    if isinstance(chunk, str):
        return chunk.encode("utf-8")
    return bytes(chunk)


async def _close_source(source: Any) -> None:
    """Close a streamed body at once: an async generator's ``aclose``, a file's ``close``."""
    with contextlib.suppress(Exception):
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()
            return
        close = getattr(source, "close", None)
        if close is not None:
            close()


GC_YOUNG_THRESHOLD = 7000
"""The young generation's threshold while serving (CPython's default is 700)."""


def tune_gc_once() -> bool:
    """Set the garbage collector up for serving; once per process, returns whether it did.

    Two things, both measured on the 3-upstream fan-out (``python -m bench bff``, CPU per
    request, bench/README.md):

    - Freeze what exists once the app is ready (``gc.collect()`` then ``gc.freeze()``).
      Modules, routes, pools and caches live as long as the process, yet every full
      collection walked them again: 235 -> 221 µs, p99 64 -> 53 ms.
    - Collect the young generation every 7,000 net allocations instead of 700. With 128
      requests in flight, each young collection walked the objects of all of them, ten
      times as often: 227 -> 207 µs, as low as with the collector off. Cycles still die,
      a little later. A threshold already changed from CPython's default is left alone.

    A test run that starts many apps tunes only at the first.
    """
    if gc.get_freeze_count():
        return False
    gc.collect()
    gc.freeze()
    threshold = gc.get_threshold()
    if threshold == (700, 10, 10):
        gc.set_threshold(GC_YOUNG_THRESHOLD, *threshold[1:])
    return True
