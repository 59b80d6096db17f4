"""What an upstream call returns: the complete answer, where it came from, how long it took."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from .errors import RequestInfo, UpstreamBadResponse, UpstreamStatusError

__all__ = ["UpstreamResponse"]


class UpstreamResponse:
    """An upstream's complete answer, with where and how long it took."""

    __slots__ = (
        "attempts",
        "content",
        "elapsed",
        "headers",
        "instance",
        "method",
        "pool_wait",
        "status",
        "upstream",
        "url",
    )

    def __init__(
        self,
        upstream: str,
        method: str,
        url: str,
        status: int,
        headers: Mapping[str, str],
        content: bytes,
        elapsed: float,
        pool_wait: float,
        instance: str,
        attempts: int = 1,
    ) -> None:
        self.upstream = upstream
        self.method = method
        self.url = url
        self.status = status
        self.headers = headers
        self.content = content
        self.elapsed = elapsed
        self.pool_wait = pool_wait
        self.instance = instance
        self.attempts = attempts

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    @property
    def ok(self) -> bool:
        return self.status < 400

    def json(self, expect: type[dict[Any, Any]] | type[list[Any]] | None = None) -> Any:
        """The body parsed as JSON; ``UpstreamBadResponse`` naming the upstream otherwise.

        ``expect=dict`` or ``expect=list`` also checks the top-level shape (lura #167).
        """
        try:
            value = orjson.loads(self.content)
        except orjson.JSONDecodeError as exc:
            what = "an empty body" if not self.content else "a body that is not valid JSON"
            raise UpstreamBadResponse(
                f"upstream {self.upstream!r} answered {what} ({exc.msg} at byte {exc.pos})",
                upstream=self.upstream,
                request=RequestInfo(self.method, self.url),
            ) from None
        if expect is not None and not isinstance(value, expect):
            want = "an object" if expect is dict else "an array"
            raise UpstreamBadResponse(
                f"upstream {self.upstream!r} answered {_json_kind(value)} where {want} "
                "was expected",
                upstream=self.upstream,
                request=RequestInfo(self.method, self.url),
            )
        return value

    def raise_for_status(self) -> UpstreamResponse:
        """``UpstreamStatusError`` for a 4xx/5xx (status and body kept), else ``self``."""
        if self.status >= 400:
            raise UpstreamStatusError(
                self.status,
                self.content,
                upstream=self.upstream,
                request=RequestInfo(self.method, self.url),
            )
        return self

    def __repr__(self) -> str:
        return (
            f"<UpstreamResponse {self.upstream} {self.status} from {self.instance} "
            f"in {self.elapsed * 1000:.1f}ms>"
        )


def _json_kind(value: object) -> str:
    if isinstance(value, dict):
        return "a JSON object"
    if isinstance(value, list):
        return "a JSON array"
    if value is None:
        return "JSON null"
    return f"a JSON {type(value).__name__}"
