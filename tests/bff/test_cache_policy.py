"""How a shared cache reads a response's freshness (RFC 9111 §4.2), and cache keys.

Every hostile or malformed value must land on the safe side (not stored, or stale) and
never raise.
"""

from __future__ import annotations

import math
import random
from email.utils import formatdate

import pytest
from multidict import CIMultiDict, CIMultiDictProxy
from pyreqwest.http import HeaderMap

from scallion.bff.cache_policy import (
    CacheDirectives,
    Timing,
    cache_key,
    freshness,
    header_line,
    normalize_url,
    parse_age,
    parse_cache_control,
    parse_http_date,
)
from scallion.datastructures import Headers

STALE = CacheDirectives(max_age=0)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("max-age=60", CacheDirectives(max_age=60)),
        ("public, max-age=60, s-maxage=10", CacheDirectives(max_age=10, s_maxage=True)),
        ("s-maxage=5, max-age=60", CacheDirectives(max_age=5, s_maxage=True)),
        ("no-store", CacheDirectives(no_store=True, private=True)),
        ("private, max-age=60", CacheDirectives(no_store=True, max_age=60, private=True)),
        ('private="set-cookie"', CacheDirectives(no_store=True, private=True)),
        ("no-cache", CacheDirectives(no_store=True, no_cache=True)),
        (
            'no-cache="set-cookie", max-age=60',
            CacheDirectives(no_store=True, max_age=60, no_cache=True),
        ),
        ("NO-STORE", CacheDirectives(no_store=True, private=True)),
        (
            "max-age=1, stale-while-revalidate=30, stale-if-error=600",
            CacheDirectives(max_age=1, stale_while_revalidate=30, stale_if_error=600),
        ),
        ("max-age=5, must-revalidate", CacheDirectives(max_age=5, must_revalidate=True)),
        ("proxy-revalidate", CacheDirectives(must_revalidate=True)),
        ('max-age="20"', CacheDirectives(max_age=20)),
        ("Max-Age = 20 ", CacheDirectives(max_age=20)),
        # malformed lifetimes: stale (RFC 9111 §4.2.1 encourages it; it is the safe side)
        ("max-age=-1", STALE),
        ("max-age=abc", STALE),
        ("max-age=", STALE),
        ("max-age", STALE),
        ('max-age="20', STALE),
        ("max-age=1.5", STALE),
        ("max-age=\uff11\uff12", STALE),  # fullwidth digits are not delta-seconds
        ("s-maxage=x, max-age=60", CacheDirectives(max_age=0, s_maxage=True)),
        # repeated directives: the same value is fine, different values are stale
        ("max-age=60, max-age=60", CacheDirectives(max_age=60)),
        ("max-age=60, max-age=0", STALE),
        ("max-age=60, max-age=600", STALE),
        ("max-age=60, max-age=x, max-age=60", STALE),
        # huge numbers count as 2**31
        ("max-age=99999999999999", CacheDirectives(max_age=2**31)),
        ("max-age=" + "9" * 4000, CacheDirectives(max_age=2**31)),
        ("max-age=2147483649", CacheDirectives(max_age=2**31)),
        # malformed stale windows: no window
        (
            "max-age=9, stale-while-revalidate=soon",
            CacheDirectives(max_age=9, stale_while_revalidate=0),
        ),
        ("max-age=9, stale-if-error=-5", CacheDirectives(max_age=9, stale_if_error=0)),
        ("stale-if-error=5, stale-if-error=50", CacheDirectives(stale_if_error=0)),
        # commas inside quoted strings do not split directives
        ('x="a, max-age=0", max-age=30', CacheDirectives(max_age=30)),
        ('private="a, b", max-age=30', CacheDirectives(no_store=True, max_age=30, private=True)),
        ('x="unterminated, max-age=0', CacheDirectives()),
        ("", CacheDirectives()),
        (",,, ;=; , x=y", CacheDirectives()),
        ("public", CacheDirectives()),
        # longer than 4 KiB: refused outright
        ("max-age=60, " + "x" * 5000, CacheDirectives(no_store=True, private=True)),
    ],
)
def test_parse_cache_control(header: str, expected: CacheDirectives) -> None:
    assert parse_cache_control(header) == expected


