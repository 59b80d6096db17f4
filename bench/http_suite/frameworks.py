"""The peers: what each framework is, how it is served, and which scenarios it can run.

A scenario a peer cannot do equivalently is listed with the reason instead of a variant,
and shows as n/a in the tables.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["asgi", "aiohttp", "node"]

ASGI_SERVERS = ("granian", "uvicorn")

_BASE = {
    "plaintext": "base",
    "json": "base",
    "post-json": "base",
    "error": "base",
    "mw10": "mw10",
    "router100": "router100",
    "static": "static",
}
_NOT_EXPRESS = "the Express layer is scallion's own"
_NOT_STACK = "the middleware stack is scallion's own library"


@dataclass(frozen=True)
class NA:
    """A scenario the framework does not run, and why."""

    reason: str


@dataclass(frozen=True)
class Framework:
    name: str
    kind: Kind
    target: str  # python module (asgi/aiohttp) or node script name (node)
    language: str = "python"
    scenarios: dict[str, str | NA] = field(default_factory=dict)
    notes: str = ""

    def variant(self, scenario: str) -> str | NA:
        if scenario == "stack":
            return self.scenarios.get(scenario, NA(_NOT_STACK))
        return self.scenarios.get(
            scenario, NA(_NOT_EXPRESS if scenario.startswith("express") else "not written")
        )

    def servers(self, asgi_servers: tuple[str, ...]) -> tuple[str, ...]:
        """ASGI apps run on each chosen ASGI server; the others on their own server."""
        if self.kind == "asgi":
            return asgi_servers
        return (self.kind,)


def _scallion_static() -> str | NA:
    """scallion's static scenario needs ``scallion.middleware.serve_static``."""
    try:
        from scallion import middleware
    except ImportError:
        return NA("scallion.middleware is not importable")
    if not hasattr(middleware, "serve_static"):
        return NA("scallion.middleware.serve_static is not there yet")
    return "static"


def _py(name: str, module: str, notes: str = "", **extra: str | NA) -> Framework:
    scenarios: dict[str, str | NA] = {**_BASE, **extra}
    return Framework(name, "asgi", f"bench.apps.{module}", scenarios=scenarios, notes=notes)


def _node(name: str, script: str, notes: str = "") -> Framework:
    return Framework(name, "node", script, language="node", scenarios=dict(_BASE), notes=notes)


FRAMEWORKS: dict[str, Framework] = {
    f.name: f
    for f in (
        _py("raw", "raw_asgi", "hand-written ASGI callables: the ceiling"),
        _py(
            "scallion",
            "scallion_app",
            "App + Router; Express layer for express-*",
            **{
                "express-plaintext": "express",
                "express-mw10": "express_mw10",
                "static": _scallion_static(),
                "stack": "stack",
            },
        ),
        _py("starlette", "starlette_app", "mw10 with pure ASGI middleware"),
        Framework(
            "starlette-bhm",
            "asgi",
            "bench.apps.starlette_app",
            scenarios={
                "mw10": "mw10_bhm",
                **{s: NA("same app as starlette") for s in _BASE if s != "mw10"},
            },
            notes="Starlette's mw10 with BaseHTTPMiddleware",
        ),
        _py("fastapi", "fastapi_app", 'mw10 with @app.middleware("http")'),
        _py("litestar", "litestar_app", "mw10 with ASGIMiddleware"),
        _py("blacksheep", "blacksheep_app", "mw10 with its (request, handler) middlewares"),
        _py("falcon", "falcon_app", "mw10 with process_request/process_response"),
        Framework(
            "aiohttp",
            "aiohttp",
            "bench.apps.aiohttp_app",
            scenarios=dict(_BASE),
            notes="own server (not ASGI), uvloop, @web.middleware",
        ),
        _node("node-http", "raw.mjs", "node:http by hand: the Node ceiling"),
        _node("koa", "koa.mjs", "Koa 3 + @koa/router + @koa/bodyparser + koa-static"),
        _node("express", "express.mjs", "Express 5 defaults; mw10 layers have no after half"),
        _node("fastify", "fastify.mjs", "Fastify 5; mw10 as onRequest + onSend hooks"),
    )
}

QUICK_FRAMEWORKS = ("raw", "scallion", "starlette", "koa")
