"""Bearer-token (JWT) authentication on PyJWT: ``ctx.state.user`` holds the verified claims.

Usage::

    app.use(jwt_auth(secret=os.environ["JWT_SECRET"], algorithms=["HS256"]))
    app.use(jwt_auth(jwks_url="https://idp.example/.well-known/jwks.json", algorithms=["RS256"]))
    async def me(ctx): ctx.body = {"user": ctx.state.user["sub"]}

A missing, malformed, expired or otherwise invalid token is a 401 with an RFC 6750
``WWW-Authenticate: Bearer`` challenge. The algorithms you list are the only ones accepted:
``none`` is refused, and HMAC (``HS*``) cannot be mixed with public-key algorithms, so a
public key can never be used as an HMAC secret (the classic key-confusion attack). The key
is chosen for the algorithm here, never by the token. Needs ``pip install 'scallion[jwt]'``.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from ..errors import HttpError
from ._jwks import JwksCache, JwksUnavailable

if TYPE_CHECKING:
    from ..context import Context
    from ..types import Next

__all__ = ["JwtAuth", "jwt_auth"]

HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
PUBLIC_KEY_ALGORITHMS = frozenset(
    {
        "RS256",
        "RS384",
        "RS512",
        "PS256",
        "PS384",
        "PS512",
        "ES256",
        "ES256K",
        "ES384",
        "ES512",
        "ES521",
        "EdDSA",
    }
)
MIN_SECRET_BYTES = 32
DEFAULT_MAX_TOKEN = 8192


def _import_jwt() -> Any:
    try:
        import jwt
    except ImportError:  # pragma: no cover - depends on the install
        raise ImportError("jwt_auth needs PyJWT: pip install 'scallion[jwt]'") from None
    return jwt


class JwtAuth:
    """The middleware ``jwt_auth()`` returns; ``jwks`` is its key cache (or ``None``)."""

    __slots__ = (
        "_challenge",
        "_jwt",
        "_keys",
        "_options",
        "_sources",
        "algorithms",
        "audience",
        "issuer",
        "jwks",
        "leeway",
        "max_token_size",
        "passthrough",
        "realm",
        "state_key",
    )

    def __init__(
        self,
        *,
        jwt_module: Any,
        keys: dict[str, Any],
        jwks: JwksCache | None,
        algorithms: frozenset[str],
        audience: str | Sequence[str] | None,
        issuer: str | Sequence[str] | None,
        leeway: float,
        passthrough: bool,
        sources: list[tuple[str, str]],
        state_key: str,
        required_claims: Sequence[str],
        max_token_size: int,
        realm: str,
    ) -> None:
        self._jwt = jwt_module
        self._keys = keys
        self.jwks = jwks
        self.algorithms = algorithms
        self.audience = audience
        self.issuer = issuer
        self.leeway = leeway
        self.passthrough = passthrough
        self._sources = sources
        self.state_key = state_key
        self._options: dict[str, Any] = {"require": list(required_claims)}
        self.max_token_size = max_token_size
        self.realm = realm
        self._challenge = f'Bearer realm="{realm}"'

    def __repr__(self) -> str:
        return f"<jwt_auth algorithms={sorted(self.algorithms)} jwks={self.jwks is not None}>"

    def _unauthorized(self, message: str, description: str | None) -> HttpError:
        challenge = self._challenge
        if description is not None:
            challenge += f', error="invalid_token", error_description="{description}"'
        return HttpError(401, message, headers={"www-authenticate": challenge})

    def token(self, ctx: Context) -> str | None:
        """The token the request carries, from the first source that has one."""
        for kind, name in self._sources:
            if kind == "header":
                scheme, _, value = ctx.request.get("authorization").partition(" ")
                if scheme.lower() == "bearer" and value.strip():
                    return value.strip()
            elif kind == "cookie":
                value = ctx.cookies.get(name) or ""
                if value:
                    return value
            else:
                found = ctx.query.get(name)
                if isinstance(found, list):
                    raise self._unauthorized("Invalid token", "More than one token was sent")
                if isinstance(found, str) and found:
                    return found
        return None

    async def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, or ``HttpError(401)`` (503 when no signing keys are available)."""
        jwt = self._jwt
        if len(token) > self.max_token_size:
            raise self._unauthorized("Invalid token", "The token is too large")
        header = _header(token)
        if header is None:
            raise self._unauthorized("Invalid token", "The token is malformed")
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.algorithms:
            raise self._unauthorized("Invalid token", "The token algorithm is not accepted")
        key = self._keys.get(alg)
        if key is None:
            key = await self._jwks_key(header, alg)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options=self._options,
            )
        except jwt.ExpiredSignatureError:
            raise self._unauthorized("Token expired", "The token has expired") from None
        except jwt.InvalidAudienceError:
            raise self._unauthorized(
                "Invalid token", "The token audience is not accepted"
            ) from None
        except jwt.InvalidIssuerError:
            raise self._unauthorized("Invalid token", "The token issuer is not accepted") from None
        except jwt.ImmatureSignatureError:
            raise self._unauthorized("Invalid token", "The token is not valid yet") from None
        except jwt.MissingRequiredClaimError as exc:
            description = f"The token lacks the {exc.claim} claim"
            raise self._unauthorized("Invalid token", description) from None
        except jwt.InvalidSignatureError:
            raise self._unauthorized("Invalid token", "The token signature is invalid") from None
        except (jwt.InvalidTokenError, jwt.InvalidKeyError, ValueError, TypeError):
            raise self._unauthorized("Invalid token", "The token is invalid") from None
        if not isinstance(claims, dict):  # pragma: no cover - PyJWT always returns a dict
            raise self._unauthorized("Invalid token", "The token is invalid")
        return claims

    async def _jwks_key(self, header: dict[str, Any], alg: str) -> Any:
        jwks = self.jwks
        if jwks is None:  # pragma: no cover - the constructor keys every algorithm
            raise self._unauthorized("Invalid token", "The token algorithm is not accepted")
        kid = header.get("kid")
        if "kid" in header and (not isinstance(kid, str) or len(kid) > 256):
            raise self._unauthorized("Invalid token", "The token key id is malformed")
        try:
            found = await jwks.key_for(kid)
        except JwksUnavailable:
            retry = str(max(1, math.ceil(jwks.min_refresh)))
            raise HttpError(
                503, "Signing keys unavailable", expose=True, headers={"retry-after": retry}
            ) from None
        if found is None:
            raise self._unauthorized("Invalid token", "The token signing key is unknown")
        jwk, declared = found
        if declared is not None and declared != alg:
            raise self._unauthorized("Invalid token", "The token algorithm does not fit its key")
        return jwk.key

    async def __call__(self, ctx: Context, next: Next) -> None:
        token = self.token(ctx)
        if token is None:
            if not self.passthrough:
                raise HttpError(
                    401, "Missing bearer token", headers={"www-authenticate": self._challenge}
                )
        else:
            setattr(ctx.state, self.state_key, await self.verify(token))
        await next()


