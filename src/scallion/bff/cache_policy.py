"""What may be cached, for how long, and under which key.

Freshness is read the way a *shared* cache must read a response (RFC 9111 §4.2, RFC 5861),
in ``freshness``:

- ``Cache-Control: no-store``, ``private`` and ``no-cache`` keep a response out of the cache
  (a BFF is shared by every client), except that ``no-cache`` on a response the caller can
  revalidate (``revalidatable=True``: it has a validator and the fetch is conditional)
  stores it stale: it then answers only after a ``304``;
- the freshness lifetime is ``s-maxage``, else ``max-age``, else ``Expires`` minus ``Date``
  (minus now when there is no valid ``Date``), else the caller's TTL;
- the response's ``Age`` is subtracted from that lifetime: what is left is how long it
  stays fresh here. ``Date`` is not used to guess an age of its own: a skewed upstream
  clock would then make every response stale on arrival;
- ``stale-while-revalidate=N`` and ``stale-if-error=N`` open the stale windows,
  ``must-revalidate``/``proxy-revalidate`` close them, ``s-maxage`` closes the caller's
  default windows (for a shared cache it implies ``proxy-revalidate``), and a response that
  is already stale on arrival keeps only the windows it grants itself.

Malformed or hostile values never raise and always take the safe side: a ``max-age`` or
``s-maxage`` that is not delta-seconds, or that is repeated with another value, makes the
response stale; so do an invalid ``Expires`` (``0``, ``-1``, garbage) and an unreadable
``Age``; an unreadable stale window is no window; values above 2³¹ count as 2³¹; a
``Cache-Control`` longer than 4 KiB keeps the response out of the cache.

Validators (RFC 9110 §8.8, §13) are checked the same way: ``valid_etag`` keeps an
``ETag`` only when it is a well-formed entity-tag of at most 512 characters (so nothing
with CR, LF, spaces or control characters is ever sent back in ``If-None-Match``), and
``valid_last_modified`` keeps a ``Last-Modified`` only when it is an HTTP-date.
``etag_list_matches`` is ``If-None-Match``'s weak comparison against a list.

``cache_key`` turns method + URL + the declared vary headers into a short stable key: the
URL is normalised (scheme and host lowercased, default port and fragment dropped, query
parameters sorted by name with the order of repeated names kept), then hashed.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from hashlib import blake2b
from typing import NamedTuple
from urllib.parse import urlsplit

__all__ = [
    "CacheDirectives",
    "Timing",
    "cache_key",
    "etag_list_matches",
    "freshness",
    "header_line",
    "normalize_url",
    "parse_age",
    "parse_cache_control",
    "parse_http_date",
    "valid_etag",
    "valid_last_modified",
]

_MAX_DELTA = 2**31  # RFC 9111 §1.2.2: larger delta-seconds count as this
_MAX_HEADER = 4096  # a longer Cache-Control is refused (and never memoised)
_BAD = -1  # a delta directive whose value is malformed or contradicts itself


class CacheDirectives(NamedTuple):
    """The parts of a response's ``Cache-Control`` a shared cache acts on."""

    no_store: bool = False
    """``no-store``, ``private`` or ``no-cache``: keep this response out of the cache."""
    max_age: int | None = None
    """Freshness lifetime in seconds (``s-maxage`` if present, else ``max-age``); ``0`` when
    the value is malformed or repeated with another value (the response is stale)."""
    stale_while_revalidate: int | None = None
    stale_if_error: int | None = None
    must_revalidate: bool = False
    """``must-revalidate`` or ``proxy-revalidate``: never serve this response stale."""
    private: bool = False
    """``private`` or ``no-store``: meant for one client only, never handed to another."""
    s_maxage: bool = False
    """``max_age`` came from ``s-maxage``, which closes a shared cache's default windows."""
    no_cache: bool = False
    """``no-cache`` (qualified or not): never reused without a successful revalidation."""


_NOTHING = CacheDirectives()
_REFUSED = CacheDirectives(no_store=True, private=True)
_ALWAYS_STALE = (0.0, 0.0, 0.0)

# One list member: quoted strings (commas inside them included, an unterminated one runs to
# the end) or any other characters but a comma. The alternatives start with different
# characters, so matching is linear however hostile the header.
_ITEM = re.compile(r'(?:"(?:[^"\\]|\\.)*"?|[^,"])+')
_ESCAPE = re.compile(r"\\(.)")
_DELTAS = frozenset({"max-age", "s-maxage", "stale-while-revalidate", "stale-if-error"})


def _argument(raw: str) -> str | None:
    """A directive's argument: a token, or a quoted string unquoted; ``None`` if malformed."""
    raw = raw.strip()
    if raw.startswith('"'):
        if len(raw) < 2 or not raw.endswith('"'):
            return None
        return _ESCAPE.sub(r"\1", raw[1:-1])
    return raw


def _delta(raw: str | None) -> int:
    """delta-seconds (ASCII digits only), capped at 2³¹; ``_BAD`` for anything else."""
    if not raw or not raw.isascii() or not raw.isdigit():
        return _BAD
    if len(raw) > 10:  # past 2**31 for sure; also keeps int() away from huge strings
        return _MAX_DELTA
    return min(int(raw), _MAX_DELTA)


