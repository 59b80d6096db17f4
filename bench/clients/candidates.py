"""The HTTP clients under test, each behind the same three-method shape.

Every adapter does what an upstream call in scallion does: send a GET with a couple of
headers, read the whole body as bytes, and hand back the status. Pools are sized so the
pool never limits the concurrency of the scenario (``POOL`` connections per host,
``TOTAL`` in all: the fan-outs keep 3 x 128 calls in flight across three hosts).
"""

from __future__ import annotations

import importlib.metadata
from datetime import timedelta
from typing import Any, Protocol

POOL = 256
TOTAL = 1024
HEADERS = {"x-request-id": "bench-0001", "accept": "application/json"}


class Candidate(Protocol):
    name: str

    async def get(self, url: str) -> int: ...

    async def aclose(self) -> None: ...


def version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


class Aiohttp:
    name = "aiohttp"
    dist = "aiohttp"

    def __init__(self) -> None:
        import aiohttp

        connector = aiohttp.TCPConnector(
            limit=TOTAL, limit_per_host=POOL, keepalive_timeout=30, ttl_dns_cache=None
        )
        self.session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=10),
            auto_decompress=False,
            skip_auto_headers=("User-Agent",),
        )

    async def get(self, url: str) -> int:
        async with self.session.get(url, headers=HEADERS) as resp:
            await resp.read()
            return resp.status

    async def aclose(self) -> None:
        await self.session.close()


class Httpx:
    name = "httpx"
    dist = "httpx"

    def __init__(self) -> None:
        import httpx

        self.client = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=TOTAL, max_keepalive_connections=TOTAL),
            timeout=10.0,
        )

    async def get(self, url: str) -> int:
        resp = await self.client.get(url, headers=HEADERS)
        return resp.status_code

    async def aclose(self) -> None:
        await self.client.aclose()


class Pyreqwest:
    name = "pyreqwest"
    dist = "pyreqwest"

    def __init__(self) -> None:
        from pyreqwest.client import ClientBuilder

        self.client = (
            ClientBuilder()
            .max_connections(TOTAL)
            .pool_max_idle_per_host(POOL)
            .timeout(timedelta(seconds=10))
            .default_headers(HEADERS)
            .build()
        )

    async def get(self, url: str) -> int:
        resp = await self.client.get(url).build().send()
        await resp.bytes()
        return resp.status

    async def aclose(self) -> None:
        await self.client.close()


class PyreqwestMT(Pyreqwest):
    """pyreqwest on tokio's multi-threaded runtime instead of its default single thread."""

    name = "pyreqwest-mt"

    def __init__(self) -> None:
        from pyreqwest.client import ClientBuilder

        self.client = (
            ClientBuilder()
            .runtime_multithreaded(True)
            .max_connections(TOTAL)
            .pool_max_idle_per_host(POOL)
            .timeout(timedelta(seconds=10))
            .default_headers(HEADERS)
            .build()
        )


class Rnet:
    name = "rnet"
    dist = "rnet"

    def __init__(self) -> None:
        import rnet

        self.client = rnet.Client(
            default_headers=HEADERS,
            pool_max_idle_per_host=POOL,
            pool_max_size=TOTAL,
            timeout=10,
            allow_redirects=False,
        )

    async def get(self, url: str) -> int:
        resp = await self.client.get(url)
        await resp.bytes()
        return resp.status

    async def aclose(self) -> None:
        return None


class H1:
    """scallion's own HTTP/1.1 transport (``H1Transport``), called directly: the client alone.

    It lives in scallion, so its version is scallion's; httptools parses the answers.
    """

    name = "h1"
    dist = "httptools"

    def __init__(self) -> None:
        from scallion.bff.h1 import H1Transport

        self.transport = H1Transport(max_connections=TOTAL)

    async def get(self, url: str) -> int:
        resp = await self.transport.request("GET", url, HEADERS, None, 10.0)
        return resp.status

    async def aclose(self) -> None:
        await self.transport.aclose()


class Scallion:
    """scallion's own ``Upstream`` over its default transport: the layer's cost per call.

    One ``Upstream`` per host, as an application declares them; ``full`` adds a breaker
    per instance and a retry policy with a budget (the features on, never triggered).
    """

    name = "scallion"
    dist = "httptools"
    full = False

    def __init__(self) -> None:
        self.upstreams: dict[str, Any] = {}

    def _upstream(self, base: str) -> Any:
        from scallion.bff.retry import RetryBudget, RetryPolicy
        from scallion.bff.upstream import Upstream

        options: dict[str, Any] = {"max_connections": POOL, "headers": HEADERS, "timeout": 10.0}
        if self.full:
            options["breaker"] = {"minimum_calls": 20}
            options["retry"] = RetryPolicy(3, budget=RetryBudget())
        upstream = self.upstreams[base] = Upstream(base, base, **options)
        return upstream

    async def get(self, url: str) -> int:
        base, _, path = url.partition("/users")
        upstream = self.upstreams.get(base) or self._upstream(base)
        resp = await upstream.get("/users" + path)
        return int(resp.status)

    async def aclose(self) -> None:
        for upstream in self.upstreams.values():
            await upstream.aclose()


class ScallionFull(Scallion):
    name = "scallion-full"
    full = True


ALL: dict[str, type[Aiohttp | Httpx | Pyreqwest | Rnet | H1 | Scallion]] = {
    "aiohttp": Aiohttp,
    "h1": H1,
    "httpx": Httpx,
    "pyreqwest": Pyreqwest,
    "pyreqwest-mt": PyreqwestMT,
    "rnet": Rnet,
    "scallion": Scallion,
    "scallion-full": ScallionFull,
}