def _header(token: str) -> dict[str, Any] | None:
    """The JOSE header of a compact JWS, or ``None`` when it is not one.

    Only used to pick the algorithm and key; PyJWT then checks the whole token, so this
    saves parsing it twice (PyJWT's parse is most of the cost of a verification).
    """
    segment, dot, rest = token.partition(".")
    if not dot or rest.count(".") != 1 or not segment:
        return None
    try:
        header = orjson.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        return None
    return header if isinstance(header, dict) else None


def _sources(token_from: str | Sequence[str]) -> list[tuple[str, str]]:
    if isinstance(token_from, str):
        token_from = (token_from,)
    sources: list[tuple[str, str]] = []
    for spec in token_from:
        if not isinstance(spec, str):
            raise TypeError("jwt_auth(token_from=...) entries must be str")
        kind, _, name = spec.partition(":")
        if kind == "header" and not name:
            sources.append(("header", "authorization"))
        elif kind in ("cookie", "query") and name:
            sources.append((kind, name))
        else:
            raise ValueError(
                f"jwt_auth(token_from=...): {spec!r} is not 'header', 'cookie:NAME' or 'query:NAME'"
            )
    if not sources:
        raise ValueError("jwt_auth(token_from=...) needs at least one source")
    return sources


def _check_algorithms(jwt: Any, algorithms: Sequence[str]) -> frozenset[str]:
    if isinstance(algorithms, str) or not isinstance(algorithms, Sequence | set | frozenset):
        raise TypeError("jwt_auth(algorithms=...) must be a list such as ['RS256']")
    chosen = frozenset(algorithms)
    if not chosen:
        raise ValueError("jwt_auth(algorithms=...) must name at least one algorithm")
    if any(a.lower() == "none" for a in chosen if isinstance(a, str)):
        raise ValueError("jwt_auth(algorithms=...) must not contain 'none': unsigned tokens")
    supported = set(jwt.algorithms.get_default_algorithms()) - {"none"}
    unknown = sorted(str(a) for a in chosen if a not in supported)
    if unknown:
        raise ValueError(
            f"jwt_auth(algorithms=...): unknown {unknown}; PyJWT supports {sorted(supported)}"
        )
    if chosen & HMAC_ALGORITHMS and chosen - HMAC_ALGORITHMS:
        raise ValueError(
            "jwt_auth(algorithms=...) mixes HMAC (HS*) with public-key algorithms "
            f"({sorted(chosen)}): a public key could then be used as an HMAC secret. "
            "Use one family per jwt_auth()."
        )
    return chosen


