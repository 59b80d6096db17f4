"""Mock upstream services for the demo and the tests: users, orders and catalog.

Each service is an ordinary scallion ``App`` with made-up but consistent data, served by
uvicorn on loopback (``serve_app``), with faults you can turn on while it runs::

    POST /_control {"fail_rate": 1.0, "latency_ms": 30, "fail_status": 503}
    GET  /_control  -> the current settings and how many calls each path received

``fail_rate`` is the share of calls that answer ``fail_status`` (0 = never, 1 = always);
``latency_ms`` delays every answer. ``/_control`` itself is never delayed or failed.

    users    GET /users/:id                 {"id", "name", "email", "tier", "internal"}
    orders   GET /orders?user=ID            [{"id", "user_id", "total", "items": [sku...]}]
             GET /orders/:id                one order
    catalog  GET /recommendations/:user_id  {"user_id", "items": [{"sku", "title", "price"}]}
             GET /items/:sku                one item
             GET /products                  every item (a JSON array)
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from ..app import App
from ..context import Context
from ..router import Router
from ..types import ASGIApp, Next

__all__ = [
    "Control",
    "RunningServer",
    "catalog_app",
    "control_of",
    "mock_services",
    "orders_app",
    "serve_app",
    "served",
    "users_app",
]

_NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Margaret", "Ken", "Radia")
_TIERS = ("free", "pro", "enterprise")
_ITEMS = [
    {"sku": f"sku-{n}", "title": title, "price": round(4.5 + n * 3.25, 2)}
    for n, title in enumerate(
        ("Onion", "Leek", "Chive", "Shallot", "Garlic", "Ramp", "Scallion", "Welsh onion")
    )
]
_BY_SKU = {item["sku"]: item for item in _ITEMS}


class Control:
    """A service's fault settings and call counts, changed at runtime by ``POST /_control``."""

    __slots__ = ("calls", "fail_rate", "fail_status", "latency_ms", "rng")

    def __init__(self, *, fail_rate: float = 0.0, latency_ms: float = 0.0, seed: int = 0) -> None:
        self.fail_rate = fail_rate
        self.latency_ms = latency_ms
        self.fail_status = 503
        self.calls: Counter[str] = Counter()
        self.rng = random.Random(seed)

    def as_dict(self) -> dict[str, Any]:
        return {
            "fail_rate": self.fail_rate,
            "latency_ms": self.latency_ms,
            "fail_status": self.fail_status,
            "calls": dict(self.calls),
        }

    def update(self, data: Any) -> None:
        if not isinstance(data, dict):
            raise ValueError("send a JSON object")
        if "fail_rate" in data:
            rate = float(data["fail_rate"])
            if not 0.0 <= rate <= 1.0:
                raise ValueError("fail_rate must be between 0 and 1")
            self.fail_rate = rate
        if "latency_ms" in data:
            latency = float(data["latency_ms"])
            if not 0.0 <= latency <= 60_000:
                raise ValueError("latency_ms must be between 0 and 60000")
            self.latency_ms = latency
        if "fail_status" in data:
            status = int(data["fail_status"])
            if not 500 <= status <= 599:
                raise ValueError("fail_status must be a 5xx status")
            self.fail_status = status
        if data.get("reset_calls"):
            self.calls.clear()


def _service(name: str, router: Router, control: Control) -> App:
    app = App()
    vars(app.state)["control"] = control

    async def faults(ctx: Context, next: Next) -> None:
        if ctx.path == "/_control":
            if ctx.method == "POST":
                try:
                    control.update(await ctx.request.json())
                except (ValueError, TypeError) as exc:
                    ctx.throw(400, str(exc))
            ctx.body = {"service": name, **control.as_dict()}
            return
        control.calls[ctx.path] += 1
        if control.latency_ms:
            await asyncio.sleep(control.latency_ms / 1000)
        if control.fail_rate and control.rng.random() < control.fail_rate:
            ctx.status = control.fail_status
            ctx.body = {"error": f"{name} is failing (fail_rate={control.fail_rate})"}
            return
        await next()

    app.use(faults, router.routes(), router.allowed_methods())
    return app


def _user_id(ctx: Context, key: str) -> int:
    raw = ctx.params.get(key) or str(ctx.query.get("user") or "")
    if not raw.isdigit() or not 0 < int(raw) <= 1000:
        ctx.throw(404, f"no user {raw!r}")
    return int(raw)


def control_of(app: App) -> Control:
    """The ``Control`` of a mock service app."""
    control = app.state.get("control")
    if not isinstance(control, Control):
        raise TypeError(f"{app!r} is not a mock service")
    return control


