"""Real loopback upstreams for the gateway tests: the mock services plus a raw fault server.

``services`` starts users / orders / catalog (scallion apps on uvicorn) and a raw
``LoopbackServer`` whose paths misbehave on purpose (``_loopback``), all on 127.0.0.1,
and stops them at teardown. ``open_gateway(tmp_path, yaml, services)`` writes the YAML,
compiles it with the services' URLs in the environment and yields a test client.
"""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from scallion.bff.gateway import build_gateway
from scallion.bff.gateway.compile import Gateway
from scallion.bff.mocks import Control, RunningServer, control_of, mock_services, serve_app
from scallion.testing import AsyncTestClient

from ._loopback import LoopbackServer, free_port


@dataclass
class Services:
    urls: dict[str, str]
    controls: dict[str, Control]
    raw: LoopbackServer
    evil: LoopbackServer
    servers: list[RunningServer] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        env = {f"{name.upper()}_URL": url for name, url in self.urls.items()}
        env["RAW_URL"] = self.raw.url
        env["DEAD_URL"] = f"http://127.0.0.1:{free_port()}"
        return env


@pytest.fixture(name="services")
async def services_fixture() -> AsyncIterator[Services]:
    apps = mock_services()
    servers = list(await asyncio.gather(*(serve_app(app) for app in apps.values())))
    raw = await LoopbackServer("raw").start()
    evil = await LoopbackServer("evil").start()
    found = Services(
        urls={name: s.url for name, s in zip(apps, servers, strict=True)},
        controls={name: control_of(app) for name, app in apps.items()},
        raw=raw,
        evil=evil,
        servers=servers,
    )
    try:
        yield found
    finally:
        await asyncio.gather(*(server.stop() for server in servers), raw.close(), evil.close())


UPSTREAMS = """\
upstreams:
  users: {url: "${USERS_URL}", timeout: 1, retry: false}
  orders: {url: "${ORDERS_URL}", timeout: 1, retry: false}
  catalog: {url: "${CATALOG_URL}", timeout: 1, retry: false}
  raw: {url: "${RAW_URL}", timeout: 0.3, retry: false, breaker: false}
  dead: {url: "${DEAD_URL}", timeout: 0.3, retry: false, breaker: false}
"""


@asynccontextmanager
async def open_gateway(
    tmp_path: Path, text: str, services: Services, *, head: str = UPSTREAMS
) -> AsyncIterator[tuple[AsyncTestClient, Gateway]]:
    path = tmp_path / "gateway.yaml"
    path.write_text(head + textwrap.dedent(text))
    gateway = build_gateway(path, env=services.env)
    async with AsyncTestClient(gateway.app) as client:
        yield client, gateway
