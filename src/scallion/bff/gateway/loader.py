"""Read a gateway YAML file into plain values, remembering the line of every key and value.

PyYAML's ``compose`` gives a node tree whose nodes carry their position; we build the
plain dicts, lists and scalars ourselves from it so that every field can be traced back
to ``file:line`` when validation finds something wrong with it. On the way we:

- reject duplicate keys (PyYAML would silently keep the last one);
- expand ``${VAR}``, ``${VAR:-default}`` (default when unset or empty) and
  ``${VAR-default}`` (default when unset) in string values; ``$${`` is a literal ``${``.
  A plain (unquoted) scalar is typed again after expansion, so ``timeout: ${T:-0.5}`` is
  a number;
- support anchors, aliases and ``<<`` merge keys, with a bound on the expanded size so a
  "billion laughs" file is an error, not an out-of-memory.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

__all__ = ["ConfigError", "Document", "FieldPath", "dotted", "load_document"]

FieldPath = tuple[str | int, ...]
"""Where a value sits in the document: ``("endpoints", 2, "backends", 0, "path")``."""

_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_MAX_NODES = 200_000
_MAX_DEPTH = 64
_VAR = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_VAR_BODY = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)(.*))?", re.DOTALL)


@dataclass(frozen=True, slots=True)
class ConfigError:
    """One problem in a gateway file: ``gateway.yaml:14: endpoints[2].path: message``."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


def dotted(path: FieldPath) -> str:
    """``("endpoints", 2, "backends", 0, "path")`` → ``endpoints[2].backends[0].path``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


class Document:
    """The file's plain value, plus the line of each value and each key by field path."""

    __slots__ = ("errors", "file", "key_lines", "lines", "value")

    def __init__(self, file: str) -> None:
        self.file = file
        self.value: Any = None
        self.lines: dict[FieldPath, int] = {}
        self.key_lines: dict[FieldPath, int] = {}
        self.errors: list[ConfigError] = []

    def line(self, path: FieldPath, *, key: bool = False) -> int | None:
        """The line of ``path`` (of its key with ``key=True``), else of its nearest parent."""
        if key and path in self.key_lines:
            return self.key_lines[path]
        while True:
            if path in self.lines:
                return self.lines[path]
            if not path:
                return None
            path = path[:-1]

    def error(self, path: FieldPath, message: str, *, key: bool = False) -> None:
        self.errors.append(ConfigError(self.file, self.line(path, key=key), dotted(path), message))


class _Builder:
    def __init__(self, doc: Document, env: Mapping[str, str]) -> None:
        self.doc = doc
        self.env = env
        self.nodes = 0
        self.constructor = SafeConstructor()
        self.resolver = Resolver()

    def build(self, node: Node, path: FieldPath, depth: int = 0) -> Any:
        self.nodes += 1
        if self.nodes > _MAX_NODES or depth > _MAX_DEPTH:
            raise _TooBig(node)
        self.doc.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, MappingNode):
            return self.mapping(node, path, depth)
        if isinstance(node, SequenceNode):
            return [self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        assert isinstance(node, ScalarNode)
        return self.scalar(node, path)

    def mapping(self, node: MappingNode, path: FieldPath, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        first: dict[str, int] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                self.merge(value_node, path, depth, merged)
                continue
            key = self.constructor.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                key = str(key)
            if key in first:
                self.doc.errors.append(
                    ConfigError(
                        self.doc.file,
                        line,
                        dotted((*path, key)),
                        f"duplicate key {key!r} (first defined on line {first[key]})",
                    )
                )
                continue
            first[key] = line
            self.doc.key_lines[(*path, key)] = line
            out[key] = self.build(value_node, (*path, key), depth + 1)
        for key, value in merged.items():
            out.setdefault(key, value)
        return out

    def merge(self, node: Node, path: FieldPath, depth: int, into: dict[str, Any]) -> None:
        sources = node.value if isinstance(node, SequenceNode) else [node]
        for source in sources:
            value = self.build(source, path, depth + 1)
            if not isinstance(value, dict):
                self.doc.error(path, "a << merge key needs a mapping (or a list of them)")
                continue
            for key, item in value.items():
                into.setdefault(key, item)

    def scalar(self, node: ScalarNode, path: FieldPath) -> Any:
        if node.tag == _STR_TAG and "$" in node.value:
            text = self.interpolate(node.value, path)
            if text is None:
                return None
            if node.style is None:  # a plain scalar: type it as YAML would have
                tag = self.resolver.resolve(ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
                node = ScalarNode(tag, text, node.start_mark, node.end_mark)
            else:
                return text
        try:
            return self.constructor.construct_object(node, deep=True)
        except ConstructorError as exc:
            self.doc.error(path, f"invalid value: {exc.problem}")
            return None

    def interpolate(self, text: str, path: FieldPath) -> str | None:
        failed = False

        def expand(found: re.Match[str]) -> str:
            nonlocal failed
            whole = found.group(0)
            if whole == "$${":
                return "${"
            body = found.group(1)
            parsed = _VAR_BODY.fullmatch(body) if body is not None else None
            if parsed is None:
                self.doc.error(
                    path, f"malformed interpolation {whole!r}: use ${{NAME}} or ${{NAME:-default}}"
                )
                failed = True
                return ""
            name, op, default = parsed.groups()
            value = self.env.get(name)
            if op == ":-" and not value:
                return str(default)
            if op == "-" and value is None:
                return str(default)
            if value is None:
                self.doc.error(
                    path,
                    f"environment variable {name} is not set "
                    f"(write ${{{name}:-default}} for a default)",
                )
                failed = True
                return ""
            return value

        out = _VAR.sub(expand, text)
        return None if failed else out


class _TooBig(Exception):
    def __init__(self, node: Node) -> None:
        self.node = node


def load_document(text: str, file: str, env: Mapping[str, str]) -> Document:
    """Parse ``text``; syntax and structural problems land in ``Document.errors``."""
    doc = Document(file)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "malformed YAML"
        doc.errors.append(ConfigError(file, line, "", f"invalid YAML: {problem}"))
        return doc
    except yaml.YAMLError as exc:
        doc.errors.append(ConfigError(file, None, "", f"invalid YAML: {exc}"))
        return doc
    if root is None:
        doc.value = {}
        return doc
    try:
        doc.value = _Builder(doc, env).build(root, ())
    except _TooBig as exc:
        doc.errors.append(
            ConfigError(
                file,
                exc.node.start_mark.line + 1,
                "",
                "the document expands to too many values (aliases nested too deep?)",
            )
        )
        doc.value = None
    return doc
