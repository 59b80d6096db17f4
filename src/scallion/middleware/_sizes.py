"""Byte sizes written the way koa-bodyparser takes them: ``"5mb"``, ``"100kb"``, or an int."""

from __future__ import annotations

import re

__all__ = ["parse_size"]

_UNITS = {"": 1, "b": 1, "kb": 1024, "mb": 1024**2, "gb": 1024**3}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmg]?b?)\s*", re.IGNORECASE)


def parse_size(value: int | str, option: str = "limit") -> int:
    """``"5mb"`` → 5242880 (units of 1024, as the ``bytes`` package); ints pass through.

    Raises ``TypeError``/``ValueError`` naming ``option`` for anything else, at start-up.
    """
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"{option} must be a number of bytes or a size like '5mb'")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{option} must not be negative, got {value}")
        return value
    match = _SIZE.fullmatch(value)
    if match is None:
        raise ValueError(f"{option} {value!r} is not a size; write it like 512, '100kb' or '5mb'")
    number, unit = match.groups()
    return int(float(number) * _UNITS[unit.lower()])