def users_app(control: Control | None = None) -> App:
    """The users service: ``GET /users/:id`` for ids 1..1000, else 404."""
    router = Router()

    @router.get("/users/:id")
    async def user(ctx: Context) -> None:
        uid = _user_id(ctx, "id")
        first = _NAMES[uid % len(_NAMES)]
        ctx.set("cache-control", "max-age=30")
        ctx.body = {
            "id": uid,
            "name": f"{first} #{uid}",
            "email": f"{first.lower()}{uid}@example.com",
            "tier": _TIERS[uid % len(_TIERS)],
            "internal": {"risk_score": uid % 7, "notes": "not for the front end"},
        }

    return _service("users", router, control or Control())


def _orders_of(uid: int) -> list[dict[str, Any]]:
    count = uid % 4 + 1
    orders = []
    for n in range(count):
        skus = [_ITEMS[(uid + n + k) % len(_ITEMS)]["sku"] for k in range(n % 3 + 1)]
        total = round(sum(_BY_SKU[s]["price"] for s in skus), 2)  # type: ignore[misc]
        orders.append({"id": uid * 100 + n, "user_id": uid, "total": total, "items": skus})
    return orders


def orders_app(control: Control | None = None) -> App:
    """The orders service: ``GET /orders?user=ID`` (an array) and ``GET /orders/:id``."""
    router = Router()

    @router.get("/orders")
    async def list_orders(ctx: Context) -> None:
        ctx.body = _orders_of(_user_id(ctx, "user"))

    @router.get("/orders/:id")
    async def one(ctx: Context) -> None:
        raw = ctx.params["id"]
        if not raw.isdigit():
            ctx.throw(404, "no such order")
        uid, n = divmod(int(raw), 100)
        orders = _orders_of(uid) if 0 < uid <= 1000 else []
        if n >= len(orders):
            ctx.throw(404, "no such order")
        ctx.body = orders[n]

    return _service("orders", router, control or Control())


def catalog_app(control: Control | None = None) -> App:
    """The catalog: recommendations per user, items by sku, and the product list."""
    router = Router()

    @router.get("/recommendations/:user_id")
    async def recommendations(ctx: Context) -> None:
        uid = _user_id(ctx, "user_id")
        picks = [_ITEMS[(uid * 3 + k) % len(_ITEMS)] for k in range(3)]
        ctx.body = {"user_id": uid, "items": picks}

    @router.get("/items/:sku")
    async def item(ctx: Context) -> None:
        found = _BY_SKU.get(ctx.params["sku"])
        if found is None:
            ctx.throw(404, "no such item")
        ctx.body = found

    @router.get("/products")
    async def products(ctx: Context) -> None:
        ctx.set("cache-control", "max-age=60")
        ctx.body = _ITEMS

    return _service("catalog", router, control or Control())


def mock_services(seed: int = 0) -> dict[str, App]:
    """Fresh users, orders and catalog apps, each with its own ``Control``."""
    return {
        "users": users_app(Control(seed=seed)),
        "orders": orders_app(Control(seed=seed + 1)),
        "catalog": catalog_app(Control(seed=seed + 2)),
    }


# -- serving on loopback ----------------------------------------------------------------------


@dataclass
class RunningServer:
    """An app served by uvicorn in this process; ``await stop()`` shuts it down."""

    url: str
    port: int
    server: Any
    task: asyncio.Task[None]

    async def stop(self) -> None:
        self.server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            try:
                await asyncio.wait_for(asyncio.shield(self.task), 5.0)
            except TimeoutError:
                self.server.force_exit = True
                self.task.cancel()
                await asyncio.gather(self.task, return_exceptions=True)


async def serve_app(app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Serve ``app`` with uvicorn on ``host:port`` (0: a free port) inside the running loop.

    The server installs no signal handlers: whoever started it stops it (the demo on
    Ctrl-C, a test fixture at teardown).
    """
    import uvicorn

    class _Quiet(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Any:
            yield

    config = uvicorn.Config(
        app, host=host, port=port, lifespan="on", log_level="warning", access_log=False
    )
    server = _Quiet(config)
    task = asyncio.get_running_loop().create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()  # raises why it failed
            raise OSError(f"cannot serve on {host}:{port}")
        await asyncio.sleep(0.005)
    bound = int(server.servers[0].sockets[0].getsockname()[1])
    return RunningServer(f"http://{host}:{bound}", bound, server, task)


@contextlib.asynccontextmanager
async def served(app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """``async with served(app) as url:`` — serve for the block, then stop."""
    running = await serve_app(app, host, port)
    try:
        yield running.url
    finally:
        await running.stop()
