"""Cache-Control as a shared cache reads it, and cache keys."""

from __future__ import annotations

import pytest

from scallion.bff.cache_policy import (
    CacheDirectives,
    cache_key,
    normalize_url,
    parse_cache_control,
)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("max-age=60", CacheDirectives(max_age=60)),
        ("public, max-age=60, s-maxage=10", CacheDirectives(max_age=10)),
        ("s-maxage=5, max-age=60", CacheDirectives(max_age=5)),
        ("no-store", CacheDirectives(no_store=True, private=True)),
        ("private, max-age=60", CacheDirectives(no_store=True, max_age=60, private=True)),
        ('private="set-cookie"', CacheDirectives(no_store=True, private=True)),
        ("no-cache", CacheDirectives(no_store=True)),
        ("NO-STORE", CacheDirectives(no_store=True, private=True)),
        (
            "max-age=1, stale-while-revalidate=30, stale-if-error=600",
            CacheDirectives(max_age=1, stale_while_revalidate=30, stale_if_error=600),
        ),
        ("max-age=5, must-revalidate", CacheDirectives(max_age=5, must_revalidate=True)),
        ("proxy-revalidate", CacheDirectives(must_revalidate=True)),
        ('max-age="20"', CacheDirectives(max_age=20)),
        ("max-age=-1", CacheDirectives()),
        ("max-age=abc", CacheDirectives()),
        ("max-age=", CacheDirectives()),
        ("max-age=\uff11\uff12", CacheDirectives()),  # fullwidth digits are not delta-seconds
        ("max-age=99999999999999", CacheDirectives(max_age=2**31)),
        ("", CacheDirectives()),
        (",,, ;=; , x=y", CacheDirectives()),
    ],
)
def test_parse_cache_control(header: str, expected: CacheDirectives) -> None:
    assert parse_cache_control(header) == expected


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
