"""The app the browser test serves with uvicorn: one open breaker, one closed, a cache."""

from __future__ import annotations

import os

from scallion import App
from scallion.bff.breaker import CircuitBreaker
from scallion.bff.cache import Cache
from scallion.bff.upstream import Upstream, Upstreams
from scallion.context import Context
from scallion.observability import status_page


def trip(breaker: CircuitBreaker | None) -> None:
    assert breaker is not None
    for _ in range(2):
        breaker.record(breaker.try_acquire(), True)


options = {"failure_rate": 0.5, "minimum_calls": 2, "wait_duration": 300}
users = Upstream("users", ["http://127.0.0.1:9", "http://127.0.0.1:10"], breaker=options)
orders = Upstream("orders", "http://127.0.0.1:11", breaker=options)
trip(users.instances[0].breaker)
users.instances[1].calls = 17
cache = Cache()
cache.stats.hits, cache.stats.misses, cache.stats.coalesced = 90, 10, 4
payments = CircuitBreaker("payments", minimum_calls=2)
trip(payments)

app = App()
app.use(
    status_page(
        upstreams=Upstreams(users, orders),
        caches={"pages": cache},
        breakers=[payments],
        token=os.environ.get("DASH_TOKEN") or None,
    )
)


async def hello(ctx: Context) -> None:
    ctx.body = "hello"


app.use(hello)