def parse_cache_control(header: str) -> CacheDirectives:
    """Parse a ``Cache-Control`` value; see the module docstring for the safe fallbacks."""
    if len(header) > _MAX_HEADER:
        return _REFUSED
    return _parse_cache_control(header)


@lru_cache(maxsize=1024)
def _parse_cache_control(header: str) -> CacheDirectives:
    no_store = must_revalidate = private = no_cache = False
    deltas: dict[str, int] = {}
    for item in _ITEM.findall(header):
        name, eq, raw = item.partition("=")
        name = name.strip().lower()
        if name in ("no-store", "private"):  # private="field" counts as private: safe side
            no_store = private = True
        elif name == "no-cache":
            no_store = no_cache = True
        elif name in ("must-revalidate", "proxy-revalidate"):
            must_revalidate = True
        elif name in _DELTAS:
            value = _delta(_argument(raw)) if eq else _BAD
            if deltas.get(name, value) != value:
                value = _BAD  # repeated with another value (RFC 9111 §4.2.1: stale)
            deltas[name] = value
    s_maxage = "s-maxage" in deltas
    lifetime = deltas.get("s-maxage", deltas.get("max-age"))
    swr = deltas.get("stale-while-revalidate")
    sie = deltas.get("stale-if-error")
    return CacheDirectives(
        no_store=no_store,
        max_age=None if lifetime is None else max(lifetime, 0),
        stale_while_revalidate=None if swr is None else max(swr, 0),
        stale_if_error=None if sie is None else max(sie, 0),
        must_revalidate=must_revalidate,
        private=private,
        s_maxage=s_maxage,
        no_cache=no_cache,
    )


_MONTHS = {
    name: number
    for number, name in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1
    )
}
_ZONE = r"(?:GMT|UTC)"
_TIME = r"([0-9]{2}):([0-9]{2}):([0-9]{2})"
# RFC 9110 §5.6.7: IMF-fixdate, then the two obsolete forms a recipient must still read.
_IMF_FIXDATE = re.compile(
    rf"[A-Za-z]{{3}}, ([0-9]{{2}}) ([A-Za-z]{{3}}) ([0-9]{{4}}) {_TIME} {_ZONE}"
)
_RFC850 = re.compile(rf"[A-Za-z]{{6,9}}, ([0-9]{{2}})-([A-Za-z]{{3}})-([0-9]{{2}}) {_TIME} {_ZONE}")
_ASCTIME = re.compile(rf"[A-Za-z]{{3}} ([A-Za-z]{{3}}) ([ 0-9][0-9]) {_TIME} ([0-9]{{4}})")


def parse_http_date(value: str | None, now: float | None = None) -> float | None:
    """An HTTP-date as epoch seconds; ``None`` for anything that is not one.

    ``now`` (epoch seconds) places the two-digit years of the obsolete RFC 850 form: one
    that would be more than 50 years ahead is in the previous century (RFC 9110 §5.6.7).
    """
    if not value or len(value) > 64:
        return None
    text = value.strip()
    try:
        if found := _IMF_FIXDATE.fullmatch(text):
            day, month, year, hour, minute, second = found.groups()
            year_number = int(year)
        elif found := _RFC850.fullmatch(text):
            day, month, year, hour, minute, second = found.groups()
            this_year = time.gmtime(time.time() if now is None else now).tm_year
            year_number = this_year // 100 * 100 + int(year)
            if year_number > this_year + 50:
                year_number -= 100
        elif found := _ASCTIME.fullmatch(text):
            month, day, hour, minute, second, year = found.groups()
            year_number = int(year)
        else:
            return None
        month_number = _MONTHS.get(month.lower())
        if month_number is None:
            return None
        when = datetime(
            year_number, month_number, int(day), int(hour), int(minute), int(second), tzinfo=UTC
        )
    except (ValueError, OverflowError):  # 31 February, hour 24, year 0...
        return None
    return when.timestamp()


def parse_age(value: str | float | None) -> float:
    """The ``Age`` header in seconds: 0 when absent, ``inf`` (stale) when unreadable."""
    if value is None:
        return 0.0
    if isinstance(value, str):
        delta = _delta(value.strip())
        return math.inf if delta == _BAD else float(delta)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.inf
    return float(value) if math.isfinite(value) and value >= 0 else math.inf


def header_line(
    headers: Mapping[str, str] | Mapping[str, str | list[str]], name: str
) -> str | None:
    """A response header's value, its repeated lines joined by ", " (``None`` when absent).

    Clients' header maps answer ``get`` with the first line only; the lines after it may
    say ``no-store``, so every line is read (``getall``/``getlist``) where the map has them.
    """
    every = getattr(headers, "getall", None) or getattr(headers, "getlist", None)
    if every is not None:
        try:
            lines = [str(line) for line in every(name)]
        except KeyError:  # multidict's getall without a default
            lines = []
        return ", ".join(lines) if lines else None
    value = headers.get(name)
    if value is None:
        for key, candidate in headers.items():
            if key.lower() == name:
                value = candidate
                break
        else:
            return None
    return ", ".join(value) if isinstance(value, list) else value


