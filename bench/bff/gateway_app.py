"""The same fan-out declared in ``gateway.yaml``, compiled by ``load_gateway``.

Served like the Python variant (granian, one worker, uvloop):
``granian --interface asgi bench.bff.gateway_app:app``. ``scallion serve gateway.yaml``
builds the same ``App`` through ``app_from_env``.
"""

from __future__ import annotations

from pathlib import Path

from bench.bff.common import upstream_urls
from scallion.bff.gateway import load_gateway

GATEWAY_FILE = Path(__file__).with_name("gateway.yaml")

upstream_urls()  # a clear error when the runner did not set the URLs
app = load_gateway(GATEWAY_FILE)
