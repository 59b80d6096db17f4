"""security_headers(): helmet's set, HSTS on HTTPS only, kept on error responses."""

from __future__ import annotations

from typing import Any

import pytest

from scallion import HttpError
from scallion.middleware import error_handler, security_headers
from scallion.middleware.security_headers import DEFAULT_CSP
from scallion.testing import TestClient

from ._helpers_a import app_with, client, closing

DEFAULTS = {
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "origin-agent-cluster": "?1",
    "x-dns-prefetch-control": "off",
    "x-download-options": "noopen",
    "x-permitted-cross-domain-policies": "none",
    "x-xss-protection": "0",
}


def https_client(*mw: Any, handler: Any = None) -> TestClient:
    return closing(TestClient(app_with(*mw, handler=handler), base_url="https://testserver"))


def test_defaults_over_http() -> None:
    r = client(security_headers()).get("/")
    for name, value in DEFAULTS.items():
        assert r.headers[name] == value
    csp = r.headers["content-security-policy"]
    assert csp.startswith("default-src 'self'; base-uri 'self';")
    assert "object-src 'none'" in csp and csp.endswith("upgrade-insecure-requests")
    assert "strict-transport-security" not in r.headers
    assert "cross-origin-embedder-policy" not in r.headers


def test_hsts_on_https() -> None:
    r = https_client(security_headers()).get("/")
    assert r.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"


def test_hsts_options() -> None:
    custom = security_headers(hsts="max-age=60; preload", hsts_on_http=True)
    assert client(custom).get("/").headers["strict-transport-security"] == "max-age=60; preload"
    assert (
        "strict-transport-security"
        not in https_client(security_headers(hsts=False)).get("/").headers
    )


def test_each_header_can_be_disabled() -> None:
    mw = security_headers(
        content_security_policy=None,
        frame_options=None,
        referrer_policy=False,
        cross_origin_opener_policy=None,
        cross_origin_resource_policy=None,
        origin_agent_cluster=False,
        nosniff=False,
        dns_prefetch_control=None,
        download_options=None,
        permitted_cross_domain_policies=None,
        xss_protection=None,
        hsts=None,
    )
    r = https_client(mw).get("/")
    for name in [*DEFAULTS, "content-security-policy", "strict-transport-security"]:
        assert name not in r.headers


def test_custom_values() -> None:
    mw = security_headers(
        content_security_policy={
            "default-src": ["'self'", "cdn.example.com"],
            "script-src": None,
            "upgrade-insecure-requests": True,
        },
        frame_options="SAMEORIGIN",
        cross_origin_embedder_policy="require-corp",
        permissions_policy="geolocation=()",
        xss_protection="1; mode=block",
        extra={"X-Robots-Tag": "noindex"},
    )
    r = client(mw).get("/")
    assert r.headers["content-security-policy"] == (
        "default-src 'self' cdn.example.com; upgrade-insecure-requests"
    )
    assert r.headers["x-frame-options"] == "SAMEORIGIN"
    assert r.headers["cross-origin-embedder-policy"] == "require-corp"
    assert r.headers["permissions-policy"] == "geolocation=()"
    assert r.headers["x-xss-protection"] == "1; mode=block"
    assert r.headers["x-robots-tag"] == "noindex"


def test_csp_string_and_report_only() -> None:
    r = client(
        security_headers(content_security_policy="default-src 'none'", csp_report_only=True)
    ).get("/")
    assert r.headers["content-security-policy-report-only"] == "default-src 'none'"
    assert "content-security-policy" not in r.headers


def test_route_can_override_a_header() -> None:
    async def embed(ctx: Any) -> None:
        ctx.set("X-Frame-Options", "SAMEORIGIN")
        ctx.body = "widget"

    assert (
        client(security_headers(), handler=embed).get("/").headers["x-frame-options"]
        == "SAMEORIGIN"
    )


@pytest.mark.parametrize("with_error_handler", [True, False])
def test_error_responses_carry_them(with_error_handler: bool) -> None:
    async def fail(ctx: Any) -> None:
        raise HttpError(400) if with_error_handler else RuntimeError("x")

    stack = (error_handler(), security_headers()) if with_error_handler else (security_headers(),)
    r = https_client(*stack, handler=fail).get("/")
    assert r.status_code in (400, 500)
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["strict-transport-security"].startswith("max-age=")
    assert "content-security-policy" in r.headers


def test_error_own_header_wins() -> None:
    async def fail(ctx: Any) -> None:
        raise HttpError(400, headers={"X-Frame-Options": "SAMEORIGIN"})

    r = client(error_handler(), security_headers(), handler=fail).get("/")
    assert r.headers["x-frame-options"] == "SAMEORIGIN"


def test_default_csp_is_helmets() -> None:
    assert DEFAULT_CSP["object-src"] == "'none'"


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"frame_options": "DENY\r\nSet-Cookie: x=1"}, ValueError),
        ({"content_security_policy": "default-src 'self'\n"}, ValueError),
        ({"content_security_policy": {"default-src": "'self'; script-src *"}}, ValueError),
        ({"content_security_policy": {"bad name": "x"}}, ValueError),
        ({"content_security_policy": {"img-src": 3}}, TypeError),
        ({"content_security_policy": 5}, TypeError),
        ({"hsts": "max-age=1\n"}, ValueError),
        ({"frame_options": 1}, TypeError),
        ({"nosniff": "yes"}, TypeError),
        ({"extra": {"X-A": 1}}, TypeError),
        ({"extra": {"Bad Name": "x"}}, ValueError),
        ({"hsts_on_http": 1}, TypeError),
        ({"csp_report_only": "no"}, TypeError),
    ],
)
def test_bad_options(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        security_headers(**kwargs)
