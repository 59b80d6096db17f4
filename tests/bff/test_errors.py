"""The BFF error tree: statuses, exposure, Retry-After, and what the errors carry."""

from __future__ import annotations

import pytest

from scallion.bff.errors import (
    BffError,
    BreakerOpen,
    BulkheadFull,
    DeadlineExceeded,
    RateLimited,
    RequestInfo,
    UpstreamBadResponse,
    UpstreamError,
    UpstreamStatusError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from scallion.errors import HttpError, error_status


@pytest.mark.parametrize(
    ("cls", "status", "parents"),
    [
        (UpstreamError, 502, (BffError,)),
        (UpstreamTimeout, 504, (UpstreamError,)),
        (DeadlineExceeded, 504, (UpstreamTimeout, UpstreamError)),
        (UpstreamUnavailable, 503, (UpstreamError,)),
        (BulkheadFull, 503, (UpstreamUnavailable,)),
        (UpstreamBadResponse, 502, (UpstreamError,)),
        (RateLimited, 429, (BffError,)),
        (BreakerOpen, 503, (UpstreamUnavailable, UpstreamError)),
    ],
)
def test_tree_and_statuses(cls: type[BffError], status: int, parents: tuple[type, ...]) -> None:
    err = cls(upstream="users")
    assert isinstance(err, HttpError)
    assert all(isinstance(err, p) for p in parents)
    assert err.status == status == error_status(err)
    assert err.expose is True
    assert err.upstream == "users"
    if issubclass(cls, UpstreamError):
        assert "'users'" in err.message


def test_message_without_upstream_reads_well() -> None:
    assert UpstreamTimeout().message == "upstream timed out"
    assert UpstreamStatusError(500).message == "upstream answered 500"


def test_breaker_open_carries_retry_after_header() -> None:
    err = BreakerOpen(upstream="orders", retry_after=2.1)
    assert err.retry_after == 2.1
    assert err.headers == {"retry-after": "3"}


def test_rate_limited_retry_after_and_extra_headers() -> None:
    err = RateLimited(retry_after=0.2, headers={"ratelimit-remaining": "0"})
    assert err.status == 429
    assert err.headers == {"retry-after": "1", "ratelimit-remaining": "0"}
    assert RateLimited(retry_after=0).headers["retry-after"] == "0"


def test_status_error_keeps_upstream_status_and_body() -> None:
    req = RequestInfo("get", "http://users.internal/api/users/7")
    err = UpstreamStatusError(503, b'{"error":"db"}', upstream="users", request=req)
    assert err.status == 502
    assert err.upstream_status == 503
    assert err.body == b'{"error":"db"}'
    assert err.request == RequestInfo("GET", "http://users.internal/api/users/7")
    passthrough = UpstreamStatusError(404, b"", upstream="users", status=404)
    assert passthrough.status == 404


def test_request_info_removes_credentials() -> None:
    req = RequestInfo("post", "https://bob:hunter2@api.local/x?api_key=s3cr3t&page=2#frag")
    assert req.method == "POST"
    assert "hunter2" not in req.url and "s3cr3t" not in req.url
    assert req.url == "https://api.local/x?api_key=REDACTED&page=2"
    assert str(req) == "POST https://api.local/x?api_key=REDACTED&page=2"


def test_messages_never_contain_the_url() -> None:
    req = RequestInfo("GET", "http://10.0.0.5:8080/internal")
    err = UpstreamUnavailable(upstream="users", request=req)
    assert "10.0.0.5" not in err.message
    assert "10.0.0.5" in repr(err)


def test_bad_response_message_names_the_backend() -> None:
    err = UpstreamBadResponse("upstream 'users' answered a JSON array, expected an object")
    assert str(err) == "upstream 'users' answered a JSON array, expected an object"
    assert err.status == 502
