"""One error type for HTTP outcomes, after Koa's ``http-errors``.

``HttpError(404)`` carries a status, a message (the reason phrase unless given), whether
the message may be shown to the client (``expose``, true below 500), headers that must
survive onto the error response, and any extra properties as attributes.
Programming mistakes raise ``TypeError``/``ValueError``/``RuntimeError`` instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

__all__ = ["ClientDisconnect", "HttpError", "error_status", "reason_phrase"]


def reason_phrase(status: int) -> str:
    """The standard reason phrase for ``status``, or its number as text."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return str(status)


class HttpError(Exception):
    """An HTTP error outcome: ``raise HttpError(403, "no entry")`` or ``ctx.throw(403)``."""

    status: int
    message: str
    expose: bool
    headers: dict[str, str | list[str]]

    def __init__(
        self,
        status: int = 500,
        message: str | None = None,
        *,
        expose: bool | None = None,
        headers: Mapping[str, str | list[str]] | None = None,
        **props: Any,
    ) -> None:
        if not isinstance(status, int) or isinstance(status, bool):
            raise TypeError(f"HttpError status must be an int, not {type(status).__name__}")
        if not 400 <= status <= 599:
            raise ValueError(f"HttpError status must be in 400-599, got {status}")
        self.status = status
        self.message = reason_phrase(status) if message is None else str(message)
        self.expose = status < 500 if expose is None else expose
        self.headers = dict(headers) if headers else {}
        for key, value in props.items():
            setattr(self, key, value)
        super().__init__(self.message)

    @property
    def status_code(self) -> int:
        """Alias of ``status`` for code written against Starlette/FastAPI."""
        return self.status

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, message={self.message!r})"


class ClientDisconnect(Exception):
    """The client went away while the request body was being read."""


def error_status(err: BaseException) -> int:
    """The status ``err`` stands for: an int ``status``/``status_code`` in 400-599, else 500."""
    for attr in ("status", "status_code"):
        value = getattr(err, attr, None)
        if isinstance(value, int) and not isinstance(value, bool) and 400 <= value <= 599:
            return value
    return 500
