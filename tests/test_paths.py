"""The path syntax as a table: pattern, raw path, expected params (None = no match)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scallion._paths import Segment, compile_path, decode_param, join_paths

MATCH_TABLE: list[tuple[str, str, dict[str, str] | None]] = [
    # static
    ("/users", "/users", {}),
    ("/users", "/users/", {}),
    ("/users", "/users//", None),
    ("/users", "/USERS", {}),
    ("/users", "/user", None),
    ("/users", "/users/x", None),
    ("/users/", "/users", {}),
    ("/", "/", {}),
    ("", "/", {}),
    ("/", "/x", None),
    ("users", "/users", {}),
    ("/a//b", "/a//b", {}),
    ("/a//b", "/a/b", None),
    # named params
    ("/users/:id", "/users/42", {"id": "42"}),
    ("/users/:id", "/users/42/", {"id": "42"}),
    ("/users/:id", "/users", None),
    ("/users/:id", "/users/", None),
    ("/users/:id", "/users/1/2", None),
    ("/users/:id", "/Users/AbC", {"id": "AbC"}),
    ("/:a/:b", "/x/y", {"a": "x", "b": "y"}),
    ("/users/:user_id/posts/:pid", "/users/7/posts/9", {"user_id": "7", "pid": "9"}),
    ("/files/:name.:ext", "/files/a.tar.gz", {"name": "a.tar", "ext": "gz"}),
    ("/v:version/api", "/v2/api", {"version": "2"}),
    # percent-decoding
    ("/users/:id", "/users/a%2Fb", {"id": "a/b"}),
    ("/users/:id", "/users/a%2fb", {"id": "a/b"}),
    ("/users/:id", "/users/a+b", {"id": "a+b"}),
    ("/users/:id", "/users/a%2Bb", {"id": "a+b"}),
    ("/users/:id", "/users/a%20b", {"id": "a b"}),
    ("/users/:id", "/users/caf%C3%A9", {"id": "café"}),
    ("/users/:id", "/users/%E0%A4%A", {"id": "%E0%A4%A"}),
    ("/users/:id", "/users/%E0%A4%A8", {"id": "\u0928"}),
    ("/users/:id", "/users/%FF", {"id": "%FF"}),
    ("/users/:id", "/users/%C3", {"id": "%C3"}),
    ("/users/:id", "/users/%zz%41", {"id": "%zz%41"}),
    ("/users/:id", "/users/100%", {"id": "100%"}),
    ("/users/:id", "/users/%25", {"id": "%"}),
    ("/users/:id", "/users/%2525", {"id": "%25"}),
    ("/café", "/caf%C3%A9", {}),
    ("/a b", "/a%20b", {}),
    ("/a\\:b", "/a:b", {}),
    ("/a\\(b\\)", "/a(b)", {}),
    ("/a\\*", "/a*", {}),
    # optional params
    ("/users/:id?", "/users", {}),
    ("/users/:id?", "/users/", {}),
    ("/users/:id?", "/users/5", {"id": "5"}),
    ("/users/:id?", "/users/5/6", None),
    ("/:id?", "/", {}),
    ("/:id?", "/x", {"id": "x"}),
    ("/a/:b?/c", "/a/c", {}),
    ("/a/:b?/c", "/a/x/c", {"b": "x"}),
    ("/:lang?/docs/:page?", "/docs", {}),
    ("/:lang?/docs/:page?", "/fr/docs/intro", {"lang": "fr", "page": "intro"}),
    # regex-constrained params
    ("/users/:id(\\d+)", "/users/12", {"id": "12"}),
    ("/users/:id(\\d+)", "/users/abc", None),
    ("/users/:id(\\d+)", "/users/12abc", None),
    ("/users/:id(\\d+)?", "/users", {}),
    ("/users/:id(\\d+)?", "/users/3", {"id": "3"}),
    ("/:slug([a-z]+-[0-9]+)", "/post-12", {"slug": "post-12"}),
    ("/:x(a|b)", "/a", {"x": "a"}),
    ("/:x(a|b)", "/c", None),
    ("/:x(a|b)", "/A", {"x": "A"}),
    ("/:x([(])", "/(", {"x": "("}),
    ("/:p(.*)", "/a", {"p": "a"}),
    ("/:p(.*)", "/a/b", None),
    ("/:p(.+)/x", "/a/b/x", None),
    # wildcards
    ("/files/*", "/files/a/b%20c", {"*": "a/b c"}),
    ("/files/*", "/files/a/b/", {"*": "a/b"}),
    ("/files/*", "/files/a%2Fb", {"*": "a/b"}),
    ("/files/*", "/files", {"*": ""}),
    ("/files/*", "/files/", {"*": ""}),
    ("/files/*", "/filesx", None),
    ("/static/*path", "/static/css/x.css", {"path": "css/x.css"}),
    ("/*", "/", {"*": ""}),
    ("/*", "/anything/at/all", {"*": "anything/at/all"}),
    ("*", "/x/y", {"*": "x/y"}),
    ("/u/:id/*", "/u/1/a/b", {"id": "1", "*": "a/b"}),
]


@pytest.mark.parametrize(("pattern", "path", "params"), MATCH_TABLE)
def test_match_table(pattern: str, path: str, params: dict[str, str] | None) -> None:
    assert compile_path(pattern).match(path) == params


STRICT_TABLE: list[tuple[str, str, dict[str, str] | None]] = [
    ("/a", "/a", {}),
    ("/a", "/a/", None),
    ("/a/", "/a", None),
    ("/a/", "/a/", {}),
    ("/", "/", {}),
    ("/:id?", "/", {}),
    ("/users/:id", "/users/1/", None),
    ("/users/:id/", "/users/1/", {"id": "1"}),
    ("/files/*", "/files", None),
    ("/files/*", "/files/", {"*": ""}),
    ("/files/*", "/files/a/", {"*": "a/"}),
]


@pytest.mark.parametrize(("pattern", "path", "params"), STRICT_TABLE)
def test_strict_table(pattern: str, path: str, params: dict[str, str] | None) -> None:
    assert compile_path(pattern, strict=True).match(path) == params


SENSITIVE_TABLE: list[tuple[str, str, dict[str, str] | None]] = [
    ("/Users", "/Users", {}),
    ("/Users", "/users", None),
    ("/users/:id", "/USERS/1", None),
    ("/users/:id", "/users/AB", {"id": "AB"}),
    ("/:x([a-z]+)", "/AB", None),
]


@pytest.mark.parametrize(("pattern", "path", "params"), SENSITIVE_TABLE)
def test_sensitive_table(pattern: str, path: str, params: dict[str, str] | None) -> None:
    assert compile_path(pattern, sensitive=True).match(path) == params


PREFIX_TABLE: list[tuple[str, str, tuple[dict[str, str], int] | None]] = [
    ("/a", "/a", ({}, 2)),
    ("/a", "/a/", ({}, 2)),
    ("/a", "/a/b/c", ({}, 2)),
    ("/a", "/about", None),  # whole segments only (koajs/router#90)
    ("/a", "/ab/c", None),
    ("/a/", "/a/b", ({}, 2)),
    ("/A", "/a/b", ({}, 2)),
    ("/", "/x/y", ({}, 0)),
    ("", "/x/y", ({}, 0)),
    ("/users/:uid", "/users/5/posts/3", ({"uid": "5"}, 8)),
    ("/users/:uid", "/users", None),
    ("/users/:uid?", "/users/posts", ({"uid": "posts"}, 12)),
    ("/users/:uid(\\d+)", "/users/ab/c", None),
    ("/files/*", "/files/a/b", ({"*": "a/b"}, 10)),
]


@pytest.mark.parametrize(("pattern", "path", "expected"), PREFIX_TABLE)
def test_prefix_table(pattern: str, path: str, expected: tuple[dict[str, str], int] | None) -> None:
    compiled = compile_path(pattern, end=False)
    assert compiled.match_prefix(path) == expected
    assert compiled.match(path) == (None if expected is None else expected[0])


def test_prefix_remainder_is_empty_or_starts_with_slash() -> None:
    compiled = compile_path("/api/:v", end=False)
    for path in ["/api/1", "/api/1/", "/api/1/users", "/API/2/x/y"]:
        hit = compiled.match_prefix(path)
        assert hit is not None
        rest = path[hit[1] :]
        assert rest == "" or rest.startswith("/")


def test_strict_prefix_with_trailing_slash_needs_a_slash() -> None:
    compiled = compile_path("/a/", end=False, strict=True)
    assert compiled.match_prefix("/a") is None
    assert compiled.match_prefix("/a/b") == ({}, 2)


def test_full_pattern_match_prefix_consumes_everything() -> None:
    assert compile_path("/a/:b").match_prefix("/a/x") == ({"b": "x"}, 4)


BAD_PATTERNS: list[tuple[str, str]] = [
    ("/:id(\\d+", "never closed"),
    ("/:id)", "no matching '('"),
    ("/(\\d+)", "must follow a parameter name"),
    ("/:a/:a", "used twice"),
    ("/:a/*a", "used twice"),
    ("/:id(a{2,1})", "regex of 'id' is invalid"),
    ("/:id(()", "never closed"),
    ("/:", "must be followed by a parameter name"),
    ("/:9x", "must be followed by a parameter name"),
    ("/*/x", "must be the last thing"),
    ("/a*", "must start a segment"),
    ("/:id()", "empty regex"),
    ("/x.:e?", "must be a whole segment"),
    ("/x\\", "lone"),
    ("/x/:a((?i)b)", "do not combine"),
    ("/:a?/:b?/:c?/:d?/:e?/:f?/:g?/:h?/:i?", "more than 8 optional"),
]


@pytest.mark.parametrize(("pattern", "message"), BAD_PATTERNS)
def test_bad_patterns_raise_value_error(pattern: str, message: str) -> None:
    with pytest.raises(ValueError, match="Invalid path pattern") as info:
        compile_path(pattern)
    assert message in str(info.value)


def test_non_string_pattern_is_a_type_error() -> None:
    with pytest.raises(TypeError):
        compile_path(5)  # type: ignore[arg-type]


KEYS_TABLE: list[tuple[str, tuple[str, ...], bool]] = [
    ("/users", (), True),
    ("/users/:id", ("id",), False),
    ("/:a/:b?/*rest", ("a", "b", "rest"), False),
    ("/files/*", ("*",), False),
]


@pytest.mark.parametrize(("pattern", "keys", "is_static"), KEYS_TABLE)
def test_keys_and_is_static(pattern: str, keys: tuple[str, ...], is_static: bool) -> None:
    compiled = compile_path(pattern)
    assert compiled.pattern == pattern
    assert compiled.keys == keys
    assert compiled.is_static is is_static


BUILD_TABLE: list[tuple[str, dict[str, object], str]] = [
    ("/users", {}, "/users"),
    ("/", {}, "/"),
    ("/users/:id", {"id": 5}, "/users/5"),
    ("/users/:id", {"id": "a b/c"}, "/users/a%20b%2Fc"),
    ("/users/:id", {"id": "a+b"}, "/users/a%2Bb"),
    ("/users/:id", {"id": "café"}, "/users/caf%C3%A9"),
    ("/users/:id?", {}, "/users"),
    ("/users/:id?", {"id": None}, "/users"),
    ("/users/:id?", {"id": "7"}, "/users/7"),
    ("/files/*", {"*": "a/b c"}, "/files/a/b%20c"),
    ("/static/*path", {"path": "css/x.css"}, "/static/css/x.css"),
    ("/files/:name.:ext", {"name": "a", "ext": "gz"}, "/files/a.gz"),
    ("/café/:x", {"x": "1"}, "/caf%C3%A9/1"),
]


@pytest.mark.parametrize(("pattern", "params", "path"), BUILD_TABLE)
def test_build_table(pattern: str, params: dict[str, object], path: str) -> None:
    compiled = compile_path(pattern)
    assert compiled.build(params) == path


@pytest.mark.parametrize(("pattern", "params"), [(p, v) for p, v, _ in BUILD_TABLE])
def test_build_round_trips_through_match(pattern: str, params: dict[str, object]) -> None:
    compiled = compile_path(pattern)
    expected = {k: str(v) for k, v in params.items() if v is not None}
    assert compiled.match(compiled.build(params)) == expected


def test_build_missing_required_param_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        compile_path("/users/:id").build({})


@pytest.mark.parametrize(
    ("pattern", "params"), [("/users/:id(\\d+)", {"id": "abc"}), ("/users/:id", {"id": ""})]
)
def test_build_value_the_pattern_would_reject_is_a_value_error(
    pattern: str, params: dict[str, object]
) -> None:
    with pytest.raises(ValueError, match="does not match"):
        compile_path(pattern).build(params)


SHAPES_TABLE: list[tuple[str, list[tuple[str | Segment, ...]]]] = [
    ("/", [()]),
    ("/Users/", [("users",)]),
    ("/users/:id", [("users", Segment.ANY)]),
    ("/files/:name.:ext", [("files", Segment.ANY)]),
    ("/a/:b?/c", [("a", "c"), ("a", Segment.ANY, "c")]),
    ("/files/*", [("files", Segment.REST)]),
]


@pytest.mark.parametrize(("pattern", "shapes"), SHAPES_TABLE)
def test_shapes_for_the_router_trie(pattern: str, shapes: list[tuple[str | Segment, ...]]) -> None:
    assert compile_path(pattern).shapes() == shapes


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [("abc", "abc"), ("a%20b", "a b"), ("a+b", "a+b"), ("%E0%A4%A", "%E0%A4%A"), ("%", "%")],
)
def test_decode_param(raw: str, decoded: str) -> None:
    assert decode_param(raw) == decoded


@pytest.mark.parametrize(
    ("prefix", "path", "strict", "joined"),
    [
        ("", "/users", False, "/users"),
        ("/api", "/users", False, "/api/users"),
        ("/api/", "/users", False, "/api/users"),
        ("/api", "users", False, "/api/users"),
        ("/api", "/", False, "/api"),
        ("/api", "/", True, "/api/"),
        ("/api", "", False, "/api"),
        ("/", "/x", False, "/x"),
        ("", "", False, "/"),
        ("/api", "/*", False, "/api/*"),
    ],
)
def test_join_paths(prefix: str, path: str, strict: bool, joined: str) -> None:
    assert join_paths(prefix, path, strict=strict) == joined


# -- properties ---------------------------------------------------------------------------


@given(st.text(min_size=1))
def test_any_value_round_trips_through_build_and_match(value: str) -> None:
    compiled = compile_path("/items/:value/edit")
    assert compiled.match(compiled.build({"value": value})) == {"value": value}


@given(st.lists(st.text(min_size=1), min_size=1, max_size=4))
def test_wildcard_round_trips_segments(parts: list[str]) -> None:
    value = "/".join(parts)
    compiled = compile_path("/files/*", strict=True)
    assert compiled.match(compiled.build({"*": value})) == {"*": value}


RAW_PATHS = st.text(alphabet="/%abcAB09.-_~+:@!*()?;=&[]\x80é", max_size=40)


@given(RAW_PATHS)
def test_matching_any_raw_path_never_raises(raw_path: str) -> None:
    for pattern in ["/a/:b", "/:x?/*", "/a/:b(\\d+)/c", "/f/:n.:e", "/"]:
        for strict in (False, True):
            compiled = compile_path(pattern, strict=strict)
            result = compiled.match(raw_path)
            assert result is None or isinstance(result, dict)
            prefix = compile_path(pattern, end=False, strict=strict).match_prefix(raw_path)
            if prefix is not None:
                rest = raw_path[prefix[1] :]
                assert rest == "" or rest.startswith("/")
