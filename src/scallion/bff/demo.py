"""``scallion demo``: three mock services and a gateway over them, all on loopback.

    $ scallion demo            # or: python -m scallion.bff.demo
    gateway  http://127.0.0.1:8000  (users :41001, orders :41002, catalog :41003)
    ...

It starts users, orders and catalog (``scallion.bff.mocks``, with 20/30/40 ms of latency)
on free ports, compiles ``examples/gateway.yaml`` (the same file is embedded here, so the
demo runs from an installed package too) with their URLs in ``USERS_URL`` & co, serves it,
takes a short guided tour over real HTTP (aggregation, the cache, coalescing, a breaker
opening) and prints the URLs to try. Ctrl-C stops everything.

Extra routes on the demo gateway change the services while it runs:

    POST /_demo/fail/<service>     every call to it fails (503)
    POST /_demo/heal/<service>     back to normal
    POST /_demo/slow/<service>?ms=300
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..app import App
from ..context import Context
from .gateway import build_gateway
from .gateway.compile import Gateway
from .mocks import Control, RunningServer, control_of, mock_services, serve_app

__all__ = ["DEMO_GATEWAY", "Demo", "main", "running_demo", "tour"]

LATENCY_MS = {"users": 20.0, "orders": 30.0, "catalog": 40.0}

DEMO_GATEWAY = """\
# The demo gateway: `scallion demo` serves it over three mock services.
# Serve it yourself with the services' URLs in the environment:
#   USERS_URL=http://127.0.0.1:9001 ORDERS_URL=... CATALOG_URL=... \
#     scallion serve examples/gateway.yaml
title: scallion demo gateway
version: "1.0"
redis: ${REDIS_URL:-}            # empty: everything in-process; set it to share state
timeout: 2.0                     # default deadline of every endpoint, in seconds
status: true                     # GET /_scallion/status: breakers, cache, in-flight calls

