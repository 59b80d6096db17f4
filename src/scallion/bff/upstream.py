"""A named upstream service: instances, pools, balancing, deadlines, retries, breakers.

    users = Upstream("users", ["http://10.0.0.7:8080", "http://10.0.0.8:8080"],
                     timeout=1.0, retry=RetryPolicy(attempts=3, budget=RetryBudget()),
                     breaker={"failure_rate": 0.5, "minimum_calls": 20},
                     max_concurrent=200, propagate_headers=("x-request-id", "traceparent"))
    resp = await users.get("/users/7", ctx=ctx)          # UpstreamResponse
    user = await users.get_json("/users/7", ctx=ctx, expect=dict)

One call: the bulkhead admits it (or ``BulkheadFull``), the balancer picks an instance
whose breaker lets it through (or ``BreakerOpen``), the transport sends it with the
propagated headers and the remaining budget in ``X-Request-Deadline``, and the outcome is
fed back to that instance's breaker. Idempotent calls are retried on another instance with
backoff and jitter while the retry budget lasts.

Deadlines are hard. Each attempt has one limit, the per-call timeout or the deadline,
whichever comes first, and every wait in it is bounded by that limit: the bulkhead queue,
the pool wait and the request itself. The pooled transports end a request by its own
timeout (``H1Transport`` closes the socket; with pyreqwest the Rust request ends too, not
just our await); any other transport gets an ``asyncio.timeout``. The retry policy never
sleeps past the deadline. So no call outlives its deadline, and the ``Upstream`` arms no
timer of its own on the happy path.

A status in ``fail_statuses`` (default 5xx) raises ``UpstreamStatusError`` keeping the
status and body; any other status, 4xx included, is returned for the caller to judge
(``resp.raise_for_status()`` turns it into the error).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeAlias
from urllib.parse import urlencode

import orjson

from .balancer import Instance, make_balancer
from .breaker import CircuitBreaker, Permit
from .deadline import DEADLINE_HEADER, request_deadline
from .errors import (
    BreakerOpen,
    BulkheadFull,
    DeadlineExceeded,
    RequestInfo,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamStatusError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from .retry import RetryPolicy
from .transport import (
    ConnectFailed,
    PoolTimeout,
    ResponseBroken,
    Transport,
    TransportError,
    default_transport,
)
from .upstream_response import UpstreamResponse

if TYPE_CHECKING:
    from ..app import App
    from ..context import Context

__all__ = [
    "DEFAULT_PROPAGATE",
    "BreakerConfig",
    "Upstream",
    "UpstreamResponse",
    "Upstreams",
]

BreakerConfig: TypeAlias = Mapping[str, Any] | Callable[[str], CircuitBreaker]
"""``CircuitBreaker`` keyword arguments, or a factory called with each instance's name."""

DEFAULT_PROPAGATE: Final = ("x-request-id", "traceparent", "tracestate")
_JSON_TYPE: Final = "application/json"
_FAIL_5XX: Final = range(500, 600)
_NO_BODY = object()


