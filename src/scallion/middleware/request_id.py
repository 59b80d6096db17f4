"""A request id for every request: accepted from the client when valid, else made here.

Usage::

    app = App()
    app.use(error_handler(), request_id())      # ctx.state.request_id, X-Request-ID
    app.use(logger(), router.routes())

An incoming ``X-Request-ID`` is kept only when it is 1-128 characters from a safe set
(letters, digits and ``-_.:+=/@``), so a hostile value (CR/LF, 10 KB, quotes, spaces) can
never reach a log line or a response header: it is replaced by a fresh id. The id is set
on ``ctx.state.request_id``, echoed in the response header, and added to a passing
error's ``headers`` so error responses carry it too (starlette#1175).
"""

from __future__ import annotations

import itertools
import os
import random
import re
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..response import check_header
from ..types import Middleware, Next
from ._util import add_error_headers

if TYPE_CHECKING:
    from ..context import Context

__all__ = ["DEFAULT_PATTERN", "counter_id", "random_id", "request_id", "uuid4_id"]

DEFAULT_PATTERN = re.compile(r"[A-Za-z0-9\-_.:+=/@]{1,128}")
"""What an incoming id must fully match to be trusted."""

_MAX_LENGTH = 1024  # never run a pattern over more than this


# The ``random`` module's own generator, bound once; ``random`` reseeds that same instance
# in a forked child, so the bound method stays fork-safe.
_getrandbits = random.getrandbits


def random_id() -> str:
    """32 hex digits from the (fork-safe) ``random`` module: fast, unique, not a secret."""
    # Bytes to hex, not f"{n:032x}": ~2.0k instructions a call against ~3.3k (callgrind).
    return _getrandbits(128).to_bytes(16, "big").hex()


def uuid4_id() -> str:
    """A UUID4 as 32 hex digits (``os.urandom``; slower than ``random_id``)."""
    return uuid.uuid4().hex


_prefix = os.urandom(6).hex()
_counter = itertools.count(1)


def _reseed() -> None:
    global _prefix, _counter
    _prefix = os.urandom(6).hex()
    _counter = itertools.count(1)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reseed)


def counter_id() -> str:
    """``<12 random hex per process>-<counter hex>``: the cheapest unique id.

    It shows how many requests a process has served, so prefer ``random_id`` when
    that matters.
    """
    return f"{_prefix}-{next(_counter):x}"


def _validator(
    validate: str | re.Pattern[str] | Callable[[str], bool] | None,
) -> Callable[[str], bool]:
    if validate is None:
        return lambda value: False
    if isinstance(validate, str):
        validate = re.compile(validate)
    if isinstance(validate, re.Pattern):
        fullmatch = validate.fullmatch
        return lambda value: fullmatch(value) is not None
    if callable(validate):
        return validate
    raise TypeError("request_id(validate=...) must be a regex, a callable or None")


def _check_generated(header: str, rid: object) -> None:
    if not isinstance(rid, str) or not rid:
        raise TypeError(f"request_id generator must return a non-empty str, not {rid!r}")
    check_header(header, rid)


def request_id(
    *,
    header: str = "X-Request-ID",
    generator: Callable[[], str] = random_id,
    validate: str | re.Pattern[str] | Callable[[str], bool] | None = DEFAULT_PATTERN,
    echo: bool = True,
) -> Middleware:
    """Give each request an id in ``ctx.state.request_id`` and the ``header``.

    Args:
        header: the request and response header that carries the id.
        generator: makes a new id: ``random_id`` (default), ``uuid4_id``, ``counter_id``
            or your own zero-argument callable.
        validate: a regex the whole incoming id must match, or ``fn(value) -> bool``;
            ``None`` never trusts the client and always generates. Values longer than
            1024 characters are refused before any check, and the result must still be
            a legal header value.
        echo: send the id back in the response header.
    """
    if not isinstance(header, str):
        raise TypeError("request_id(header=...) must be a str")
    check_header(header, "")
    if not callable(generator):
        raise TypeError("request_id(generator=...) must be a callable returning a str")
    if not isinstance(echo, bool):
        raise TypeError("request_id(echo=...) must be a bool")
    accept = _validator(validate)
    key = header.lower()
    trusted_generator = generator in (random_id, uuid4_id, counter_id)

    def valid(value: str) -> bool:
        if len(value) > _MAX_LENGTH or not accept(value):
            return False
        try:
            check_header(header, value)
        except ValueError:
            return False
        return True

    async def request_id_middleware(ctx: Context, next: Next) -> None:
        incoming = ctx.request.headers.get(key)
        if incoming and valid(incoming):
            rid = incoming
        else:
            rid = generator()
            if not trusted_generator:
                _check_generated(header, rid)
        vars(ctx.state)["request_id"] = rid
        if echo:
            ctx.response.headers[key] = rid
        try:
            await next()
        except Exception as err:
            if echo:
                add_error_headers(err, ((key, rid),), ctx)
            raise

    return request_id_middleware
