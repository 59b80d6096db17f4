"""Security response headers with sane defaults (helmet's set).

Usage::

    app = App()
    app.use(error_handler(), security_headers())          # early: every response gets them
    app.use(security_headers(content_security_policy=None, frame_options="SAMEORIGIN"))

Defaults (each option takes ``None``/``False`` to leave that header out):

==================================  ======================================================
header                              default
==================================  ======================================================
Content-Security-Policy             helmet's policy (``DEFAULT_CSP``): self-only scripts,
                                    no plugins, no framing by other origins
Strict-Transport-Security           ``max-age=31536000; includeSubDomains``, HTTPS only
X-Frame-Options                     ``DENY``
X-Content-Type-Options              ``nosniff``
Referrer-Policy                     ``no-referrer``
Cross-Origin-Opener-Policy          ``same-origin``
Cross-Origin-Resource-Policy        ``same-origin``
Origin-Agent-Cluster                ``?1``
X-DNS-Prefetch-Control              ``off``
X-Download-Options                  ``noopen``
X-Permitted-Cross-Domain-Policies   ``none``
X-XSS-Protection                    ``0`` (the old XSS auditor caused leaks; helmet's choice)
==================================  ======================================================

The headers are set before the rest of the chain runs, so a route can still override
one (``ctx.set("Content-Security-Policy", ...)``), and they are added to a passing
error's ``headers`` so error pages carry them too. Values are checked once, here: a CR
or LF raises ``ValueError`` at start-up, never per request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

from ..response import check_header
from ..types import Middleware, Next
from ._util import add_error_headers

if TYPE_CHECKING:
    from ..context import Context

__all__ = ["DEFAULT_CSP", "DEFAULT_HSTS", "security_headers"]

DEFAULT_CSP: Final[Mapping[str, str]] = {
    "default-src": "'self'",
    "base-uri": "'self'",
    "font-src": "'self' https: data:",
    "form-action": "'self'",
    "frame-ancestors": "'self'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "script-src": "'self'",
    "script-src-attr": "'none'",
    "style-src": "'self' https: 'unsafe-inline'",
    "upgrade-insecure-requests": "",
}
"""helmet's default Content-Security-Policy directives."""

DEFAULT_HSTS: Final = "max-age=31536000; includeSubDomains"

CspDirectives = Mapping[str, str | list[str] | bool | None]
CspOption = str | CspDirectives | bool | None


def _csp_value(policy: str | CspDirectives) -> str:
    if isinstance(policy, str):
        return policy
    parts = []
    for directive, value in policy.items():
        if not isinstance(directive, str) or not directive or " " in directive:
            raise ValueError(f"security_headers: bad CSP directive name {directive!r}")
        if value is None or value is False:
            continue
        if value is True:
            value = ""
        if isinstance(value, list | tuple):
            value = " ".join(value)
        if not isinstance(value, str):
            raise TypeError(f"security_headers: CSP {directive} must be a str or list of str")
        if ";" in value:
            raise ValueError(f"security_headers: CSP {directive} may not contain ';'")
        parts.append(f"{directive} {value}".strip())
    return "; ".join(parts)


def _option(name: str, value: object) -> str | None:
    if value is None or value is False:
        return None
    if not isinstance(value, str):
        raise TypeError(f"security_headers({name}=...) must be a str, or None/False to omit")
    return value


