"""gather(): all-settled parts, fallbacks, deadlines that cancel, steps, fan-out, reporting."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from scallion import App
from scallion.bff.cache import Cache
from scallion.bff.cache_types import CacheResult
from scallion.bff.errors import DeadlineExceeded, UpstreamStatusError, UpstreamTimeout
from scallion.bff.gather import DependencyFailed, Gathered, Part, Step, gather
from scallion.testing import AsyncTestClient


async def value(v: Any, delay: float = 0.0) -> Any:
    if delay:
        await asyncio.sleep(delay)
    return v


async def boom(status: int = 503, delay: float = 0.0) -> Any:
    if delay:
        await asyncio.sleep(delay)
    raise UpstreamStatusError(status, b"", upstream="svc")


def other_tasks() -> set[asyncio.Task[Any]]:
    me = asyncio.current_task()
    return {t for t in asyncio.all_tasks() if t is not me}


# -- all-settled ------------------------------------------------------------------------------


async def test_parts_run_concurrently_and_all_settle() -> None:
    started = time.monotonic()
    got = await gather(
        user=value({"id": 1}, 0.05),
        orders=lambda: value([1, 2], 0.05),
        recs=Part(value(["a"], 0.05)),
    )
    assert time.monotonic() - started < 0.09  # concurrent, not 0.15
    assert got.values == {"user": {"id": 1}, "orders": [1, 2], "recs": ["a"]}
    assert got.complete and got.missing == [] and got.errors == {}


async def test_a_failed_part_keeps_its_slot_as_none() -> None:
    got = await gather(user=value({"id": 1}), orders=boom(), recs=value([]))
    assert list(got.values) == ["user", "orders", "recs"]
    assert got.values["orders"] is None
    assert got.missing == ["orders"]
    assert got.reasons == {"orders": "error"}
    assert isinstance(got.errors["orders"], UpstreamStatusError)
    assert not got.complete and not got.ok("orders") and got.ok("user")


async def test_fallback_takes_the_slot_and_is_reported() -> None:
    fallback = {"items": []}
    got = await gather(recs=Part(boom(), fallback=fallback), user=value(1))
    assert got.values["recs"] == {"items": []}
    assert got.values["recs"] is not fallback  # a copy: callers may mutate it
    assert got.missing == ["recs"] and got.fallbacks == ["recs"]


async def test_missing_is_in_declaration_order_not_arrival_order() -> None:
    got = await gather(a=boom(delay=0.03), b=boom(delay=0.01), c=boom())
    assert got.missing == ["a", "b", "c"]


async def test_callable_that_raises_or_returns_non_awaitable_is_a_failed_part() -> None:
    def raises() -> Any:
        raise RuntimeError("bad")

    got = await gather(a=raises, b=lambda: 42, c=value(1))
    assert got.missing == ["a", "b"]
    assert isinstance(got.errors["a"], RuntimeError)
    assert isinstance(got.errors["b"], TypeError)
    assert got.values["c"] == 1


async def test_required_part_failure_raises_and_cancels_the_rest() -> None:
    cancelled = asyncio.Event()

    async def slow() -> None:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    before = other_tasks()
    with pytest.raises(UpstreamStatusError):
        await gather(user=Part(boom(delay=0.01), required=True), slow=slow())
    assert cancelled.is_set()
    assert other_tasks() <= before


async def test_non_identifier_names_and_names_clashing_with_keywords() -> None:
    got = await gather({"deadline": value(1), "x-y": value(2)}, z=value(3))
    assert got.values == {"deadline": 1, "x-y": 2, "z": 3}


async def test_bad_plans_are_rejected_without_leaking_coroutines() -> None:
    with pytest.raises(ValueError, match="unknown part 'nope'"):
        await gather(a=value(1), steps=[Step("b", needs=["nope"], call=value)])
    with pytest.raises(ValueError, match="cycle"):
        await gather(steps=[Step("a", needs=["b"], call=value), Step("b", needs=["a"], call=value)])
    with pytest.raises(TypeError):
        await gather(a=123)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="callable"):
        Part(value(1), needs=["a"])


# -- deadlines and cancellation --------------------------------------------------------------------


async def test_deadline_cancels_slow_parts_and_no_task_outlives_gather() -> None:
    finished: list[str] = []

    async def slow(name: str, delay: float) -> str:
        await asyncio.sleep(delay)
        finished.append(name)
        return name

    before = other_tasks()
    started = time.monotonic()
    got = await gather(fast=slow("fast", 0.01), slow=slow("slow", 2.0), deadline=0.1)
    elapsed = time.monotonic() - started
    assert 0.09 <= elapsed < 0.3
    assert got.values == {"fast": "fast", "slow": None}
    assert got.missing == ["slow"] and got.reasons["slow"] == "deadline"
    assert isinstance(got.errors["slow"], DeadlineExceeded)
    assert other_tasks() <= before
    await asyncio.sleep(0.05)
    assert finished == ["fast"]


async def test_deadline_marks_steps_that_never_started() -> None:
    got = await gather(
        user=value({"id": 1}, 1.0),
        steps=[Step("orders", needs=["user"], call=lambda u: value([u["id"]]))],
        deadline=0.05,
    )
    assert got.missing == ["user", "orders"]
    assert got.reasons == {"user": "deadline", "orders": "deadline"}


async def test_deadline_at_in_the_past_runs_nothing() -> None:
    got = await gather(a=value(1), deadline_at=time.monotonic() - 1)
    assert got.missing == ["a"] and got.reasons["a"] == "deadline"


async def test_earlier_of_deadline_and_deadline_at_wins() -> None:
    started = time.monotonic()
    got = await gather(a=value(1, 1.0), deadline=5, deadline_at=time.monotonic() + 0.05)
    assert time.monotonic() - started < 0.5 and got.missing == ["a"]


async def test_per_part_timeout() -> None:
    got = await gather(
        slow=Part(value(1, 1.0), timeout=0.03, fallback=0), fast=Part(value(2), timeout=1)
    )
    assert got.values == {"slow": 0, "fast": 2}
    assert got.reasons == {"slow": "timeout"}
    assert isinstance(got.errors["slow"], UpstreamTimeout)


async def test_cancelling_gather_cancels_every_part() -> None:
    cancelled: list[str] = []

    async def slow(name: str) -> None:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled.append(name)
            raise

    async def items(order: Any) -> None:
        await slow(f"item{order}")

    before = other_tasks()
    outer = asyncio.ensure_future(
        gather(
            a=slow("a"),
            b=lambda: slow("b"),
            src=value([1, 2]),
            steps=[Step("fan", over="src", call=items)],
        )
    )
    await asyncio.sleep(0.05)
    outer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await outer
    assert sorted(cancelled) == ["a", "b", "item1", "item2"]
    assert other_tasks() <= before


async def test_part_that_swallows_the_first_cancel_is_still_awaited() -> None:
    async def stubborn() -> str:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            await asyncio.sleep(0.02)  # cleanup takes a moment
            raise
        return "never"

    before = other_tasks()
    got = await gather(a=stubborn(), deadline=0.02)
    assert got.missing == ["a"]
    assert other_tasks() <= before


# -- steps -------------------------------------------------------------------------------------


async def test_dependent_step_gets_its_dependencies_values() -> None:
    seen: list[Any] = []

    async def orders(user: dict[str, int], region: str) -> list[int]:
        seen.append((user, region))
        return [user["id"] * 10]

    got = await gather(
        user=value({"id": 7}, 0.01),
        region=value("eu"),
        steps=[Step("orders", needs=["user", "region"], call=orders)],
    )
    assert got.values["orders"] == [70]
    assert seen == [({"id": 7}, "eu")]


async def test_step_runs_as_soon_as_its_dependency_is_done() -> None:
    order: list[str] = []

    async def track(name: str, delay: float) -> str:
        await asyncio.sleep(delay)
        order.append(name)
        return name

    await gather(
        user=track("user", 0.01),
        slow=track("slow", 0.1),
        steps=[Step("orders", needs=["user"], call=lambda u: track("orders", 0.01))],
    )
    assert order == ["user", "orders", "slow"]


async def test_failed_dependency_marks_the_chain_missing() -> None:
    got = await gather(
        user=boom(),
        steps=[
            Step("orders", needs=["user"], call=lambda u: value([1])),
            Step("items", needs=["orders"], call=lambda o: value([2]), fallback=[]),
        ],
    )
    assert got.values == {"user": None, "orders": None, "items": []}
    assert got.missing == ["user", "orders", "items"]
    assert got.reasons == {
        "user": "error",
        "orders": "dependency failed",
        "items": "dependency failed",
    }
    assert isinstance(got.errors["orders"], DependencyFailed)
    assert isinstance(got.errors["orders"].__cause__, UpstreamStatusError)


async def test_required_step_whose_dependency_failed_raises() -> None:
    with pytest.raises(DependencyFailed):
        await gather(
            user=boom(), steps=[Step("orders", needs=["user"], call=value, required=True)]
        )


# -- fan-out ----------------------------------------------------------------------------------


async def test_fan_out_over_an_array_with_bounded_concurrency() -> None:
    in_flight = peak = 0

    async def detail(order: dict[str, int]) -> dict[str, int]:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return {"id": order["id"], "price": order["id"] * 2}

    orders = [{"id": i} for i in range(10)]
    got = await gather(
        orders=value(orders),
        steps=[Step("details", over="orders", call=detail, concurrency=3)],
    )
    assert got.values["details"] == [{"id": i, "price": i * 2} for i in range(10)]
    assert peak == 3
    assert got.complete


async def test_fan_out_over_a_nested_path_with_other_needs() -> None:
    got = await gather(
        user=value({"orders": {"ids": [1, 2]}}),
        currency=value("EUR"),
        steps=[
            Step(
                "prices",
                over="user.orders.ids",
                needs=["currency"],
                call=lambda oid, cur: value(f"{oid}{cur}"),
            )
        ],
    )
    assert got.values["prices"] == ["1EUR", "2EUR"]


async def test_fan_out_failed_items_keep_their_slots() -> None:
    async def detail(i: int) -> int:
        if i % 2:
            raise UpstreamStatusError(500, upstream="catalog")
        return i

    got = await gather(
        ids=value([0, 1, 2, 3]),
        steps=[Step("details", over="ids", call=detail, item_fallback={"id": None})],
    )
    assert got.values["details"] == [0, {"id": None}, 2, {"id": None}]
    assert got.missing == ["details[1]", "details[3]"]
    assert set(got.errors) == {"details[1]", "details[3]"}
    assert not got.complete


async def test_fan_out_over_an_empty_array_and_a_non_array() -> None:
    got = await gather(
        empty=value([]),
        obj=value({"a": 1}),
        steps=[
            Step("e", over="empty", call=value),
            Step("o", over="obj", call=value, fallback=[]),
        ],
    )
    assert got.values["e"] == [] and got.values["o"] == []
    assert got.missing == ["o"]
    assert "not an array (got object)" in str(got.errors["o"])


async def test_fan_out_refuses_more_than_max_items() -> None:
    got = await gather(
        ids=value(list(range(50))), steps=[Step("d", over="ids", call=value, max_items=10)]
    )
    assert got.missing == ["d"] and "max_items is 10" in str(got.errors["d"])


async def test_step_can_depend_on_a_fan_out_step() -> None:
    got = await gather(
        ids=value([1, 2, 3]),
        steps=[
            Step("doubled", over="ids", call=lambda i: value(i * 2)),
            Step("total", needs=["doubled"], call=lambda d: value(sum(d))),
        ],
    )
    assert got.values["total"] == 12


# -- stale and reporting -------------------------------------------------------------------------


async def test_stale_cache_results_are_unwrapped_and_reported() -> None:
    async def from_cache() -> CacheResult[dict[str, int]]:
        return CacheResult({"n": 1}, "stale", age=40.0)

    async def fresh() -> CacheResult[int]:
        return CacheResult(2, "hit")

    got = await gather(a=from_cache, b=fresh)
    assert got.values == {"a": {"n": 1}, "b": 2}
    assert got.stale == ["a"] and got.complete
    assert got.to_body() == {"a": {"n": 1}, "b": 2, "missing": [], "stale": ["a"]}


async def test_stale_through_a_real_cache_after_upstream_failure() -> None:
    clock = [100.0]
    async with Cache(default_ttl=1, stale_ttl=60, clock=lambda: clock[0]) as cache:
        key = cache.key_for("GET", "http://users/1")
        await cache.get_or_fetch(key, lambda: value({"id": 1}))
        clock[0] += 5  # past freshness, inside stale-if-error

        async def failing() -> Any:
            raise UpstreamStatusError(503, upstream="users")

        got = await gather(
            user=lambda: cache.get_or_fetch(key, failing, revalidate="inline")  # type: ignore[call-overload]
        )
    assert got.values["user"] == {"id": 1}
    assert got.stale == ["user"] and got.complete


async def test_to_body_rejects_a_part_named_missing() -> None:
    got = await gather(missing=value(1))
    with pytest.raises(ValueError, match="collides"):
        got.to_body()


async def test_to_response_over_http() -> None:
    app = App()

    async def dashboard(ctx: Any) -> None:
        got = await gather(user=value({"id": 1}), recs=boom(), deadline=1)
        got.to_response(ctx)

    async def whole(ctx: Any) -> None:
        got = await gather(user=value({"id": 1}))
        got.to_response(ctx, {"profile": got["user"]})

    async def route(ctx: Any, next: Any) -> None:
        await (dashboard(ctx) if ctx.path == "/d" else whole(ctx))

    app.use(route)
    async with AsyncTestClient(app) as client:
        r = await client.get("/d")
        assert r.status_code == 200
        assert r.headers["x-scallion-completed"] == "false"
        assert r.headers["cache-control"] == "no-store"
        assert r.json() == {"user": {"id": 1}, "recs": None, "missing": ["recs"]}
        r = await client.get("/w")
        assert r.headers["x-scallion-completed"] == "true"
        assert "cache-control" not in r.headers
        assert r.json() == {"profile": {"id": 1}, "missing": []}


async def test_gathered_repr_and_elapsed() -> None:
    got = await gather(a=value(1, 0.02))
    assert isinstance(got, Gathered) and got.elapsed >= 0.02
    assert "Gathered" in repr(got)
