"""jwt_auth over HTTP: HS/RS/ES tokens, every claim check, hostile tokens, and JWKS caching
and rotation against a real loopback JWKS server (uvicorn serving a scallion App)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from scallion import App
from scallion.middleware import error_handler, jwt_auth
from scallion.testing import AsyncTestClient, TestClient

from ._helpers_a import app_with, client, closing
from ._helpers_c import free_port

SECRET = "s3cret-" * 6  # 42 bytes
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_KEY_2 = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP256R1())


def pem(key: Any) -> bytes:
    return key.public_key().public_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def claims(**extra: Any) -> dict[str, Any]:
    return {"sub": "alice", "exp": int(time.time()) + 600, **extra}


def hs(**extra: Any) -> str:
    return jwt.encode(claims(**extra), SECRET, algorithm="HS256")


def rs(key: Any = RSA_KEY, kid: str | None = None, alg: str = "RS256", **extra: Any) -> str:
    headers = {"kid": kid} if kid else None
    return jwt.encode(claims(**extra), key, algorithm=alg, headers=headers)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], payload: dict[str, Any], key: bytes | None) -> str:
    """A token signed by hand (HMAC with ``key``, or no signature for alg none)."""
    signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(payload).encode())
    if key is None:
        return signing_input + "."
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + b64(signature)


def forge_rs(header: dict[str, Any], payload: dict[str, Any]) -> str:
    """An RS256 token with a header PyJWT would refuse to write (odd ``kid`` values)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    signing_input = b64(json.dumps(header).encode()) + "." + b64(json.dumps(payload).encode())
    signature = RSA_KEY.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return signing_input + "." + b64(signature)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def whoami(ctx: Any) -> None:
    user = ctx.state.get("user")
    ctx.body = {"user": user["sub"] if user else None}


def auth_client(**options: Any) -> TestClient:
    return client(jwt_auth(**options), handler=whoami)


def challenge(r: Any) -> str:
    return str(r.headers["www-authenticate"])


# -- valid tokens ---------------------------------------------------------------------------


def test_hs256_token_sets_ctx_state_user() -> None:
    seen: list[dict[str, Any]] = []

    async def handler(ctx: Any) -> None:
        seen.append(ctx.state.user)
        ctx.body = "ok"

    c = client(jwt_auth(secret=SECRET, algorithms=["HS256"]), handler=handler)
    assert c.get("/", headers=bearer(hs(role="admin"))).status_code == 200
    assert seen[0]["sub"] == "alice" and seen[0]["role"] == "admin"


def test_rs256_and_es256_with_public_keys() -> None:
    c = auth_client(public_key=pem(RSA_KEY), algorithms=["RS256", "PS256"])
    assert c.get("/", headers=bearer(rs())).json() == {"user": "alice"}
    assert c.get("/", headers=bearer(rs(alg="PS256"))).json() == {"user": "alice"}
    assert c.get("/", headers=bearer(rs(RSA_KEY_2))).status_code == 401  # other key
    e = auth_client(public_key=pem(EC_KEY).decode(), algorithms=["ES256"])
    assert e.get("/", headers=bearer(rs(EC_KEY, alg="ES256"))).json() == {"user": "alice"}


def test_a_private_key_verifies_with_its_public_half() -> None:
    private_pem = RSA_KEY.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    c = auth_client(public_key=private_pem, algorithms=["RS256"])
    assert c.get("/", headers=bearer(rs())).status_code == 200


# -- missing, expired, claims -----------------------------------------------------------------


