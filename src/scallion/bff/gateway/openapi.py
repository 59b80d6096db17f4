"""``GET /openapi.json``: an OpenAPI 3.1 description of the gateway's endpoints.

Built once from the config at startup. Each endpoint lists its path parameters, the
query parameters its backend templates read (``{query.page}``), the keys its backends
write (their ``group`` / ``collection``), the ``missing`` / ``stale`` lists, the
``X-Scallion-Completed`` header, passed-through statuses and the gateway's error answers.
"""

from __future__ import annotations

import re
from typing import Any

from .schema import EndpointConfig, GatewayConfig

__all__ = ["openapi_path", "openapi_spec"]

_PARAM = re.compile(r":([A-Za-z_][A-Za-z0-9_]*)(\([^)]*\))?\??")
_ERROR = {
    "description": "gateway error",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {"code": {"type": "integer"}, "message": {"type": "string"}},
            }
        }
    },
}


def openapi_path(path: str) -> str:
    """``/users/:id(\\d+)`` → ``/users/{id}``; a trailing ``*`` becomes ``{path}``."""
    out = _PARAM.sub(lambda m: "{" + m.group(1) + "}", path)
    if out.endswith("*"):
        out = out[:-1] + "{path}"
    return out


def _operation(endpoint: EndpointConfig) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in endpoint.params
    ]
    query: dict[str, None] = {}
    for backend in endpoint.backends:
        for placeholder in backend.template.placeholders:
            if placeholder.kind == "query":
                query[placeholder.name] = None
    parameters += [
        {"name": name, "in": "query", "required": False, "schema": {"type": "string"}}
        for name in query
    ]
    properties: dict[str, Any] = {}
    for backend in endpoint.backends:
        keys = backend.shape.static_keys() or set()
        for key in sorted(keys):
            properties[key] = {"description": f"from backend {backend.name!r}"}
    properties["missing"] = {
        "type": "array",
        "items": {"type": "string"},
        "description": "backends (or fan-out items, as name[i]) without a real value",
    }
    properties["stale"] = {
        "type": "array",
        "items": {"type": "string"},
        "description": "backends served stale from a cache",
    }
    completed = {
        "description": "true when every backend answered",
        "schema": {"type": "string", "enum": ["true", "false"]},
    }
    responses: dict[str, Any] = {
        "200": {
            "description": "the aggregated response",
            "headers": {"X-Scallion-Completed": completed},
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": properties,
                        "required": ["missing"],
                    }
                }
            },
        }
    }
    for backend in endpoint.backends:
        passing = backend.pass_status
        if passing == "all":
            responses.setdefault("default", {"description": "passed through from a backend"})
            continue
        for status in sorted(passing):
            responses.setdefault(
                str(status), {"description": f"passed through from {backend.name!r}"}
            )
    if endpoint.auth is not None:
        responses["401"] = _ERROR
    if endpoint.rate_limit is not None:
        responses["429"] = _ERROR
    for code in ("502", "503", "504"):
        responses.setdefault(code, _ERROR)
    operation: dict[str, Any] = {"parameters": parameters, "responses": responses}
    if endpoint.name:
        operation["operationId"] = endpoint.name
    if endpoint.summary:
        operation["summary"] = endpoint.summary
    if endpoint.description:
        operation["description"] = endpoint.description
    if endpoint.tags:
        operation["tags"] = list(endpoint.tags)
    return operation


def openapi_spec(config: GatewayConfig) -> dict[str, Any]:
    """The OpenAPI document for ``config``."""
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in config.endpoints:
        paths.setdefault(openapi_path(endpoint.path), {})[endpoint.method.lower()] = _operation(
            endpoint
        )
    return {
        "openapi": "3.1.0",
        "info": {"title": config.title, "version": config.version},
        "paths": paths,
    }