def _secret_keys(secret: Any, algorithms: frozenset[str]) -> dict[str, Any]:
    if not algorithms <= HMAC_ALGORITHMS:
        raise ValueError(
            "jwt_auth(secret=...) is for HS256/HS384/HS512; use public_key= for others"
        )
    if isinstance(secret, str):
        raw = secret.encode()
    elif isinstance(secret, bytes):
        raw = secret
    else:
        raise TypeError("jwt_auth(secret=...) must be a str or bytes")
    if b"-----BEGIN" in raw or raw.startswith((b"ssh-", b"ecdsa-")):
        raise ValueError("jwt_auth(secret=...) looks like a public/private key, not an HMAC secret")
    if len(raw) < MIN_SECRET_BYTES:
        raise ValueError(
            f"jwt_auth(secret=...) must be at least {MIN_SECRET_BYTES} bytes (RFC 7518 §3.2); "
            f"got {len(raw)}"
        )
    return dict.fromkeys(algorithms, raw)


def _public_keys(jwt: Any, public_key: Any, algorithms: frozenset[str]) -> dict[str, Any]:
    if not algorithms <= PUBLIC_KEY_ALGORITHMS:
        raise ValueError("jwt_auth(public_key=...) is for RS*/PS*/ES*/EdDSA; use secret= for HS*")
    keys: dict[str, Any] = {}
    registry = jwt.algorithms.get_default_algorithms()
    for alg in algorithms:
        try:
            key = registry[alg].prepare_key(public_key)
        except (jwt.InvalidKeyError, ValueError, TypeError) as exc:
            raise ValueError(f"jwt_auth(public_key=...) is not a key for {alg}: {exc}") from None
        public = getattr(key, "public_key", None)
        keys[alg] = public() if callable(public) else key  # a private key: verify with its half
    return keys


