"""Seed 001 §8.15 (性能监控): collect path, method, status or error and duration per request,
and send them (here: to an in-memory list standing in for the monitoring system).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from scallion import App, Context
from scallion.types import Next

sent_metrics: list[dict[str, Any]] = []


async def send_metrics(metrics: dict[str, Any]) -> None:
    await asyncio.sleep(0)  # a network call in real life
    sent_metrics.append(metrics)


async def collect_metrics(ctx: Context, next: Next) -> None:
    metrics: dict[str, Any] = {
        "path": ctx.path,
        "method": ctx.method,
        "start_time": time.perf_counter(),
    }

    try:
        await next()
        metrics["status"] = ctx.status
    except Exception as err:
        metrics["error"] = str(err)
        raise
    finally:
        metrics["duration"] = time.perf_counter() - metrics["start_time"]
        await send_metrics(metrics)  # send to the monitoring system


async def routes(ctx: Context, next: Next) -> None:
    if ctx.path == "/fail":
        raise RuntimeError("handler failed")
    ctx.body = "ok"


app = App().use(collect_metrics, routes)
app.on("error", lambda err, ctx: None)