upstreams:
  users:
    url: ${USERS_URL:-http://127.0.0.1:9001}
    timeout: 0.5
    retry: {attempts: 2, backoff: 0.02, max_backoff: 0.2}
    breaker: {failure_rate: 0.5, minimum_calls: 4, window: 10, wait: 5, half_open_calls: 2}
  orders:
    url: ${ORDERS_URL:-http://127.0.0.1:9002}
    timeout: 0.5
    retry: false
    breaker: {failure_rate: 0.5, minimum_calls: 4, window: 10, wait: 5, half_open_calls: 2}
    max_concurrent: 100
  catalog:
    url: ${CATALOG_URL:-http://127.0.0.1:9003}
    timeout: 0.5
    breaker: {failure_rate: 0.5, minimum_calls: 4, window: 10, wait: 5, half_open_calls: 2}

endpoints:
  # One page, three services: the user, their orders and recommendations.
  # Orders and recommendations degrade to a fallback; an unknown user is a 404.
  - path: /api/dashboard/:user_id
    name: dashboard
    summary: The user's dashboard
    timeout: 1.0
    backends:
      - upstream: users
        path: /users/{user_id}
        group: user
        deny: [internal]
        required: true
        pass_status: [404]
      - upstream: orders
        path: /orders?user={user_id}
        group: orders
        expect: array
        allow: [id, total, items]
        fallback: []
      - upstream: catalog
        name: recommendations
        path: /recommendations/{user_id}
        group: recommendations
        allow: [items]
        fallback: {items: []}

  # Sequential steps: the orders, then the first one, then each of its items (fan-out).
  - path: /api/users/:user_id/first-order
    name: first_order
    summary: A user's first order with its items (steps and fan-out)
    backends:
      - upstream: orders
        name: orders
        path: /orders?user={user_id}
        group: orders
        expect: array
      - upstream: orders
        name: order
        depends_on: orders
        path: /orders/{orders.0.id}
        group: order
      - upstream: catalog
        name: items
        over: order.items
        path: /items/{item}
        group: items
        concurrency: 4

  # A cached endpoint: X-Cache shows MISS then HIT; 50 clients at once make one call.
  - path: /api/products
    name: products
    summary: Every product (cached 30 s)
    cache: {ttl: 30, swr: 30}
    backends:
      - upstream: catalog
        path: /products
        collection: products
"""


@dataclass
class Demo:
    """A running demo: the gateway's URL, the mock services and their controls."""

    url: str
    gateway: Gateway
    services: dict[str, RunningServer]
    controls: dict[str, Control]
    server: RunningServer


def _demo_routes(gateway: Gateway, controls: dict[str, Control]) -> None:
    router = gateway.router

    def control(ctx: Context) -> Control:
        found = controls.get(ctx.params["service"])
        if found is None:
            ctx.throw(404, f"no service {ctx.params['service']!r} (try {', '.join(controls)})")
        return found

    @router.post("/_demo/fail/:service")
    async def fail(ctx: Context) -> None:
        control(ctx).fail_rate = 1.0
        ctx.body = {"service": ctx.params["service"], "fail_rate": 1.0}

    @router.post("/_demo/heal/:service")
    async def heal(ctx: Context) -> None:
        found = control(ctx)
        found.fail_rate = 0.0
        found.latency_ms = LATENCY_MS.get(ctx.params["service"], 0.0)
        ctx.body = {"service": ctx.params["service"], "fail_rate": 0.0}

    @router.post("/_demo/slow/:service")
    async def slow(ctx: Context) -> None:
        raw = str(ctx.query.get("ms", "300"))
        if not raw.isdigit() or int(raw) > 60_000:
            ctx.throw(400, "ms must be a whole number of milliseconds up to 60000")
        control(ctx).latency_ms = float(raw)
        ctx.body = {"service": ctx.params["service"], "latency_ms": int(raw)}


@contextlib.asynccontextmanager
async def running_demo(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    latency: bool = True,
    gateway_file: str | os.PathLike[str] | None = None,
) -> AsyncIterator[Demo]:
    """Start the services and the gateway; stop all of them when the block ends."""
    apps: dict[str, App] = mock_services()
    controls = {name: control_of(app) for name, app in apps.items()}
    if latency:
        for name, ms in LATENCY_MS.items():
            controls[name].latency_ms = ms
    started: list[RunningServer] = []
    try:
        for app in apps.values():
            started.append(await serve_app(app, host))
        services = dict(zip(apps, started, strict=True))
        env = dict(os.environ)
        env.update({f"{name.upper()}_URL": s.url for name, s in services.items()})
        with tempfile.TemporaryDirectory(prefix="scallion-demo-") as tmp:
            path = Path(gateway_file) if gateway_file else Path(tmp) / "gateway.yaml"
            if gateway_file is None:
                path.write_text(DEMO_GATEWAY, encoding="utf-8")
            gateway = build_gateway(path, env=env)
        _demo_routes(gateway, controls)
        server = await serve_app(gateway.app, host, port)
        started.append(server)
        yield Demo(server.url, gateway, services, controls, server)
    finally:
        # The gateway first (its lifespan closes the upstream pools), then the services,
        # all three at once: each stop may take up to its 5 s grace, and Ctrl-C should not
        # wait for them one after another.
        if len(started) > len(apps):  # the gateway was started: it goes first
            await started.pop().stop()
        await asyncio.gather(*(running.stop() for running in started))


async def tour(demo: Demo, out: Callable[[str], Any] = print) -> None:
    """Show aggregation, the cache, coalescing and a breaker opening, over real HTTP."""
    import httpx

    orders = demo.controls["orders"]
    catalog = demo.controls["catalog"]
    async with httpx.AsyncClient(base_url=demo.url, timeout=10) as client:
        await client.get("/api/dashboard/1")  # warm the connection pools
        start = time.perf_counter()
        r = await client.get("/api/dashboard/7")
        took = (time.perf_counter() - start) * 1000
        out(
            f"1. aggregation  GET /api/dashboard/7 -> {r.status_code} in {took:.0f} ms "
            f"(users 20 + orders 30 + catalog 40 ms run at once), "
            f"X-Scallion-Completed: {r.headers.get('x-scallion-completed')}"
        )
        first = await client.get("/api/products")
        second = await client.get("/api/products")
        out(
            f"2. cache        GET /api/products twice -> X-Cache: {first.headers.get('x-cache')}, "
            f"then {second.headers.get('x-cache')}"
        )
        before = catalog.calls["/products"]
        answers = await asyncio.gather(*(client.get("/api/products?tour=herd") for _ in range(50)))
        calls = catalog.calls["/products"] - before
        ok = sum(a.status_code == 200 for a in answers)
        out(f"3. coalescing   50 concurrent cold requests -> {ok} answers, {calls} catalog call")
        orders.fail_rate = 1.0
        missing: list[str] = []
        for _ in range(6):
            r = await client.get("/api/dashboard/7")
            missing = r.json().get("missing", [])
        status = (await client.get("/_scallion/status")).json()
        breaker = status["upstreams"]["orders"]["instances"][0].get("breaker", {})
        out(
            f"4. breaker      orders told to fail -> dashboard still 200, missing {missing}; "
            f"orders breaker is {breaker.get('state', '?').upper()} "
            f"(probes again in {breaker.get('retry_after', 0):.0f} s)"
        )
        orders.fail_rate = 0.0


def _banner(demo: Demo, out: Callable[[str], Any]) -> None:
    base = demo.url
    ports = ", ".join(f"{name} :{s.port}" for name, s in demo.services.items())
    out(f"\nscallion demo: gateway {base}  (mock services: {ports})\n")
    out("Try:")
    out(f"  curl -i {base}/api/dashboard/7                 # user + orders + recommendations")
    out(f"  curl -i {base}/api/dashboard/5000              # unknown user: the 404 passes through")
    out(f"  curl -i {base}/api/users/7/first-order         # steps and fan-out")
    out(f"  curl -i {base}/api/products                    # cached: watch X-Cache")
    out(f"  curl    {base}/openapi.json")
    out(f"  curl    {base}/_scallion/status                # breakers, cache, in-flight calls")
    out(f"  open    {base}/_scallion                       # the live dashboard, in a browser")
    out(f"  curl -X POST {base}/_demo/fail/orders          # then reload the dashboard:")
    out(
        "                                                    # orders go missing, the breaker opens"
    )
    out(f"  curl -X POST {base}/_demo/heal/orders")
    out(f"  curl -X POST '{base}/_demo/slow/catalog?ms=1500'  # the endpoint's deadline cuts it")
    out("\nCtrl-C stops everything.")


async def _serve(host: str, port: int, show_tour: bool, gateway_file: str | None) -> None:
    # The tour fails upstreams on purpose: keep their warnings out of the walkthrough.
    logging.getLogger("scallion.gateway").setLevel(logging.ERROR)
    async with running_demo(host, port, gateway_file=gateway_file) as demo:
        if show_tour:
            print("\nA short tour over real HTTP:")
            await tour(demo)
        _banner(demo, print)
        await asyncio.Event().wait()  # until Ctrl-C cancels us


def main(
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    tour: bool = True,
    gateway_file: str | None = None,
) -> int:
    """Run the demo until Ctrl-C; 0 on a clean stop."""
    try:
        asyncio.run(_serve(host, port, tour, gateway_file))
    except KeyboardInterrupt:
        print("\nstopped", file=sys.stderr)
    except OSError as exc:
        print(f"scallion demo: cannot listen on {host}:{port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
