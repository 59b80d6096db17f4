"""response_time(): X-Response-Time on every response, errors included."""

from __future__ import annotations

import re
from typing import Any

import pytest

from scallion import HttpError
from scallion.middleware import error_handler, response_time

from ._helpers_a import client


def test_header_in_milliseconds_with_two_digits() -> None:
    r = client(response_time()).get("/")
    assert re.fullmatch(r"\d+\.\d{2}ms", r.headers["x-response-time"])


@pytest.mark.parametrize(("digits", "pattern"), [(0, r"\d+ms"), (4, r"\d+\.\d{4}ms")])
def test_digits(digits: int, pattern: str) -> None:
    r = client(response_time(digits=digits)).get("/")
    assert re.fullmatch(pattern, r.headers["x-response-time"])


def test_custom_header() -> None:
    r = client(response_time(header="Server-Timing-Ms")).get("/")
    assert "server-timing-ms" in r.headers and "x-response-time" not in r.headers


def test_measures_the_downstream() -> None:
    import asyncio

    async def slow(ctx: Any) -> None:
        await asyncio.sleep(0.03)
        ctx.body = "done"

    r = client(response_time(), handler=slow).get("/")
    assert float(r.headers["x-response-time"][:-2]) >= 25


@pytest.mark.parametrize("outer", [True, False])
def test_error_responses_carry_it(outer: bool) -> None:
    async def fail(ctx: Any) -> None:
        raise HttpError(418)

    stack = (error_handler(), response_time()) if outer else (response_time(),)
    r = client(*stack, handler=fail).get("/")
    assert r.status_code == 418
    assert r.headers["x-response-time"].endswith("ms")


def test_bad_options() -> None:
    with pytest.raises(ValueError):
        response_time(digits=9)
    with pytest.raises(TypeError):
        response_time(digits="2")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        response_time(header="X-Time\r\nX-Evil")
    with pytest.raises(TypeError):
        response_time(header=None)  # type: ignore[arg-type]
