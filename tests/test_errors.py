"""HttpError and error_status(): the one error type for HTTP outcomes (DESIGN §2 "Errors")."""

from __future__ import annotations

from typing import Any

import pytest
from _core_helpers import fake_context

from scallion import HttpError
from scallion.errors import error_status, reason_phrase


def test_defaults_come_from_the_status() -> None:
    err = HttpError(404)
    assert err.status == 404
    assert err.status_code == 404
    assert err.message == "Not Found"
    assert str(err) == "Not Found"
    assert err.expose is True
    assert err.headers == {}


def test_server_errors_are_not_exposed_by_default() -> None:
    assert HttpError(500).expose is False
    assert HttpError(503, "db down").expose is False
    assert HttpError(503, "retry later", expose=True).expose is True
    assert HttpError(400, expose=False).expose is False


def test_message_headers_and_extra_props() -> None:
    err = HttpError(429, "slow down", headers={"Retry-After": "3"}, code="RATE", limit=10)
    assert str(err) == err.message == "slow down"
    assert err.headers == {"Retry-After": "3"}
    assert err.code == "RATE"  # type: ignore[attr-defined]
    assert err.limit == 10  # type: ignore[attr-defined]
    assert repr(err) == "HttpError(status=429, message='slow down')"


@pytest.mark.parametrize("status", ["404", 404.0, True, None])
def test_a_non_int_status_is_a_type_error(status: Any) -> None:
    with pytest.raises(TypeError):
        HttpError(status)


@pytest.mark.parametrize("status", [200, 302, 399, 600, -1])
def test_a_status_outside_400_599_is_a_value_error(status: int) -> None:
    with pytest.raises(ValueError):
        HttpError(status)


def test_ctx_throw_passes_every_argument_through() -> None:
    ctx = fake_context()
    with pytest.raises(HttpError) as info:
        ctx.throw(403, "admins only", expose=False, headers={"x-why": "role"}, role="guest")
    err = info.value
    assert (err.status, err.message, err.expose) == (403, "admins only", False)
    assert err.headers == {"x-why": "role"}
    assert err.role == "guest"  # type: ignore[attr-defined]


def test_ctx_throw_defaults_to_500() -> None:
    with pytest.raises(HttpError) as info:
        fake_context().throw()
    assert info.value.status == 500


def test_ctx_assert_throws_unless_the_condition_holds() -> None:
    ctx = fake_context()
    ctx.assert_(True, 401)
    with pytest.raises(HttpError) as info:
        ctx.assert_(None, 401, "log in first")
    assert (info.value.status, info.value.message) == (401, "log in first")


class WithStatus(Exception):
    def __init__(self, status: Any) -> None:
        self.status = status


class WithStatusCode(Exception):
    def __init__(self, status_code: Any) -> None:
        self.status_code = status_code


@pytest.mark.parametrize(
    ("err", "expected"),
    [
        (HttpError(418), 418),
        (WithStatus(404), 404),
        (WithStatusCode(422), 422),
        (WithStatus(599), 599),
        (WithStatus(302), 500),
        (WithStatus(600), 500),
        (WithStatus("404"), 500),
        (WithStatus(True), 500),
        (ValueError("plain"), 500),
    ],
)
def test_error_status_reads_status_or_status_code_in_range(err: Exception, expected: int) -> None:
    assert error_status(err) == expected


def test_reason_phrase() -> None:
    assert reason_phrase(404) == "Not Found"
    assert reason_phrase(599) == "599"
