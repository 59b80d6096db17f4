"""``Deadlines``: many deadlines on one event-loop timer, on a real loop."""

from __future__ import annotations

import asyncio
import threading

from scallion.bff.timers import Deadlines, deadlines


class Work:
    def __init__(self, name: str, fired: list[str]) -> None:
        self.name = name
        self.fired = fired
        self.serial = 0

    def expire(self) -> None:
        self.fired.append(self.name)


async def test_deadlines_fire_in_order_and_finished_work_is_skipped() -> None:
    loop = asyncio.get_running_loop()
    d = Deadlines()
    fired: list[str] = []
    now = loop.time()
    late, early, done = Work("late", fired), Work("early", fired), Work("done", fired)
    d.add(loop, now + 0.12, late)
    d.add(loop, now + 0.04, early)  # earlier than the armed one: the timer moves up
    d.add(loop, now + 0.02, done)
    done.serial += 1  # finished before its deadline
    await asyncio.sleep(0.08)
    assert fired == ["early"]
    await asyncio.sleep(0.08)
    assert fired == ["early", "late"]
    assert len(d) == 0


async def test_work_restarted_under_the_same_owner_is_not_cut_by_the_old_deadline() -> None:
    loop = asyncio.get_running_loop()
    d = Deadlines()
    fired: list[str] = []
    conn = Work("conn", fired)
    d.add(loop, loop.time() + 0.03, conn)
    conn.serial += 1  # that call ended; the next one on the same owner:
    d.add(loop, loop.time() + 0.2, conn)
    await asyncio.sleep(0.08)
    assert fired == []
    await asyncio.sleep(0.2)
    assert fired == ["conn"]


async def test_stale_entries_are_compacted_behind_a_far_deadline() -> None:
    loop = asyncio.get_running_loop()
    d = Deadlines()
    fired: list[str] = []
    d.add(loop, loop.time() + 60, Work("far", fired))
    for i in range(10_000):
        w = Work(str(i), fired)
        d.add(loop, loop.time() + 30, w)
        w.serial += 1
    assert len(d) <= 1025
    assert fired == []


def test_each_thread_has_its_own_and_a_new_loop_starts_clean() -> None:
    seen: dict[int, list[Deadlines]] = {}

    def run() -> None:
        async def main() -> list[str]:
            fired: list[str] = []
            loop = asyncio.get_running_loop()
            deadlines().add(loop, loop.time() + 0.02, Work("x", fired))
            await asyncio.sleep(0.06)
            seen.setdefault(threading.get_ident(), []).append(deadlines())
            return fired

        assert asyncio.run(main()) == ["x"]
        assert asyncio.run(main()) == ["x"]  # a second loop in the same thread

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (a1, a2), (b1, b2) = seen.values()
    assert a1 is a2 and b1 is b2 and a1 is not b1
