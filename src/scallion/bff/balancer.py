"""Which instance of an upstream serves the next call.

An ``Instance`` is one base URL with its own transport (pool), circuit breaker and count of
calls in flight. A balancer yields instances in the order to try them; the upstream takes
the first whose breaker lets the call through, so an instance with an open breaker is
skipped and its share goes to the others.

- ``RoundRobin``: each call starts one further along the list.
- ``LeastOutstanding``: fewest calls in flight first; ties rotate like round robin, so
  equal instances still share the load evenly.

On a retry the instance that just failed is tried last, and the rotation does not move
on, so a failing instance is not tried first by every call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol
from urllib.parse import urlsplit

from .breaker import CircuitBreaker
from .transport import Transport

__all__ = ["Balancer", "Instance", "LeastOutstanding", "RoundRobin", "make_balancer"]


class Instance:
    """One base URL of an upstream: its pool, breaker and load."""

    __slots__ = (
        "base",
        "breaker",
        "calls",
        "enforces_timeout",
        "label",
        "outstanding",
        "transport",
        "url",
    )

    def __init__(self, url: str, transport: Transport, breaker: CircuitBreaker | None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"upstream URL must be http(s)://host[:port][/prefix], got {url!r}")
        if parts.query or parts.fragment or "@" in parts.netloc:
            raise ValueError(f"upstream URL must not carry a query, fragment or userinfo: {url!r}")
        self.url = url
        self.base = url.rstrip("/")  # a path is appended: base + "/users/7"
        self.label = parts.netloc
        self.transport = transport
        # Transports that end calls by their own timeout spare us a timer per call.
        self.enforces_timeout = bool(getattr(transport, "enforces_timeout", False))
        self.breaker = breaker
        self.outstanding = 0
        self.calls = 0

    def __repr__(self) -> str:
        return f"Instance({self.url!r}, outstanding={self.outstanding})"


class Balancer(Protocol):
    def order(self, instances: Sequence[Instance], avoid: Instance | None) -> Sequence[Instance]:
        """The instances in the order to try them for one call."""
        ...


class RoundRobin:
    """Rotate the starting instance on every call."""

    __slots__ = ("_next",)

    def __init__(self) -> None:
        self._next = 0

    def order(self, instances: Sequence[Instance], avoid: Instance | None) -> Sequence[Instance]:
        n = len(instances)
        start = self._next % n
        if avoid is None:  # a retry does not move the rotation on
            self._next = start + 1
        ordered = [*instances[start:], *instances[:start]]
        if avoid is not None and n > 1 and ordered[0] is avoid:
            ordered.append(ordered.pop(0))
        return ordered


class LeastOutstanding:
    """Fewest calls in flight first; ties broken by rotation."""

    __slots__ = ("_next",)

    def __init__(self) -> None:
        self._next = 0

    def order(self, instances: Sequence[Instance], avoid: Instance | None) -> Sequence[Instance]:
        n = len(instances)
        start = self._next % n
        if avoid is None:
            self._next = start + 1
        rotated = [*instances[start:], *instances[:start]]
        # sorted() is stable, so equal loads keep the rotated order
        ordered = sorted(rotated, key=_load)
        if avoid is not None and n > 1:
            ordered.remove(avoid)
            ordered.append(avoid)
        return ordered


def _load(instance: Instance) -> int:
    return instance.outstanding


def make_balancer(name: str) -> Balancer:
    """``"round_robin"`` or ``"least_outstanding"``."""
    if name == "round_robin":
        return RoundRobin()
    if name == "least_outstanding":
        return LeastOutstanding()
    raise ValueError(f"unknown balancer {name!r}: use 'round_robin' or 'least_outstanding'")
