"""The CPU cost of scallion's ``Upstream`` layer alone, with the network taken out.

``.venv/bin/python -m bench.clients.layer``

An in-memory transport answers every call at once, so what is left is the layer:
headers, deadline, bulkhead, balancer, breaker, retry bookkeeping and the response object.
Each configuration makes 20,000 sequential calls on uvloop; medians of 5 rounds.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping

from scallion.bff.retry import RetryBudget, RetryPolicy
from scallion.bff.transport import TransportResponse
from scallion.bff.upstream import Upstream

CALLS = 20_000
ANSWER = TransportResponse(200, {"content-type": "application/json"}, b'{"id":1}', 0.0001)


class Instant:
    """Answers at once; ends its calls "by its own timeout" like the real transports."""

    enforces_timeout = True

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
        timeout: float | None,
    ) -> TransportResponse:
        return ANSWER

    async def aclose(self) -> None:
        return None


class InstantNoTimeout(Instant):
    enforces_timeout = False  # the Upstream arms an asyncio.timeout per call


def configs() -> dict[str, Upstream]:
    url = "http://127.0.0.1:1"
    three = [url, "http://127.0.0.1:2", "http://127.0.0.1:3"]
    full = {
        "breaker": {},
        "retry": RetryPolicy(3, budget=RetryBudget()),
        "max_concurrent": 1000,
    }
    return {
        "plain": Upstream("u", url, transport=Instant()),
        "plain, asyncio.timeout per call": Upstream("u", url, transport=InstantNoTimeout()),
        "breaker": Upstream("u", url, transport=Instant(), breaker={}),
        "retry + budget": Upstream(
            "u", url, transport=Instant(), retry=RetryPolicy(3, budget=RetryBudget())
        ),
        "breaker + retry + bulkhead": Upstream("u", url, transport=Instant(), **full),  # type: ignore[arg-type]
        "... + deadline propagated": Upstream(
            "u",
            url,
            transport=Instant(),
            budget=2.0,
            **full,  # type: ignore[arg-type]
        ),
        "3 instances, round robin + breakers": Upstream(
            "u", three, transport=Instant(), breaker={}
        ),
    }


async def measure(upstream: Upstream) -> float:
    get = upstream.get
    start = time.process_time()
    for _ in range(CALLS):
        await get("/users/1")
    return (time.process_time() - start) / CALLS * 1e6


async def main() -> None:
    ups = configs()
    results: dict[str, list[float]] = {name: [] for name in ups}
    for upstream in ups.values():
        await measure(upstream)  # warm up
    for _ in range(5):
        for name, upstream in ups.items():
            results[name].append(await measure(upstream))
    print("| configuration | CPU µs per call |\n|---|---|")
    for name, values in results.items():
        print(f"| {name} | {statistics.median(values):.1f} |")
    for upstream in ups.values():
        await upstream.aclose()


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