class Upstream:
    """A named service with one or more instances; usable on its own or via ``Upstreams``.

    Args:
        name: names the upstream in errors, breakers and metrics.
        urls: base URLs of its instances (``http://host:port`` plus an optional path prefix).
        balancer: ``"round_robin"`` or ``"least_outstanding"``.
        timeout: seconds for one attempt, pool wait included.
        connect_timeout: seconds to open a connection.
        budget: seconds for the whole call, retries included, when no earlier deadline
            comes with it (``deadline=`` or the request's ``ctx.state.deadline``).
        retry: a ``RetryPolicy`` (idempotent methods only unless it says otherwise).
        breaker: ``CircuitBreaker`` options or a factory; one breaker per instance.
        max_concurrent: bulkhead: calls in flight to this upstream at once.
        max_queue_wait: seconds a call may wait for the bulkhead before ``BulkheadFull``
            (0: reject at once when full).
        max_connections: connections per instance (the transport's pool limit).
        propagate_headers: incoming request headers copied onto every call made with
            ``ctx=``; add auth headers here (``"authorization"``) only for trusted upstreams.
        headers: fixed headers sent on every call.
        deadline_header: header carrying the remaining milliseconds downstream (None: off).
        fail_statuses: statuses that raise ``UpstreamStatusError`` and count as breaker
            failures (default 500-599).
        transport: one transport shared by all instances (e.g. ``ASGITransport(app)``);
            by default each instance gets its own pool from ``default_transport``.
    """

    def __init__(
        self,
        name: str,
        urls: str | Sequence[str],
        *,
        balancer: str = "round_robin",
        timeout: float = 5.0,
        connect_timeout: float = 1.0,
        budget: float | None = None,
        retry: RetryPolicy | None = None,
        breaker: BreakerConfig | None = None,
        max_concurrent: int | None = None,
        max_queue_wait: float = 0.0,
        max_connections: int | None = 256,
        propagate_headers: Iterable[str] = DEFAULT_PROPAGATE,
        headers: Mapping[str, str] | None = None,
        deadline_header: str | None = DEADLINE_HEADER,
        fail_statuses: Collection[int] = _FAIL_5XX,
        transport: Transport | None = None,
    ) -> None:
        if isinstance(urls, str):
            urls = [urls]
        if not urls:
            raise ValueError(f"upstream {name!r} needs at least one URL")
        if timeout <= 0 or connect_timeout <= 0 or (budget is not None and budget <= 0):
            raise ValueError("timeout, connect_timeout and budget must be > 0 seconds")
        if max_concurrent is not None and max_concurrent < 1:
            raise ValueError("max_concurrent must be >= 1")
        if max_queue_wait < 0:
            raise ValueError("max_queue_wait must be >= 0")
        self.name = name
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self.budget = budget
        self.retry = retry
        self.max_concurrent = max_concurrent
        self.max_queue_wait = max_queue_wait
        self.propagate_headers = tuple(h.lower() for h in propagate_headers)
        # Which request-state values may be sent (checked per call: read here once).
        self._send_request_id = "x-request-id" in self.propagate_headers
        self._send_traceparent = "traceparent" in self.propagate_headers
        self._send_tracestate = "tracestate" in self.propagate_headers
        self.headers = {k.lower(): v for k, v in (headers or {}).items()}
        self.deadline_header = deadline_header.lower() if deadline_header else None
        self.fail_statuses = fail_statuses
        self._shared_transport = transport
        self._balancer = make_balancer(balancer)
        self.instances: list[Instance] = []
        for url in urls:
            own = transport or default_transport(
                max_connections=max_connections, connect_timeout=connect_timeout
            )
            instance = Instance(url, own, None)
            instance.breaker = _make_breaker(breaker, f"{name}@{instance.label}")
            self.instances.append(instance)
        self._single = self.instances[0] if len(self.instances) == 1 else None
        self._bulkhead = asyncio.Semaphore(max_concurrent) if max_concurrent else None
        self._closed = False

    def __repr__(self) -> str:
        return f"Upstream({self.name!r}, {[i.url for i in self.instances]!r})"

    # -- the verbs -------------------------------------------------------------------------------

    async def get(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        deadline: float | None = None,
        ctx: Context | None = None,
    ) -> UpstreamResponse:
        """``GET path``; see ``request``."""
        return await self.request(
            "GET", path, params=params, headers=headers, timeout=timeout, deadline=deadline, ctx=ctx
        )

    async def get_json(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        deadline: float | None = None,
        ctx: Context | None = None,
        expect: type[dict[Any, Any]] | type[list[Any]] | None = None,
    ) -> Any:
        """``GET path`` and parse the JSON body (``expect=dict``/``list`` checks its shape).

        A 4xx answer raises ``UpstreamStatusError`` (5xx already does in ``request``), so
        an error body is never mistaken for the data.
        """
        resp = await self.request(
            "GET", path, params=params, headers=headers, timeout=timeout, deadline=deadline, ctx=ctx
        )
        return resp.raise_for_status().json(expect)

    async def post(
        self,
        path: str,
        *,
        json: Any = _NO_BODY,
        content: bytes | str | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        deadline: float | None = None,
        ctx: Context | None = None,
    ) -> UpstreamResponse:
        """``POST path`` with a ``json=`` or ``content=`` body; retried only when the policy
        allows (an ``Idempotency-Key`` header, or ``idempotent_only=False``)."""
        return await self.request(
            "POST",
            path,
            json=json,
            content=content,
            params=params,
            headers=headers,
            timeout=timeout,
            deadline=deadline,
            ctx=ctx,
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = _NO_BODY,
        content: bytes | str | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        deadline: float | None = None,
        ctx: Context | None = None,
    ) -> UpstreamResponse:
        """Call ``method path`` on one of the instances.

        Args:
            path: starts with ``/``; appended to the instance's base URL (never a full URL,
                so nothing in it can change the host).
            params: query parameters (a list value repeats the key).
            json, content: the body (``json`` is serialised with orjson).
            headers: extra headers for this call.
            timeout: seconds for each attempt (default: the upstream's ``timeout``).
            deadline: absolute ``time.monotonic()`` by which the whole call must end.
            ctx: the incoming request: its deadline and propagated headers apply.

        Raises ``UpstreamTimeout``, ``DeadlineExceeded``, ``UpstreamUnavailable``,
        ``BreakerOpen``, ``BulkheadFull``, ``UpstreamStatusError`` or
        ``UpstreamBadResponse``, each naming this upstream.
        """
        if not path.startswith("/"):
            raise ValueError(f"upstream path must start with '/', got {path[:64]!r}")
        if self._closed:
            raise UpstreamUnavailable(f"upstream {self.name!r} is closed", upstream=self.name)
        method = method.upper()
        if params:
            path = f"{path}{'&' if '?' in path else '?'}{urlencode(params, doseq=True)}"
        sent = self._headers(ctx, headers)
        body: bytes | None = None
        if json is not _NO_BODY:
            body = orjson.dumps(json)
            sent.setdefault("content-type", _JSON_TYPE)
        elif content is not None:
            body = content.encode() if isinstance(content, str) else content

        if ctx is not None:
            from_ctx = request_deadline(ctx)
            if from_ctx is not None and (deadline is None or from_ctx < deadline):
                deadline = from_ctx
        if self.budget is not None:
            by_budget = time.monotonic() + self.budget
            if deadline is None or by_budget < deadline:
                deadline = by_budget
        per_try = timeout or self.timeout

        policy = self.retry
        if policy is None:
            return await self._attempt(method, path, sent, body, per_try, deadline, None, 1)
        if policy.budget is not None:
            policy.budget.deposit()
        if policy.attempts < 2 or not policy.allows(method, sent):
            return await self._attempt(method, path, sent, body, per_try, deadline, None, 1)
        # Retries: each attempt is bounded by the deadline, and next_delay() never sleeps
        # past it, so the whole call ends by the deadline without a timer of its own.
        tried: list[Instance | None] = [None]
        retry = 0
        while True:
            try:
                return await self._attempt(
                    method, path, sent, body, per_try, deadline, tried, retry + 1
                )
            except BreakerOpen:
                raise  # every instance is open: another attempt would be refused too
            except Exception as exc:
                delay = policy.next_delay(exc, retry, deadline)
                if delay is None:
                    raise
            if delay > 0:
                await policy.sleep(delay)
            retry += 1

    # -- one attempt -----------------------------------------------------------------------------

    async def _attempt(
        self,
        method: str,
        path: str,
        sent: dict[str, str],
        body: bytes | None,
        per_try: float,
        deadline: float | None,
        tried: list[Instance | None] | None,
        attempt: int,
    ) -> UpstreamResponse:
        now = time.monotonic()
        limit = now + per_try
        by_deadline = deadline is not None and deadline <= limit
        if by_deadline:
            assert deadline is not None
            limit = deadline
        remaining = limit - now
        if remaining <= 0:
            raise DeadlineExceeded(
                f"deadline exceeded before calling upstream {self.name!r}", upstream=self.name
            )
        bulkhead = self._bulkhead
        held = False
        instance: Instance | None = None
        permit: Permit | None = None
        url = path
        queued = 0.0
        try:
            if bulkhead is not None:
                queued = await self._enter(bulkhead, limit)
                held = True
                if queued:  # it waited: read the clock again
                    now = time.monotonic()
                    remaining = limit - now
            instance, permit = self._pick(tried[0] if tried else None)
            if tried is not None:
                tried[0] = instance
            url = instance.base + path
            if self.deadline_header is not None and deadline is not None:
                left = int((deadline - now) * 1000)
                sent[self.deadline_header] = str(max(left, 0))
            instance.outstanding += 1
            instance.calls += 1
            # Nothing above awaited (unless it queued), so ``remaining`` is still the limit:
            # reading the clock again would move it by microseconds, at 600 instructions.
            try:
                if instance.enforces_timeout:
                    resp = await instance.transport.request(method, url, sent, body, remaining)
                else:
                    async with asyncio.timeout(remaining):
                        resp = await instance.transport.request(method, url, sent, body, remaining)
            finally:
                instance.outstanding -= 1
        except TimeoutError as exc:
            # Cut short by the request's deadline, or waiting on our own saturated pool:
            # neither says anything about the instance's health.
            cut = by_deadline and time.monotonic() >= limit - 0.002
            pooled = isinstance(exc, PoolTimeout)
            self._record(instance, permit, None if cut or pooled else True)
            err: UpstreamError
            if cut:
                err = DeadlineExceeded(
                    f"deadline exceeded waiting for upstream {self.name!r}",
                    upstream=self.name,
                    request=RequestInfo(method, url),
                )
            elif pooled:
                err = UpstreamTimeout(
                    f"no connection to upstream {self.name!r} came free within {per_try:g}s",
                    upstream=self.name,
                    request=RequestInfo(method, url),
                )
            else:
                err = UpstreamTimeout(
                    f"upstream {self.name!r} did not answer within {per_try:g}s",
                    upstream=self.name,
                    request=RequestInfo(method, url),
                )
            raise err from None
        except ConnectFailed as exc:
            self._record(instance, permit, True)
            raise UpstreamUnavailable(
                f"upstream {self.name!r} is unavailable: {exc}",
                upstream=self.name,
                request=RequestInfo(method, url),
            ) from None
        except ResponseBroken as exc:
            self._record(instance, permit, True)
            raise UpstreamBadResponse(
                f"upstream {self.name!r} sent an incomplete or broken response: {exc}",
                upstream=self.name,
                request=RequestInfo(method, url),
            ) from None
        except TransportError as exc:
            self._record(instance, permit, True)
            raise UpstreamError(
                f"upstream {self.name!r} call failed: {exc}",
                upstream=self.name,
                request=RequestInfo(method, url),
            ) from None
        except BaseException:
            self._record(instance, permit, None)  # cancelled, or our own refusal
            raise
        finally:
            if held:
                assert bulkhead is not None
                bulkhead.release()
        assert instance is not None
        status = resp.status
        failed = status in self.fail_statuses
        if permit is not None:
            assert instance.breaker is not None
            instance.breaker.record(permit, failed, resp.elapsed)
        if failed:
            raise UpstreamStatusError(
                status, resp.body, upstream=self.name, request=RequestInfo(method, url)
            )
        return UpstreamResponse(
            self.name,
            method,
            url,
            status,
            resp.headers,
            resp.body,
            resp.elapsed,
            resp.pool_wait + queued,
            instance.url,
            attempt,
        )

    def _record(
        self, instance: Instance | None, permit: Permit | None, failed: bool | None
    ) -> None:
        if permit is not None and instance is not None and instance.breaker is not None:
            instance.breaker.record(permit, failed)

    async def _enter(self, bulkhead: asyncio.Semaphore, limit: float) -> float:
        """Take a bulkhead slot; the seconds waited.

        ``BulkheadFull`` past ``max_queue_wait``; ``TimeoutError`` when the attempt's own
        limit (timeout or deadline) comes first.
        """
        if not bulkhead.locked():
            await bulkhead.acquire()
            return 0.0
        if self.max_queue_wait <= 0:
            raise BulkheadFull(
                f"upstream {self.name!r} has {self.max_concurrent} calls in flight",
                upstream=self.name,
            )
        start = time.perf_counter()
        remaining = limit - time.monotonic()
        by_limit = remaining < self.max_queue_wait
        wait = asyncio.timeout(remaining if by_limit else self.max_queue_wait)
        try:
            async with wait:
                await bulkhead.acquire()
        except TimeoutError:
            if not wait.expired() or by_limit:
                raise
            raise BulkheadFull(
                f"upstream {self.name!r} stayed full for {self.max_queue_wait:g}s",
                upstream=self.name,
            ) from None
        return time.perf_counter() - start

    def _pick(self, avoid: Instance | None) -> tuple[Instance, Permit | None]:
        """The instance for this attempt and its breaker permit; ``BreakerOpen`` if none."""
        single = self._single
        if single is not None:
            if single.breaker is None:
                return single, None
            return single, single.breaker.try_acquire()
        refused: BreakerOpen | None = None
        for instance in self._balancer.order(self.instances, avoid):
            breaker = instance.breaker
            if breaker is None:
                return instance, None
            try:
                return instance, breaker.try_acquire()
            except BreakerOpen as exc:
                if refused is None or exc.retry_after < refused.retry_after:
                    refused = exc
        assert refused is not None
        raise BreakerOpen(
            f"upstream {self.name!r}: every instance's circuit breaker is open",
            retry_after=refused.retry_after,
            upstream=self.name,
        )

    def _headers(self, ctx: Context | None, extra: Mapping[str, str] | None) -> dict[str, str]:
        sent = dict(self.headers) if self.headers else {}
        if ctx is not None and self.propagate_headers:
            sent.update(_incoming(ctx, self.propagate_headers))
            values = ctx.state.__dict__
            if values:
                if self._send_request_id and "x-request-id" not in sent:
                    rid = values.get("request_id")
                    if rid:
                        sent["x-request-id"] = str(rid)
                # observability.tracing() leaves this request's span here: upstream spans
                # then hang under it rather than under the caller's span.
                if self._send_traceparent:
                    traceparent = values.get("traceparent")
                    if traceparent:
                        sent["traceparent"] = traceparent
                        tracestate = values.get("tracestate")
                        if tracestate and self._send_tracestate:
                            sent["tracestate"] = tracestate
        if extra:
            for key, value in extra.items():
                sent[key.lower()] = value
        return sent

    # -- lifecycle -------------------------------------------------------------------------------

    def breakers(self) -> list[CircuitBreaker]:
        """The per-instance breakers (empty when breakers are off)."""
        return [i.breaker for i in self.instances if i.breaker is not None]

    async def aclose(self) -> None:
        """Close every instance's pool (a shared transport is closed once)."""
        if self._closed:
            return
        self._closed = True
        seen: set[int] = set()
        for instance in self.instances:
            if id(instance.transport) not in seen:
                seen.add(id(instance.transport))
                await instance.transport.aclose()
            if instance.breaker is not None:
                await instance.breaker.close()