def test_missing_token_is_401_with_a_bare_challenge() -> None:
    c = auth_client(secret=SECRET, algorithms=["HS256"])
    for headers in ({}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer "}):
        r = c.get("/", headers=headers)
        assert r.status_code == 401 and r.text == "Missing bearer token"
        assert challenge(r) == 'Bearer realm="api"'


def test_expired_token_and_leeway() -> None:
    old = hs(exp=int(time.time()) - 10)
    r = auth_client(secret=SECRET, algorithms=["HS256"]).get("/", headers=bearer(old))
    assert r.status_code == 401 and r.text == "Token expired"
    assert challenge(r) == (
        'Bearer realm="api", error="invalid_token", error_description="The token has expired"'
    )
    lenient = auth_client(secret=SECRET, algorithms=["HS256"], leeway=30)
    assert lenient.get("/", headers=bearer(old)).status_code == 200


def test_not_yet_valid_token() -> None:
    r = auth_client(secret=SECRET, algorithms=["HS256"]).get(
        "/", headers=bearer(hs(nbf=int(time.time()) + 300))
    )
    assert r.status_code == 401 and "not valid yet" in challenge(r)


def test_audience_and_issuer() -> None:
    c = auth_client(secret=SECRET, algorithms=["HS256"], audience=["web", "app"], issuer="idp")
    good = hs(aud="app", iss="idp")
    assert c.get("/", headers=bearer(good)).status_code == 200
    wrong_aud = c.get("/", headers=bearer(hs(aud="admin", iss="idp")))
    assert wrong_aud.status_code == 401 and "audience" in challenge(wrong_aud)
    wrong_iss = c.get("/", headers=bearer(hs(aud="web", iss="evil")))
    assert wrong_iss.status_code == 401 and "issuer" in challenge(wrong_iss)
    no_aud = c.get("/", headers=bearer(hs(iss="idp")))
    assert no_aud.status_code == 401


def test_required_claims() -> None:
    no_exp = jwt.encode({"sub": "alice"}, SECRET, algorithm="HS256")
    r = auth_client(secret=SECRET, algorithms=["HS256"]).get("/", headers=bearer(no_exp))
    assert r.status_code == 401 and "lacks the exp claim" in challenge(r)
    relaxed = auth_client(secret=SECRET, algorithms=["HS256"], required_claims=())
    assert relaxed.get("/", headers=bearer(no_exp)).status_code == 200
    strict = auth_client(secret=SECRET, algorithms=["HS256"], required_claims=("exp", "jti"))
    assert strict.get("/", headers=bearer(hs())).status_code == 401
    assert strict.get("/", headers=bearer(hs(jti="1"))).status_code == 200


def test_passthrough_lets_anonymous_requests_through_but_not_bad_tokens() -> None:
    c = auth_client(secret=SECRET, algorithms=["HS256"], passthrough=True)
    assert c.get("/").json() == {"user": None}
    assert c.get("/", headers=bearer(hs())).json() == {"user": "alice"}
    assert c.get("/", headers=bearer("garbage")).status_code == 401


# -- attacks and garbage ------------------------------------------------------------------------


def test_alg_none_is_refused() -> None:
    unsigned = forge({"alg": "none", "typ": "JWT"}, claims(), None)
    for options in (
        {"secret": SECRET, "algorithms": ["HS256"]},
        {"public_key": pem(RSA_KEY), "algorithms": ["RS256"]},
    ):
        r = auth_client(**options).get("/", headers=bearer(unsigned))
        assert r.status_code == 401 and "algorithm is not accepted" in challenge(r)
    none_upper = forge({"alg": "None"}, claims(), None)
    r = auth_client(secret=SECRET, algorithms=["HS256"]).get("/", headers=bearer(none_upper))
    assert r.status_code == 401


def test_hs256_signed_with_the_rsa_public_key_is_refused() -> None:
    """The key-confusion attack: the public key (which attackers have) as an HMAC secret."""
    public_pem = pem(RSA_KEY)
    for key_bytes in (public_pem, public_pem.strip()):
        token = forge({"alg": "HS256", "typ": "JWT"}, claims(), key_bytes)
        c = auth_client(public_key=public_pem, algorithms=["RS256"])
        r = c.get("/", headers=bearer(token))
        assert r.status_code == 401 and "algorithm is not accepted" in challenge(r)


def test_tampered_signature_and_payload() -> None:
    c = auth_client(secret=SECRET, algorithms=["HS256"])
    head, body, sig = hs().split(".")
    flipped = sig[:-2] + ("AA" if sig[-2:] != "AA" else "BB")
    r = c.get("/", headers=bearer(f"{head}.{body}.{flipped}"))
    assert r.status_code == 401 and "signature is invalid" in challenge(r)
    other_body = b64(json.dumps(claims(sub="mallory")).encode())
    assert c.get("/", headers=bearer(f"{head}.{other_body}.{sig}")).status_code == 401


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "a.b.c",
        "...",
        "a.b.c.d",
        "eyJhbGciOiJIUzI1NiJ9.%%%.###",
        b64(b"[1,2]") + ".e30.sig",  # header is not an object
        b64(b'{"alg": 5}') + ".e30.sig",
        b64(b'{"alg": "HS256"}') + "." + b64(b"not json") + ".c2ln",
    ],
)
def test_malformed_tokens_are_401(token: str) -> None:
    r = auth_client(secret=SECRET, algorithms=["HS256"]).get("/", headers=bearer(token))
    assert r.status_code == 401
    assert 'error="invalid_token"' in challenge(r)


