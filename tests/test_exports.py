"""The public surface is exactly the contract list (httpx's test_exported_members, as a spec).

The list is DESIGN §2's: ``from scallion import App, Router, compose, HttpError, Context``
plus the request/response types, ``current_context`` and the SSE body.
"""

from __future__ import annotations

import scallion

CONTRACT = [
    "App",
    "Context",
    "Event",
    "HttpError",
    "Request",
    "Response",
    "Router",
    "compose",
    "current_context",
    "sse",
]


def test_all_is_exactly_the_contract() -> None:
    assert scallion.__all__ == CONTRACT


def test_all_is_sorted() -> None:
    assert scallion.__all__ == sorted(scallion.__all__)


def test_every_exported_name_exists_and_belongs_to_scallion() -> None:
    for name in scallion.__all__:
        member = getattr(scallion, name)
        assert member.__module__.startswith("scallion."), name


def test_no_other_public_names_leak_from_the_package() -> None:
    public = {
        name
        for name, value in vars(scallion).items()
        if not name.startswith("_") and not isinstance(value, type(scallion))
    }
    assert public == set(CONTRACT)
