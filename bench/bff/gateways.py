"""The gateways under test, how each is served, and which endpoints each one has.

Every gateway is one process. Python ASGI apps run on granian (one worker, uvloop) with
the same flags as the HTTP suite; aiohttp and the Node peers run on their own servers.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bench.bff.common import CACHED_PATH, FANOUT_PATH, PLAIN_PATH

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = ROOT / "bench" / "bff" / "node"
HOST = "127.0.0.1"

Kind = Literal["asgi", "aiohttp", "node"]


@dataclass(frozen=True)
class Scenario:
    name: str
    path: str
    check: Literal["dashboard", "plaintext"]
    what: str


FANOUT = Scenario("fanout", FANOUT_PATH, "dashboard", "3-upstream fan-out (20/30/40 ms)")
CACHED = Scenario("cached", CACHED_PATH, "dashboard", "the fan-out behind the response cache")
PLAIN = Scenario("plaintext", PLAIN_PATH, "plaintext", "hello world (reference for cached)")
SCENARIOS = {s.name: s for s in (FANOUT, CACHED, PLAIN)}


@dataclass(frozen=True)
class Gateway:
    name: str
    kind: Kind
    target: str  # module:attr (asgi), module (aiohttp), script (node)
    scenarios: tuple[Scenario, ...]
    notes: str
    language: str = "python"

    def command(self, port: int) -> list[str]:
        py = sys.executable
        if self.kind == "node":
            return ["node", str(NODE_DIR / self.target), str(port)]
        if self.kind == "aiohttp":
            return [py, "-m", self.target, "--port", str(port)]
        return [
            py, "-m", "granian", "--interface", "asgi", "--workers", "1", "--loop", "uvloop",
            "--host", HOST, "--port", str(port), "--log-level", "warning", self.target,
        ]  # fmt: skip

    @property
    def server(self) -> str:
        return {"asgi": "granian", "aiohttp": "aiohttp", "node": "node"}[self.kind]


GATEWAYS: dict[str, Gateway] = {
    g.name: g
    for g in (
        Gateway(
            "scallion",
            "asgi",
            "bench.bff.scallion_app:app",
            (FANOUT, CACHED, PLAIN),
            "`ctx.bff.gather` over three `Upstream`s (pyreqwest transport, 256-connection "
            "keep-alive pools, no retry/breaker), `got.to_response(ctx)`; `cached` is the same "
            "route behind `response_cache(ttl=60)`; `plaintext` a hello-world route",
        ),
        Gateway(
            "scallion-yaml",
            "asgi",
            "bench.bff.gateway_app:app",
            (FANOUT, CACHED),
            "`bench/bff/gateway.yaml` compiled by `load_gateway`: the same three backends with "
            "the gateway's defaults (retries with a budget, a breaker per instance, "
            "`X-Request-Id`), `cached` with `cache: {ttl: 60}`",
        ),
        Gateway(
            "koa",
            "node",
            "koa.mjs",
            (FANOUT,),
            "Koa 3 + @koa/router; undici `Pool` per upstream (256 connections, keep-alive), "
            "`Promise.all` over three `pool.request()` + `body.json()`",
            "node",
        ),
        Gateway(
            "fastify",
            "node",
            "fastify.mjs",
            (FANOUT,),
            "Fastify 5, an async route returning the merged object; undici as for Koa",
            "node",
        ),
        Gateway(
            "express",
            "node",
            "express.mjs",
            (FANOUT,),
            "Express 5, an async handler and `res.json`; undici as for Koa",
            "node",
        ),
        Gateway(
            "starlette",
            "asgi",
            "bench.bff.starlette_app:app",
            (FANOUT,),
            "Starlette + one aiohttp `ClientSession` (connector: 256 per host, keep-alive), "
            "`asyncio.gather`, orjson in and out",
        ),
        Gateway(
            "aiohttp",
            "aiohttp",
            "bench.bff.aiohttp_app",
            (FANOUT,),
            "aiohttp's server (uvloop) + one aiohttp `ClientSession` as for Starlette",
        ),
    )
}
QUICK_GATEWAYS = tuple(GATEWAYS)
