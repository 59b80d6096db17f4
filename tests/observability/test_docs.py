"""docs/observability.md: the complete example runs and answers what the page says."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from scallion.testing import TestClient

DOC = Path(__file__).resolve().parents[2] / "docs" / "observability.md"


def test_complete_example_runs(restore_scallion_logger: None) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    namespace: dict[str, Any] = {}
    exec(compile(blocks[0], str(DOC), "exec"), namespace)
    try:
        client = TestClient(namespace["app"])
        # users is not running: the breaker-guarded call fails, the request is still counted
        assert client.get("/users/1").status_code >= 500
        assert client.get("/_scallion/status.json").status_code == 401
        auth = {"Authorization": "Bearer change-me-please"}
        status = client.get("/_scallion/status.json", headers=auth).json()
        assert [i["breaker"]["state"] for i in status["upstreams"]["users"]["instances"]] == [
            "closed",
            "closed",
        ]
        text = client.get("/metrics").text
        assert 'route="/users/:id"' in text and "scallion_breaker_state" in text
        assert 'scallion_cache_hits_total{cache="users"}' in text
    finally:
        namespace["provider"].shutdown()
