"""The library middleware an endpoint's ``auth:`` and ``rate_limit:`` compile to.

The gateway does not carry its own auth or rate limiting: it uses
``scallion.middleware.jwt_auth`` / ``api_key`` / ``rate_limit``. When this install does
not have one of them, or the options do not fit it, that is a config error reported with
the endpoint's line before anything is served.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .loader import ConfigError, dotted

if TYPE_CHECKING:
    from ...context import Context
    from ...types import Middleware
    from .schema import AuthConfig, EndpointConfig, GatewayConfig

__all__ = ["auth_middleware", "rate_limit_middleware"]

_AUTH_FACTORIES = {"jwt": "jwt_auth", "api_key": "api_key"}


def _factory(name: str) -> Callable[..., Middleware] | None:
    try:
        module = importlib.import_module(f"scallion.middleware.{name}")
    except ImportError:
        return None
    found = getattr(module, name, None)
    return found if callable(found) else None


def auth_middleware(
    auth: AuthConfig, file: str, line: int | None, errors: list[ConfigError]
) -> Middleware | None:
    """``jwt_auth(**options)`` or ``api_key(**options)``; a config error if unavailable."""
    name = _AUTH_FACTORIES[auth.kind]
    field = dotted(auth.path)
    factory = _factory(name)
    if factory is None:
        errors.append(
            ConfigError(
                file,
                line,
                field,
                f"auth {auth.kind} needs scallion.middleware.{name}, which this scallion "
                "install does not provide",
            )
        )
        return None
    try:
        return factory(**dict(auth.options))
    except (TypeError, ValueError) as exc:
        errors.append(ConfigError(file, line, field, f"{name}: {exc}"))
        return None


def _key_function(spec: str, route: str) -> Callable[[Context], str]:
    if spec == "global":
        return lambda ctx: "global"
    if spec == "route":
        return lambda ctx: route
    if spec.startswith("header:"):
        header = spec[7:].lower()
        return lambda ctx: f"{route}|{ctx.request.headers.get(header, '')}"
    return lambda ctx: f"{route}|{ctx.ip}"


def rate_limit_middleware(
    endpoint: EndpointConfig, index: int, config: GatewayConfig, errors: list[ConfigError]
) -> Middleware | None:
    """``rate_limit(limit=, window=, key=, store=)``; a config error if unavailable."""
    limit = endpoint.rate_limit
    assert limit is not None
    field = f"endpoints[{index}].rate_limit"
    factory = _factory("rate_limit")
    if factory is None:
        errors.append(
            ConfigError(
                config.file,
                endpoint.line,
                field,
                "rate_limit needs scallion.middleware.rate_limit, which this scallion install "
                "does not provide",
            )
        )
        return None
    options: dict[str, Any] = {
        "limit": limit.limit,
        "window": limit.window,
        "key": _key_function(limit.key, f"{endpoint.method} {endpoint.path}"),
    }
    if config.redis:
        from ...stores.redis import RedisStore

        options["store"] = RedisStore(config.redis, prefix="scallion:gateway:rl:")
    try:
        return factory(**options)
    except (TypeError, ValueError) as exc:
        errors.append(ConfigError(config.file, endpoint.line, field, f"rate_limit: {exc}"))
        return None