def test_huge_token_is_refused_fast() -> None:
    c = auth_client(secret=SECRET, algorithms=["HS256"])
    huge = "eyJ" + "A" * 100_000 + ".e30.sig"
    started = time.perf_counter()
    r = c.get("/", headers=bearer(huge))
    assert time.perf_counter() - started < 0.5
    assert r.status_code == 401 and "too large" in challenge(r)


def test_401_keeps_its_challenge_through_error_handler() -> None:
    c = client(error_handler(), jwt_auth(secret=SECRET, algorithms=["HS256"]), handler=whoami)
    r = c.get("/", headers=bearer("garbage"))
    assert r.status_code == 401 and r.json() == {"code": 401, "message": "Invalid token"}
    assert "invalid_token" in challenge(r)


# -- where the token comes from ---------------------------------------------------------------


def test_token_from_cookie_and_query_in_order() -> None:
    c = auth_client(
        secret=SECRET,
        algorithms=["HS256"],
        token_from=("header", "cookie:access_token", "query:token"),
        state_key="user",
    )
    assert c.get("/", headers={"Cookie": f"access_token={hs()}"}).status_code == 200
    assert c.get(f"/?token={hs()}").status_code == 200
    assert c.get(f"/?token={hs()}&token={hs()}").status_code == 401
    # the header wins over a bad query token
    assert c.get("/?token=bad", headers=bearer(hs())).status_code == 200
    header_only = auth_client(secret=SECRET, algorithms=["HS256"])
    assert header_only.get(f"/?token={hs()}").status_code == 401


def test_state_key_and_realm() -> None:
    async def handler(ctx: Any) -> None:
        ctx.body = {"claims": ctx.state.claims["sub"], "user": "user" in ctx.state}

    c = client(
        jwt_auth(secret=SECRET, algorithms=["HS256"], state_key="claims", realm="shop"),
        handler=handler,
    )
    assert c.get("/", headers=bearer(hs())).json() == {"claims": "alice", "user": False}
    assert challenge(c.get("/")) == 'Bearer realm="shop"'


