"""api_key over HTTP: lists, mappings and lookups, missing and wrong keys, constant-time compare."""

from __future__ import annotations

import hmac
from typing import Any

import pytest

from scallion.middleware import api_key, error_handler
from scallion.middleware.api_key import ApiKeyAuth, fingerprint

from ._helpers_a import client

KEY_A = "ak_live_0123456789abcdef"
KEY_B = "ak_live_fedcba9876543210"


async def who(ctx: Any) -> None:
    ctx.body = {"principal": ctx.state.api_key}


def test_list_of_keys_sets_a_fingerprint_never_the_key() -> None:
    c = client(api_key([KEY_A, KEY_B]), handler=who)
    r = c.get("/", headers={"X-API-Key": KEY_B})
    assert r.status_code == 200
    assert r.json() == {"principal": fingerprint(KEY_B)}
    assert KEY_B not in r.text


def test_mapping_gives_principals() -> None:
    c = client(api_key({KEY_A: "billing", KEY_B: {"team": "search"}}), handler=who)
    assert c.get("/", headers={"X-API-Key": KEY_A}).json() == {"principal": "billing"}
    assert c.get("/", headers={"x-api-key": KEY_B}).json() == {"principal": {"team": "search"}}


def test_missing_and_wrong_keys_are_401_with_a_challenge() -> None:
    c = client(api_key([KEY_A]), handler=who)
    missing = c.get("/")
    assert missing.status_code == 401 and missing.text == "Missing API key: send it in X-API-Key"
    assert missing.headers["www-authenticate"] == 'ApiKey realm="api", header="X-API-Key"'
    for wrong in (KEY_A[:-1], KEY_A + "x", KEY_A.upper(), " " + KEY_A, "x", "é" * 10):
        r = c.get("/", headers={"X-API-Key": wrong.encode("utf-8")})
        assert r.status_code == 401 and r.text == "Invalid API key", wrong
        assert r.headers["www-authenticate"].startswith("ApiKey ")
    assert c.get("/", headers={"X-API-Key": "k" * 100_000}).status_code == 401


def test_401_through_error_handler_keeps_the_challenge() -> None:
    r = client(error_handler(), api_key([KEY_A]), handler=who).get("/")
    assert r.status_code == 401 and r.json()["message"].startswith("Missing API key")
    assert "www-authenticate" in r.headers


def test_custom_header_query_and_state_key() -> None:
    async def handler(ctx: Any) -> None:
        ctx.body = {"client": ctx.state.client}

    c = client(
        api_key({KEY_A: "a"}, header="X-Service-Token", query="api_key", state_key="client"),
        handler=handler,
    )
    assert c.get("/", headers={"X-Service-Token": KEY_A}).json() == {"client": "a"}
    assert c.get(f"/?api_key={KEY_A}").json() == {"client": "a"}
    assert c.get(f"/?api_key={KEY_A}&api_key={KEY_A}").status_code == 401
    assert c.get("/", headers={"X-API-Key": KEY_A}).status_code == 401  # not our header
    assert c.get("/?api_key=").status_code == 401


def test_sync_and_async_lookups() -> None:
    def lookup(key: str) -> Any:
        return {"id": 7} if hmac.compare_digest(key, KEY_A) else None

    c = client(api_key(lookup), handler=who)
    assert c.get("/", headers={"X-API-Key": KEY_A}).json() == {"principal": {"id": 7}}
    assert c.get("/", headers={"X-API-Key": KEY_B}).status_code == 401

    async def alookup(key: str) -> Any:
        return "svc" if key == KEY_B else False

    c2 = client(api_key(alookup), handler=who)
    assert c2.get("/", headers={"X-API-Key": KEY_B}).json() == {"principal": "svc"}
    assert c2.get("/", headers={"X-API-Key": KEY_A}).status_code == 401


def test_keys_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCALLION_API_KEYS", f" {KEY_A} , {KEY_B},")
    c = client(api_key(), handler=who)
    assert c.get("/", headers={"X-API-Key": KEY_A}).status_code == 200
    assert c.get("/", headers={"X-API-Key": KEY_B}).status_code == 200
    monkeypatch.setenv("SCALLION_API_KEYS", " , ")
    with pytest.raises(ValueError, match="SCALLION_API_KEYS"):
        api_key()


def test_match_compares_against_every_key_without_early_exit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Functional check of the constant-time contract: every configured key is compared,
    on equal-length digests, whichever key matches (or none)."""
    keys = [f"key-{i:03d}-0123456789" for i in range(50)]
    mw = api_key(keys)
    calls: list[tuple[int, int]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    for presented in (keys[0], keys[25], keys[-1], "nope", "k" * 500):
        calls.clear()
        result = mw.match(presented)
        assert len(calls) == 50  # no early exit, first key or no key
        assert set(calls) == {(32, 32)}  # digests: the key's length never shows
        assert (result is not None) == (presented in keys)


def test_duplicate_keys_in_a_mapping_pick_the_principal() -> None:
    mw = api_key({KEY_A: "first", KEY_B: "second"})
    assert mw.match(KEY_B) == "second" and mw.match("other") is None


@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        (([],), {}, ValueError),
        (([""],), {}, ValueError),
        ((["  "],), {}, ValueError),
        (([KEY_A, 5],), {}, ValueError),
        ((["x" * 2000],), {}, ValueError),
        (({KEY_A: None},), {}, ValueError),
        ((KEY_A,), {}, TypeError),  # one str, not a list
        (([KEY_A],), {"header": ""}, TypeError),
        (([KEY_A],), {"header": "X-Key\r\nEvil"}, ValueError),
        (([KEY_A],), {"query": ""}, TypeError),
        (([KEY_A],), {"state_key": "not valid"}, ValueError),
        (([KEY_A],), {"realm": 'a"b'}, ValueError),
    ],
)
def test_bad_options_fail_at_construction(
    args: tuple[Any, ...], kwargs: dict[str, Any], error: type, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SCALLION_API_KEYS", raising=False)
    with pytest.raises(error):
        api_key(*args, **kwargs)


def test_no_keys_anywhere_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCALLION_API_KEYS", raising=False)
    with pytest.raises(ValueError, match="needs keys"):
        api_key()


def test_repr() -> None:
    assert "2 keys" in repr(api_key([KEY_A, KEY_B]))
    assert isinstance(api_key(lambda k: None), ApiKeyAuth)
