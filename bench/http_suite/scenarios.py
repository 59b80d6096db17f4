"""The scenarios: which request each one sends, and how a correct answer looks.

Every endpoint is checked before it is timed; a framework that answers wrongly is not
measured at all (a fast wrong answer is worth nothing).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from bench.apps.common import (
    DEPTH_HEADER,
    HELLO,
    MESSAGE,
    MW_LAYERS,
    POST_BODY,
    POST_PAYLOAD,
    ROUTE_BODY,
    ROUTE_PATH,
    STATIC_URL,
    static_bytes,
)


@dataclass(frozen=True)
class Answer:
    """One HTTP response as the checker sees it (header names lowercased)."""

    status: int
    headers: Mapping[str, str]
    body: bytes


Check = Callable[[Answer], list[str]]


@dataclass(frozen=True)
class Scenario:
    name: str
    variant: str  # which app variant serves it (``base``, ``mw10``, ...)
    path: str
    check: Check
    method: str = "GET"
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    expect_error_status: bool = False  # wrk counts non-2xx; expected for ``error``
    conditional: bool = False  # also check that If-None-Match with the ETag gives 304
    description: str = ""

    def wrk_script(self) -> str | None:
        """A Lua script for wrk when the request is not a plain GET."""
        if self.method == "GET" and not self.headers:
            return None
        lines = [f'wrk.method = "{self.method}"']
        if self.body:
            lines.append(f"wrk.body = [==[{self.body.decode()}]==]")
        for name, value in self.headers.items():
            lines.append(f'wrk.headers["{name}"] = "{value}"')
        return "\n".join(lines) + "\n"


def _status(answer: Answer, want: int) -> list[str]:
    return [] if answer.status == want else [f"status {answer.status}, want {want}"]


def _ctype(answer: Answer, prefix: str) -> list[str]:
    got = answer.headers.get("content-type", "")
    return [] if got.startswith(prefix) else [f"content-type {got!r}, want {prefix}*"]


def _text(want: str) -> Check:
    def check(answer: Answer) -> list[str]:
        problems = _status(answer, 200) + _ctype(answer, "text/plain")
        if answer.body != want.encode():
            problems.append(f"body {answer.body[:80]!r}, want {want!r}")
        return problems

    return check


def _json(want: object) -> Check:
    def check(answer: Answer) -> list[str]:
        problems = _status(answer, 200) + _ctype(answer, "application/json")
        try:
            got = json.loads(answer.body)
        except ValueError:
            return [*problems, f"body is not JSON: {answer.body[:80]!r}"]
        if got != want:
            problems.append(f"body {answer.body[:80]!r} differs from the expected JSON")
        return problems

    return check


def _mw10(answer: Answer) -> list[str]:
    problems = _text(HELLO)(answer)
    depth = answer.headers.get(DEPTH_HEADER)
    if depth != str(MW_LAYERS):
        problems.append(f"{DEPTH_HEADER} {depth!r}, want {MW_LAYERS!r} (did all layers run?)")
    return problems


def _static(answer: Answer) -> list[str]:
    problems = _status(answer, 200) + _ctype(answer, "text/plain")
    if answer.body != static_bytes():
        problems.append(f"body of {len(answer.body)} bytes differs from the 10 KiB file")
    if not answer.headers.get("etag"):
        problems.append("no ETag header")
    return problems


def _error(answer: Answer) -> list[str]:
    return _status(answer, 404)


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("plaintext", "base", "/", _text(HELLO), description='GET / -> "Hello, World!"'),
        Scenario("json", "base", "/json", _json(MESSAGE), description="GET /json -> {message}"),
        Scenario(
            "mw10",
            "mw10",
            "/",
            _mw10,
            description="10 pass-through layers (work before and after next) + plaintext",
        ),
        Scenario(
            "router100",
            "router100",
            ROUTE_PATH,
            _text(ROUTE_BODY),
            description="100 routes, hit the parametrised one registered last",
        ),
        Scenario(
            "post-json",
            "base",
            "/echo",
            _json(POST_PAYLOAD),
            method="POST",
            body=POST_BODY,
            headers={"Content-Type": "application/json"},
            description=f"POST /echo, {len(POST_BODY)} B JSON echoed through the body parser",
        ),
        Scenario(
            "static",
            "static",
            STATIC_URL,
            _static,
            conditional=True,
            description="GET a 10 KiB file served from disk with an ETag",
        ),
        Scenario(
            "error",
            "base",
            "/error",
            _error,
            expect_error_status=True,
            description="a handler raising an HttpError 404",
        ),
        Scenario(
            "stack",
            "stack",
            "/",
            _text(HELLO),
            description="plaintext behind the seeds' recommended middleware stack (scallion only)",
        ),
        Scenario(
            "express-plaintext",
            "express",
            "/",
            _text(HELLO),
            description="plaintext through the Express layer (scallion only)",
        ),
        Scenario(
            "express-mw10",
            "express_mw10",
            "/",
            _mw10,
            description="mw10 through the Express layer (scallion only)",
        ),
    )
}
