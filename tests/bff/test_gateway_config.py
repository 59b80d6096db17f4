"""Gateway config validation: every error names file, line and field, before serving."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping

import pytest

from scallion.bff.gateway.loader import ConfigError
from scallion.bff.gateway.schema import GatewayConfig, parse_config
from scallion.bff.gateway.template import TemplateError, TemplateValueError, parse_template

HEAD = """\
upstreams:
  users:
    url: http://127.0.0.1:9001
  orders:
    urls: [http://127.0.0.1:9002, http://127.0.0.1:9003]
endpoints:
"""


def parse(
    text: str, env: Mapping[str, str] | None = None
) -> tuple[GatewayConfig | None, list[str]]:
    config, errors = parse_config(textwrap.dedent(text), "gateway.yaml", env or {})
    assert all(isinstance(e, ConfigError) for e in errors)
    return config, [str(e) for e in errors]


def errors_of(text: str, env: Mapping[str, str] | None = None) -> list[str]:
    config, errors = parse(text, env)
    assert config is None and errors
    return errors


def test_a_valid_file_parses() -> None:
    config, errors = parse(
        HEAD
        + """\
  - path: /api/dashboard/:user_id
    cache: {ttl: 10, vary: [Accept-Language], swr: 30}
    timeout: 0.8
    backends:
      - upstream: users
        path: /users/{user_id}
        group: user
        allow: [id, name, profile.avatar]
      - upstream: orders
        path: /orders?user={user_id}&page={query.page}
        group: orders
        collection: items
        fallback: {items: []}
      - name: items
        upstream: orders
        over: orders.items
        path: /items/{item.id}
        group: details
"""
    )
    assert errors == []
    assert config is not None
    (endpoint,) = config.endpoints
    assert endpoint.params == ("user_id",)
    assert endpoint.cache is not None and endpoint.cache.vary == ("accept-language",)
    names = [b.name for b in endpoint.backends]
    assert names == ["user", "orders", "items"]
    assert endpoint.backends[2].depends_on == ("orders",)
    assert config.upstreams["orders"].urls == ("http://127.0.0.1:9002", "http://127.0.0.1:9003")


def test_unknown_field_with_suggestion() -> None:
    errors = errors_of(
        HEAD
        + """\
  - path: /a
    backends:
      - upstream: users
        path: /a
        gruop: user
"""
    )
    assert errors == [
        "gateway.yaml:11: endpoints[0].backends[0].gruop: unknown field 'gruop' "
        "(did you mean 'group'?)"
    ]


def test_unknown_top_level_and_upstream_fields() -> None:
    errors = errors_of(
        """\
upstreams:
  users:
    url: http://127.0.0.1:1
    timout: 3
endpoints: []
extra: 1
"""
    )
    assert errors == [
        "gateway.yaml:4: upstreams.users.timout: unknown field 'timout' (did you mean 'timeout'?)",
        "gateway.yaml:6: extra: unknown field 'extra'",
    ]


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ("    timeout: fast\n", "endpoints[0].timeout: must be a number, not a string"),
        ("    timeout: -1\n", "endpoints[0].timeout: must be greater than 0, got -1"),
        ("    timeout: true\n", "endpoints[0].timeout: must be a number, not a boolean"),
        (
            "    method: FETCH\n",
            "endpoints[0].method: must be one of GET, POST, PUT, PATCH, DELETE",
        ),
        ("    merge: override\n", "endpoints[0].merge: must be one of deep, shallow, error"),
        ("    cache: {vary: [a]}\n", "endpoints[0].cache: missing required field 'ttl'"),
        ("    rate_limit: {limit: 0, window: 1}\n", "rate_limit.limit: must be at least 1, got 0"),
        ("    rate_limit: {limit: 5, window: 1, key: cookie}\n", "must be ip, route, global or"),
        ("    auth: oauth\n", "endpoints[0].auth.type: must be one of none, jwt, api_key"),
        ("    tags: [1]\n", "endpoints[0].tags: must be a list of non-empty strings"),
    ],
)
def test_bad_endpoint_values(snippet: str, expected: str) -> None:
    text = (
        HEAD + "  - path: /a\n" + snippet + "    backends:\n      - {upstream: users, path: /a}\n"
    )
    errors = errors_of(text)
    assert len(errors) == 1, errors
    assert errors[0].startswith("gateway.yaml:8: ")
    assert expected in errors[0]


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ("        required: yes please\n", "backends[0].required: must be true or false"),
        ("        expect: list\n", "backends[0].expect: must be one of object, array"),
        ("        pass_status: [99]\n", "backends[0].pass_status: must be all, or a list"),
        ("        allow: [a..b]\n", "backends[0].allow: malformed field path 'a..b'"),
        ("        rename: [a]\n", "backends[0].rename: must be a mapping of old key to new key"),
        ("        expect: object\n        collection: x\n", "expect: object contradicts it"),
        ("        concurrency: 0\n", "backends[0].concurrency: must be at least 1, got 0"),
        ("        depends_on: [ghost]\n", "backends[0].depends_on: unknown backend 'ghost'"),
        ("        over: ghost\n", "backends[0].over: must start with the name of another backend"),
    ],
)
def test_bad_backend_values(snippet: str, expected: str) -> None:
    text = (
        HEAD + "  - path: /a\n    backends:\n      - upstream: users\n        path: /a\n" + snippet
    )
    errors = errors_of(text)
    assert len(errors) == 1, errors
    assert errors[0].startswith("gateway.yaml:11: endpoints[0].")
    assert expected in errors[0]


def test_unknown_upstream() -> None:
    errors = errors_of(HEAD + "  - path: /a\n    backends:\n      - {upstream: userz, path: /a}\n")
    assert errors == [
        "gateway.yaml:9: endpoints[0].backends[0].upstream: unknown upstream 'userz' "
        "(known: orders, users)"
    ]


def test_unknown_placeholder() -> None:
    errors = errors_of(
        HEAD
        + """\
  - path: /users/:id
    backends:
      - upstream: users
        path: /users/{idd}
"""
    )
    assert errors == [
        "gateway.yaml:10: endpoints[0].backends[0].path: unknown placeholder {idd} "
        "(known: {id}, {query.NAME})"
    ]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("users/{id}", "must be an absolute path starting with '/'"),
        ("//evil.example/{id}", "must not start with '//'"),
        ("/a/../{id}", "must not contain '.' or '..' segments"),
        ("/a/%2e%2e/{id}", "must not contain '.' or '..' segments"),
        ("/a/{id}#frag", "must not contain whitespace, control characters"),
        ("/a/{id", "unclosed '{'"),
        ("/a/id}", "unmatched '}'"),
        ("/a/{ id }", "malformed placeholder { id }"),
        ("/a/{item.id}", "unknown placeholder {item.id}"),
    ],
)
def test_bad_templates(path: str, message: str) -> None:
    errors = errors_of(
        HEAD + f"  - path: /u/:id\n    backends:\n      - upstream: users\n        path: '{path}'\n"
    )
    assert len(errors) == 1 and errors[0].startswith(
        "gateway.yaml:10: endpoints[0].backends[0].path: "
    )
    assert message in errors[0]


def test_duplicate_keys_across_backends_with_merge_error() -> None:
    errors = errors_of(
        HEAD
        + """\
  - path: /a
    backends:
      - upstream: users
        path: /users
        group: data
      - upstream: orders
        path: /orders
        group: data
      - upstream: orders
        path: /o2
        name: o2
        allow: [id, total]
        rename: {total: sum}
      - upstream: users
        path: /u2
        name: u2
        allow: [sum]
"""
    )
    assert errors == [
        "gateway.yaml:12: endpoints[0].backends[1]: backends 'data' and 'data_1' both write the "
        "key 'data': give one a different group, or set the endpoint's merge: deep or shallow",
        "gateway.yaml:20: endpoints[0].backends[3]: backends 'o2' and 'u2' both write the key "
        "'sum': give one a different group, or set the endpoint's merge: deep or shallow",
    ]


def test_declared_merge_rule_allows_overlapping_keys() -> None:
    config, errors = parse(
        HEAD
        + """\
  - path: /a
    merge: deep
    backends:
      - {upstream: users, path: /users, group: data}
      - {upstream: orders, path: /orders, group: data}
"""
    )
    assert errors == [] and config is not None
    assert [b.name for b in config.endpoints[0].backends] == ["data", "data_1"]


def test_bad_yaml_syntax() -> None:
    errors = errors_of("upstreams:\n  users: {url: x\nendpoints: []\n")
    assert len(errors) == 1
    assert errors[0].startswith("gateway.yaml:3: invalid YAML:")


def test_bad_yaml_indentation() -> None:
    errors = errors_of("upstreams:\n  users:\n    url: http://x\n   bad: 1\n")
    assert errors[0].startswith("gateway.yaml:4: invalid YAML:")


def test_duplicate_yaml_keys() -> None:
    errors = errors_of(
        "upstreams:\n  users: {url: 'http://127.0.0.1:1'}\n  users: {url: 'http://127.0.0.1:2'}\n"
        "endpoints: []\n"
    )
    assert errors == [
        "gateway.yaml:3: upstreams.users: duplicate key 'users' (first defined on line 2)"
    ]


def test_missing_required_sections_and_wrong_root() -> None:
    assert errors_of("title: x\n") == [
        "gateway.yaml:1: missing required field 'upstreams'",
        "gateway.yaml:1: missing required field 'endpoints'",
    ]
    assert errors_of("- a\n- b\n") == ["gateway.yaml:1: must be a mapping, not a list"]


def test_upstream_url_checks() -> None:
    errors = errors_of(
        """\
upstreams:
  a: {url: ftp://x}
  b: {urls: []}
  c: {}
  d: {url: 'http://h:99999'}
  e: {url: 'http://h/x?q=1'}
endpoints: []
"""
    )
    assert [e.split(": ", 2)[:2] for e in errors] == [
        ["gateway.yaml:2", "upstreams.a.url"],
        ["gateway.yaml:3", "upstreams.b.urls"],
        ["gateway.yaml:4", "upstreams.c"],
        ["gateway.yaml:5", "upstreams.d.url"],
        ["gateway.yaml:6", "upstreams.e.url"],
    ]


def test_duplicate_endpoint_and_dependency_cycle() -> None:
    errors = errors_of(
        HEAD
        + """\
  - path: /a
    backends:
      - {upstream: users, path: /x, name: a, depends_on: b, group: a}
      - {upstream: users, path: /y, name: b, depends_on: a, group: b}
  - path: /a
    backends: [{upstream: users, path: /z}]
"""
    )
    assert any(
        e.startswith("gateway.yaml:10: endpoints[0].backends[1].depends_on: dependency cycle")
        for e in errors
    )
    assert any(
        e.startswith("gateway.yaml:11: endpoints[1].path: GET /a is already defined")
        for e in errors
    )


def test_fan_out_needs_a_group() -> None:
    errors = errors_of(
        HEAD
        + """\
  - path: /a
    backends:
      - {upstream: orders, path: /orders, group: orders}
      - {upstream: users, path: '/u/{item.id}', over: orders, name: x}
"""
    )
    assert errors == [
        "gateway.yaml:10: endpoints[0].backends[1].over: a fan-out answers an array: give the "
        "backend a group"
    ]


# -- interpolation ---------------------------------------------------------------------------


def test_env_interpolation_with_defaults_and_retyping() -> None:
    config, errors = parse(
        """\
redis: ${REDIS_URL:-}
upstreams:
  users:
    url: ${USERS_URL}
    timeout: ${T:-0.25}
    max_concurrent: ${MAXC-7}
    headers: {x-token: "$${literal}"}
endpoints: []
""",
        env={"USERS_URL": "http://127.0.0.1:5555", "MAXC": "12"},
    )
    assert errors == [] and config is not None
    users = config.upstreams["users"]
    assert users.urls == ("http://127.0.0.1:5555",)
    assert users.timeout == 0.25 and users.max_concurrent == 12
    assert users.headers == (("x-token", "${literal}"),)
    assert config.redis is None


def test_unset_env_var_is_an_error_with_line() -> None:
    errors = errors_of("upstreams:\n  users:\n    url: ${USERS_URL}\nendpoints: []\n")
    assert errors[0] == (
        "gateway.yaml:3: upstreams.users.url: environment variable USERS_URL is not set "
        "(write ${USERS_URL:-default} for a default)"
    )


def test_malformed_interpolation() -> None:
    errors = errors_of("upstreams:\n  users:\n    url: ${1BAD}\nendpoints: []\n")
    assert "malformed interpolation" in errors[0] and errors[0].startswith("gateway.yaml:3:")


def test_anchors_and_merge_keys() -> None:
    _, errors = parse(
        """\
defaults: &fast
  timeout: 0.1
  retry: false
upstreams:
  users:
    <<: *fast
    url: http://127.0.0.1:1
endpoints: []
"""
    )
    # `defaults` is not a field: anchors belong under a known key or in a merge.
    assert errors == ["gateway.yaml:1: defaults: unknown field 'defaults'"]


def test_merge_keys_inside_known_sections() -> None:
    config, errors = parse(
        """\
upstreams:
  users: &base
    url: http://127.0.0.1:1
    timeout: 0.1
    retry: false
  orders:
    <<: *base
    url: http://127.0.0.1:2
endpoints: []
"""
    )
    assert errors == [] and config is not None
    orders = config.upstreams["orders"]
    assert orders.urls == ("http://127.0.0.1:2",) and orders.timeout == 0.1
    assert orders.retry is None


def test_billion_laughs_is_an_error() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    errors = errors_of("\n".join(lines) + "\n")
    assert any("too many values" in e for e in errors)


# -- templates --------------------------------------------------------------------------------


def test_template_encodes_every_value_into_its_segment() -> None:
    template = parse_template("/users/{id}/orders?q={query.q}", params=["id"])
    rendered = template.render({"id": "a/b?c#d@e:f%"}, {"q": "x&admin=1 y"})
    assert rendered == "/users/a%2Fb%3Fc%23d%40e%3Af%25/orders?q=x%26admin%3D1%20y"


def test_template_encoding_matches_quote_for_any_text() -> None:
    """The unreserved-characters shortcut must give exactly what quote() gives."""
    import random
    from urllib.parse import quote

    template = parse_template("/x/{id}", params=["id"])
    alphabet = "aZ09_.-~ /?#%&=+:@!$'()*,;[]\r\n\x00éü名🙂"
    rng = random.Random(7)
    for _ in range(3000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
        if value in (".", ".."):
            continue
        assert template.render({"id": value}, {}) == "/x/" + quote(value, safe="")


@pytest.mark.parametrize("value", ["..", ".", ""])
def test_template_refuses_dot_and_empty_segments(value: str) -> None:
    template = parse_template("/users/{id}", params=["id"])
    with pytest.raises(TemplateValueError):
        template.render({"id": value}, {})


def test_template_dependency_and_item_values() -> None:
    template = parse_template(
        "/u/{user.profile.id}/{item.sku}/{item}", params=[], deps=["user"], item=True
    )
    with pytest.raises(TemplateValueError, match="no value"):
        template.render({}, {}, {"user": {}}, {"sku": 1})
    template = parse_template(
        "/u/{user.profile.id}/{item.sku}", params=[], deps=["user"], item=True
    )
    assert template.render({}, {}, {"user": {"profile": {"id": 7}}}, {"sku": "a b"}) == "/u/7/a%20b"
    with pytest.raises(TemplateValueError, match="is dict"):
        template.render({}, {}, {"user": {"profile": {"id": {}}}}, {"sku": 1})


def test_template_errors_are_template_errors() -> None:
    with pytest.raises(TemplateError):
        parse_template("http://evil/{id}", params=["id"])


# -- redis -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        "rediss://cache.internal:6380/1",
        "unix:///run/redis.sock",
        "redis+cluster://10.0.0.1:7000,10.0.0.2:7000",
        "rediss+cluster://user:secret@[fd00::1]:7000/",
    ],
)
def test_redis_accepts_single_node_and_cluster_urls(url: str) -> None:
    config, errors = parse(f"redis: '{url}'\n{HEAD}")
    assert errors == [] and config is not None and config.redis == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "http://127.0.0.1:6379",
            "must be a redis://, rediss:// or unix:// URL, or "
            "redis+cluster://host:port[,host:port] for a Redis Cluster",
        ),
        ("redis+cluster://", "no cluster nodes: expected redis+cluster://host:port[,host:port]"),
        ("redis+cluster://h:7000/2", "Redis Cluster has only database 0: drop '/2' from the URL"),
        ("redis+cluster://u:hunter2@h:99999", "bad port in cluster node 'h:99999'"),
    ],
)
def test_a_bad_redis_url_is_an_error_with_line_and_no_password(url: str, message: str) -> None:
    errors = errors_of(f"title: t\nredis: '{url}'\n{HEAD}")
    assert errors == [f"gateway.yaml:2: redis: {message}"]
    assert "hunter2" not in errors[0]
