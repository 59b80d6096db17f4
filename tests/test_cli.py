"""The ``scallion`` command line: real processes for serve/--version/check, main() for errors."""

from __future__ import annotations

import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from _apps.serving import ROOT, serving

import scallion
from scallion.cli import main
from scallion.server import GATEWAY_ENV, gateway_app


def run_cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scallion", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


# -- real processes --------------------------------------------------------------------------


def test_python_dash_m_scallion_version() -> None:
    done = run_cli("--version")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"scallion {scallion.__version__}"


def test_quick_start_example_serves(tmp_path: Path) -> None:
    with serving("examples.hello:app", tmp=tmp_path) as served:
        with httpx.Client(base_url=served.url, timeout=5) as client:
            hello = client.get("/api/hello/you")
            assert (hello.status_code, hello.json()) == (200, {"hello": "you"})
            assert hello.headers["x-response-time"].endswith("ms")
            assert client.get("/users/7").json() == {"id": 7, "via": "express"}
            bad = client.get("/users/x")
            assert (bad.status_code, bad.text) == (400, "id must be a number")
            echoed = client.post("/api/echo", json={"a": [1, 2]})
            assert echoed.json() == {"a": [1, 2]}
            assert (
                client.post(
                    "/api/echo", content=b"{nope", headers={"content-type": "application/json"}
                ).status_code
                == 400
            )
            ticks = client.get("/api/ticks")
            assert ticks.text.count("data: ") == 5
            assert client.delete("/api/hello/you").status_code == 405
        assert served.terminate() == 0, served.output()


def test_env_option_sets_the_app_mode(tmp_path: Path) -> None:
    target = "tests._apps.basic:app"
    with serving(target, "--server", "uvicorn", "--env", "development", tmp=tmp_path) as served:
        assert httpx.get(served.url + "/env", timeout=5).json() == {"env": "development"}


def test_check_a_missing_file_fails_clearly(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "gateway.yaml"
    done = run_cli("check", str(missing))
    assert done.returncode == 1
    assert f"{missing}: no such gateway file" in done.stderr


def test_serve_a_missing_gateway_file_fails_before_serving(tmp_path: Path) -> None:
    done = run_cli("serve", str(tmp_path / "gone.yml"), "--port", "1")
    assert done.returncode == 1
    assert "no such gateway file" in done.stderr


def test_serve_an_unknown_module_fails_clearly() -> None:
    done = run_cli("serve", "no_such_module_xyz:app", "--port", "1")
    assert done.returncode == 1
    assert "cannot import module 'no_such_module_xyz'" in done.stderr
    assert "Traceback" not in done.stderr


# -- main() in-process: options and errors ---------------------------------------------------


def test_bad_options_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "tests._apps.basic:app", "--workers", "0"]) == 2
    assert "--workers" in capsys.readouterr().err
    assert main(["serve", "tests._apps.basic:app", "--server", "gunicorn"]) == 2
    assert main(["serve", "tests._apps.basic:app", "--http", "3"]) == 2
    assert main(["nope"]) == 2


def test_uvicorn_http2_is_refused_with_the_way_out(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "zttp", None)
    assert main(["serve", "tests._apps.basic:app", "--server", "uvicorn", "--http", "2"]) == 1
    assert "--server granian --http 2" in capsys.readouterr().err


def test_missing_click_prints_the_install_command(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "click", None)
    assert main(["--version"]) == 1
    assert "pip install 'scallion[server]'" in capsys.readouterr().err


def test_missing_server_prints_the_install_command(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "granian", None)
    assert main(["serve", "tests._apps.basic:app"]) == 1
    assert "the granian server is not installed: pip install 'scallion[server]'" in (
        capsys.readouterr().err
    )


# -- check / demo / gateway wiring, against a stand-in compiler module -----------------------
# scallion.bff.gateway and scallion.bff.demo are built separately; these tests pin the
# CLI's side of the contract: load_gateway(path) -> App, errors listed one per line.


class ConfigErrors(Exception):
    def __init__(self, errors: list[str]) -> None:
        super().__init__(f"{len(errors)} errors")
        self.errors = errors


def install_module(monkeypatch: pytest.MonkeyPatch, name: str, **attrs: Any) -> None:
    module = types.ModuleType(name)
    for key, value in attrs.items():
        setattr(module, key, value)
    monkeypatch.setitem(sys.modules, name, module)


def compiler(calls: list[str]) -> Callable[[str], scallion.App]:
    def load_gateway(path: str) -> scallion.App:
        calls.append(path)
        if "bad" in Path(path).name:
            raise ConfigErrors([f"{path}:3: endpoints[0].backend: unknown upstream 'userz'"])
        return scallion.App()

    return load_gateway


def test_check_prints_each_error_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    install_module(monkeypatch, "scallion.bff.gateway", load_gateway=compiler(calls))
    bad = tmp_path / "bad.yaml"
    bad.write_text("endpoints: []\n")
    assert main(["check", str(bad)]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:3: endpoints[0].backend: unknown upstream 'userz'" in err
    good = tmp_path / "good.yml"
    good.write_text("endpoints: []\n")
    assert main(["check", str(good)]) == 0
    assert f"{good}: ok" in capsys.readouterr().out
    assert calls == [str(bad), str(good)]
    # serve validates the same way before binding anything
    assert main(["serve", str(bad), "--port", "1"]) == 1
    assert "unknown upstream 'userz'" in capsys.readouterr().err


def test_check_without_the_gateway_module_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "scallion.bff.gateway", None)
    path = tmp_path / "gateway.yaml"
    path.write_text("endpoints: []\n")
    assert main(["check", str(path)]) == 1
    assert "the declarative gateway (scallion.bff.gateway)" in capsys.readouterr().err


def test_gateway_app_factory_compiles_the_file_named_in_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    install_module(monkeypatch, "scallion.bff.gateway", load_gateway=compiler(calls))
    monkeypatch.setenv(GATEWAY_ENV, str(tmp_path / "gateway.yaml"))
    assert isinstance(gateway_app(), scallion.App)
    assert calls == [str(tmp_path / "gateway.yaml")]
    monkeypatch.delenv(GATEWAY_ENV)
    with pytest.raises(RuntimeError, match=GATEWAY_ENV):
        gateway_app()


def test_demo_passes_host_and_port(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict[str, Any]] = []

    def demo_main(**options: Any) -> int:
        seen.append(options)
        return 0

    install_module(monkeypatch, "scallion.bff.demo", main=demo_main)
    assert main(["demo", "--host", "127.0.0.1", "--port", "4321"]) == 0
    assert seen == [{"host": "127.0.0.1", "port": 4321}]


def test_demo_without_the_demo_module_says_so(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "scallion.bff.demo", None)
    assert main(["demo"]) == 1
    assert "scallion demo (scallion.bff.demo)" in capsys.readouterr().err
