"""Small containers: the request's header mapping and the ``state`` namespaces."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

__all__ = ["Headers", "State"]


class Headers(Mapping[str, str]):
    """Read-only, case-insensitive view of ASGI request headers.

    Repeated headers are joined with ``", "`` (``"; "`` for Cookie), as Node does, so
    ``headers["accept"]`` is always one string. ``getlist`` keeps them apart.
    """

    __slots__ = ("_dict", "_raw")

    def __init__(self, raw: Iterable[tuple[bytes, bytes]] = ()) -> None:
        self._raw = raw
        self._dict: dict[str, str] | None = None

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, str]) -> Headers:
        return cls([(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in mapping.items()])

    def _build(self) -> dict[str, str]:
        built: dict[str, str] = {}
        for raw_name, raw_value in self._raw:
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
            if name in built:
                built[name] = built[name] + ("; " if name == "cookie" else ", ") + value
            else:
                built[name] = value
        self._dict = built
        return built

    def __getitem__(self, name: str) -> str:
        d = self._dict if self._dict is not None else self._build()
        return d[name.lower()]

    def get(self, name: str, default: Any = None) -> Any:
        d = self._dict if self._dict is not None else self._build()
        return d.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        d = self._dict if self._dict is not None else self._build()
        return isinstance(name, str) and name.lower() in d

    def __iter__(self) -> Iterator[str]:
        d = self._dict if self._dict is not None else self._build()
        return iter(d)

    def __len__(self) -> int:
        d = self._dict if self._dict is not None else self._build()
        return len(d)

    def getlist(self, name: str) -> list[str]:
        """Every value sent for ``name``, in order."""
        key = name.lower().encode("latin-1")
        return [v.decode("latin-1") for k, v in self._raw if k.lower() == key]

    def raw(self) -> list[tuple[bytes, bytes]]:
        return list(self._raw)

    def __repr__(self) -> str:
        return f"Headers({dict(self)!r})"


class State:
    """An attribute namespace (``ctx.state.user = ...``) that reads missing names as errors.

    Unlike a dict it reads naturally in middleware; ``getattr(state, name, default)``,
    ``"name" in state`` and ``vars(state)`` work as usual.
    """

    def __init__(self, **values: Any) -> None:
        if values:
            self.__dict__.update(values)

    if TYPE_CHECKING:  # let type checkers accept ``state.user = ...``; no runtime cost

        def __getattr__(self, name: str) -> Any: ...
        def __setattr__(self, name: str, value: Any) -> None: ...

    def __contains__(self, name: str) -> bool:
        return name in self.__dict__

    def get(self, name: str, default: Any = None) -> Any:
        return self.__dict__.get(name, default)

    def __repr__(self) -> str:
        return f"State({self.__dict__!r})"
