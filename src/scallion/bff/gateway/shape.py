"""Shaping backend results into one response: filters, renames, collections, merging.

All functions build new containers and never mutate their input: values may come from
the cache, where they are shared by every reader.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from ..errors import UpstreamBadResponse

__all__ = ["MergeConflict", "Shape", "merge_into"]

Merge = Literal["deep", "shallow", "error"]
Expect = Literal["object", "array"]


class MergeConflict(UpstreamBadResponse):
    """Two backends wrote the same key and the endpoint says ``merge: error`` (502)."""


def _kind(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a JSON object"
    if isinstance(value, list):
        return "a JSON array"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a JSON boolean"
    if isinstance(value, int | float):
        return "a JSON number"
    if isinstance(value, str):
        return "a JSON string"
    return type(value).__name__


def _pick(value: Mapping[str, Any], paths: Sequence[tuple[str, ...]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for path in paths:
        source: Any = value
        for key in path:
            if not isinstance(source, Mapping) or key not in source:
                break
            source = source[key]
        else:
            target = out
            for key in path[:-1]:
                nested = target.get(key)
                if not isinstance(nested, dict):
                    nested = target[key] = {}
                target = nested
            target[path[-1]] = source
    return out


def _drop(value: Mapping[str, Any], paths: Sequence[tuple[str, ...]]) -> dict[str, Any]:
    out = dict(value)
    for path in paths:
        target = out
        for key in path[:-1]:
            nested = target.get(key)
            if not isinstance(nested, Mapping):
                break
            copied = target[key] = dict(nested)
            target = copied
        else:
            target.pop(path[-1], None)
    return out


class Shape:
    """How one backend's JSON becomes its contribution to the response (built at config time)."""

    __slots__ = ("allow", "backend", "collection", "deny", "expect", "group", "rename")

    def __init__(
        self,
        backend: str,
        *,
        allow: Sequence[str] = (),
        deny: Sequence[str] = (),
        rename: Mapping[str, str] | None = None,
        collection: str | None = None,
        expect: Expect | None = None,
        group: str | None = None,
    ) -> None:
        self.backend = backend
        self.allow = tuple(tuple(p.split(".")) for p in allow)
        self.deny = tuple(tuple(p.split(".")) for p in deny)
        self.rename = dict(rename or {})
        self.collection = collection
        self.expect = expect
        self.group = group

    def item(self, value: Any) -> Any:
        """allow → deny → rename on one object (other values pass unchanged)."""
        if not isinstance(value, Mapping):
            return value
        if self.allow:
            value = _pick(value, self.allow)
        if self.deny:
            value = _drop(value, self.deny)
        if self.rename:
            value = {self.rename.get(k, k): v for k, v in value.items()}
        return value

    def _mismatch(self, value: Any, wanted: str) -> UpstreamBadResponse:
        return UpstreamBadResponse(
            f"backend {self.backend!r} answered {_kind(value)} where {wanted} was expected",
            upstream=self.backend,
        )

    def apply(self, value: Any) -> dict[str, Any]:
        """The keys this backend adds to the response body; raises naming the backend."""
        expect = self.expect
        if isinstance(value, list):
            if expect == "object":
                raise self._mismatch(value, "a JSON object")
            shaped: Any = [self.item(v) for v in value]
            if self.collection is not None:
                shaped = {self.collection: shaped}
        elif isinstance(value, Mapping):
            if expect == "array" or self.collection is not None:
                raise self._mismatch(value, "a JSON array")
            shaped = self.item(value)
        else:
            if expect is not None or self.collection is not None:
                raise self._mismatch(value, f"a JSON {expect or 'array'}")
            shaped = value
        if self.group is not None:
            return {self.group: shaped}
        if not isinstance(shaped, dict):
            raise UpstreamBadResponse(
                f"backend {self.backend!r} answered {_kind(value)}, which cannot be merged "
                "into the response: give it a group (or a collection key)",
                upstream=self.backend,
            )
        return shaped

    def apply_items(self, values: list[Any]) -> dict[str, Any]:
        """A fan-out's list of item results (each checked against ``expect``)."""
        out: list[Any] = []
        for value in values:
            if value is None:  # a failed item keeps its slot
                out.append(None)
                continue
            if self.expect == "object" and not isinstance(value, Mapping):
                raise self._mismatch(value, "a JSON object")
            if self.expect == "array" and not isinstance(value, list):
                raise self._mismatch(value, "a JSON array")
            out.append(self.item(value))
        key = self.group or self.collection
        assert key is not None  # config validation requires one for a fan-out
        return {key: out}

    def slot(self, fallback: Any, has_fallback: bool) -> dict[str, Any]:
        """What a failed backend leaves in the response: its slot with the fallback or None."""
        key = self.group or self.collection
        if key is not None:
            return {key: fallback if has_fallback else None}
        if has_fallback and isinstance(fallback, Mapping):
            return dict(fallback)
        if self.allow:  # the keys it would have written are known: keep them, empty
            keys = {self.rename.get(p[0], p[0]) for p in self.allow}
            return dict.fromkeys(sorted(keys))
        return {}

    def static_keys(self) -> set[str] | None:
        """Top-level keys this backend writes, when the config alone says (else None)."""
        key = self.group or self.collection
        if key is not None:
            return {key}
        if self.allow:
            return {self.rename.get(p[0], p[0]) for p in self.allow}
        return set(self.rename.values()) or None


def _deep(target: dict[str, Any], source: Mapping[str, Any]) -> None:
    for key, value in source.items():
        current = target.get(key)
        if isinstance(current, dict) and isinstance(value, Mapping):
            merged = dict(current)
            _deep(merged, value)
            target[key] = merged
        elif isinstance(current, list) and isinstance(value, list):
            target[key] = current + value
        else:
            target[key] = value


def merge_into(
    body: dict[str, Any],
    owners: dict[str, str],
    part: Mapping[str, Any],
    backend: str,
    rule: Merge,
) -> None:
    """Merge ``part`` (from ``backend``) into ``body``, in declaration order, by ``rule``."""
    if rule == "shallow":
        body.update(part)
    elif rule == "deep":
        _deep(body, part)
    else:
        for key, value in part.items():
            if key in body:
                raise MergeConflict(
                    f"backends {owners[key]!r} and {backend!r} both answered the key {key!r} "
                    "(the endpoint says merge: error)",
                    upstream=backend,
                )
            body[key] = value
            owners[key] = backend