# -- construction refuses the dangerous setups ----------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"secret": SECRET, "algorithms": ["none"]}, ValueError, "none"),
        ({"secret": SECRET, "algorithms": ["HS256", "none"]}, ValueError, "none"),
        ({"secret": SECRET, "algorithms": ["HS256", "RS256"]}, ValueError, "mixes HMAC"),
        ({"public_key": pem(RSA_KEY), "algorithms": ["RS256", "HS256"]}, ValueError, "mixes"),
        ({"secret": SECRET, "algorithms": ["RS256"]}, ValueError, "secret"),
        ({"public_key": pem(RSA_KEY), "algorithms": ["HS256"]}, ValueError, "public_key"),
        ({"secret": pem(RSA_KEY).decode(), "algorithms": ["HS256"]}, ValueError, "looks like"),
        ({"secret": "short", "algorithms": ["HS256"]}, ValueError, "at least 32 bytes"),
        ({"secret": 12345, "algorithms": ["HS256"]}, TypeError, "str or bytes"),
        ({"algorithms": ["HS256"]}, ValueError, "exactly one"),
        (
            {"secret": SECRET, "jwks_url": "http://x", "algorithms": ["HS256"]},
            ValueError,
            "exactly one",
        ),
        ({"secret": SECRET, "algorithms": []}, ValueError, "at least one"),
        ({"secret": SECRET, "algorithms": "HS256"}, TypeError, "list"),
        ({"secret": SECRET, "algorithms": ["HS999"]}, ValueError, "unknown"),
        ({"public_key": "not a key", "algorithms": ["RS256"]}, ValueError, "not a key"),
        ({"public_key": pem(RSA_KEY), "algorithms": ["ES256"]}, ValueError, "not a key"),
        ({"jwks_url": "ftp://x", "algorithms": ["RS256"]}, ValueError, "http"),
        ({"jwks_url": "http://x", "algorithms": ["HS256"]}, ValueError, "public keys"),
        (
            {"jwks_url": "http://x", "algorithms": ["RS256"], "jwks_min_refresh": 0},
            ValueError,
            "min",
        ),
        ({"secret": SECRET, "algorithms": ["HS256"], "leeway": -1}, ValueError, "leeway"),
        ({"secret": SECRET, "algorithms": ["HS256"], "token_from": ["body"]}, ValueError, "body"),
        ({"secret": SECRET, "algorithms": ["HS256"], "token_from": []}, ValueError, "source"),
        ({"secret": SECRET, "algorithms": ["HS256"], "state_key": "a-b"}, ValueError, "state_key"),
        ({"secret": SECRET, "algorithms": ["HS256"], "realm": 'a"b'}, ValueError, "realm"),
        ({"secret": SECRET, "algorithms": ["HS256"], "passthrough": 1}, TypeError, "passthrough"),
        ({"secret": SECRET, "algorithms": ["HS256"], "max_token_size": 1}, ValueError, "max_token"),
    ],
)
def test_bad_options_fail_at_construction(kwargs: dict[str, Any], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        jwt_auth(**kwargs)


def test_algorithms_is_required() -> None:
    with pytest.raises(TypeError, match="algorithms"):
        jwt_auth(secret=SECRET)  # type: ignore[call-arg]


# -- JWKS against a real loopback server ---------------------------------------------------------


def jwk(key: Any, kid: str | None, alg: str | None = "RS256") -> dict[str, Any]:
    data: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    if kid is not None:
        data["kid"] = kid
    if alg is not None:
        data["alg"] = alg
    data["use"] = "sig"
    return data


class JwksServer:
    """uvicorn serving a scallion App on 127.0.0.1: GET /jwks.json answers ``self.document``."""

    def __init__(self) -> None:
        self.document: Any = {"keys": []}
        self.fetches = 0
        self.fail_status = 0
        app = App()

        async def serve(ctx: Any, next: Any) -> None:
            if ctx.path != "/jwks.json":
                return
            self.fetches += 1
            if self.fail_status:
                ctx.status = self.fail_status
                ctx.body = "down"
                return
            ctx.body = self.document

        app.use(serve)
        self.port = free_port()
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/jwks.json"

    def start(self) -> JwksServer:
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("JWKS server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    def reset(self, *keys: dict[str, Any]) -> None:
        self.document = {"keys": list(keys)}
        self.fetches = 0
        self.fail_status = 0


@pytest.fixture(scope="module")
def jwks_server() -> Iterator[JwksServer]:
    server = JwksServer().start()
    yield server
    server.stop()


@pytest.fixture
def jwks(jwks_server: JwksServer) -> JwksServer:
    jwks_server.reset(jwk(RSA_KEY, "k1"))
    return jwks_server


def jwks_client(server: JwksServer, **options: Any) -> TestClient:
    options.setdefault("algorithms", ["RS256"])
    return client(jwt_auth(jwks_url=server.url, **options), handler=whoami)


def test_jwks_keys_are_fetched_once_and_cached(jwks: JwksServer) -> None:
    c = jwks_client(jwks)
    for _ in range(5):
        assert c.get("/", headers=bearer(rs(kid="k1"))).json() == {"user": "alice"}
    assert jwks.fetches == 1
    assert c.get("/", headers=bearer(rs(RSA_KEY_2, kid="k1"))).status_code == 401
    assert jwks.fetches == 1  # a bad signature on a known kid never refetches


def test_key_rotation_new_kid_costs_one_refetch(jwks: JwksServer) -> None:
    c = jwks_client(jwks, jwks_min_refresh=0.05)
    assert c.get("/", headers=bearer(rs(kid="k1"))).status_code == 200
    time.sleep(0.06)
    jwks.document = {"keys": [jwk(RSA_KEY, "k1"), jwk(RSA_KEY_2, "k2")]}  # the IdP rotates
    for _ in range(3):
        assert c.get("/", headers=bearer(rs(RSA_KEY_2, kid="k2"))).status_code == 200
    time.sleep(0.1)  # let a background refresh that request may have started finish here
    assert jwks.fetches == 2
    assert c.get("/", headers=bearer(rs(kid="k1"))).status_code == 200
    assert jwks.fetches == 2


async def test_unknown_kids_cannot_force_a_fetch_storm(jwks: JwksServer) -> None:
    mw = jwt_auth(jwks_url=jwks.url, algorithms=["RS256"], jwks_min_refresh=1.0)
    tokens = [rs(kid=f"attacker-{i}") for i in range(40)]
    async with AsyncTestClient(app_with(mw, handler=whoami)) as c:

        async def storm() -> set[int]:
            responses = await asyncio.gather(*(c.get("/", headers=bearer(t)) for t in tokens))
            assert "signing key is unknown" in challenge(responses[0])
            return {r.status_code for r in responses}

        assert (await c.get("/", headers=bearer(rs(kid="k1")))).status_code == 200
        assert jwks.fetches == 1
        assert await storm() == {401}
        assert jwks.fetches == 1  # within jwks_min_refresh of the last fetch: none at all
        await asyncio.sleep(1.05)
        assert await storm() == {401}
        assert jwks.fetches == 2  # forty unknown kids at once: one shared fetch
        assert await storm() == {401}
        assert jwks.fetches == 2
        assert (await c.get("/", headers=bearer(rs(kid="k1")))).status_code == 200


def test_cached_keys_keep_working_while_the_endpoint_is_down(jwks: JwksServer) -> None:
    c = jwks_client(jwks, jwks_cache_ttl=0.1, jwks_min_refresh=0.05)
    assert c.get("/", headers=bearer(rs(kid="k1"))).status_code == 200
    jwks.fail_status = 503
    time.sleep(0.15)  # the cache is stale; refreshing fails
    for _ in range(3):
        assert c.get("/", headers=bearer(rs(kid="k1"))).status_code == 200
        time.sleep(0.06)
    assert jwks.fetches >= 2  # it did try, in the background
    jwks.fail_status = 0
    jwks.document = {"keys": [jwk(RSA_KEY_2, "k2")]}
    time.sleep(0.15)
    c.get("/", headers=bearer(rs(kid="k1")))  # stale k1 answers once more; refresh starts
    time.sleep(0.1)
    assert c.get("/", headers=bearer(rs(RSA_KEY_2, kid="k2"))).status_code == 200
    time.sleep(0.1)  # let a background refresh that request may have started finish here


def test_no_keys_at_all_is_503_and_does_not_hammer_the_endpoint(jwks: JwksServer) -> None:
    jwks.fail_status = 500
    c = client(
        error_handler(),
        jwt_auth(jwks_url=jwks.url, algorithms=["RS256"], jwks_min_refresh=30),
        handler=whoami,
    )
    for _ in range(3):
        r = c.get("/", headers=bearer(rs(kid="k1")))
        assert r.status_code == 503 and r.json()["message"] == "Signing keys unavailable"
        assert r.headers["retry-after"] == "30"
    assert jwks.fetches == 1
    assert c.get("/").status_code == 401  # no token: still the client's problem


def test_unreachable_jwks_endpoint_is_503() -> None:
    url = f"http://127.0.0.1:{free_port()}/jwks.json"
    c = client(jwt_auth(jwks_url=url, algorithms=["RS256"], jwks_timeout=0.5), handler=whoami)
    assert c.get("/", headers=bearer(rs(kid="k1"))).status_code == 503


@pytest.mark.parametrize(
    "document",
    [
        "not json at all",
        {"no": "keys"},
        {"keys": "nope"},
        {"keys": [{"kty": "oct", "k": b64(SECRET.encode()), "kid": "k1"}]},  # a shared secret
        {"keys": [{"kty": "RSA", "kid": "k1", "n": "bad", "e": "AQAB"}]},
    ],
)
def test_unusable_jwks_documents_are_never_trusted(jwks: JwksServer, document: Any) -> None:
    jwks.document = document
    c = jwks_client(jwks)
    assert c.get("/", headers=bearer(rs(kid="k1"))).status_code == 503


def test_symmetric_and_encryption_keys_in_a_jwks_are_ignored(jwks: JwksServer) -> None:
    enc = jwk(RSA_KEY_2, "enc")
    enc["use"] = "enc"
    jwks.reset(jwk(RSA_KEY, "k1"), {"kty": "oct", "k": b64(SECRET.encode()), "kid": "hs"}, enc)
    c = jwks_client(jwks)
    hs_token = jwt.encode(claims(), SECRET, algorithm="HS256", headers={"kid": "hs"})
    assert c.get("/", headers=bearer(hs_token)).status_code == 401
    assert c.get("/", headers=bearer(rs(RSA_KEY_2, kid="enc"))).status_code == 401
    assert c.get("/", headers=bearer(rs(kid="k1"))).status_code == 200


def test_token_alg_must_fit_the_keys_declared_alg(jwks: JwksServer) -> None:
    jwks.reset(jwk(RSA_KEY, "k1", alg="RS384"))
    c = jwks_client(jwks, algorithms=["RS256", "RS384"])
    assert c.get("/", headers=bearer(rs(kid="k1", alg="RS384"))).status_code == 200
    r = c.get("/", headers=bearer(rs(kid="k1", alg="RS256")))
    assert r.status_code == 401 and "does not fit" in challenge(r)


def test_kid_less_token_against_a_one_key_set(jwks: JwksServer) -> None:
    jwks.reset(jwk(RSA_KEY, None))
    c = jwks_client(jwks)
    assert c.get("/", headers=bearer(rs())).status_code == 200
    jwks.reset(jwk(RSA_KEY, "a"), jwk(RSA_KEY_2, "b"))
    two = jwks_client(jwks)
    assert two.get("/", headers=bearer(rs())).status_code == 401  # which one? refuse


def test_hostile_kid_values(jwks: JwksServer) -> None:
    c = jwks_client(jwks)
    for kid in ("x" * 1000, 42, None, ["k1"]):
        token = forge_rs({"alg": "RS256", "kid": kid}, claims())
        assert c.get("/", headers=bearer(token)).status_code == 401
    assert jwks.fetches == 0


def test_key_confusion_against_jwks(jwks: JwksServer) -> None:
    token = forge({"alg": "HS256", "kid": "k1"}, claims(), pem(RSA_KEY))
    assert jwks_client(jwks).get("/", headers=bearer(token)).status_code == 401
    assert jwks.fetches == 0


def test_repr_and_attributes(jwks: JwksServer) -> None:
    mw = jwt_auth(jwks_url=jwks.url, algorithms=["RS256"])
    assert mw.jwks is not None and "RS256" in repr(mw)
    assert closing(TestClient(app_with(mw, handler=whoami))).get("/").status_code == 401
