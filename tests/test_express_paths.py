"""The Express layer matches paths exactly as ``compile_path`` says, fast paths included.

Static routes are found by a dict lookup and static ``use()`` prefixes by string
comparison; these properties hold them to the regex-based ``PathPattern`` answers for
every option combination, on awkward paths (case, trailing and doubled slashes, escapes).
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any
from urllib.parse import unquote

from hypothesis import given, settings
from hypothesis import strategies as st

from scallion import App
from scallion._paths import compile_path
from scallion.context import Context
from scallion.express import Express

APP = App()
SEGMENTS = ["a", "A", "api", "API", "b.c", "x%20y", "%41", "caf%C3%A9", "café", "-", "v1", ""]
PARAMS = [":id", ":id?", r":n(\d+)", "*", "*rest"]


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Drive a coroutine that never really suspends (sync handlers, instant next)."""
    try:
        coro.send(None)
    except StopIteration as stop:
        return stop.value
    raise AssertionError("the coroutine suspended")


async def _end() -> None:
    return None


async def _nothing(*args: Any) -> Any:
    return None


def wire(path: str) -> str:
    """The raw path as the framework sees it: bytes off the wire, read as latin-1."""
    return path.encode("utf-8").decode("latin-1")


def request(ex: Express, raw: str) -> list[Any]:
    """Run one GET for ``raw`` straight through ``ex``; what the handler saw, or []."""
    scope = {
        "type": "http",
        "method": "GET",
        "path": unquote(raw),
        "raw_path": raw.encode("utf-8"),
        "query_string": b"",
        "headers": [],
    }
    ctx = Context(APP, scope, _nothing, _nothing)
    ctx.state.seen = []
    run(ex(ctx, _end))
    return ctx.state.seen  # type: ignore[no-any-return]


def record(req: Any, res: Any) -> None:
    req.ctx.state.seen = [req.base_url, req.url]
    res.end()


paths = st.lists(st.sampled_from(SEGMENTS), min_size=0, max_size=4).map(
    lambda segs: "/" + "/".join(segs)
) | st.sampled_from(["/", "//", "/a//", "/A/", "/api/", "/api//x"])
static_patterns = st.lists(
    st.sampled_from([s for s in SEGMENTS if s]), min_size=1, max_size=3
).flatmap(
    lambda segs: st.sampled_from(["/" + "/".join(segs), "/" + "/".join(segs) + "/"])
) | st.just("/")
patterns = static_patterns | st.tuples(static_patterns, st.sampled_from(PARAMS)).map(
    lambda pair: pair[0].rstrip("/") + "/" + pair[1]
)
options = st.tuples(st.booleans(), st.booleans())


@settings(max_examples=250, deadline=None)
@given(pattern=patterns, path=paths, opts=options)
def test_routes_match_like_compile_path(pattern: str, path: str, opts: tuple[bool, bool]) -> None:
    strict, sensitive = opts
    ex = Express(strict=strict, case_sensitive=sensitive).get(pattern, record)
    pattern_ = compile_path(pattern, end=True, strict=strict, sensitive=sensitive)
    expected = pattern_.match(wire(path))
    seen = request(ex, path)
    assert bool(seen) == (expected is not None), (pattern, path, opts)


@settings(max_examples=250, deadline=None)
@given(pattern=patterns, path=paths, opts=options)
def test_use_prefixes_match_and_strip_like_compile_path(
    pattern: str, path: str, opts: tuple[bool, bool]
) -> None:
    strict, sensitive = opts
    ex = Express(strict=strict, case_sensitive=sensitive).use(pattern, record)
    raw = wire(path)
    found = compile_path(pattern, end=False, strict=strict, sensitive=sensitive).match_prefix(raw)
    seen = request(ex, path)
    if pattern == "/":  # use("/") is every path, as in Express
        assert seen == ["", raw]
        return
    assert bool(seen) == (found is not None), (pattern, path, opts)
    if found is not None:
        consumed = found[1]
        removed, rest = raw[:consumed], raw[consumed:]
        base = removed[:-1] if removed.endswith("/") else removed
        assert seen == [base, rest if rest.startswith("/") else "/" + rest]


@settings(max_examples=100, deadline=None)
@given(pattern=static_patterns, path=paths)
def test_static_routes_among_many_keep_stack_order(pattern: str, path: str) -> None:
    """A static route, a dynamic catch-all before it and one after: the first match wins."""
    ex = Express()
    ex.get("/:only", lambda req, res: record_as(req, res, "dynamic-first"))
    ex.get(pattern, lambda req, res: record_as(req, res, "static"))
    ex.get("/*", lambda req, res: record_as(req, res, "catch-all"))
    seen = request(ex, path)
    if compile_path("/:only").match(wire(path)) is not None:
        assert seen == ["dynamic-first"]
    elif compile_path(pattern).match(wire(path)) is not None:
        assert seen == ["static"]
    else:
        assert seen == ["catch-all"]


def record_as(req: Any, res: Any, name: str) -> None:
    req.ctx.state.seen = [name]
    res.end()
