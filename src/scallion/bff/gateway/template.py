"""Backend path templates: ``/users/{user_id}/orders?page={query.page}``, safely filled.

A template is parsed once, at config time, into literal text and placeholders:

- ``{name}``: the endpoint's path parameter ``:name``;
- ``{query.name}``: the incoming query parameter ``name`` (empty when absent);
- ``{item}`` / ``{item.a.b}``: the current item of a fan-out (``over:``);
- ``{dep.a.b}``: a field of the result of the backend named ``dep`` (``depends_on:``).

Every value is percent-encoded with ``quote(value, safe="")``, so it stays inside its
path segment or query value: ``/``, ``?``, ``#``, ``@``, ``%``, ``:`` and ``&`` are all
encoded, and a value can never add a segment, a query parameter, a fragment, userinfo or
a host. A value that would be a dot segment (``.`` / ``..``) or an empty segment is
refused, because URL parsers (WHATWG, and so most clients) collapse them even when
percent-encoded. The literal text is checked too: it must be an absolute path with no
dot segments, fragment, backslash or whitespace.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import quote

__all__ = ["Placeholder", "Template", "TemplateError", "TemplateValueError", "parse_template"]

Kind = Literal["param", "query", "item", "dep"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]+)*")
_BAD_LITERAL = re.compile(r"[\s\\#\x00-\x1f\x7f]")


class TemplateError(ValueError):
    """The template itself is wrong (a config error)."""


class TemplateValueError(ValueError):
    """A value cannot be placed safely (a client or upstream problem, at request time)."""

    def __init__(self, placeholder: Placeholder, message: str) -> None:
        super().__init__(message)
        self.placeholder = placeholder


@dataclass(frozen=True, slots=True)
class Placeholder:
    """One ``{...}`` in a template: where its value comes from, and whether it is in the query."""

    text: str
    kind: Kind
    name: str  # param / query name, or the dependency's name ("item" for the item)
    path: tuple[str, ...]  # field path into an item or a dependency's result
    in_query: bool


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed template: alternating literal strings and placeholders."""

    source: str
    parts: tuple[str | Placeholder, ...]

    @property
    def placeholders(self) -> tuple[Placeholder, ...]:
        return tuple(p for p in self.parts if isinstance(p, Placeholder))

    @property
    def is_static(self) -> bool:
        return len(self.parts) <= 1 and not self.placeholders

    def render(
        self,
        params: Mapping[str, str],
        query: Mapping[str, Any],
        deps: Mapping[str, Any] | None = None,
        item: Any = None,
    ) -> str:
        """The path (and query) with every placeholder filled and encoded."""
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            kind = part.kind
            if kind == "param":
                raw: Any = params.get(part.name, "")
            elif kind == "query":
                raw = query.get(part.name, "")
                if isinstance(raw, list):
                    raw = raw[0] if raw else ""
            elif kind == "item":
                raw = _walk(item, part.path, part)
            else:
                raw = _walk((deps or {}).get(part.name), part.path, part)
            text = _as_text(raw, part)
            if not part.in_query and text in ("", ".", ".."):
                shown = "an empty value" if not text else repr(text)
                raise TemplateValueError(part, f"{shown} cannot stand in for {part.text}")
            # Letters, digits and "_.-~" are what quote() leaves alone: skip its Python.
            out.append(text if _UNRESERVED(text) else quote(text, safe=""))
        return "".join(out)


_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]+").fullmatch


def _walk(value: Any, path: tuple[str, ...], part: Placeholder) -> Any:
    for key in path:
        if isinstance(value, Mapping) and key in value:
            value = value[key]
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            raise TemplateValueError(part, f"no value for {part.text}")
    return value


def _as_text(value: Any, part: Placeholder) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    kind = "null" if value is None else type(value).__name__
    raise TemplateValueError(part, f"{part.text} is {kind}, not a string or number")


def parse_template(
    source: str,
    *,
    params: Collection[str],
    deps: Collection[str] = (),
    item: bool = False,
) -> Template:
    """Parse and check ``source``; raises ``TemplateError`` naming the first problem."""
    if not isinstance(source, str) or not source.startswith("/"):
        raise TemplateError("must be an absolute path starting with '/'")
    if source.startswith("//"):
        raise TemplateError("must not start with '//' (that names a host)")
    parts: list[str | Placeholder] = []
    pos = 0
    in_query = False
    literal = ""
    while pos < len(source):
        char = source[pos]
        if char == "}":
            raise TemplateError(f"unmatched '}}' at position {pos}")
        if char != "{":
            if char == "?":
                in_query = True
            literal += char
            pos += 1
            continue
        end = source.find("}", pos)
        if end < 0:
            raise TemplateError(f"unclosed '{{' at position {pos}")
        inner = source[pos + 1 : end]
        text = source[pos : end + 1]
        if not _NAME.fullmatch(inner):
            raise TemplateError(f"malformed placeholder {text}")
        if literal:
            parts.append(literal)
            literal = ""
        parts.append(_placeholder(text, inner, in_query, params, deps, item))
        pos = end + 1
    if literal:
        parts.append(literal)
    _check_literals(source, parts)
    return Template(source, tuple(parts))


def _placeholder(
    text: str,
    inner: str,
    in_query: bool,
    params: Collection[str],
    deps: Collection[str],
    item: bool,
) -> Placeholder:
    head, *rest = inner.split(".")
    if not rest and head in params:
        return Placeholder(text, "param", head, (), in_query)
    if head == "query" and len(rest) == 1:
        return Placeholder(text, "query", rest[0], (), in_query)
    if head == "item" and item:
        return Placeholder(text, "item", "item", tuple(rest), in_query)
    if head in deps:
        return Placeholder(text, "dep", head, tuple(rest), in_query)
    known = [f"{{{p}}}" for p in sorted(params)] + ["{query.NAME}"]
    if item:
        known.append("{item.FIELD}")
    known += [f"{{{d}.FIELD}}" for d in sorted(deps)]
    raise TemplateError(f"unknown placeholder {text} (known: {', '.join(known)})")


def _check_literals(source: str, parts: list[str | Placeholder]) -> None:
    path_text = "".join(p if isinstance(p, str) else "x" for p in parts).split("?", 1)[0]
    if _BAD_LITERAL.search(source):
        raise TemplateError("must not contain whitespace, control characters, '\\' or '#'")
    for segment in path_text.split("/")[1:]:
        if segment in (".", "..") or segment.lower() in ("%2e", "%2e%2e", ".%2e", "%2e."):
            raise TemplateError("must not contain '.' or '..' segments")
