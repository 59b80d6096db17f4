"""Aggregation: run named parts at once, all-settled, with fallbacks, steps and one deadline.

::

    got = await gather(
        user=users.get_json("/users/7"),                     # an awaitable
        recs=lambda: catalog.get_json("/recs/7"),            # an async callable
        ads=Part(ads.get_json("/ads"), fallback=[], timeout=0.1),
        steps=[
            Step("orders", needs=["user"], call=lambda user: orders.get_json(
                f"/orders?user={user['id']}")),
            Step("items", over="orders", concurrency=4,      # fan out over an array
                 call=lambda order: catalog.get_json(f"/items/{order['item']}")),
        ],
        deadline=0.5,
    )
    got.values      # {"user": {...}, "recs": None, "ads": [], "orders": [...], "items": [...]}
    got.missing     # ["recs", "ads"]: failed, timed out, or their dependency failed
    got.to_response(ctx)          # body + "missing" + X-Scallion-Completed: false

Every part settles: a value, or a recorded failure that keeps its slot (its fallback, else
``None``; krakend-ce #32). A ``required`` part that fails fails the whole call instead. At
the deadline every part still running is cancelled; whatever happens (deadline, a required
failure, the caller itself being cancelled), ``gather`` returns only after every task it
started has finished, so no task outlives the request.
"""

from __future__ import annotations

import asyncio
import copy
import inspect
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from types import CoroutineType
from typing import TYPE_CHECKING, Any, Final

from .cache_types import CacheResult
from .errors import BffError, DeadlineExceeded, UpstreamBadResponse, UpstreamTimeout
from .timers import deadlines

if TYPE_CHECKING:
    from ..context import Context

__all__ = [
    "COMPLETED_HEADER",
    "DependencyFailed",
    "Gathered",
    "Part",
    "PartLike",
    "Step",
    "gather",
]

COMPLETED_HEADER: Final = "x-scallion-completed"
"""Response header saying whether every part of an aggregate answered (``true``/``false``)."""


class _NoFallback:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NO_FALLBACK"


_NO_FALLBACK: Final[Any] = _NoFallback()


class DependencyFailed(BffError):
    """A step did not run because a part it needs failed (502)."""

    default_message = "a dependency failed"


class Part:
    """One part of an aggregate, with its failure policy.

    Args:
        call: an awaitable, or a callable returning one. A step's callable gets the values
            of ``needs`` as positional arguments (in that order); a fan-out step's gets one
            item of the ``over`` array, then the values of the other ``needs``.
        fallback: the value that takes the part's slot when it fails (a copy for dicts
            and lists). Without it the slot holds ``None``.
        required: the whole ``gather`` fails (raising this part's error, after cancelling
            the rest) when this part fails.
        timeout: seconds for this part alone, from the moment it starts.
        needs: names of parts whose values this one needs; it runs once they all
            succeeded and fails with ``DependencyFailed`` when one of them did not.
        over: ``"name"`` or ``"name.dotted.path"``: fan out, calling ``call`` once per item
            of that array (it must be an array). ``name`` joins ``needs`` by itself.
        concurrency: at most this many fan-out calls in flight at once.
        max_items: a fan-out over a longer array fails instead of flooding the upstream.
        item_fallback: the slot of one failed fan-out item (the others keep theirs).
    """

    __slots__ = (
        "call",
        "concurrency",
        "fallback",
        "item_fallback",
        "max_items",
        "needs",
        "over",
        "required",
        "timeout",
    )

    def __init__(
        self,
        call: Awaitable[Any] | Callable[..., Awaitable[Any]],
        *,
        fallback: Any = _NO_FALLBACK,
        required: bool = False,
        timeout: float | None = None,
        needs: Sequence[str] = (),
        over: str | None = None,
        concurrency: int = 8,
        max_items: int = 1000,
        item_fallback: Any = None,
    ) -> None:
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency!r}")
        if isinstance(needs, str):
            needs = (needs,)
        deps = tuple(dict.fromkeys(needs))
        if over is not None:
            source = over.split(".", 1)[0]
            if source not in deps:
                deps = (source, *deps)
        if (deps or over is not None) and not callable(call):
            if inspect.iscoroutine(call):
                call.close()
            raise TypeError(
                "a part with needs= or over= must be given a callable, not an awaitable"
            )
        self.call = call
        self.fallback = fallback
        self.required = required
        self.timeout = timeout
        self.needs: tuple[str, ...] = deps
        self.over = over
        self.concurrency = concurrency
        self.max_items = max_items
        self.item_fallback = item_fallback

    @property
    def has_fallback(self) -> bool:
        return self.fallback is not _NO_FALLBACK

    def __repr__(self) -> str:
        extra = f", needs={list(self.needs)!r}" if self.needs else ""
        extra += f", over={self.over!r}" if self.over else ""
        return f"{type(self).__name__}({self.call!r}{extra})"


