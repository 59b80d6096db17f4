"""``GET /_scallion/status``: breaker states, cache counters and upstream load, as JSON.

    router.get("/_scallion/status", status_route(upstreams, cache))

The same snapshot is available as ``status_snapshot(upstreams, cache)`` for logs or a
health check. It reads counters only (no I/O), so polling it is cheap.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..bff.cache import Cache
    from ..bff.upstream import Upstreams
    from ..context import Context

__all__ = ["status_route", "status_snapshot"]


def status_snapshot(upstreams: Upstreams | None, cache: Cache | None) -> dict[str, Any]:
    """Every upstream's instances (calls, in flight, breaker) and the cache's counters."""
    out: dict[str, Any] = {"time": time.time(), "upstreams": {}}
    for upstream in upstreams or ():
        instances = []
        for instance in upstream.instances:
            entry: dict[str, Any] = {
                "url": instance.url,
                "in_flight": instance.outstanding,
                "calls": instance.calls,
            }
            breaker = instance.breaker
            if breaker is not None:
                m = breaker.metrics()
                entry["breaker"] = {
                    "state": m.state.value,
                    "calls": m.calls,
                    "failures": m.failures,
                    "failure_rate": round(m.failure_rate, 4),
                    "slow_call_rate": round(m.slow_call_rate, 4),
                    "retry_after": round(m.retry_after, 3),
                    "rejected": m.rejected,
                }
            instances.append(entry)
        out["upstreams"][upstream.name] = {
            "in_flight": sum(i["in_flight"] for i in instances),
            "instances": instances,
        }
    if cache is not None:
        out["cache"] = {
            **cache.stats.as_dict(),
            "l1_entries": len(cache.l1),
            "l1_bytes": cache.l1.bytes,
        }
    return out


def status_route(
    upstreams: Upstreams | None, cache: Cache | None
) -> Callable[[Context], Awaitable[None]]:
    """A route handler answering ``status_snapshot`` (never cached)."""

    async def status(ctx: Context) -> None:
        ctx.set("cache-control", "no-store")
        ctx.body = status_snapshot(upstreams, cache)

    return status