NOW = 1_700_000_000.0  # Tue, 14 Nov 2023 22:13:20 GMT


def http_date(at: float) -> str:
    return formatdate(at, usegmt=True)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Tue, 14 Nov 2023 22:13:20 GMT", NOW),
        ("Sun, 06 Nov 1994 08:49:37 GMT", 784111777.0),  # IMF-fixdate
        ("Sunday, 06-Nov-94 08:49:37 GMT", 784111777.0),  # RFC 850, two-digit year
        ("Sun Nov  6 08:49:37 1994", 784111777.0),  # asctime
        ("  Sun, 06 Nov 1994 08:49:37 GMT ", 784111777.0),
        ("sun, 06 nov 1994 08:49:37 UTC", 784111777.0),
        ("Tuesday, 01-Jan-80 00:00:00 GMT", 315532800.0),  # 2080: more than 50 years on
        ("Tuesday, 01-Jan-30 00:00:00 GMT", 1893456000.0),  # 2030: within 50 years of NOW
        ("0", None),
        ("-1", None),
        ("", None),
        (None, None),
        ("tomorrow", None),
        ("Sun, 31 Feb 1994 08:49:37 GMT", None),
        ("Sun, 06 Nov 1994 24:00:00 GMT", None),
        ("Sun, 06 Nov 0000 08:49:37 GMT", None),
        ("Sun, 06 Xyz 1994 08:49:37 GMT", None),
        ("Sun, 06 Nov 1994 08:49:37 PST", None),
        ("Sun, 06 Nov 1994 08:49:37 +0000", None),
        ("Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT", None),  # two lines
        ("Sun, \uff10\uff16 Nov 1994 08:49:37 GMT", None),
        ("Sun, 06 Nov 1994 08:49:37 GMT" + " " * 100, None),  # longer than any date
        ("1700000000", None),
    ],
)
def test_parse_http_date(value: str | None, expected: float | None) -> None:
    assert parse_http_date(value, NOW) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, 0.0),
        ("0", 0.0),
        ("25", 25.0),
        (" 25 ", 25.0),
        ("99999999999999999999", 2.0**31),
        (12.5, 12.5),
        ("-1", math.inf),
        ("1.5", math.inf),
        ("", math.inf),
        ("abc", math.inf),
        ("5, 6", math.inf),
        (-1.0, math.inf),
        (math.nan, math.inf),
        (math.inf, math.inf),
    ],
)
def test_parse_age(value: str | float | None, expected: float) -> None:
    assert parse_age(value) == expected


def _headers(**given: str) -> dict[str, str]:
    return {name.replace("_", "-"): value for name, value in given.items()}