_INCOMING: Final = "_scallion_bff_incoming"


def _incoming(ctx: Context, names: tuple[str, ...]) -> dict[str, str]:
    """The request's values of the headers ``names``, read once per request.

    A fan-out makes several calls with the same propagated headers; the request's headers
    never change, so the values are kept on the context (a plain dict of strings: no
    cycle) and each later call copies them: ``_headers`` 7.6k -> 3.4k instructions a call.
    """
    attrs = ctx.__dict__
    memo: dict[tuple[str, ...], dict[str, str]] | None = attrs.get(_INCOMING)
    if memo is None:
        memo = attrs[_INCOMING] = {}
    found = memo.get(names)
    if found is None:
        incoming = ctx.request.headers
        found = memo[names] = {}
        for name in names:
            value = incoming.get(name)
            if value is not None:
                found[name] = value
    return found


def _make_breaker(config: BreakerConfig | None, name: str) -> CircuitBreaker | None:
    if config is None:
        return None
    if callable(config):
        return config(name)
    return CircuitBreaker(name, **config)


class Upstreams:
    """The app's upstreams by name: ``app.state.upstreams``, closed on app shutdown.

    upstreams = Upstreams(Upstream("users", [...]), Upstream("orders", [...]))
    upstreams.install(app)
    users = ctx.app.state.upstreams.get("users")
    """

    def __init__(self, *upstreams: Upstream) -> None:
        self._by_name: dict[str, Upstream] = {}
        for upstream in upstreams:
            self.add(upstream)

    def add(self, upstream: Upstream) -> Upstream:
        if upstream.name in self._by_name:
            raise ValueError(f"upstream {upstream.name!r} is already registered")
        self._by_name[upstream.name] = upstream
        return upstream

    def get(self, name: str) -> Upstream:
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(sorted(self._by_name)) or "none"
            raise KeyError(f"no upstream named {name!r} (known: {known})") from None

    __getitem__ = get

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[Upstream]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def install(self, app: App) -> Upstreams:
        """Attach as ``app.state.upstreams`` and close every pool on app shutdown."""
        setattr(app.state, "upstreams", self)  # noqa: B010  (State is a free namespace)
        app.on("shutdown", self.aclose)
        return self

    async def aclose(self) -> None:
        """Close every upstream; one failing close does not stop the others."""
        errors = await asyncio.gather(
            *(u.aclose() for u in self._by_name.values()), return_exceptions=True
        )
        for error in errors:
            if isinstance(error, BaseException):
                raise error
