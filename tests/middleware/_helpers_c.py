"""Shared bits for the batch-C middleware tests: the real Redis, a free port, a fake clock."""

from __future__ import annotations

import os
import socket
import uuid

REDIS_URL = os.environ.get("SCALLION_TEST_REDIS", "redis://127.0.0.1:6379/15")


def unique_prefix(kind: str) -> str:
    """A Redis key prefix no other test (or test run) uses."""
    return f"scallion-test:{kind}:{uuid.uuid4().hex}:"


def dead_redis_url() -> str:
    """A Redis URL on a loopback port nobody listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    return f"redis://127.0.0.1:{port}/0"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class FakeClock:
    """A monotonic clock that moves only when told to (for MemoryStore(clock=...))."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