class Timing(NamedTuple):
    """How long a stored response may answer, in seconds counted from now."""

    fresh: float
    """Served as a hit until then; ``<= 0`` when it arrived stale."""
    stale_while_revalidate: float
    """Past ``fresh``, served stale this long while one refresh runs."""
    stale_if_error: float
    """Past ``fresh``, served stale this long when a fetch fails."""

    @property
    def keep(self) -> float:
        """Seconds it may answer at all; nothing is worth storing when ``<= 0``."""
        return self.fresh + max(self.stale_while_revalidate, self.stale_if_error)


def freshness(
    cache_control: str | None = None,
    expires: str | None = None,
    date: str | None = None,
    age: str | float | None = None,
    *,
    now: float,
    ttl: float,
    stale_while_revalidate: float = 0.0,
    stale_if_error: float = 0.0,
    revalidatable: bool = False,
) -> Timing | None:
    """How long a shared cache may keep a response, from its headers; ``None``: never.

    Args:
        cache_control, expires, date, age: the response's headers (``None`` when absent).
        now: the wall clock, epoch seconds (``Expires`` without ``Date`` counts from it).
        ttl: the lifetime when the headers give none (``Age`` still counts against it).
        stale_while_revalidate, stale_if_error: the windows when the headers give none.
        revalidatable: the response has a validator the caller will send back: a
            ``no-cache`` one (neither ``private`` nor ``no-store``) is then kept, stale.

    ``None`` only for ``no-store``, ``private`` and ``no-cache``; a response with nothing
    left to keep comes back with ``Timing.keep <= 0``.
    """
    cc = parse_cache_control(cache_control) if cache_control else _NOTHING
    if cc.no_store:
        if revalidatable and cc.no_cache and not cc.private:
            return Timing(*_ALWAYS_STALE)
        return None
    lifetime: float
    if cc.max_age is not None:  # RFC 9111 §5.3: max-age (or s-maxage) wins over Expires
        lifetime = float(cc.max_age)
    elif expires is not None:
        at = parse_http_date(expires, now)
        if at is None:
            lifetime = 0.0  # an invalid Expires, "0" included, is a time in the past
        else:
            sent = parse_http_date(date, now)
            lifetime = at - (now if sent is None else sent)
    else:
        lifetime = ttl
    fresh = lifetime - parse_age(age)
    swr, sie = stale_while_revalidate, stale_if_error
    if cc.must_revalidate:
        swr = sie = 0.0
    else:
        if cc.s_maxage or fresh <= 0:
            # s-maxage implies proxy-revalidate for a shared cache, and a response stale on
            # arrival was never the caller's to stretch: only windows it grants itself.
            swr = sie = 0.0
        if cc.stale_while_revalidate is not None:
            swr = float(cc.stale_while_revalidate)
        if cc.stale_if_error is not None:
            sie = float(cc.stale_if_error)
    return Timing(fresh, swr, sie)


_MAX_ETAG = 512
# entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE; etagc = %x21 / %x23-7E / obs-text
_ETAG = re.compile(r'(?:W/)?"[\x21\x23-\x7e\x80-\xff]*"')
_ETAG_ITEM = re.compile(r'\s*((?:W/)?"[\x21\x23-\x7e\x80-\xff]*")\s*(?:,|$)')


def valid_etag(value: str | None) -> str | None:
    """``value`` if it is one well-formed entity-tag (surrounding spaces dropped), else None."""
    if not value or len(value) > _MAX_ETAG + 8:
        return None
    tag = value.strip(" \t")
    if len(tag) > _MAX_ETAG or not _ETAG.fullmatch(tag):
        return None
    return tag


def valid_last_modified(value: str | None) -> str | None:
    """``value`` (trimmed) if it is an HTTP-date, else ``None``: only dates are sent back."""
    if not value or parse_http_date(value) is None:
        return None
    return value.strip()


def _opaque(tag: str) -> str:
    return tag[2:] if tag.startswith("W/") else tag


def etag_list_matches(header: str, etag: str) -> bool:
    """``If-None-Match: header`` matches ``etag`` (weak comparison, RFC 9110 §13.1.2).

    ``*`` matches any current representation. A list is read item by item, quoted tags
    only (commas may sit inside the quotes); a malformed list matches nothing, so the
    full response is sent: the safe answer.
    """
    header = header.strip()
    if header == "*":
        return True
    if len(header) > 8 * _MAX_ETAG:
        return False
    wanted = _opaque(etag)
    pos, end = 0, len(header)
    while pos < end:
        found = _ETAG_ITEM.match(header, pos)
        if found is None or found.end() == pos:
            return False
        if _opaque(found.group(1)) == wanted:
            return True
        pos = found.end()
        while pos < end and header[pos] in " \t,":  # empty list elements are allowed
            pos += 1
    return False


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
