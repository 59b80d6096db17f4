"""The declarative gateway: a YAML file of upstreams and endpoints, compiled to an ``App``.

    app = load_gateway("gateway.yaml")          # GatewayConfigError lists every problem
    errors = check_gateway("gateway.yaml")      # [] when valid; nothing is started
    app = app_from_env()                        # the file named by $SCALLION_GATEWAY

Every error reads ``gateway.yaml:14: endpoints[2].backends[0].path: unknown placeholder
{idd}``. See ``docs/gateway.md`` for every field.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from .loader import ConfigError
from .schema import GatewayConfig, parse_config

if TYPE_CHECKING:
    from ...app import App
    from ..transport import Transport
    from .compile import Gateway

__all__ = [
    "GATEWAY_ENV",
    "ConfigError",
    "GatewayConfig",
    "GatewayConfigError",
    "app_from_env",
    "build_gateway",
    "check_gateway",
    "load_config",
    "load_gateway",
]

GATEWAY_ENV = "SCALLION_GATEWAY"


class GatewayConfigError(ValueError):
    """The gateway file has errors; ``errors`` holds each one (``str()`` lists them)."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


def _read(path: str | os.PathLike[str]) -> tuple[str, str]:
    file = os.fspath(path)
    try:
        return Path(file).read_text(encoding="utf-8"), file
    except (OSError, UnicodeDecodeError) as exc:
        raise GatewayConfigError(
            [ConfigError(file, None, "", f"cannot read the file: {exc}")]
        ) from None


def load_config(
    path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None
) -> GatewayConfig:
    """Parse and validate the file; ``GatewayConfigError`` with every problem found."""
    text, file = _read(path)
    config, errors = parse_config(text, file, os.environ if env is None else env)
    if config is None:
        raise GatewayConfigError(errors)
    return config


def build_gateway(
    path: str | os.PathLike[str],
    *,
    env: Mapping[str, str] | None = None,
    transport: Callable[[str], Transport] | None = None,
) -> Gateway:
    """Load, validate and compile; the ``Gateway`` keeps the app, upstreams and cache."""
    from .compile import compile_gateway

    return compile_gateway(load_config(path, env=env), transport=transport)


def load_gateway(
    path: str | os.PathLike[str],
    *,
    env: Mapping[str, str] | None = None,
    transport: Callable[[str], Transport] | None = None,
) -> App:
    """The ``App`` serving the gateway file at ``path``.

    ``env`` replaces ``os.environ`` for ``${VAR}`` interpolation; ``transport`` builds the
    HTTP client of each upstream by name (tests).
    """
    return build_gateway(path, env=env, transport=transport).app


def check_gateway(
    path: str | os.PathLike[str], *, env: Mapping[str, str] | None = None
) -> list[ConfigError]:
    """Every error in the file (``[]`` when it is valid), compiling it without serving."""
    try:
        gateway = build_gateway(path, env=env)
    except GatewayConfigError as exc:
        return list(exc.errors)
    # Nothing was started: the pools and clients open lazily, so dropping it is enough.
    del gateway
    return []


def app_from_env() -> App:
    """The gateway named by ``$SCALLION_GATEWAY`` (how ``scallion serve x.yaml`` workers load)."""
    path = os.environ.get(GATEWAY_ENV)
    if not path:
        raise RuntimeError(f"{GATEWAY_ENV} is not set: it names the gateway YAML file to serve")
    return load_gateway(path)
