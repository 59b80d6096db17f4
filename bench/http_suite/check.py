"""Checking an endpoint's status, headers and body over a real connection before timing it."""

from __future__ import annotations

import http.client

from bench.http_suite.scenarios import Answer, Scenario
from bench.http_suite.servers import HOST


def fetch(port: int, scenario: Scenario, extra: dict[str, str] | None = None) -> Answer:
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        headers = {**scenario.headers, **(extra or {})}
        conn.request(scenario.method, scenario.path, body=scenario.body or None, headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        return Answer(resp.status, {k.lower(): v for k, v in resp.getheaders()}, body)
    finally:
        conn.close()


def problems(port: int, scenario: Scenario) -> tuple[list[str], list[str]]:
    """``(errors, warnings)`` about the answer to ``scenario``; errors stop the timing.

    A static server that sends an ETag but ignores If-None-Match is timed (the timed
    requests are unconditional) with a warning that shows in the results.
    """
    try:
        first = fetch(port, scenario)
    except (OSError, http.client.HTTPException) as exc:
        return [f"request failed: {exc!r}"], []
    found = scenario.check(first)
    warnings: list[str] = []
    if scenario.conditional and not found:
        try:
            again = fetch(port, scenario, {"If-None-Match": first.headers["etag"]})
        except (OSError, http.client.HTTPException) as exc:
            return [f"conditional request failed: {exc!r}"], []
        if again.status != 304:
            warnings.append(f"If-None-Match with its own ETag answered {again.status}, not 304")
    return found, warnings
