"""Build a middleware stack from configuration, as the seed's ``config/middleware.js``.

Usage::

    app = App()
    app.use(from_config("config/middleware.yaml"))     # or a dict, or a .toml file
    app.use(router.routes())

The config maps middleware names to entries, in the order they should run (outermost
first)::

    errorHandler: {enabled: true}
    cors:
      enabled: true
      options: {origin: "*", allowMethods: [GET, POST]}
    bodyParser: {enabled: false}
    timeout: {seconds: 5}            # options may also sit beside ``enabled``

An entry may also be ``true``/``false`` or empty (enabled, no options). A top-level
``middleware:`` key is unwrapped, and a list of one-key mappings is accepted too (to use
one middleware twice). Names are snake_case or the seed's camelCase (``bodyParser``,
``errorHandler``, ``serveStatic``...) and option names are converted the same way
(``allowMethods`` -> ``allow_methods``). Everything is checked when ``from_config`` runs,
at start-up: an unknown name, an unknown option, a missing required option or a value the
factory refuses raises ``ConfigError`` naming the entry and the file.

``registry`` adds names (or overrides built-in ones): ``{"auth": my_auth_factory}`` or
``{"auth": "myapp.auth:factory"}``. Built-in factories are imported only when an entry
uses them, so a missing optional dependency only matters if you enable that middleware.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from ..compose import compose
from ..types import Middleware, Next
from ._util import snake_case

if TYPE_CHECKING:
    from ..context import Context

__all__ = ["BUILTIN", "ConfigError", "from_config", "load_config"]

_M: Final = "scallion.middleware."

BUILTIN: Final[Mapping[str, tuple[str, ...]]] = {
    "error_handler": (_M + "error_handler:error_handler",),
    "logger": (_M + "logger:logger",),
    "response_time": (_M + "response_time:response_time",),
    "request_id": (_M + "request_id:request_id",),
    "timeout": (_M + "timeout:timeout",),
    "conditional_get": (_M + "conditional_get:conditional_get",),
    "etag": (_M + "etag:etag",),
    "envelope": (_M + "envelope:envelope",),
    "security_headers": (_M + "security_headers:security_headers",),
    "csrf": (_M + "csrf:csrf",),
    "body_parser": (_M + "body_parser:body_parser", _M + "body:body_parser"),
    "multipart": (_M + "multipart:multipart",),
    "serve_static": (_M + "static:serve_static", _M + "serve_static:serve_static"),
    "cors": (_M + "cors:cors",),
    "compress": (_M + "compress:compress",),
    "session": (_M + "session:session",),
    "rate_limit": (_M + "rate_limit:rate_limit",),
    "jwt_auth": (_M + "jwt:jwt_auth", _M + "jwt_auth:jwt_auth"),
    "api_key": (_M + "api_key:api_key", _M + "jwt:api_key"),
}
"""Built-in names -> where their factories live (first importable one wins)."""

_ALIASES: Final = {
    "static": "serve_static",
    "serve": "serve_static",
    "jwt": "jwt_auth",
    "helmet": "security_headers",
    "compression": "compress",
    "bodyparser": "body_parser",
    "ratelimit": "rate_limit",
    "errorhandler": "error_handler",
    "apikey": "api_key",
    "conditional": "conditional_get",
}

Factory = Callable[..., Any]


class ConfigError(ValueError):
    """A middleware config that cannot be built; the message names the entry and source."""

    def __init__(self, message: str, *, source: str, entry: str | None = None) -> None:
        self.source = source
        self.entry = entry
        where = f"{source}, entry {entry!r}" if entry else source
        super().__init__(f"{where}: {message}")


# -- loading ----------------------------------------------------------------------------


def load_config(path: str | os.PathLike[str]) -> Any:
    """Parse a YAML (``.yaml``/``.yml``), TOML or JSON file."""
    file = Path(path)
    source = str(file)
    suffix = file.suffix.lower()
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("the config file does not exist", source=source) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the config file: {exc}", source=source) from exc
    if suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:  # pragma: no cover - depends on the install
            raise ConfigError(
                "reading YAML needs PyYAML: pip install 'scallion[bff]'", source=source
            ) from None
        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = f" at line {mark.line + 1}" if mark is not None else ""
            problem = getattr(exc, "problem", None) or exc
            raise ConfigError(f"invalid YAML{line}: {problem}", source=source) from exc
    if suffix == ".toml":
        import tomllib

        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"invalid TOML: {exc}", source=source) from exc
    if suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"invalid JSON: {exc}", source=source) from exc
    raise ConfigError(
        f"unsupported config file type {suffix or '(none)'!r}: use .yaml, .yml, .toml or .json",
        source=source,
    )


# -- resolving names ---------------------------------------------------------------------


def _import(spec: str) -> Factory:
    module_name, _, attr = spec.partition(":")
    module = importlib.import_module(module_name)
    factory = getattr(module, attr)
    if not callable(factory):
        raise TypeError(f"{spec} is not callable")
    return factory  # type: ignore[no-any-return]


def _resolve(
    name: str, registry: Mapping[str, Factory | str | tuple[str, ...]], source: str
) -> Factory:
    target = registry[name]
    if callable(target):
        return target
    specs = (target,) if isinstance(target, str) else tuple(target)
    problems: list[str] = []
    for spec in specs:
        module_name = spec.partition(":")[0]
        try:
            return _import(spec)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:  # the module exists, a dependency of it is missing
                raise ConfigError(
                    f"middleware {name!r} needs a package that is not installed: {exc}",
                    source=source,
                    entry=name,
                ) from exc
            problems.append(f"no module {module_name}")
        except (ImportError, AttributeError, TypeError) as exc:
            problems.append(f"{spec}: {exc}")
    # A factory the package exports under the same name (a module moved elsewhere).
    package = importlib.import_module("scallion.middleware")
    for spec in specs:
        found = getattr(package, spec.partition(":")[2], None)
        if callable(found) and not inspect.ismodule(found):
            return found  # type: ignore[no-any-return]
    raise ConfigError(
        f"middleware {name!r} is not available ({'; '.join(problems)})",
        source=source,
        entry=name,
    )


def _canonical(name: str, registry: Mapping[str, Any]) -> str | None:
    if name in registry:
        return name
    snake = snake_case(name)
    if snake in registry:
        return snake
    alias = _ALIASES.get(snake.replace("_", ""))
    if alias is not None and alias in registry:
        return alias
    return None


# -- entries ----------------------------------------------------------------------------


def _entries(config: Any, source: str) -> list[tuple[str, Any]]:
    if isinstance(config, Mapping) and set(config) == {"middleware"}:
        config = config["middleware"]
    if config is None:
        return []
    if isinstance(config, Mapping):
        return [(str(name), spec) for name, spec in config.items()]
    if isinstance(config, list):
        entries: list[tuple[str, Any]] = []
        for index, item in enumerate(config):
            if not isinstance(item, Mapping) or len(item) != 1:
                raise ConfigError(
                    f"list item {index} must be a mapping with one middleware name",
                    source=source,
                )
            ((name, spec),) = item.items()
            entries.append((str(name), spec))
        return entries
    raise ConfigError(
        f"the config must be a mapping of middleware names, not {type(config).__name__}",
        source=source,
    )


def _options_of(name: str, spec: Any, source: str) -> dict[str, Any] | None:
    """The entry's options, or ``None`` when it is disabled."""
    if spec is None or spec is True:
        return {}
    if spec is False:
        return None
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"must be true/false or a mapping with 'enabled' and 'options', "
            f"not {type(spec).__name__} {spec!r}",
            source=source,
            entry=name,
        )
    enabled = spec.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ConfigError(
            f"'enabled' must be true or false, not {enabled!r}", source=source, entry=name
        )
    if "options" in spec:
        extra = sorted(str(key) for key in spec if key not in ("enabled", "options"))
        if extra:
            raise ConfigError(
                f"put {extra} inside 'options' (or drop 'options' and list them beside 'enabled')",
                source=source,
                entry=name,
            )
        raw = spec["options"]
        if raw is None:
            raw = {}
        if not isinstance(raw, Mapping):
            raise ConfigError(
                f"'options' must be a mapping, not {type(raw).__name__}", source=source, entry=name
            )
    else:
        raw = {key: value for key, value in spec.items() if key != "enabled"}
    if not enabled:
        return None
    options: dict[str, Any] = {}
    for key, value in raw.items():
        if not isinstance(key, str):
            raise ConfigError(
                f"option names must be strings, not {key!r}", source=source, entry=name
            )
        option = snake_case(key)
        if option in options:
            raise ConfigError(f"option {option!r} is given twice", source=source, entry=name)
        options[option] = value
    return options