FRESH_CASES = [
    # (headers, (fresh, swr, sie) or None)
    ({}, (60, 0, 0)),
    ({"cache_control": "max-age=30"}, (30, 0, 0)),
    ({"cache_control": "s-maxage=10, max-age=30"}, (10, 0, 0)),
    ({"cache_control": "public"}, (60, 0, 0)),  # says nothing about lifetime: the ttl
    # Expires: minus Date, else minus now
    ({"expires": http_date(NOW + 120)}, (120, 0, 0)),
    ({"expires": http_date(NOW + 120), "date": http_date(NOW - 30)}, (150, 0, 0)),
    ({"expires": http_date(NOW + 120), "date": "garbage"}, (120, 0, 0)),
    ({"expires": http_date(NOW - 10)}, (-10, 0, 0)),
    ({"expires": http_date(NOW + 5), "date": http_date(NOW + 10)}, (-5, 0, 0)),
    ({"expires": "0"}, (0, 0, 0)),
    ({"expires": "-1"}, (0, 0, 0)),
    ({"expires": "next week"}, (0, 0, 0)),
    ({"expires": ""}, (0, 0, 0)),
    # max-age (or s-maxage) wins over Expires, valid or not
    ({"cache_control": "max-age=30", "expires": "0"}, (30, 0, 0)),
    ({"cache_control": "max-age=30", "expires": http_date(NOW + 999)}, (30, 0, 0)),
    ({"cache_control": "s-maxage=30", "expires": http_date(NOW - 999)}, (30, 0, 0)),
    # an unreadable max-age is stale even when Expires would say otherwise
    ({"cache_control": "max-age=soon", "expires": http_date(NOW + 999)}, (0, 0, 0)),
    # Age shortens every lifetime, the caller's ttl included
    ({"cache_control": "max-age=60", "age": "50"}, (10, 0, 0)),
    ({"expires": http_date(NOW + 120), "date": http_date(NOW), "age": "100"}, (20, 0, 0)),
    ({"age": "15"}, (45, 0, 0)),
    ({"cache_control": "max-age=60", "age": "600"}, (-540, 0, 0)),
    ({"cache_control": "max-age=60", "age": "old"}, (-math.inf, 0, 0)),
    ({"cache_control": "max-age=60", "age": "-3"}, (-math.inf, 0, 0)),
    # never stored
    ({"cache_control": "no-store"}, None),
    ({"cache_control": "private, max-age=60"}, None),
    ({"cache_control": "no-cache"}, None),
    ({"cache_control": "max-age=60, no-cache", "expires": http_date(NOW + 60)}, None),
    ({"cache_control": "max-age=60," + " " * 5000}, None),
    # windows the response grants itself
    ({"cache_control": "max-age=60, stale-while-revalidate=30"}, (60, 30, 0)),
    ({"cache_control": "max-age=60, stale-if-error=300"}, (60, 0, 300)),
    ({"cache_control": "max-age=0, stale-while-revalidate=30"}, (0, 30, 0)),
    ({"cache_control": "max-age=9, stale-if-error=9, must-revalidate"}, (9, 0, 0)),
]


@pytest.mark.parametrize(("headers", "expected"), FRESH_CASES)
def test_freshness(headers: dict[str, str], expected: tuple[float, float, float] | None) -> None:
    got = freshness(**headers, now=NOW, ttl=60)  # type: ignore[arg-type]
    assert got == (None if expected is None else Timing(*expected))


DEFAULT_WINDOWS = [
    # the caller's default windows (20 s, 40 s) apply only where the response is silent
    ({}, (60, 20, 40)),
    ({"cache_control": "max-age=30"}, (30, 20, 40)),
    ({"cache_control": "max-age=30, stale-while-revalidate=5"}, (30, 5, 40)),
    ({"expires": http_date(NOW + 30)}, (30, 20, 40)),
    # s-maxage implies proxy-revalidate for a shared cache: only explicit windows
    ({"cache_control": "s-maxage=30"}, (30, 0, 0)),
    ({"cache_control": "s-maxage=30, stale-while-revalidate=5"}, (30, 5, 0)),
    ({"cache_control": "max-age=30, must-revalidate"}, (30, 0, 0)),
    ({"cache_control": "max-age=30, proxy-revalidate, stale-if-error=9"}, (30, 0, 0)),
    # stale on arrival: the defaults do not resurrect it, its own windows still count
    ({"expires": http_date(NOW - 1)}, (-1, 0, 0)),
    ({"expires": "0"}, (0, 0, 0)),
    ({"cache_control": "max-age=10", "age": "11"}, (-1, 0, 0)),
    ({"cache_control": "max-age=10, stale-if-error=60", "age": "11"}, (-1, 0, 60)),
]


@pytest.mark.parametrize(("headers", "expected"), DEFAULT_WINDOWS)
def test_freshness_default_windows(
    headers: dict[str, str], expected: tuple[float, float, float]
) -> None:
    got = freshness(
        **headers,  # type: ignore[arg-type]
        now=NOW,
        ttl=60,
        stale_while_revalidate=20,
        stale_if_error=40,
    )
    assert got == Timing(*expected)