def jwt_auth(
    *,
    algorithms: Sequence[str],
    secret: str | bytes | None = None,
    public_key: Any = None,
    jwks_url: str | None = None,
    audience: str | Sequence[str] | None = None,
    issuer: str | Sequence[str] | None = None,
    leeway: float = 0,
    passthrough: bool = False,
    token_from: str | Sequence[str] = ("header",),
    state_key: str = "user",
    required_claims: Sequence[str] = ("exp",),
    jwks_cache_ttl: float = 300,
    jwks_min_refresh: float = 30,
    jwks_timeout: float = 2.0,
    max_token_size: int = DEFAULT_MAX_TOKEN,
    realm: str = "api",
) -> JwtAuth:
    """Verify a JWT on every request and put its claims on ``ctx.state.<state_key>``.

    Args:
        algorithms: required; the only algorithms accepted, one family: HMAC (``HS256``...)
            with ``secret``, or public-key (``RS256``, ``PS256``, ``ES256``, ``EdDSA``...)
            with ``public_key`` or ``jwks_url``.
        secret: HMAC secret, at least 32 bytes.
        public_key: PEM (str/bytes) or a ``cryptography`` key.
        jwks_url: where the issuer publishes its keys; cached ``jwks_cache_ttl`` seconds,
            refetched on an unknown ``kid`` at most every ``jwks_min_refresh`` seconds,
            each fetch bounded by ``jwks_timeout``.
        audience, issuer: accepted ``aud`` / ``iss`` (a value or a list).
        leeway: seconds of clock skew allowed on ``exp``/``nbf``/``iat``.
        passthrough: let requests *without* a token through (no ``ctx.state.user``); a
            token that is present but invalid is still a 401.
        token_from: where to look, in order: ``"header"`` (``Authorization: Bearer``),
            ``"cookie:NAME"``, ``"query:NAME"``.
        state_key: the ``ctx.state`` attribute for the claims.
        required_claims: claims a token must have (``exp`` by default).
        max_token_size: longer tokens are refused before any parsing.
        realm: the ``realm`` of the ``WWW-Authenticate`` challenge.
    """
    jwt = _import_jwt()
    chosen = _check_algorithms(jwt, algorithms)
    given = [
        n
        for n, v in (("secret", secret), ("public_key", public_key), ("jwks_url", jwks_url))
        if v is not None
    ]
    if len(given) != 1:
        raise ValueError(
            "jwt_auth() needs exactly one of secret=, public_key= or jwks_url=, "
            f"got {given or 'none'}"
        )
    jwks: JwksCache | None = None
    keys: dict[str, Any] = {}
    if secret is not None:
        keys = _secret_keys(secret, chosen)
    elif public_key is not None:
        keys = _public_keys(jwt, public_key, chosen)
    else:
        if not isinstance(jwks_url, str) or not jwks_url.startswith(("https://", "http://")):
            raise ValueError(f"jwt_auth(jwks_url=...) must be an http(s) URL, not {jwks_url!r}")
        if not chosen <= PUBLIC_KEY_ALGORITHMS:
            raise ValueError("jwt_auth(jwks_url=...) serves public keys: use RS*/PS*/ES*/EdDSA")
        try:
            import httpx  # noqa: F401  (fetches the key set; fail at start-up, not per request)
        except ImportError:  # pragma: no cover - depends on the install
            raise ImportError(
                "jwt_auth(jwks_url=...) fetches keys with httpx: pip install httpx"
            ) from None
        for name, value in (
            ("jwks_cache_ttl", jwks_cache_ttl),
            ("jwks_min_refresh", jwks_min_refresh),
            ("jwks_timeout", jwks_timeout),
        ):
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"jwt_auth({name}=...) must be seconds > 0, got {value!r}")
        jwks = JwksCache(
            jwks_url,
            algorithms=chosen,
            ttl=float(jwks_cache_ttl),
            min_refresh=float(jwks_min_refresh),
            timeout=float(jwks_timeout),
        )
    if isinstance(leeway, bool) or not isinstance(leeway, int | float) or leeway < 0:
        raise ValueError(f"jwt_auth(leeway=...) must be seconds >= 0, got {leeway!r}")
    if not isinstance(passthrough, bool):
        raise TypeError("jwt_auth(passthrough=...) must be a bool")
    if not isinstance(state_key, str) or not state_key.isidentifier():
        raise ValueError(f"jwt_auth(state_key=...) must be an identifier, not {state_key!r}")
    if isinstance(required_claims, str) or not all(isinstance(c, str) for c in required_claims):
        raise TypeError("jwt_auth(required_claims=...) must be a list of claim names")
    if (
        isinstance(max_token_size, bool)
        or not isinstance(max_token_size, int)
        or max_token_size < 16
    ):
        raise ValueError(
            f"jwt_auth(max_token_size=...) must be an int >= 16, got {max_token_size!r}"
        )
    if not isinstance(realm, str) or any(c in realm for c in '"\\\r\n') or not realm.isprintable():
        raise ValueError(
            f"jwt_auth(realm=...) must be printable text without quotes, not {realm!r}"
        )
    for name, claim in (("audience", audience), ("issuer", issuer)):
        if claim is not None and not isinstance(claim, str | Sequence):
            raise TypeError(f"jwt_auth({name}=...) must be a str, a list of str or None")
    return JwtAuth(
        jwt_module=jwt,
        keys=keys,
        jwks=jwks,
        algorithms=chosen,
        audience=audience if audience is None or isinstance(audience, str) else list(audience),
        issuer=issuer if issuer is None or isinstance(issuer, str) else list(issuer),
        leeway=float(leeway),
        passthrough=passthrough,
        sources=_sources(token_from),
        state_key=state_key,
        required_claims=tuple(required_claims),
        max_token_size=max_token_size,
        realm=realm,
    )