def _check_names(factory: Factory, options: Mapping[str, Any], name: str, source: str) -> None:
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):
        return
    params = signature.parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return
    accepted = [
        p.name
        for p in params
        if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ConfigError(
            f"unknown option{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
            f"{name} accepts: {', '.join(accepted) or 'no options'}",
            source=source,
            entry=name,
        )


def from_config(
    config: Mapping[str, Any] | list[Any] | str | os.PathLike[str],
    *,
    registry: Mapping[str, Factory | str] | None = None,
    source: str | None = None,
) -> Middleware:
    """Compose the enabled entries of ``config``, in order, into one middleware.

    Args:
        config: a mapping (or list of one-key mappings), or the path of a YAML, TOML or
            JSON file holding one.
        registry: extra names, each a factory or ``"module:attr"``; they override the
            built-in names.
        source: how errors name a mapping config (default ``"<config>"``).

    Raises:
        ConfigError: with the file (or ``source``) and the entry name, for any entry that
            cannot be built.
    """
    if isinstance(config, str | os.PathLike):
        where = str(config)
        data = load_config(config)
    else:
        where = source or "<config>"
        data = config
    names: dict[str, Factory | str | tuple[str, ...]] = dict(BUILTIN)
    if registry is not None:
        if not isinstance(registry, Mapping):
            raise TypeError("from_config(registry=...) must be a mapping of name -> factory")
        for key, value in registry.items():
            if not (callable(value) or isinstance(value, str)):
                raise TypeError(f"registry entry {key!r} must be a factory or 'module:attr'")
            names[snake_case(key)] = value
    built: list[Any] = []
    labels: list[str] = []
    for raw_name, spec in _entries(data, where):
        canonical = _canonical(raw_name, names)
        if canonical is None:
            known = ", ".join(sorted(names))
            raise ConfigError(
                f"unknown middleware {raw_name!r}; known names: {known} (or add it with "
                "from_config(..., registry={...}))",
                source=where,
                entry=raw_name,
            )
        options = _options_of(raw_name, spec, where)
        if options is None:
            continue
        factory = _resolve(canonical, names, where)
        _check_names(factory, options, raw_name, where)
        try:
            middleware = factory(**options)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"bad options: {exc}", source=where, entry=raw_name) from exc
        if not callable(middleware):
            raise ConfigError(
                f"factory returned {middleware!r}, which is not a middleware",
                source=where,
                entry=raw_name,
            )
        built.append(middleware)
        labels.append(canonical)
    stack = compose(built)

    def from_config_middleware(ctx: Context, next: Next) -> Any:
        return stack(ctx, next)

    from_config_middleware.names = tuple(labels)  # type: ignore[attr-defined]
    from_config_middleware.middleware = tuple(built)  # type: ignore[attr-defined]
    return from_config_middleware