class Step(Part):
    """A named part for ``gather(steps=[...])``, usually one that ``needs`` others.

    ``Step("orders", needs=["user"], call=lambda user: orders.get_json(...))``
    """

    __slots__ = ("name",)

    def __init__(
        self,
        name: str,
        call: Callable[..., Awaitable[Any]] | Awaitable[Any] | None = None,
        *,
        fallback: Any = _NO_FALLBACK,
        required: bool = False,
        timeout: float | None = None,
        needs: Sequence[str] = (),
        over: str | None = None,
        concurrency: int = 8,
        max_items: int = 1000,
        item_fallback: Any = None,
    ) -> None:
        if call is None:
            raise TypeError(f"Step {name!r} needs call=")
        super().__init__(
            call,
            fallback=fallback,
            required=required,
            timeout=timeout,
            needs=needs,
            over=over,
            concurrency=concurrency,
            max_items=max_items,
            item_fallback=item_fallback,
        )
        self.name = name


PartLike = Part | Awaitable[Any] | Callable[[], Awaitable[Any]]
"""What ``gather`` accepts for one part."""


class Gathered:
    """The settled outcome of ``gather``.

    Attributes:
        values: name → value; a failed part keeps its slot with its fallback or ``None``.
            A fan-out part's value is a list with ``item_fallback`` in failed items' places.
        errors: name → the exception (fan-out items as ``"name[3]"``).
        missing: parts without a real value, in declaration order: failed, timed out,
            cut by the deadline, or skipped because a dependency failed; failed fan-out
            items as ``"name[3]"``. Parts that got their fallback are listed too.
        fallbacks: the subset of ``missing`` that was answered by its fallback.
        stale: parts served stale from a cache (present, but possibly out of date).
        reasons: name → why it is missing: ``"error"``, ``"timeout"``, ``"deadline"``,
            ``"dependency failed"``, ``"cancelled"``.
        elapsed: seconds the whole gather took.
    """

    __slots__ = ("elapsed", "errors", "fallbacks", "missing", "reasons", "stale", "values")

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}
        self.errors: dict[str, BaseException] = {}
        self.missing: list[str] = []
        self.fallbacks: list[str] = []
        self.stale: list[str] = []
        self.reasons: dict[str, str] = {}
        self.elapsed = 0.0

    @property
    def complete(self) -> bool:
        """True when every part (and every fan-out item) has a real value."""
        return not self.missing

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    def __contains__(self, name: object) -> bool:
        return name in self.values

    def ok(self, name: str) -> bool:
        """True when ``name`` answered with a real value."""
        return name in self.values and name not in self.reasons

    def to_body(self, body: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """``body`` (default: the values) plus ``"missing"`` and, when any, ``"stale"``."""
        out = dict(self.values if body is None else body)
        for key in ("missing", "stale"):
            if key in out:
                raise ValueError(f"a part named {key!r} collides with the aggregate's {key!r} list")
        out["missing"] = list(self.missing)
        if self.stale:
            out["stale"] = list(self.stale)
        return out

    def to_response(self, ctx: Context, body: Mapping[str, Any] | None = None) -> None:
        """Answer with ``to_body(body)`` and ``X-Scallion-Completed: true|false``.

        An incomplete answer is marked ``Cache-Control: no-store`` so no cache keeps a
        degraded response as if it were whole.
        """
        ctx.body = self.to_body(body)
        headers = ctx.response.headers
        if self.missing:
            headers[COMPLETED_HEADER] = "false"
            headers["cache-control"] = "no-store"
        else:
            headers[COMPLETED_HEADER] = "true"

    def __repr__(self) -> str:
        return f"Gathered(values={sorted(self.values)!r}, missing={self.missing!r})"


class _FanOut:
    """What a fan-out task hands back: item values plus per-item errors and staleness."""

    __slots__ = ("errors", "stale", "values")

    def __init__(self, values: list[Any], errors: dict[int, BaseException], stale: bool) -> None:
        self.values = values
        self.errors = errors
        self.stale = stale


_WAITING, _RUNNING, _DONE = 0, 1, 2
_JSON_CONTAINERS: Final = frozenset({dict, list})


class _Node:
    __slots__ = (
        "call",
        "dependents",
        "error",
        "item_errors",
        "name",
        "part",
        "reason",
        "serial",
        "stale",
        "state",
        "task",
        "timed_out",
        "unmet",
        "value",
    )

    def __init__(self, name: str, part: Part, call: Any) -> None:
        self.name = name
        self.part = part
        self.call = call  # part.call, or the plain awaitable / callable given for a name
        self.state = _WAITING
        self.task: asyncio.Future[Any] | None = None
        self.serial = 0  # bumped when the part settles: its timeout entry goes stale
        self.timed_out = False
        self.unmet = len(part.needs)
        self.dependents: list[_Node] = []
        self.value: Any = None
        self.error: BaseException | None = None
        self.item_errors: dict[int, BaseException] | None = None
        self.reason: str | None = None
        self.stale = False

    def expire(self) -> None:
        task = self.task
        if task is not None and not task.done():
            self.timed_out = True
            task.cancel()


async def _never() -> None:
    return None


# The policy of a part given as a bare awaitable or callable: shared, never called (the
# node holds the call). A Part per bare value cost ~6.4k instructions of validation.
_PLAIN: Final = Part(_never)


def _node(name: str, value: object) -> _Node:
    if isinstance(value, Part):
        return _Node(name, value, value.call)
    if type(value) is CoroutineType or inspect.isawaitable(value) or callable(value):
        return _Node(name, _PLAIN, value)
    raise TypeError(f"a part must be an awaitable, an async callable or a Part, not {value!r}")


def _plan(parts: Mapping[str, Any], steps: Iterable[Step]) -> dict[str, _Node]:
    nodes: dict[str, _Node] = {}
    for name, value in parts.items():
        nodes[name] = _node(name, value)
    for step in steps:
        if not isinstance(step, Step):
            raise TypeError(f"steps= takes Step objects, not {step!r}")
        if step.name in nodes:
            raise ValueError(f"part {step.name!r} is defined twice")
        nodes[step.name] = _Node(step.name, step, step.call)
    linked = False
    for node in nodes.values():
        for dep in node.part.needs:
            source = nodes.get(dep)
            if source is None:
                raise ValueError(f"part {node.name!r} needs unknown part {dep!r}")
            source.dependents.append(node)
            linked = True
    if linked:
        _check_acyclic(nodes)
    return nodes


def _check_acyclic(nodes: Mapping[str, _Node]) -> None:
    # Kahn's algorithm: whatever cannot be ordered sits on a cycle.
    unmet = {name: node.unmet for name, node in nodes.items()}
    ready = [name for name, n in unmet.items() if n == 0]
    seen = 0
    while ready:
        node = nodes[ready.pop()]
        seen += 1
        for dependent in node.dependents:
            unmet[dependent.name] -= 1
            if unmet[dependent.name] == 0:
                ready.append(dependent.name)
    if seen != len(nodes):
        cycle = sorted(name for name, n in unmet.items() if n > 0)
        raise ValueError(f"parts {cycle!r} depend on each other in a cycle")


def _close_unstarted(node: _Node) -> None:
    # A coroutine handed in but never run would warn "was never awaited".
    call = node.call
    if inspect.iscoroutine(call):
        call.close()


def _resolve(path: str, values: Mapping[str, Any]) -> Any:
    name, _, rest = path.partition(".")
    value = values[name]
    if rest:
        for key in rest.split("."):
            if not isinstance(value, Mapping) or key not in value:
                return None
            value = value[key]
    return value


def _unwrap(value: Any) -> tuple[Any, bool]:
    """A cache result's value and whether it was stale; anything else as it is."""
    if type(value) in _JSON_CONTAINERS:  # getattr(..., "stale") on a dict raises inside
        return value, False
    if isinstance(value, CacheResult):
        return value.value, value.status == "stale"
    return value, getattr(value, "stale", False) is True


async def _drain(tasks: Iterable[asyncio.Future[Any]]) -> None:
    """Wait for every task to finish, even if this waiter is cancelled meanwhile."""
    pending = {t for t in tasks if not t.done()}
    cancelled = False
    while pending:
        try:
            await asyncio.wait(pending)
        except asyncio.CancelledError:
            cancelled = True
        pending = {t for t in pending if not t.done()}
    if cancelled:
        raise asyncio.CancelledError


async def _fan_out(part: Part, items: Sequence[Any], rest: tuple[Any, ...]) -> _FanOut:
    count = len(items)
    values: list[Any] = [part.item_fallback] * count
    errors: dict[int, BaseException] = {}
    stale = False
    call: Callable[..., Awaitable[Any]] = part.call  # type: ignore[assignment]
    order = iter(range(count))

    async def worker() -> None:
        nonlocal stale
        for index in order:  # one shared iterator: each item is taken exactly once
            try:
                value, was_stale = _unwrap(await call(items[index], *rest))
            except Exception as exc:
                errors[index] = exc
            else:
                values[index] = value
                stale = stale or was_stale

    if count:
        loop = asyncio.get_running_loop()
        workers = [loop.create_task(worker()) for _ in range(min(part.concurrency, count))]
        try:
            await asyncio.wait(workers)
        finally:
            for task in workers:
                task.cancel()
            await _drain(workers)
    return _FanOut(values, errors, stale)


class _Run:
    """One gather: the nodes, the tasks running, and the wake-up for the scheduler."""

    __slots__ = ("done", "expired", "loop", "nodes", "running", "serial", "waiter")

    def __init__(self, nodes: dict[str, _Node], loop: asyncio.AbstractEventLoop) -> None:
        self.nodes = nodes
        self.loop = loop
        self.running: dict[asyncio.Future[Any], _Node] = {}
        self.done: list[_Node] = []
        self.waiter: asyncio.Future[None] | None = None
        self.expired = False
        self.serial = 0  # bumped when the gather ends: its deadline entry goes stale

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def on_done(self, task: asyncio.Future[Any]) -> None:
        node = self.running.pop(task, None)
        if node is not None:
            self.done.append(node)
            self._wake()

    def expire(self) -> None:
        """The whole gather's deadline passed."""
        self.expired = True
        self._wake()

    def start(self, node: _Node) -> None:
        part = node.part
        call = node.call
        loop = self.loop
        if part.over is not None:
            values = {name: self.nodes[name].value for name in part.needs}
            items = _resolve(part.over, values)
            if not isinstance(items, list):
                kind = "object" if isinstance(items, Mapping) else type(items).__name__
                if items is None:
                    kind = "nothing"
                self.fail(
                    node,
                    UpstreamBadResponse(
                        f"part {node.name!r} fans out over {part.over!r}, which is not an "
                        f"array (got {kind})"
                    ),
                )
                return
            if len(items) > part.max_items:
                self.fail(
                    node,
                    UpstreamBadResponse(
                        f"part {node.name!r} would fan out over {len(items)} items of "
                        f"{part.over!r} (max_items is {part.max_items})"
                    ),
                )
                return
            source = part.over.split(".", 1)[0]
            rest = tuple(values[name] for name in part.needs if name != source)
            task = loop.create_task(_fan_out(part, items, rest))
        else:
            try:
                if type(call) is CoroutineType:  # the usual part: straight to a task
                    task = loop.create_task(call)
                else:
                    if part.needs:
                        deps = [self.nodes[name].value for name in part.needs]
                        aw = call(*deps)
                    elif callable(call):
                        aw = call()
                    else:
                        aw = call
                    task = asyncio.ensure_future(aw, loop=loop)
            except Exception as exc:  # the callable raised, or returned a non-awaitable
                self.fail(node, exc)
                return
        node.task = task
        node.state = _RUNNING
        self.running[task] = node
        if part.timeout is not None:
            deadlines().add(loop, loop.time() + part.timeout, node)
        task.add_done_callback(self.on_done)

    def fail(self, node: _Node, error: BaseException, reason: str = "error") -> None:
        node.state = _DONE
        node.error = error
        node.reason = reason
        self.done.append(node)

    def settle(self, node: _Node) -> None:
        """Record a finished task's outcome on its node."""
        node.state = _DONE
        node.serial += 1
        task = node.task
        assert task is not None
        if task.cancelled():
            if node.timed_out:
                node.error = UpstreamTimeout(
                    f"part {node.name!r} timed out after {node.part.timeout:g}s"
                )
                node.reason = "timeout"
            elif self.expired:
                node.error = DeadlineExceeded(f"part {node.name!r} was cut by the deadline")
                node.reason = "deadline"
            else:
                node.error = asyncio.CancelledError(f"part {node.name!r} was cancelled")
                node.reason = "cancelled"
            return
        error = task.exception()
        if error is not None:
            if not isinstance(error, Exception):
                raise error  # KeyboardInterrupt, SystemExit: not a part's failure
            node.error = error
            node.reason = "error"
            return
        result = task.result()
        if isinstance(result, _FanOut):
            node.value = result.values
            node.item_errors = result.errors
            node.stale = result.stale
        else:
            node.value, node.stale = _unwrap(result)

    def cancel_all(self) -> list[asyncio.Future[Any]]:
        tasks = list(self.running)
        for task in tasks:
            task.cancel()
        return tasks


async def gather(
    parts: Mapping[str, PartLike] | None = None,
    /,
    *,
    deadline: float | None = None,
    deadline_at: float | None = None,
    steps: Iterable[Step] = (),
    **named: PartLike,
) -> Gathered:
    """Run every part concurrently and settle them all; see the module docstring.

    Args:
        parts: name → part, for names that are not Python identifiers (or clash with the
            keyword arguments); merged with ``named``.
        deadline: seconds for the whole aggregate; parts still running then are cancelled
            and reported missing (reason ``"deadline"``).
        deadline_at: the same as an absolute ``time.monotonic()`` value; the earlier of
            the two applies (``ctx.bff`` passes the incoming request's deadline here).
        steps: ``Step`` objects, named parts that usually depend on others.

    Raises the error of a ``required`` part that failed (the others are cancelled first),
    and ``ValueError`` / ``TypeError`` for a malformed plan (unknown or cyclic ``needs``).
    """
    started = time.monotonic()
    merged = {**parts, **named} if parts else named
    try:
        nodes = _plan(merged, steps)
    except BaseException:
        for value in merged.values():
            call = value.call if isinstance(value, Part) else value
            if inspect.iscoroutine(call):
                call.close()
        raise
    if deadline is not None:
        end = started + deadline
        deadline_at = end if deadline_at is None else min(deadline_at, end)

    loop = asyncio.get_running_loop()
    run = _Run(nodes, loop)
    if deadline_at is not None:
        deadlines().add(loop, deadline_at, run)
    failed_required: _Node | None = None
    try:
        if deadline_at is not None and deadline_at <= started:
            run.expired = True
        else:
            for node in nodes.values():
                if node.unmet == 0:
                    run.start(node)
        while True:
            if run.done:
                failed_required = _advance(run)
                if failed_required is not None:
                    break
                continue
            if not run.running or run.expired:
                break
            waiter = run.waiter = loop.create_future()
            try:
                await waiter
            finally:
                run.waiter = None
    finally:
        run.serial += 1
        if run.running:
            await _drain(run.cancel_all())
        for node in nodes.values():
            state = node.state
            if state == _RUNNING:
                run.settle(node)
            else:
                node.serial += 1
            if state == _WAITING:
                _close_unstarted(node)

    if failed_required is not None:
        error = failed_required.error
        assert error is not None
        raise error
    got = _collect(nodes, run.expired)
    got.elapsed = time.monotonic() - started
    return got


def _advance(run: _Run) -> _Node | None:
    """Settle the finished nodes and start what they unblock; a failed required node stops."""
    batch, run.done = run.done, []
    for node in batch:
        if node.state != _DONE:
            run.settle(node)
        if node.error is not None:
            if node.part.required:
                return node
            for dependent in node.dependents:
                _skip(run, dependent, node)
            continue
        for dependent in node.dependents:
            if dependent.state == _WAITING:
                dependent.unmet -= 1
                if dependent.unmet == 0 and not run.expired:
                    run.start(dependent)
    return None


def _skip(run: _Run, node: _Node, failed: _Node) -> None:
    """Mark ``node`` as not run because ``failed`` failed; its own dependents follow."""
    if node.state != _WAITING:
        return
    error = DependencyFailed(f"part {node.name!r} did not run: part {failed.name!r} failed")
    error.__cause__ = failed.error
    run.fail(node, error, "dependency failed")


def _collect(nodes: Mapping[str, _Node], expired: bool) -> Gathered:
    got = Gathered()
    values = got.values
    for name, node in nodes.items():
        if node.state == _WAITING:  # never started: the deadline came first
            node.error = DeadlineExceeded(f"part {name!r} did not start before the deadline")
            node.reason = "deadline" if expired else "cancelled"
        if node.error is not None:
            got.errors[name] = node.error
            got.missing.append(name)
            got.reasons[name] = node.reason or "error"
            part = node.part
            if part.has_fallback:
                fallback = part.fallback
                if isinstance(fallback, dict | list):
                    fallback = copy.deepcopy(fallback)
                values[name] = fallback
                got.fallbacks.append(name)
            else:
                values[name] = None
            continue
        if node.item_errors:
            for index, error in sorted(node.item_errors.items()):
                item = f"{name}[{index}]"
                got.errors[item] = error
                got.missing.append(item)
                got.reasons[item] = "error"
        values[name] = node.value
        if node.stale:
            got.stale.append(name)
    return got
