"""What every gateway in the fan-out benchmark agrees on (mirrored in node/common.mjs).

Three upstream services answer fixed JSON bodies after a fixed delay (20 / 30 / 40 ms).
Every gateway answers ``GET /dashboard/42`` by calling all three at once, parsing each
JSON body and answering one merged JSON object::

    {"user": {...}, "orders": [...], "recs": {...}, "missing": []}

(``missing`` is scallion's completeness list; the peers add the same empty list so every
gateway sends the same document.) Upstream base URLs come from the environment.
"""

from __future__ import annotations

import os
from typing import Any, Final

import orjson

USER_ID: Final = 42
FANOUT_PATH: Final = f"/dashboard/{USER_ID}"
CACHED_PATH: Final = f"/cached/dashboard/{USER_ID}"
PLAIN_PATH: Final = "/plaintext"
HELLO: Final = "Hello, World!"

# name -> (environment variable, latency in ms, the path the gateway calls, the body)
USER: Final = {"id": 42, "name": "Ada", "email": "ada@example.com", "tier": "pro"}
ORDERS: Final = [
    {"id": 1001, "user_id": 42, "total": 19.5, "items": ["sku-1", "sku-3"]},
    {"id": 1002, "user_id": 42, "total": 7.25, "items": ["sku-2"]},
]
RECS: Final = {
    "user_id": 42,
    "items": [
        {"sku": "sku-4", "title": "Shallot", "price": 17.5},
        {"sku": "sku-6", "title": "Scallion", "price": 24.0},
    ],
}


class Service:
    __slots__ = ("body", "env", "latency_ms", "name", "part", "path")

    def __init__(self, name: str, part: str, env: str, latency_ms: int, path: str, body: Any):
        self.name = name
        self.part = part  # the key of its value in the merged answer
        self.env = env
        self.latency_ms = latency_ms
        self.path = path
        self.body = orjson.dumps(body)


SERVICES: Final = (
    Service("users", "user", "BFF_USERS_URL", 20, f"/users/{USER_ID}", USER),
    Service("orders", "orders", "BFF_ORDERS_URL", 30, f"/orders?user={USER_ID}", ORDERS),
    Service("catalog", "recs", "BFF_CATALOG_URL", 40, f"/recommendations/{USER_ID}", RECS),
)
SLOWEST_MS: Final = max(s.latency_ms for s in SERVICES)
EXPECTED: Final = {"user": USER, "orders": ORDERS, "recs": RECS, "missing": []}


def upstream_urls() -> dict[str, str]:
    """Each service's base URL from the environment (set by the runner)."""
    missing = [s.env for s in SERVICES if not os.environ.get(s.env)]
    if missing:
        raise RuntimeError(f"set {', '.join(missing)} (the runner does)")
    return {s.name: os.environ[s.env] for s in SERVICES}


def check_dashboard(status: int, content_type: str, body: bytes) -> list[str]:
    """Problems with one fan-out answer (empty when it is right)."""
    found: list[str] = []
    if status != 200:
        found.append(f"status {status}, expected 200")
    if not content_type.startswith("application/json"):
        found.append(f"content-type {content_type!r}, expected application/json")
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return [*found, f"body is not JSON: {body[:200]!r}"]
    if doc != EXPECTED:
        found.append(f"body {body[:300]!r} is not the merged document")
    return found
