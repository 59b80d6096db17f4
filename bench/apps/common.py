"""What every app in the suite agrees on: paths, payloads, the static file.

The apps import their constants from here so that a change of payload or path reaches all
peers at once; the Node peers receive the few values they need on their command line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HELLO = "Hello, World!"
HELLO_BYTES = HELLO.encode()
MESSAGE: dict[str, str] = {"message": HELLO}

#: Layers in the ``mw10`` scenario; each adds one to a depth counter on the way in and
#: takes it off on the way out, and the handler reports the depth it saw in ``X-Depth``.
MW_LAYERS = 10
DEPTH_HEADER = "x-depth"

#: Routes in the ``router100`` scenario: ``/route0/:id`` ... ``/route99/:id``; the request
#: hits the last one registered, and the handler answers the ``id`` parameter as text.
ROUTE_COUNT = 100
ROUTE_PATH = f"/route{ROUTE_COUNT - 1}/42"
ROUTE_BODY = "42"

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_NAME = "file10k.txt"
STATIC_PATH = STATIC_DIR / STATIC_NAME
STATIC_URL = f"/static/{STATIC_NAME}"
STATIC_SIZE = 10 * 1024


def _payload() -> dict[str, Any]:
    """A realistic order-like document whose compact JSON is just under 1 KiB."""
    items = [
        {
            "sku": f"SKU-{i:04d}",
            "qty": i % 7 + 1,
            "price": round(3.5 * i + 0.99, 2),
            "tags": ["a", "b"],
        }
        for i in range(16)
    ]
    return {"id": 12345, "customer": {"name": "Ada Lovelace", "tier": "gold"}, "items": items}


POST_PAYLOAD: dict[str, Any] = _payload()
POST_BODY: bytes = json.dumps(POST_PAYLOAD, separators=(",", ":")).encode()


def static_bytes() -> bytes:
    """The deterministic 10 KiB body of the static file (printable ASCII lines)."""
    line = b"scallion static benchmark file: 0123456789 abcdefghijklmnopqrstuvwxyz\n"
    out = (line * (STATIC_SIZE // len(line) + 1))[: STATIC_SIZE - 1] + b"\n"
    return out


def ensure_static_file() -> Path:
    """Write the static file if it is missing or differs; returns its path."""
    want = static_bytes()
    try:
        if STATIC_PATH.read_bytes() == want:
            return STATIC_PATH
    except FileNotFoundError:
        pass
    STATIC_DIR.mkdir(parents=True, exist_ok=True)
    STATIC_PATH.write_bytes(want)
    return STATIC_PATH
