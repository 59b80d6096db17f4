"""L1: the LRU with per-entry expiry, bounded by entries and by bytes."""

# ruff: noqa: F811  (pytest fixtures imported from _cache_support)

from __future__ import annotations

from typing import Any

import pytest

from scallion.bff.lru import LRU

from ._cache_support import FakeClock, clock  # noqa: F401


def test_get_returns_value_until_it_expires(clock: FakeClock) -> None:
    lru: LRU[str] = LRU(clock=clock)
    assert lru.set("a", "x", size=1, expires_at=clock() + 10)
    assert lru.get("a") == "x"
    clock.advance(9.9)
    assert lru.get("a") == "x"
    clock.advance(0.1)
    assert lru.get("a") is None
    assert len(lru) == 0 and lru.bytes == 0


def test_entry_bound_evicts_least_recently_used(clock: FakeClock) -> None:
    lru: LRU[int] = LRU(max_entries=3, clock=clock)
    for i, key in enumerate("abc"):
        lru.set(key, i, size=1, expires_at=clock() + 60)
    assert lru.get("a") == 0  # a is now the most recent; b is the coldest
    lru.set("d", 3, size=1, expires_at=clock() + 60)
    assert "b" not in lru
    assert [k for k in lru] == ["c", "a", "d"]
    assert lru.evictions == 1


def test_byte_bound_holds_and_evicts_cold_entries(clock: FakeClock) -> None:
    lru: LRU[bytes] = LRU(max_entries=1000, max_bytes=1000, clock=clock)
    for i in range(20):
        lru.set(f"k{i}", b"x" * 100, size=100, expires_at=clock() + 60)
        assert lru.bytes <= 1000
    assert len(lru) == 10
    assert "k19" in lru and "k9" not in lru


def test_value_too_big_for_budget_is_refused_and_drops_old_value(clock: FakeClock) -> None:
    lru: LRU[str] = LRU(max_bytes=1000, clock=clock)
    lru.set("k", "small", size=10, expires_at=clock() + 60)
    assert lru.set("k", "huge", size=251, expires_at=clock() + 60) is False
    assert lru.get("k") is None
    assert lru.bytes == 0


def test_overwrite_replaces_size_and_recency(clock: FakeClock) -> None:
    lru: LRU[str] = LRU(max_entries=2, clock=clock)
    lru.set("a", "1", size=5, expires_at=clock() + 60)
    lru.set("b", "2", size=5, expires_at=clock() + 60)
    lru.set("a", "3", size=7, expires_at=clock() + 60)
    assert lru.bytes == 12
    lru.set("c", "4", size=1, expires_at=clock() + 60)
    assert "b" not in lru and lru.get("a") == "3"


def test_already_expired_value_is_not_stored(clock: FakeClock) -> None:
    lru: LRU[str] = LRU(clock=clock)
    assert lru.set("a", "x", size=1, expires_at=clock()) is False
    assert "a" not in lru


def test_delete_clear_and_prune(clock: FakeClock) -> None:
    lru: LRU[str] = LRU(clock=clock)
    lru.set("a", "x", size=3, expires_at=clock() + 1)
    lru.set("b", "y", size=4, expires_at=clock() + 10)
    assert lru.delete("a") and not lru.delete("a")
    assert lru.bytes == 4
    lru.set("c", "z", size=2, expires_at=clock() + 1)
    clock.advance(5)
    assert lru.prune() == 1
    assert list(lru) == ["b"]
    lru.clear()
    assert len(lru) == 0 and lru.bytes == 0


@pytest.mark.parametrize("bad", [{"max_entries": 0}, {"max_bytes": 0}])
def test_bounds_must_be_positive(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        LRU(**bad)
