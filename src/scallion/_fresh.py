"""HTTP freshness (RFC 9110 §13): is the client's cached copy still good?"""

from __future__ import annotations

from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .response import Response


def _strip_weak(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


def etag_matches(header: str, etag: str) -> bool:
    """Weak comparison of ``etag`` against an ``If-None-Match`` list."""
    if header.strip() == "*":
        return True
    wanted = _strip_weak(etag)
    return any(_strip_weak(candidate) == wanted for candidate in header.split(","))


def is_fresh(request_headers: Mapping[str, str], response: Response) -> bool:
    modified_since = request_headers.get("if-modified-since")
    none_match = request_headers.get("if-none-match")
    if not modified_since and not none_match:
        return False
    if "no-cache" in (request_headers.get("cache-control") or "").lower():
        return False
    if none_match:
        etag = response.get("etag")
        return bool(etag) and etag_matches(none_match, etag)
    last_modified = response.get("last-modified")
    if not last_modified or not modified_since:
        return False
    try:
        return parsedate_to_datetime(last_modified) <= parsedate_to_datetime(modified_since)
    except (TypeError, ValueError):
        return False
