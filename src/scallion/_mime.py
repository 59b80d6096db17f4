"""Mime-type helpers shared by ``ctx.type``, ``accepts()`` and ``is_type()``."""

from __future__ import annotations

import mimetypes
from functools import lru_cache

_SHORT = {
    "json": "application/json",
    "html": "text/html",
    "text": "text/plain",
    "txt": "text/plain",
    "form": "application/x-www-form-urlencoded",
    "urlencoded": "application/x-www-form-urlencoded",
    "multipart": "multipart/*",
    "xml": "application/xml",
    "js": "text/javascript",
    "css": "text/css",
    "bin": "application/octet-stream",
}


def _needs_charset(mime: str) -> bool:
    return mime.startswith("text/") or mime in (
        "application/json",
        "application/javascript",
        "application/xml",
    )


@lru_cache(maxsize=256)
def content_type_for(value: str) -> str:
    """``"json"`` → ``application/json; charset=utf-8``; a full type passes through."""
    if "/" in value:
        mime = value
    else:
        ext = value.lstrip(".").lower()
        mime = _SHORT.get(ext) or mimetypes.types_map.get("." + ext) or ""
        if not mime:
            return ""
    if ";" not in mime and _needs_charset(mime):
        return mime + "; charset=utf-8"
    return mime


def bare(content_type: str) -> str:
    """The mime type without parameters, lower-cased."""
    return content_type.split(";", 1)[0].strip().lower()


def charset_of(content_type: str, default: str = "utf-8") -> str:
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            return value.strip('"').lower()
    return default


@lru_cache(maxsize=256)
def expand(pattern: str) -> str:
    """``"json"`` → ``application/json``, ``"+json"`` → ``*/*+json``, full types unchanged."""
    if pattern.startswith("+"):
        return "*/*" + pattern
    if "/" in pattern:
        return pattern.lower()
    return _SHORT.get(pattern.lower()) or mimetypes.types_map.get("." + pattern.lower(), "")


def mime_matches(pattern: str, mime: str) -> bool:
    """Does ``mime`` (bare) match ``pattern`` (bare, may hold ``*`` or a ``+suffix``)?"""
    if not pattern or not mime:
        return False
    ptype, _, psub = pattern.partition("/")
    mtype, _, msub = mime.partition("/")
    if ptype != "*" and ptype != mtype:
        return False
    if psub == "*" or psub == msub:
        return True
    if psub.startswith("*+"):
        return msub.endswith(psub[1:])
    return False


def parse_accept(header: str) -> list[tuple[str, float]]:
    """Media ranges from an ``Accept``-style header, best first (q, then specificity)."""
    ranges: list[tuple[float, int, int, str]] = []
    for order, item in enumerate(header.split(",")):
        parts = item.strip().split(";")
        media = parts[0].strip().lower()
        if not media:
            continue
        q = 1.0
        for param in parts[1:]:
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        specificity = 0 if media == "*/*" else 1 if media.endswith("/*") else 2
        ranges.append((q, specificity, -order, media))
    ranges.sort(reverse=True)
    return [(media, q) for q, _, _, media in ranges]
