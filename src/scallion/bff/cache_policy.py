"""What may be cached, for how long, and under which key.

``parse_cache_control`` reads an upstream ``Cache-Control`` header the way a *shared* cache
must (RFC 9111): ``no-store``, ``private`` and ``no-cache`` mean "do not store" (a BFF is
shared by every client and does not revalidate), ``s-maxage`` wins over ``max-age``,
``stale-while-revalidate=N`` and ``stale-if-error=N`` (RFC 5861) open the stale windows,
``must-revalidate``/``proxy-revalidate`` close them. Malformed directives are ignored.

``cache_key`` turns method + URL + the declared vary headers into a short stable key: the
URL is normalised (scheme and host lowercased, default port and fragment dropped, query
parameters sorted by name with the order of repeated names kept), then hashed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from hashlib import blake2b
from typing import NamedTuple
from urllib.parse import urlsplit

__all__ = ["CacheDirectives", "cache_key", "normalize_url", "parse_cache_control"]

_MAX_DELTA = 2**31  # RFC 9111 §1.2.2: larger delta-seconds count as this


class CacheDirectives(NamedTuple):
    """The parts of a response's ``Cache-Control`` a shared cache acts on."""

    no_store: bool = False
    """``no-store``, ``private`` or ``no-cache``: keep this response out of the cache."""
    max_age: int | None = None
    """Freshness lifetime in seconds (``s-maxage`` if present, else ``max-age``)."""
    stale_while_revalidate: int | None = None
    stale_if_error: int | None = None
    must_revalidate: bool = False
    """Never serve this response stale."""
    private: bool = False
    """``private`` or ``no-store``: meant for one client only, never handed to another."""


def _delta(value: str) -> int | None:
    value = value.strip().strip('"')
    if not value.isdigit() or not value.isascii():
        return None
    return min(int(value), _MAX_DELTA)


@lru_cache(maxsize=1024)
def parse_cache_control(header: str) -> CacheDirectives:
    """Parse a ``Cache-Control`` value; unknown or malformed directives are ignored."""
    no_store = must_revalidate = private = False
    max_age = s_maxage = swr = sie = None
    for part in header.split(","):
        name, _, arg = part.partition("=")
        name = name.strip().lower()
        if name in ("no-store", "private", "no-cache"):
            no_store = True
            private = private or name != "no-cache"
        elif name in ("must-revalidate", "proxy-revalidate"):
            must_revalidate = True
        elif name == "max-age":
            max_age = _delta(arg)
        elif name == "s-maxage":
            s_maxage = _delta(arg)
        elif name == "stale-while-revalidate":
            swr = _delta(arg)
        elif name == "stale-if-error":
            sie = _delta(arg)
    max_age = s_maxage if s_maxage is not None else max_age
    return CacheDirectives(no_store, max_age, swr, sie, must_revalidate, private)


def _query_name(part: str) -> str:
    return part.partition("=")[0]


def _sorted_query(query: str) -> str:
    parts = [p for p in query.split("&") if p]
    if len(parts) > 1:
        parts.sort(key=_query_name)  # stable: repeated names keep their order
    return "&".join(parts)


_DEFAULT_PORTS = {"http": ":80", "https": ":443"}


def normalize_url(url: str) -> str:
    """``url`` in one canonical spelling: lowercase scheme/host, sorted query, no fragment."""
    if "://" not in url:  # a path (and query) only: the common case on the hot path
        path, _, query = url.partition("?")
        path = path.partition("#")[0]
        query = query.partition("#")[0]
        return f"{path or '/'}?{_sorted_query(query)}" if query else path or "/"
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    netloc = parts.netloc.lower()
    port = _DEFAULT_PORTS.get(scheme)
    if port and netloc.endswith(port):
        netloc = netloc[: -len(port)]
    query = _sorted_query(parts.query)
    path = parts.path or "/"
    return f"{scheme}://{netloc}{path}?{query}" if query else f"{scheme}://{netloc}{path}"


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None:  # a plain dict spelled differently: look case-insensitively
        for key, candidate in headers.items():
            if key.lower() == name:
                return candidate.strip()
        return ""
    return value.strip()


def cache_key(
    method: str,
    url: str,
    headers: Mapping[str, str] | None = None,
    vary: Iterable[str] = (),
) -> str:
    """A 32-hex-digit key for ``method`` + normalised ``url`` + the ``vary`` header values.

    Header names in ``vary`` are case-insensitive; an absent header counts as empty, so
    "no Accept-Language" is one variant of its own.
    """
    text = f"{method.upper()} {normalize_url(url)}"
    if vary:
        hdrs: Mapping[str, str] = headers or {}
        names = sorted({name.lower() for name in vary})
        text += "".join(f"\n{name}: {_header(hdrs, name)}" for name in names)
    return blake2b(text.encode(), digest_size=16).hexdigest()
