"""The JWKS key cache behind ``jwt_auth(jwks_url=...)`` (not public API).

Keys are fetched over HTTP and kept for ``ttl`` seconds. A token naming an unknown ``kid``
triggers a refetch (key rotation), but no fetch of any kind starts within ``min_refresh``
seconds of the previous attempt, and concurrent requests share one fetch in flight: a
client sending random ``kid`` values costs at most one fetch per ``min_refresh``. When a
fetch fails the keys already held keep working.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection
from typing import Any

import orjson

__all__ = ["JwksCache", "JwksUnavailable"]

logger = logging.getLogger("scallion.jwt")

MAX_JWKS_BYTES = 512 * 1024


class JwksUnavailable(Exception):
    """No signing keys could be fetched yet (the JWKS endpoint is down or unusable)."""


class JwksCache:
    """Signing keys by ``kid`` from one JWKS URL, refreshed with a TTL and on rotation."""

    def __init__(
        self,
        url: str,
        *,
        algorithms: Collection[str],
        ttl: float,
        min_refresh: float,
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.algorithms = frozenset(algorithms)
        self.ttl = ttl
        self.min_refresh = min_refresh
        self.timeout = timeout
        self._clock = clock
        self.keys: dict[str, tuple[Any, str | None]] = {}
        """``kid`` -> (``jwt.PyJWK``, its declared ``alg`` or None); ``""`` for no ``kid``."""
        self.fetched_at: float | None = None
        self.attempted_at: float | None = None
        self.fetches = 0
        self.failures = 0
        self._inflight: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"<JwksCache {self.url} keys={sorted(self.keys)} fetches={self.fetches}>"

    def _lookup(self, kid: str | None) -> tuple[Any, str | None] | None:
        if kid is not None:
            return self.keys.get(kid)
        if len(self.keys) == 1:  # a token without kid against a one-key set
            return next(iter(self.keys.values()))
        return None

    async def key_for(self, kid: str | None) -> tuple[Any, str | None] | None:
        """``(PyJWK, declared alg)`` for ``kid``, or ``None`` when the set has no such key.

        Raises ``JwksUnavailable`` when no key set was ever fetched successfully.
        """
        now = self._clock()
        key = self._lookup(kid)
        fresh = self.fetched_at is not None and now - self.fetched_at < self.ttl
        if key is not None and fresh:
            return key
        allowed = self.attempted_at is None or now - self.attempted_at >= self.min_refresh
        inflight = self._inflight
        if inflight is not None and (inflight.done() or inflight.get_loop() is not _loop()):
            inflight = self._inflight = None
        if inflight is None and allowed:
            self.attempted_at = now
            inflight = self._inflight = asyncio.ensure_future(self._refresh())
        if key is not None:
            return key  # stale but known: answer now, the refresh runs in the background
        if inflight is not None:
            await asyncio.shield(inflight)
        if self.fetched_at is None:
            raise JwksUnavailable(f"no signing keys could be fetched from {self.url}")
        return self._lookup(kid)

    async def _refresh(self) -> None:
        self.fetches += 1
        try:
            keys = await self._fetch()
        except Exception as exc:
            self.failures += 1
            held = f"keeping {len(self.keys)} cached keys" if self.keys else "no keys held"
            logger.warning("JWKS fetch from %s failed (%s): %s", self.url, held, exc)
            return
        self.keys = keys
        self.fetched_at = self._clock()

    async def _fetch(self) -> dict[str, tuple[Any, str | None]]:
        import httpx
        import jwt

        async with (
            httpx.AsyncClient(timeout=self.timeout, follow_redirects=False) as client,
            client.stream("GET", self.url, headers={"accept": "application/json"}) as response,
        ):
            if response.status_code != 200:
                raise ValueError(f"status {response.status_code}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_JWKS_BYTES:
                    raise ValueError(f"JWKS larger than {MAX_JWKS_BYTES} bytes")
        document = orjson.loads(body)
        entries = document.get("keys") if isinstance(document, dict) else None
        if not isinstance(entries, list):
            raise ValueError("not a JWKS document (no 'keys' list)")
        keys: dict[str, tuple[Any, str | None]] = {}
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            if entry.get("kty") == "oct" or entry.get("use", "sig") != "sig":
                continue  # never a shared secret, never an encryption key
            alg = entry.get("alg")
            if alg is not None and alg not in self.algorithms:
                continue
            try:
                jwk = jwt.PyJWK(entry)
            except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError) as exc:
                logger.warning("skipping an unusable JWKS key %r: %s", entry.get("kid"), exc)
                continue
            kid = entry.get("kid")
            keys[kid if isinstance(kid, str) else ""] = (jwk, alg if isinstance(alg, str) else None)
        if not keys:
            raise ValueError("the JWKS holds no usable signing keys")
        return keys


def _loop() -> asyncio.AbstractEventLoop:
    return asyncio.get_running_loop()
