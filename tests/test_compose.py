"""compose(): the onion's rules (DESIGN §2, koa-compose's test suite as a spec)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from scallion import compose
from scallion.compose import DIRECT_MAX

# Each rule holds for both runners: plain nested awaits, and the trampoline for long chains.
PAD = DIRECT_MAX + 1


async def passthrough(ctx: Any, next: Any) -> None:
    await next()


def runners(chain: list[Any]) -> list[list[Any]]:
    """The chain as is (direct runner) and behind enough pass-throughs to be trampolined."""
    return [chain, [passthrough] * PAD + chain]


both = pytest.mark.parametrize("deep", [False, True], ids=["direct", "trampolined"])


def chain_of(chain: list[Any], deep: bool) -> list[Any]:
    return runners(chain)[deep]


@pytest.mark.parametrize("bad", [None, "mw", {"a": 1}, {passthrough}, (x for x in [])])
def test_compose_refuses_anything_but_a_list_or_tuple(bad: Any) -> None:
    with pytest.raises(TypeError, match="list or tuple"):
        compose(bad)


@pytest.mark.parametrize("bad", [None, 1, "mw", object()])
def test_compose_refuses_a_non_callable_element(bad: Any) -> None:
    with pytest.raises(TypeError, match="callable"):
        compose([passthrough, bad])


def test_compose_accepts_a_tuple_and_ignores_later_changes_to_the_list() -> None:
    calls: list[str] = []

    async def a(ctx: Any, next: Any) -> None:
        calls.append("a")
        await next()

    stack = [a]
    composed = compose(stack)
    stack.append(lambda ctx, next: calls.append("late"))
    asyncio.run(composed({}))
    asyncio.run(compose((a, a))({}))
    assert calls == ["a", "a", "a"]


@both
async def test_before_in_order_after_in_reverse(deep: bool) -> None:
    log: list[int] = []

    def layer(n: int) -> Any:
        async def mw(ctx: Any, next: Any) -> None:
            log.append(n)
            await asyncio.sleep(0)
            await next()
            await asyncio.sleep(0)
            log.append(-n)

        return mw

    await compose(chain_of([layer(1), layer(2), layer(3)], deep))({})
    assert log == [1, 2, 3, -3, -2, -1]


@both
async def test_next_called_twice_raises(deep: bool) -> None:
    async def twice(ctx: Any, next: Any) -> None:
        await next()
        await next()

    with pytest.raises(RuntimeError, match=r"next\(\) called multiple times"):
        await compose(chain_of([twice], deep))({})


@both
async def test_next_called_twice_is_catchable_inside_the_middleware(deep: bool) -> None:
    seen: list[str] = []

    async def twice(ctx: Any, next: Any) -> None:
        await next()
        try:
            await next()
        except RuntimeError as err:
            seen.append(str(err))

    await compose(chain_of([twice, passthrough], deep))({})
    assert seen == ["next() called multiple times"]


@both
async def test_outer_next_runs_after_the_last_element(deep: bool) -> None:
    log: list[str] = []

    async def inner(ctx: Any, next: Any) -> None:
        log.append("inner")
        await next()
        log.append("inner after")

    async def outer() -> str:
        log.append("outer next")
        return "from outer"

    await compose(chain_of([inner], deep))({}, outer)
    assert log == ["inner", "outer next", "inner after"]


async def test_outer_next_is_called_without_arguments_and_may_be_sync() -> None:
    calls: list[tuple[Any, ...]] = []

    def outer(*args: Any) -> None:
        calls.append(args)

    await compose([passthrough])({}, outer)
    await compose([])({}, outer)
    assert calls == [(), ()]


async def test_an_empty_chain_just_runs_the_outer_next() -> None:
    assert await compose([])({}) is None
    assert await compose([])({}, lambda: 5) == 5


@both
async def test_returns_what_the_first_middleware_returned(deep: bool) -> None:
    async def first(ctx: Any, next: Any) -> str:
        inner = await next()
        return f"first saw {inner}"

    async def last(ctx: Any, next: Any) -> int:
        return 42

    chain = [first, last] if not deep else [first, *[_returning] * PAD, last]
    assert await compose(chain)({}) == "first saw 42"


async def _returning(ctx: Any, next: Any) -> Any:
    return await next()


@both
async def test_next_returns_what_downstream_returned(deep: bool) -> None:
    got: list[Any] = []

    async def first(ctx: Any, next: Any) -> None:
        got.append(await next())

    async def last(ctx: Any, next: Any) -> dict[str, int]:
        return {"x": 1}

    await compose(chain_of([first, last], deep))({})
    assert got == [{"x": 1}]


@both
async def test_compositions_nest(deep: bool) -> None:
    log: list[str] = []

    def named(name: str) -> Any:
        async def mw(ctx: Any, next: Any) -> None:
            log.append(name)
            await next()
            log.append(name + "'")

        return mw

    inner = compose(chain_of([named("b"), named("c")], deep))
    outer = compose([named("a"), inner, named("d")])
    await outer({})
    assert log == ["a", "b", "c", "d", "d'", "c'", "b'", "a'"]


@both
async def test_concurrent_requests_keep_their_own_state(deep: bool) -> None:
    async def tag(ctx: dict[str, Any], next: Any) -> None:
        ctx["seen"] = [ctx["id"]]
        await asyncio.sleep(0.001 * (ctx["id"] % 5))
        await next()
        ctx["seen"].append(ctx["id"])

    async def handler(ctx: dict[str, Any], next: Any) -> None:
        await asyncio.sleep(0)
        ctx["seen"].append(ctx["id"] * 10)

    composed = compose(chain_of([tag, handler], deep))
    contexts = [{"id": i} for i in range(100)]
    await asyncio.gather(*(composed(c) for c in contexts))
    assert [c["seen"] for c in contexts] == [[i, i * 10, i] for i in range(100)]


async def test_sync_middleware_and_non_awaitable_results() -> None:
    log: list[str] = []

    def sync_mw(ctx: Any, next: Any) -> Any:
        log.append("sync")
        return next()  # returning the awaitable is the sync way to continue

    def plain(ctx: Any, next: Any) -> str:
        log.append("plain")
        return "done"

    assert await compose([sync_mw, plain])({}) == "done"
    assert await compose([plain])({}) == "done"
    assert log == ["sync", "plain", "plain"]


async def test_a_deep_chain_may_end_in_a_sync_middleware() -> None:
    def plain(ctx: Any, next: Any) -> str:
        return "done"

    assert await compose([*[_returning] * PAD, plain])({}) == "done"


@both
async def test_an_error_propagates_outwards_and_an_outer_layer_can_catch_it(deep: bool) -> None:
    log: list[str] = []

    async def catcher(ctx: Any, next: Any) -> str:
        try:
            await next()
        except ValueError as err:
            log.append(f"caught {err}")
            return "recovered"
        return "not reached"

    async def middle(ctx: Any, next: Any) -> None:
        try:
            await next()
        finally:
            log.append("middle finally")

    async def boom(ctx: Any, next: Any) -> None:
        raise ValueError("boom")

    chain = [catcher, middle, boom] if not deep else [catcher, *[middle] * PAD, boom]
    assert await compose(chain)({}) == "recovered"
    assert log[-1] == "caught boom"
    assert log.count("middle finally") == (1 if not deep else PAD)


@both
async def test_a_sync_raise_in_middleware_propagates(deep: bool) -> None:
    def boom(ctx: Any, next: Any) -> None:
        raise KeyError("sync")

    with pytest.raises(KeyError):
        await compose(chain_of([boom], deep))({})


async def test_a_composed_chain_is_middleware_with_a_next() -> None:
    log: list[str] = []

    async def a(ctx: Any, next: Any) -> None:
        log.append("a")
        await next()

    async def after(ctx: Any, next: Any) -> None:
        log.append("after")

    await compose([compose([a, a]), after])({})
    assert log == ["a", "a", "after"]