def test_keep_says_whether_anything_is_worth_storing() -> None:
    assert Timing(10, 0, 0).keep == 10
    assert Timing(-5, 30, 10).keep == 25
    assert Timing(0, 0, 0).keep == 0
    assert Timing(-math.inf, 0, 0).keep <= 0


_JUNK = [
    "max-age",
    "s-maxage",
    "stale-while-revalidate",
    "stale-if-error",
    "no-store",
    "private",
    "must-revalidate",
    "=",
    ",",
    '"',
    "\\",
    " ",
    "-1",
    "0",
    "9" * 30,
    "\x00",
    "\r\n",
    "\uff11",
    "é",
    "Sun, 06 Nov 1994 08:49:37 GMT",
    "GMT",
    "Feb",
    "31",
    "24:00:00",
]


def test_hostile_headers_never_raise() -> None:
    rng = random.Random(9111)
    for _ in range(3000):
        parts = [rng.choice(_JUNK) for _ in range(rng.randint(0, 12))]
        value = "".join(parts)
        got = freshness(
            cache_control=value if rng.random() < 0.7 else None,
            expires=value if rng.random() < 0.5 else None,
            date="".join(reversed(parts)) if rng.random() < 0.5 else None,
            age=value if rng.random() < 0.5 else None,
            now=NOW,
            ttl=60,
            stale_while_revalidate=10,
        )
        if got is not None:
            # never longer than the longest lifetime any header could grant
            assert got.fresh <= 2**31 and got.keep <= 2 * 2**31


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("/a?b=2&a=1", "/a?a=1&b=2"),
        ("/a?x=2&x=1&a=0", "/a?a=0&x=2&x=1"),  # repeated names keep their order
        ("/a?", "/a"),
        ("/a#frag", "/a"),
        ("", "/"),
        ("HTTP://Example.COM:80/P?b&a", "http://example.com/P?a&b"),
        ("https://h:443", "https://h/"),
        ("https://h:8443/x", "https://h:8443/x"),
    ],
)
def test_normalize_url(url: str, expected: str) -> None:
    assert normalize_url(url) == expected


def test_key_ignores_query_order_and_method_case() -> None:
    assert cache_key("get", "/u?a=1&b=2") == cache_key("GET", "/u?b=2&a=1")
    assert cache_key("GET", "/u") != cache_key("HEAD", "/u")
    assert cache_key("GET", "/u") != cache_key("GET", "/U")
    assert len(cache_key("GET", "/u")) == 32


def test_key_varies_only_on_declared_headers() -> None:
    en = {"Accept-Language": "en", "X-Trace": "1"}
    en2 = {"accept-language": "en", "X-Trace": "2"}
    fr = {"Accept-Language": "fr"}
    vary = ("accept-language",)
    assert cache_key("GET", "/u", en, vary) == cache_key("GET", "/u", en2, vary)
    assert cache_key("GET", "/u", en, vary) != cache_key("GET", "/u", fr, vary)
    assert cache_key("GET", "/u", en) == cache_key("GET", "/u", fr)
    # an absent header is its own variant, different from the no-vary key
    assert cache_key("GET", "/u", {}, vary) != cache_key("GET", "/u", en, vary)
    assert cache_key("GET", "/u", {}, vary) != cache_key("GET", "/u")


def test_header_line_reads_every_line_of_every_kind_of_header_map() -> None:
    lines = [("Cache-Control", "public"), ("cache-control", "no-store"), ("Age", "3")]
    maps = [
        HeaderMap(lines),
        CIMultiDictProxy(CIMultiDict(lines)),
        Headers([(k.lower().encode(), v.encode()) for k, v in lines]),
        {"cache-control": ["public", "no-store"], "Age": "3"},
    ]
    for headers in maps:
        assert header_line(headers, "cache-control") == "public, no-store", headers
        assert header_line(headers, "age") == "3"
        assert header_line(headers, "expires") is None
