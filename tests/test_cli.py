"""The ``scallion`` command line: real processes for serve/--version/check, main() for errors."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from _apps.serving import ROOT, free_port, launch, serving

import scallion
from scallion.cli import main


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


def test_serve_a_python_file(tmp_path: Path) -> None:
    with serving("examples/hello.py", "--server", "uvicorn", tmp=tmp_path) as served:
        response = httpx.get(served.url + "/api/hello/file", timeout=5)
        assert response.json() == {"hello": "file"}


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


# -- the declarative gateway and the demo, for real ------------------------------------------

BAD_GATEWAY = """\
upstreams:
  users: {url: "http://127.0.0.1:1"}
endpoints:
  - path: /x
    backends:
      - upstream: userz
        path: /u/{idd}
"""


def test_check_lists_every_error_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD_GATEWAY)
    done = run_cli("check", str(bad))
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert f"{bad}:6: endpoints[0].backends[0].upstream: unknown upstream 'userz'" in lines[0]
    assert lines[1].startswith(f"{bad}:7: endpoints[0].backends[0].path: unknown placeholder")
    assert lines[-1] == f"{bad}: 2 errors"


def test_check_accepts_the_example_gateway() -> None:
    done = run_cli("check", "examples/gateway.yaml")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "examples/gateway.yaml: ok"


CACHED_BACKENDS = """\
upstreams:
  catalog: {url: "http://127.0.0.1:9003"}
endpoints:
  - path: /a/:sku
    backends:
      - upstream: catalog
        path: /items/{sku}
        group: item
        cache: {ttl: 30, vary: [accept-language], swr: 60, sie: 600}
  - path: /b
    backends: [{upstream: catalog, path: /products, group: products, cache: 30}]
"""


def test_check_accepts_backend_caches_and_reports_their_errors(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(CACHED_BACKENDS)
    done = run_cli("check", str(good))
    assert (done.returncode, done.stdout.strip()) == (0, f"{good}: ok"), done.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text(CACHED_BACKENDS.replace("ttl: 30,", "ttl: -30,").replace("sie:", "size:"))
    done = run_cli("check", str(bad))
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"{bad}:9: endpoints[0].backends[0].cache.size: unknown field 'size' (did you mean 'sie'?)",
        f"{bad}:9: endpoints[0].backends[0].cache.ttl: must be greater than 0, got -30",
        f"{bad}: 2 errors",
    ]


def test_serve_refuses_an_invalid_gateway_before_binding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text(BAD_GATEWAY)
    assert main(["serve", str(bad), "--port", "1"]) == 1
    assert "unknown upstream 'userz'" in capsys.readouterr().err


def test_serve_a_gateway_file(tmp_path: Path) -> None:
    with serving(str(ROOT / "examples" / "gateway.yaml"), tmp=tmp_path) as served:
        spec = httpx.get(served.url + "/openapi.json", timeout=5)
        assert spec.status_code == 200
        assert spec.json()["info"]["title"] == "scallion demo gateway"
        assert "/api/dashboard/{user_id}" in spec.json()["paths"]
        assert served.terminate() == 0, served.output()


def test_check_without_the_gateway_module_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "scallion.bff.gateway", None)
    path = tmp_path / "gateway.yaml"
    path.write_text("endpoints: []\n")
    assert main(["check", str(path)]) == 1
    assert "the declarative gateway (scallion.bff.gateway)" in capsys.readouterr().err


def test_demo_serves_on_the_given_port_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    argv = ["-m", "scallion", "demo", "--host", "127.0.0.1", "--port", str(port), "--no-tour"]
    served = launch(argv, tmp_path, port=port)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert served.proc.poll() is None, served.output()
            try:
                spec = httpx.get(served.url + "/openapi.json", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, served.output()
                time.sleep(0.1)
        assert spec.status_code == 200
        served.proc.send_signal(signal.SIGINT)
        assert served.wait_exit() == 0, served.output()
    finally:
        served.kill()


def test_demo_without_the_demo_module_says_so(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "scallion.bff.demo", None)
    assert main(["demo"]) == 1
    assert "scallion demo (scallion.bff.demo)" in capsys.readouterr().err
