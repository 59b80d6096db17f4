"""The gateway file's model, and its validation with ``file:line: field: message`` errors.

``parse_config(text, file, env)`` returns ``(GatewayConfig | None, errors)``: every
problem found in one pass (unknown or misspelt fields, wrong types, unknown upstreams or
placeholders, keys two backends would both write under ``merge: error``, dependency
cycles...), each pointing at the line of the offending key or value.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeVar
from urllib.parse import urlsplit

from ..._paths import compile_path
from ...stores._urls import URL_SCHEMES, is_cluster_url, parse_cluster_url
from .loader import ConfigError, Document, FieldPath, load_document
from .shape import Shape
from .template import Template, TemplateError, parse_template

__all__ = [
    "AuthConfig",
    "BackendCacheConfig",
    "BackendConfig",
    "BreakerConfig",
    "CacheConfig",
    "EndpointConfig",
    "GatewayConfig",
    "RateLimitConfig",
    "RetryConfig",
    "UpstreamConfig",
    "parse_config",
]

T = TypeVar("T")
Merge = Literal["deep", "shallow", "error"]
_METHODS: Final = ("GET", "POST", "PUT", "PATCH", "DELETE")
_BALANCERS: Final = ("round_robin", "least_outstanding")
_AUTH_KINDS: Final = ("none", "jwt", "api_key")
_MAX_TTL: Final = 86_400.0  # the gateway cache's max_ttl: a longer TTL would be cut anyway
_HEADER_NAME: Final = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


@dataclass(frozen=True, slots=True)
class RetryConfig:
    attempts: int = 3
    backoff: float = 0.05
    max_backoff: float = 1.0
    budget: float | None = 0.2


@dataclass(frozen=True, slots=True)
class BreakerConfig:
    failure_rate: float = 0.5
    minimum_calls: int = 10
    window: int = 20
    wait: float = 10.0
    half_open_calls: int = 2
    slow_call_duration: float | None = None


@dataclass(frozen=True, slots=True)
class UpstreamConfig:
    name: str
    urls: tuple[str, ...]
    balancer: str = "round_robin"
    timeout: float = 2.0
    retry: RetryConfig | None = field(default_factory=RetryConfig)
    breaker: BreakerConfig | None = field(default_factory=BreakerConfig)
    max_concurrent: int | None = None
    propagate_headers: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    line: int | None = None


@dataclass(frozen=True, slots=True)
class CacheConfig:
    ttl: float
    vary: tuple[str, ...] = ()
    swr: float = 0.0


@dataclass(frozen=True, slots=True)
class BackendCacheConfig:
    """A backend's ``cache:``: its upstream answer, shared by every endpoint calling it."""

    ttl: float
    vary: tuple[str, ...] = ()
    swr: float = 0.0
    sie: float = 0.0


@dataclass(frozen=True, slots=True)
class RateLimitConfig:
    limit: int
    window: float
    key: str = "ip"


@dataclass(frozen=True, slots=True)
class AuthConfig:
    kind: str
    options: tuple[tuple[str, Any], ...] = ()
    path: FieldPath = ()


@dataclass(frozen=True, slots=True)
class BackendConfig:
    name: str
    upstream: str
    template: Template
    shape: Shape
    method: str = "GET"
    fallback: Any = None
    has_fallback: bool = False
    required: bool = False
    pass_status: frozenset[int] | Literal["all"] = frozenset()
    depends_on: tuple[str, ...] = ()
    over: str | None = None
    concurrency: int = 8
    max_items: int = 1000
    timeout: float | None = None
    forward_body: bool = False
    cache: BackendCacheConfig | None = None
    line: int | None = None

    def passes(self, status: int) -> bool:
        return self.pass_status == "all" or status in self.pass_status


@dataclass(frozen=True, slots=True)
class EndpointConfig:
    path: str
    method: str
    backends: tuple[BackendConfig, ...]
    name: str | None = None
    summary: str | None = None
    description: str | None = None
    tags: tuple[str, ...] = ()
    params: tuple[str, ...] = ()
    auth: AuthConfig | None = None
    cache: CacheConfig | None = None
    rate_limit: RateLimitConfig | None = None
    timeout: float | None = None
    merge: Merge = "error"
    line: int | None = None


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    file: str
    upstreams: Mapping[str, UpstreamConfig]
    endpoints: tuple[EndpointConfig, ...]
    redis: str | None = None
    title: str = "scallion gateway"
    version: str = "1.0.0"
    timeout: float | None = None
    openapi: str | None = "/openapi.json"
    status: str | None = None