def security_headers(
    *,
    content_security_policy: CspOption = True,
    csp_report_only: bool = False,
    hsts: str | bool | None = True,
    hsts_on_http: bool = False,
    frame_options: str | bool | None = "DENY",
    referrer_policy: str | bool | None = "no-referrer",
    cross_origin_opener_policy: str | bool | None = "same-origin",
    cross_origin_resource_policy: str | bool | None = "same-origin",
    cross_origin_embedder_policy: str | bool | None = None,
    origin_agent_cluster: bool = True,
    nosniff: bool = True,
    dns_prefetch_control: str | bool | None = "off",
    download_options: str | bool | None = "noopen",
    permitted_cross_domain_policies: str | bool | None = "none",
    xss_protection: str | bool | None = "0",
    permissions_policy: str | bool | None = None,
    extra: Mapping[str, str] | None = None,
) -> Middleware:
    """Set security headers on every response (see the table in the module docstring).

    Args:
        content_security_policy: ``True`` for ``DEFAULT_CSP``, a policy string, a mapping
            of directive -> value (str or list; ``None`` drops a directive), or
            ``None``/``False`` for none.
        csp_report_only: send it as ``Content-Security-Policy-Report-Only``.
        hsts: ``True`` for ``DEFAULT_HSTS``, a full header value, or ``None``/``False``.
        hsts_on_http: also send HSTS on plain-HTTP requests (browsers ignore it there;
            useful behind a TLS proxy without ``App(proxy=True)``).
        extra: more headers to set, name -> value.
    """
    headers: list[tuple[str, str]] = []

    def add(name: str, value: str | None) -> None:
        if value is not None:
            check_header(name, value)
            headers.append((name.lower(), value))

    if content_security_policy is True:
        csp: str | None = _csp_value(DEFAULT_CSP)
    elif content_security_policy is None or content_security_policy is False:
        csp = None
    elif isinstance(content_security_policy, str | Mapping):
        csp = _csp_value(content_security_policy)
    else:
        raise TypeError("security_headers(content_security_policy=...) must be a str or mapping")
    if not isinstance(csp_report_only, bool):
        raise TypeError("security_headers(csp_report_only=...) must be a bool")
    name = "Content-Security-Policy-Report-Only" if csp_report_only else "Content-Security-Policy"
    add(name, csp or None)
    add(
        "Cross-Origin-Opener-Policy",
        _option("cross_origin_opener_policy", cross_origin_opener_policy),
    )
    add(
        "Cross-Origin-Resource-Policy",
        _option("cross_origin_resource_policy", cross_origin_resource_policy),
    )
    add(
        "Cross-Origin-Embedder-Policy",
        _option("cross_origin_embedder_policy", cross_origin_embedder_policy),
    )
    for flag, label in ((origin_agent_cluster, "origin_agent_cluster"), (nosniff, "nosniff")):
        if not isinstance(flag, bool):
            raise TypeError(f"security_headers({label}=...) must be a bool")
    add("Origin-Agent-Cluster", "?1" if origin_agent_cluster else None)
    add("Referrer-Policy", _option("referrer_policy", referrer_policy))
    add("X-Content-Type-Options", "nosniff" if nosniff else None)
    add("X-DNS-Prefetch-Control", _option("dns_prefetch_control", dns_prefetch_control))
    add("X-Download-Options", _option("download_options", download_options))
    add("X-Frame-Options", _option("frame_options", frame_options))
    add(
        "X-Permitted-Cross-Domain-Policies",
        _option("permitted_cross_domain_policies", permitted_cross_domain_policies),
    )
    add("X-XSS-Protection", _option("xss_protection", xss_protection))
    add("Permissions-Policy", _option("permissions_policy", permissions_policy))
    if extra is not None:
        if not isinstance(extra, Mapping):
            raise TypeError("security_headers(extra=...) must be a mapping of name -> value")
        for key, value in extra.items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise TypeError("security_headers(extra=...) names and values must be str")
            add(key, value)
    hsts_value = DEFAULT_HSTS if hsts is True else _option("hsts", hsts)
    if hsts_value is not None:
        check_header("Strict-Transport-Security", hsts_value)
    if not isinstance(hsts_on_http, bool):
        raise TypeError("security_headers(hsts_on_http=...) must be a bool")
    fixed = tuple(headers)
    with_hsts = (*fixed, ("strict-transport-security", hsts_value)) if hsts_value else fixed

    async def security_headers_middleware(ctx: Context, next: Next) -> None:
        chosen = with_hsts if hsts_on_http or ctx.request.secure else fixed
        target = ctx.response.headers
        for key, value in chosen:
            target[key] = value
        try:
            await next()
        except Exception as err:
            add_error_headers(err, chosen, ctx)
            raise

    return security_headers_middleware
