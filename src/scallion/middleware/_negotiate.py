"""``Accept-Encoding`` negotiation shared by ``compress`` and ``serve_static``."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

__all__ = ["preferred_encoding"]

_ALIASES = {"x-gzip": "gzip"}


@lru_cache(maxsize=512)
def _parse(header: str) -> dict[str, float]:
    weights: dict[str, float] = {}
    for item in header.split(","):
        token, _, params = item.partition(";")
        token = token.strip().lower()
        if not token:
            continue
        q = 1.0
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = min(max(float(value.strip()), 0.0), 1.0)
                except ValueError:
                    q = 0.0
        token = _ALIASES.get(token, token)
        weights[token] = max(q, weights.get(token, 0.0)) if token in weights else q
    return weights


def preferred_encoding(header: str, available: Sequence[str]) -> str | None:
    """The best of ``available`` (server preference order) for an ``Accept-Encoding``.

    ``None`` means send the body as it is (identity): no header, nothing acceptable, or
    only ``identity`` asked for. A token's own q-value wins over ``*``; ``q=0`` refuses
    it. Ties go to the server's order, so ``gzip, br`` still gets ``br`` first when the
    server prefers it.
    """
    if not header:
        return None
    weights = _parse(header[:1024])
    star = weights.get("*")
    best: str | None = None
    best_q = 0.0
    for encoding in available:
        q = weights.get(encoding, star if star is not None else 0.0)
        if q > best_q:
            best, best_q = encoding, q
    if best is not None and weights.get("identity", 0.0) > best_q:
        return None  # the client said it prefers the body as it is
    return best