class _Check:
    """Typed field readers that record an error (and return a default) on bad input."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc

    def error(self, path: FieldPath, message: str, *, key: bool = False) -> None:
        self.doc.error(path, message, key=key)

    def fields(
        self, path: FieldPath, value: Any, known: tuple[str, ...], required: tuple[str, ...] = ()
    ) -> dict[str, Any] | None:
        if not isinstance(value, dict):
            self.error(path, f"must be a mapping, not {_type(value)}")
            return None
        for name in value:
            if name not in known:
                hint = difflib.get_close_matches(name, known, n=1)
                extra = f" (did you mean {hint[0]!r}?)" if hint else ""
                self.error((*path, name), f"unknown field {name!r}{extra}", key=True)
        for name in required:
            if name not in value:
                self.error(path, f"missing required field {name!r}")
        return value

    def typed(
        self,
        obj: Mapping[str, Any],
        path: FieldPath,
        name: str,
        kind: type[T] | tuple[type, ...],
        default: T,
        what: str,
        check: Callable[[Any], str | None] | None = None,
    ) -> T:
        if name not in obj or (obj[name] is None and default is None):
            return default
        value = obj[name]
        if isinstance(value, bool) and kind in (int, float, (int, float)):
            ok = False
        else:
            ok = isinstance(value, kind)
        if not ok:
            self.error((*path, name), f"must be {what}, not {_type(value)}")
            return default
        if check is not None:
            problem = check(value)
            if problem:
                self.error((*path, name), problem)
                return default
        return value  # type: ignore[no-any-return]

    def number(
        self,
        obj: Mapping[str, Any],
        path: FieldPath,
        name: str,
        default: Any,
        *,
        positive: bool = True,
        maximum: float | None = None,
    ) -> Any:
        def check(v: Any) -> str | None:
            if positive and not v > 0:
                return f"must be greater than 0, got {v}"
            if not positive and v < 0:
                return f"must not be negative, got {v}"
            if maximum is not None and v > maximum:
                return f"must be at most {maximum:g}, got {v}"
            return None

        value = self.typed(obj, path, name, (int, float), default, "a number", check)
        return float(value) if isinstance(value, int) else value

    def integer(self, obj: Mapping[str, Any], path: FieldPath, name: str, default: Any) -> Any:
        def check(v: int) -> str | None:
            return None if v >= 1 else f"must be at least 1, got {v}"

        return self.typed(obj, path, name, int, default, "an integer", check)

    def string(self, obj: Mapping[str, Any], path: FieldPath, name: str, default: Any) -> Any:
        def check(v: str) -> str | None:
            return None if v else "must not be empty"

        return self.typed(obj, path, name, str, default, "a string", check)

    def choice(
        self,
        obj: Mapping[str, Any],
        path: FieldPath,
        name: str,
        options: tuple[str, ...],
        default: Any,
    ) -> Any:
        def check(v: str) -> str | None:
            return None if v in options else f"must be one of {', '.join(options)}, not {v!r}"

        return self.typed(obj, path, name, str, default, f"one of {', '.join(options)}", check)

    def strings(self, obj: Mapping[str, Any], path: FieldPath, name: str) -> tuple[str, ...]:
        if name not in obj or obj[name] is None:
            return ()
        value = obj[name]
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.error((*path, name), "must be a list of non-empty strings")
            return ()
        return tuple(value)


def _type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def _check_url(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises on a bad port)
    except ValueError as exc:
        return f"invalid URL {url!r}: {exc}"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"must be an http:// or https:// URL with a host, not {url!r}"
    if parts.query or parts.fragment or "@" in parts.netloc:
        return f"must not have a query, fragment or userinfo: {url!r}"
    return None


_TOP = ("title", "version", "redis", "timeout", "openapi", "status", "upstreams", "endpoints")
_UPSTREAM = (
    "url",
    "urls",
    "balancer",
    "timeout",
    "retry",
    "breaker",
    "max_concurrent",
    "propagate_headers",
    "headers",
)
_RETRY = ("attempts", "backoff", "max_backoff", "budget")
_BREAKER = (
    "failure_rate",
    "minimum_calls",
    "window",
    "wait",
    "half_open_calls",
    "slow_call_duration",
)
_ENDPOINT = (
    "path",
    "method",
    "name",
    "summary",
    "description",
    "tags",
    "auth",
    "cache",
    "rate_limit",
    "timeout",
    "merge",
    "backends",
)
_BACKEND = (
    "name",
    "upstream",
    "path",
    "method",
    "group",
    "allow",
    "deny",
    "rename",
    "collection",
    "expect",
    "fallback",
    "required",
    "pass_status",
    "depends_on",
    "over",
    "concurrency",
    "max_items",
    "timeout",
    "forward_body",
    "cache",
)
_BACKEND_CACHE = ("ttl", "vary", "swr", "sie")


def _redis_url(check: _Check, redis: Any) -> str | None:
    """The ``redis:`` URL, or ``None`` (empty or unset: in-process state)."""
    if redis is None or redis == "":
        return None
    if not isinstance(redis, str) or not redis.lower().startswith(URL_SCHEMES):
        check.error(
            ("redis",),
            "must be a redis://, rediss:// or unix:// URL, or "
            "redis+cluster://host:port[,host:port] for a Redis Cluster",
        )
        return None
    if is_cluster_url(redis):
        try:
            parse_cluster_url(redis)
        except ValueError as exc:
            check.error(("redis",), str(exc))
            return None
    return redis


def parse_config(
    text: str, file: str, env: Mapping[str, str]
) -> tuple[GatewayConfig | None, list[ConfigError]]:
    """Load and validate a gateway file; a config only when there are no errors."""
    doc = load_document(text, file, env)
    if doc.errors and doc.value is None:
        return None, doc.errors
    check = _Check(doc)
    root = check.fields((), doc.value, _TOP, required=("upstreams", "endpoints"))
    if root is None:
        return None, doc.errors
    redis = _redis_url(check, root.get("redis"))
    upstreams = _upstreams(check, root.get("upstreams"))
    endpoints = _endpoints(check, root.get("endpoints"), upstreams)
    config = GatewayConfig(
        file=file,
        upstreams=upstreams,
        endpoints=tuple(endpoints),
        redis=redis,
        title=check.string(root, (), "title", "scallion gateway"),
        version=str(check.typed(root, (), "version", (str, int, float), "1.0.0", "a string")),
        timeout=check.number(root, (), "timeout", None),
        openapi=_route_switch(check, root, "openapi", "/openapi.json"),
        status=_route_switch(check, root, "status", "/_scallion/status", default_on=False),
    )
    errors = sorted(doc.errors, key=lambda e: (e.line or 0, e.field))
    return (None if errors else config), errors


def _route_switch(
    check: _Check, root: Mapping[str, Any], name: str, default: str, *, default_on: bool = True
) -> str | None:
    value = root.get(name, default_on)
    if value is True:
        return default
    if value is False or value is None:
        return None
    if isinstance(value, str) and value.startswith("/"):
        return value
    check.error((name,), "must be true, false or a path starting with '/'")
    return None


def _upstreams(check: _Check, value: Any) -> dict[str, UpstreamConfig]:
    path: FieldPath = ("upstreams",)
    if value is None:
        return {}
    if not isinstance(value, dict) or not value:
        check.error(path, "must be a mapping of upstream name to its settings")
        return {}
    out: dict[str, UpstreamConfig] = {}
    for name, spec in value.items():
        here = (*path, name)
        obj = check.fields(here, spec, _UPSTREAM)
        if obj is None:
            continue
        urls: tuple[str, ...] = ()
        if "url" in obj and "urls" in obj:
            check.error(here, "give either url or urls, not both")
        elif "url" in obj:
            urls = (check.string(obj, here, "url", ""),)
        elif "urls" in obj:
            urls = check.strings(obj, here, "urls")
            if not urls:
                check.error((*here, "urls"), "must list at least one URL")
        else:
            check.error(here, "missing required field 'url' (or 'urls')")
        where = (*here, "urls" if "urls" in obj else "url")
        for url in urls:
            problem = _check_url(url) if url else None
            if problem:
                check.error(where, problem)
        out[name] = UpstreamConfig(
            name=name,
            urls=tuple(u.rstrip("/") for u in urls if u),
            balancer=check.choice(obj, here, "balancer", _BALANCERS, "round_robin"),
            timeout=check.number(obj, here, "timeout", 2.0),
            retry=_retry(check, obj, here),
            breaker=_breaker(check, obj, here),
            max_concurrent=check.integer(obj, here, "max_concurrent", None),
            propagate_headers=tuple(
                h.lower() for h in check.strings(obj, here, "propagate_headers")
            ),
            headers=_headers(check, obj, here),
            line=check.doc.line(here, key=True),
        )
    return out


def _headers(check: _Check, obj: Mapping[str, Any], here: FieldPath) -> tuple[tuple[str, str], ...]:
    value = obj.get("headers")
    if value is None:
        return ()
    if not isinstance(value, dict) or not all(
        isinstance(v, str | int | float) and not isinstance(v, bool) for v in value.values()
    ):
        check.error((*here, "headers"), "must be a mapping of header name to value")
        return ()
    out = []
    for name, item in value.items():
        text = str(item)
        if any(c in f"{name}{text}" for c in "\r\n\x00"):
            check.error((*here, "headers", name), "must not contain CR, LF or NUL")
            continue
        out.append((name.lower(), text))
    return tuple(out)


def _retry(check: _Check, obj: Mapping[str, Any], here: FieldPath) -> RetryConfig | None:
    value = obj.get("retry", True)
    if value is False or value is None:
        return None
    if value is True:
        return RetryConfig()
    path = (*here, "retry")
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            check.error(path, f"attempts must be at least 1, got {value}")
            return None
        return RetryConfig(attempts=value)
    spec = check.fields(path, value, _RETRY)
    if spec is None:
        return None
    budget = spec.get("budget", 0.2)
    return RetryConfig(
        attempts=check.integer(spec, path, "attempts", 3),
        backoff=check.number(spec, path, "backoff", 0.05),
        max_backoff=check.number(spec, path, "max_backoff", 1.0),
        budget=None
        if budget is False or budget is None
        else check.number(spec, path, "budget", 0.2, maximum=10),
    )


def _breaker(check: _Check, obj: Mapping[str, Any], here: FieldPath) -> BreakerConfig | None:
    value = obj.get("breaker", True)
    if value is False or value is None:
        return None
    if value is True:
        return BreakerConfig()
    path = (*here, "breaker")
    spec = check.fields(path, value, _BREAKER)
    if spec is None:
        return None
    return BreakerConfig(
        failure_rate=check.number(spec, path, "failure_rate", 0.5, maximum=1.0),
        minimum_calls=check.integer(spec, path, "minimum_calls", 10),
        window=check.integer(spec, path, "window", 20),
        wait=check.number(spec, path, "wait", 10.0),
        half_open_calls=check.integer(spec, path, "half_open_calls", 2),
        slow_call_duration=check.number(spec, path, "slow_call_duration", None),
    )


def _endpoints(
    check: _Check, value: Any, upstreams: Mapping[str, UpstreamConfig]
) -> list[EndpointConfig]:
    if value is None:
        return []
    if not isinstance(value, list):
        check.error(("endpoints",), "must be a list of endpoints")
        return []
    out: list[EndpointConfig] = []
    seen: dict[tuple[str, str], int] = {}
    for index, spec in enumerate(value):
        here: FieldPath = ("endpoints", index)
        endpoint = _endpoint(check, here, spec, upstreams)
        if endpoint is None:
            continue
        key = (endpoint.method, endpoint.path)
        if key in seen:
            check.error(
                (*here, "path"),
                f"{endpoint.method} {endpoint.path} is already defined by endpoints[{seen[key]}]",
            )
            continue
        seen[key] = index
        out.append(endpoint)
    return out


def _endpoint(
    check: _Check, here: FieldPath, spec: Any, upstreams: Mapping[str, UpstreamConfig]
) -> EndpointConfig | None:
    obj = check.fields(here, spec, _ENDPOINT, required=("path", "backends"))
    if obj is None:
        return None
    path = check.string(obj, here, "path", None)
    params: tuple[str, ...] = ()
    if path is not None:
        if not path.startswith("/"):
            check.error((*here, "path"), "must start with '/'")
            path = None
        else:
            try:
                params = tuple(k for k in compile_path(path, end=True).keys if k != "*")
            except ValueError as exc:
                check.error((*here, "path"), str(exc))
                path = None
    method = check.typed(obj, here, "method", str, "GET", "an HTTP method").upper()
    if method not in _METHODS:
        check.error((*here, "method"), f"must be one of {', '.join(_METHODS)}, not {method!r}")
    merge = check.choice(obj, here, "merge", ("deep", "shallow", "error"), "error")
    backends = _backends(check, here, obj.get("backends"), upstreams, params, method, merge)
    if path is None:
        return None
    return EndpointConfig(
        path=path,
        method=method,
        backends=tuple(backends),
        name=check.string(obj, here, "name", None),
        summary=check.string(obj, here, "summary", None),
        description=check.string(obj, here, "description", None),
        tags=check.strings(obj, here, "tags"),
        params=params,
        auth=_auth(check, here, obj.get("auth")),
        cache=_cache(check, here, obj.get("cache")),
        rate_limit=_rate_limit(check, here, obj.get("rate_limit")),
        timeout=check.number(obj, here, "timeout", None),
        merge=merge,
        line=check.doc.line(here),
    )


def _auth(check: _Check, here: FieldPath, value: Any) -> AuthConfig | None:
    path = (*here, "auth")
    if value is None or value == "none":
        return None
    if isinstance(value, str):
        value = {"type": value}
    if not isinstance(value, dict):
        check.error(
            path, f"must be none, jwt, api_key or a mapping with a type, not {_type(value)}"
        )
        return None
    kind = value.get("type")
    if kind not in _AUTH_KINDS:
        check.error((*path, "type"), f"must be one of {', '.join(_AUTH_KINDS)}, not {kind!r}")
        return None
    if kind == "none":
        return None
    options = tuple((k, v) for k, v in value.items() if k != "type")
    return AuthConfig(kind, options, path)


def _cache(check: _Check, here: FieldPath, value: Any) -> CacheConfig | None:
    path = (*here, "cache")
    if value is None or value is False:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = {"ttl": value}
    spec = check.fields(path, value, ("ttl", "vary", "swr"), required=("ttl",))
    if spec is None:
        return None
    return CacheConfig(
        ttl=check.number(spec, path, "ttl", 1.0),
        vary=tuple(v.lower() for v in check.strings(spec, path, "vary")),
        swr=check.number(spec, path, "swr", 0.0, positive=False),
    )


def _rate_limit(check: _Check, here: FieldPath, value: Any) -> RateLimitConfig | None:
    path = (*here, "rate_limit")
    if value is None or value is False:
        return None
    spec = check.fields(path, value, ("limit", "window", "key"), required=("limit", "window"))
    if spec is None:
        return None

    def key_ok(v: str) -> str | None:
        if v in ("ip", "route", "global") or (v.startswith("header:") and len(v) > 7):
            return None
        return f"must be ip, route, global or header:NAME, not {v!r}"

    return RateLimitConfig(
        limit=check.integer(spec, path, "limit", 1),
        window=check.number(spec, path, "window", 1.0),
        key=check.typed(spec, path, "key", str, "ip", "a string", key_ok),
    )


def _backends(
    check: _Check,
    here: FieldPath,
    value: Any,
    upstreams: Mapping[str, UpstreamConfig],
    params: tuple[str, ...],
    endpoint_method: str,
    merge: Merge,
) -> list[BackendConfig]:
    path = (*here, "backends")
    if value is None:
        return []
    if not isinstance(value, list) or not value:
        check.error(path, "must be a non-empty list of backends")
        return []
    specs: list[tuple[FieldPath, dict[str, Any]]] = []
    names: dict[str, int] = {}
    for index, spec in enumerate(value):
        bpath = (*path, index)
        obj = check.fields(bpath, spec, _BACKEND, required=("upstream", "path"))
        if obj is None:
            continue
        explicit = isinstance(obj.get("name"), str) and bool(obj["name"])
        name = obj.get("name") or obj.get("group") or obj.get("upstream")
        if not isinstance(name, str) or not name:
            name = f"backend{index}"
        if name in names and not explicit:
            name = f"{name}_{index}"
        if name in names:
            check.error(
                bpath,
                f"two backends are named {name!r} (backends[{names[name]}] and this one): "
                "give one a name:",
            )
        names[name] = index
        specs.append((bpath, {**obj, "name": name}))
    out: list[BackendConfig] = []
    for bpath, obj in specs:
        backend = _backend(check, bpath, obj, upstreams, params, names, endpoint_method)
        if backend is not None:
            out.append(backend)
    _check_cycles(check, path, out, names)
    if merge == "error":
        _check_overlaps(check, path, out, names)
    return out


def _backend(
    check: _Check,
    bpath: FieldPath,
    obj: dict[str, Any],
    upstreams: Mapping[str, UpstreamConfig],
    params: tuple[str, ...],
    names: Mapping[str, int],
    endpoint_method: str,
) -> BackendConfig | None:
    name: str = obj["name"]
    upstream = check.string(obj, bpath, "upstream", None)
    if upstream is not None and upstream not in upstreams:
        known = ", ".join(sorted(upstreams)) or "none are defined"
        check.error((*bpath, "upstream"), f"unknown upstream {upstream!r} (known: {known})")
    depends = list(check.strings(obj, bpath, "depends_on"))
    for dep in depends:
        if dep == name:
            check.error((*bpath, "depends_on"), "a backend cannot depend on itself")
        elif dep not in names:
            check.error((*bpath, "depends_on"), f"unknown backend {dep!r} in this endpoint")
    over = check.string(obj, bpath, "over", None)
    if over is not None:
        source = over.split(".", 1)[0]
        if source == name or source not in names:
            check.error(
                (*bpath, "over"), f"must start with the name of another backend, not {source!r}"
            )
            over = None
        elif source not in depends:
            depends.insert(0, source)
    template: Template | None = None
    source_text = check.string(obj, bpath, "path", None)
    if source_text is not None:
        try:
            template = parse_template(
                source_text,
                params=params,
                deps=[d for d in depends if d in names],
                item=over is not None,
            )
        except TemplateError as exc:
            check.error((*bpath, "path"), str(exc))
    method = check.typed(obj, bpath, "method", str, "GET", "an HTTP method").upper()
    if method not in _METHODS:
        check.error((*bpath, "method"), f"must be one of {', '.join(_METHODS)}, not {method!r}")
    collection = obj.get("collection")
    if collection is True:
        collection = "collection"
    elif collection is False:
        collection = None
    elif collection is not None and not (isinstance(collection, str) and collection):
        check.error((*bpath, "collection"), "must be a key name (or true for 'collection')")
        collection = None
    expect = check.choice(obj, bpath, "expect", ("object", "array"), None)
    if collection is not None and expect == "object":
        check.error(
            (*bpath, "expect"), "a collection wraps an array: expect: object contradicts it"
        )
    group = check.string(obj, bpath, "group", None)
    if over is not None and group is None and collection is None:
        check.error((*bpath, "over"), "a fan-out answers an array: give the backend a group")
    rename = obj.get("rename") or {}
    if not isinstance(rename, dict) or not all(isinstance(v, str) and v for v in rename.values()):
        check.error((*bpath, "rename"), "must be a mapping of old key to new key")
        rename = {}
    for field_name in ("allow", "deny"):
        for item in check.strings(obj, bpath, field_name):
            if any(not part for part in item.split(".")):
                check.error((*bpath, field_name), f"malformed field path {item!r}")
    pass_status = _pass_status(check, bpath, obj.get("pass_status"))
    forward_body = check.typed(
        obj,
        bpath,
        "forward_body",
        bool,
        method in ("POST", "PUT", "PATCH") and endpoint_method in ("POST", "PUT", "PATCH"),
        "true or false",
    )
    cache = _backend_cache(check, bpath, obj.get("cache"))
    if cache is not None:
        _check_cacheable(check, bpath, method, forward_body, pass_status)
    if template is None or upstream is None or upstream not in upstreams:
        return None
    return BackendConfig(
        name=name,
        upstream=upstream,
        template=template,
        shape=Shape(
            name,
            allow=check.strings(obj, bpath, "allow"),
            deny=check.strings(obj, bpath, "deny"),
            rename=rename,
            collection=collection,
            expect=expect,
            group=group,
        ),
        method=method,
        fallback=obj.get("fallback"),
        has_fallback="fallback" in obj,
        required=check.typed(obj, bpath, "required", bool, False, "true or false"),
        pass_status=pass_status,
        depends_on=tuple(d for d in depends if d in names and d != name),
        over=over,
        concurrency=check.integer(obj, bpath, "concurrency", 8),
        max_items=check.integer(obj, bpath, "max_items", 1000),
        timeout=check.number(obj, bpath, "timeout", None),
        forward_body=forward_body,
        cache=cache,
        line=check.doc.line(bpath),
    )


def _backend_cache(check: _Check, bpath: FieldPath, value: Any) -> BackendCacheConfig | None:
    """``cache: 30`` or ``cache: {ttl, vary, swr, sie}`` on a backend."""
    path = (*bpath, "cache")
    if value is None or value is False:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = {"ttl": value}
    spec = check.fields(path, value, _BACKEND_CACHE, required=("ttl",))
    if spec is None:
        return None
    vary = check.strings(spec, path, "vary")
    for name in vary:
        if not _HEADER_NAME.fullmatch(name):
            check.error((*path, "vary"), f"{name!r} is not a header name")
    return BackendCacheConfig(
        ttl=check.number(spec, path, "ttl", 1.0, maximum=_MAX_TTL),
        vary=tuple(dict.fromkeys(v.lower() for v in vary)),
        swr=check.number(spec, path, "swr", 0.0, positive=False, maximum=_MAX_TTL),
        sie=check.number(spec, path, "sie", 0.0, positive=False, maximum=_MAX_TTL),
    )


def _check_cacheable(
    check: _Check,
    bpath: FieldPath,
    method: str,
    forward_body: bool,
    pass_status: frozenset[int] | Literal["all"],
) -> None:
    """A cached backend is one GET whose answer depends on its URL and vary headers only."""
    path = (*bpath, "cache")
    if method != "GET":
        check.error(path, f"only GET backends can be cached, not {method}")
    if forward_body:
        check.error(path, "a cached backend cannot forward the request body (not in the key)")
    if pass_status != "all":
        passed = sorted(s for s in pass_status if 200 <= s < 300 and s != 200)
        if passed:
            check.error(
                (*bpath, "pass_status"),
                f"a cached backend cannot pass {passed[0]} through: a cache hit has no status",
            )


def _pass_status(check: _Check, bpath: FieldPath, value: Any) -> frozenset[int] | Literal["all"]:
    if value is None or value is False:
        return frozenset()
    if value is True or value == "all":
        return "all"
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 200 <= v <= 599 for v in value
    ):
        check.error(
            (*bpath, "pass_status"), "must be all, or a list of statuses between 200 and 599"
        )
        return frozenset()
    return frozenset(value)


def _check_cycles(
    check: _Check, path: FieldPath, backends: list[BackendConfig], names: Mapping[str, int]
) -> None:
    graph = {b.name: b.depends_on for b in backends}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for dep in graph.get(node, ()):
            if state.get(dep) == 1:
                cycle = " -> ".join([*trail[trail.index(dep) :], dep]) if dep in trail else dep
                check.error((*path, names[node], "depends_on"), f"dependency cycle: {cycle}")
            elif dep not in state:
                visit(dep, [*trail, dep])
        state[node] = 2

    for name in graph:
        if name not in state:
            visit(name, [name])


def _check_overlaps(
    check: _Check, path: FieldPath, backends: list[BackendConfig], names: Mapping[str, int]
) -> None:
    owner: dict[str, str] = {}
    for backend in backends:
        keys = backend.shape.static_keys() or set()
        for key in sorted(keys):
            if key in owner:
                check.error(
                    (*path, names[backend.name]),
                    f"backends {owner[key]!r} and {backend.name!r} both write the key {key!r}: "
                    "give one a different group, or set the endpoint's merge: deep or shallow",
                )
            else:
                owner[key] = backend.name
