"""from_config(): stacks from mappings, YAML, TOML and JSON; clear errors at build time."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest

from scallion.middleware import ConfigError, from_config
from scallion.middleware.config import BUILTIN

from ._helpers_a import client


async def hello(ctx: Any) -> None:
    ctx.body = {"hello": "world"}


def stamp(*, name: str = "X-Stamp", value: str = "1") -> Any:
    """A tiny factory for registry tests."""

    async def mw(ctx: Any, next: Any) -> None:
        ctx.append("X-Order", value)
        ctx.set(name, value)
        await next()

    return mw


SEED_STYLE = {
    "errorHandler": {"enabled": True},
    "requestId": {"enabled": True, "options": {"header": "X-Trace-Id"}},
    "responseTime": {"enabled": True, "options": {"digits": 0}},
    "securityHeaders": {"enabled": False},
    "envelope": {"enabled": True, "codeOk": 0},
}


class TestMapping:
    def test_seed_style_entries_in_order(self) -> None:
        stack = from_config(SEED_STYLE)
        assert stack.names == ("error_handler", "request_id", "response_time", "envelope")  # type: ignore[attr-defined]
        r = client(stack, handler=hello).get("/")
        assert r.headers["x-trace-id"] and r.headers["x-response-time"].endswith("ms")
        assert "x-frame-options" not in r.headers  # disabled
        assert r.json()["data"] == {"hello": "world"}

    def test_shorthands(self) -> None:
        stack = from_config({"etag": True, "conditional_get": None, "csrf": False})
        assert stack.names == ("etag", "conditional_get")  # type: ignore[attr-defined]

    def test_list_form_allows_repeats(self) -> None:
        cfg = [{"stamp": {"value": "a"}}, {"stamp": {"value": "b"}}]
        stack = from_config(cfg, registry={"stamp": stamp})
        r = client(stack, handler=hello).get("/")
        assert r.headers.get_list("x-order") == ["a", "b"]

    def test_middleware_key_is_unwrapped(self) -> None:
        stack = from_config({"middleware": {"responseTime": {}}})
        assert stack.names == ("response_time",)  # type: ignore[attr-defined]

    def test_empty_config_is_a_pass_through(self) -> None:
        assert client(from_config({}), handler=hello).get("/").json() == {"hello": "world"}
        assert client(from_config({"middleware": None}), handler=hello).get("/").status_code == 200

    def test_registry_factories_and_import_strings(self) -> None:
        registry: dict[str, Any] = {
            "myStamp": stamp,
            "timing": "scallion.middleware.response_time:response_time",
        }
        cfg = {"my_stamp": {"options": {"name": "X-Mine"}}, "timing": {"header": "X-Timing"}}
        r = client(from_config(cfg, registry=registry), handler=hello).get("/")
        assert r.headers["x-mine"] == "1"
        assert r.headers["x-timing"].endswith("ms")

    def test_registry_overrides_builtin(self) -> None:
        stack = from_config({"logger": {"value": "mine"}}, registry={"logger": stamp})
        assert client(stack, handler=hello).get("/").headers["x-stamp"] == "mine"

    def test_timeout_entry(self) -> None:
        stack = from_config({"timeout": {"seconds": 0.05, "status": 503}})
        import asyncio

        async def slow(ctx: Any) -> None:
            await asyncio.sleep(2)

        assert client(stack, handler=slow).get("/").status_code == 503


class TestFiles:
    def test_yaml(self, tmp_path: Path) -> None:
        path = tmp_path / "middleware.yaml"
        path.write_text(
            textwrap.dedent(
                """
                errorHandler:
                  enabled: true
                securityHeaders:
                  enabled: true
                  options:
                    frameOptions: SAMEORIGIN
                    contentSecurityPolicy: null
                responseTime: {enabled: false}
                """
            )
        )
        r = client(from_config(path), handler=hello).get("/")
        assert r.headers["x-frame-options"] == "SAMEORIGIN"
        assert "content-security-policy" not in r.headers
        assert "x-response-time" not in r.headers
        assert from_config(str(path)).names == ("error_handler", "security_headers")  # type: ignore[attr-defined]

    def test_toml(self, tmp_path: Path) -> None:
        path = tmp_path / "middleware.toml"
        path.write_text(
            textwrap.dedent(
                """
                [requestId]
                enabled = true
                [requestId.options]
                header = "X-Toml-Id"

                [etag]
                enabled = true
                weak = false
                """
            )
        )
        r = client(from_config(path), handler=hello).get("/")
        assert r.headers["x-toml-id"]
        assert r.headers["etag"].startswith('"')

    def test_json(self, tmp_path: Path) -> None:
        path = tmp_path / "mw.json"
        path.write_text('{"responseTime": {"enabled": true, "options": {"header": "X-T"}}}')
        assert "x-t" in client(from_config(path), handler=hello).get("/").headers


class TestErrors:
    def error(self, config: Any, **kw: Any) -> str:
        with pytest.raises(ConfigError) as info:
            from_config(config, **kw)
        assert isinstance(info.value, ValueError)
        return str(info.value)

    def test_unknown_name(self) -> None:
        message = self.error({"responseTime": {}, "bodyParsr": {"enabled": True}})
        assert message.startswith("<config>, entry 'bodyParsr': unknown middleware 'bodyParsr'")
        assert "body_parser" in message and "registry=" in message

    def test_unknown_name_in_file_names_the_file(self, tmp_path: Path) -> None:
        path = tmp_path / "app.yaml"
        path.write_text("corz: {enabled: true}\n")
        message = self.error(path)
        assert message.startswith(f"{path}, entry 'corz': unknown middleware")

    def test_unknown_option(self, tmp_path: Path) -> None:
        path = tmp_path / "app.yaml"
        path.write_text("responseTime:\n  enabled: true\n  options: {digitz: 3}\n")
        message = self.error(path)
        assert str(path) in message and "entry 'responseTime'" in message
        assert "unknown option 'digitz'" in message and "header, digits" in message

    def test_wrong_type_from_factory(self) -> None:
        message = self.error({"timeout": {"seconds": "5"}})
        assert message.startswith("<config>, entry 'timeout': bad options:")
        assert "number of seconds" in message

    def test_bad_value_from_factory(self) -> None:
        message = self.error({"responseTime": {"digits": 12}}, source="settings.py")
        assert message.startswith("settings.py, entry 'responseTime': bad options:")

    def test_missing_required_option(self) -> None:
        assert "seconds" in self.error({"timeout": {"enabled": True}})

    def test_error_chain_keeps_the_cause(self) -> None:
        with pytest.raises(ConfigError) as info:
            from_config({"timeout": {"seconds": "5"}})
        assert isinstance(info.value.__cause__, TypeError)
        assert info.value.entry == "timeout" and info.value.source == "<config>"

    @pytest.mark.parametrize(
        ("entry", "fragment"),
        [
            ({"enabled": "yes"}, "'enabled' must be true or false"),
            ({"enabled": True, "options": [1]}, "'options' must be a mapping"),
            ({"enabled": True, "options": {}, "digits": 2}, "put ['digits'] inside 'options'"),
            ("on", "must be true/false or a mapping"),
            (3, "must be true/false or a mapping"),
        ],
    )
    def test_malformed_entries(self, entry: Any, fragment: str) -> None:
        assert fragment in self.error({"responseTime": entry})

    def test_option_given_twice(self) -> None:
        assert "given twice" in self.error({"responseTime": {"digits": 1, "Digits": 2}})

    def test_unavailable_module(self) -> None:
        message = self.error(
            {"later": {}}, registry={"later": "scallion.middleware.not_written_yet:later"}
        )
        assert "entry 'later': middleware 'later' is not available" in message

    def test_malformed_top_level(self) -> None:
        assert "mapping of middleware names" in self.error(42)  # type: ignore[arg-type]
        assert "list item 0" in self.error([{"a": 1, "b": 2}])

    def test_file_problems(self, tmp_path: Path) -> None:
        assert "does not exist" in self.error(tmp_path / "missing.yaml")
        bad_yaml = tmp_path / "bad.yaml"
        bad_yaml.write_text("cors:\n  enabled: [true\n")
        assert "invalid YAML at line" in self.error(bad_yaml)
        bad_toml = tmp_path / "bad.toml"
        bad_toml.write_text("[cors\n")
        assert "invalid TOML" in self.error(bad_toml)
        bad_json = tmp_path / "bad.json"
        bad_json.write_text("{")
        assert "invalid JSON" in self.error(bad_json)
        ini = tmp_path / "mw.ini"
        ini.write_text("[cors]")
        assert "unsupported config file type '.ini'" in self.error(ini)

    def test_bad_registry(self) -> None:
        with pytest.raises(TypeError):
            from_config({}, registry={"x": 3})  # type: ignore[dict-item]
        with pytest.raises(TypeError):
            from_config({}, registry=[("x", stamp)])  # type: ignore[arg-type]

    def test_factory_returning_a_non_middleware(self) -> None:
        assert "not a middleware" in self.error({"bad": {}}, registry={"bad": lambda: 42})


def test_disabled_entries_are_never_imported() -> None:
    cfg = {"bad": {"enabled": False}}
    stack = from_config(cfg, registry={"bad": "scallion.middleware.not_written_yet:bad"})
    assert stack.names == ()  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_every_builtin_name_resolves_or_says_it_is_not_available(name: str) -> None:
    from scallion.middleware.config import _resolve

    try:
        factory = _resolve(name, BUILTIN, "<test>")
    except ConfigError as exc:
        assert f"middleware {name!r} is not available" in str(exc) or "not installed" in str(exc)
    else:
        assert callable(factory)
