"""scallion.server through real server processes on loopback: granian and uvicorn.

Every server is a ``python -m scallion serve`` (or ``app.listen()``) subprocess, talked to
over HTTP with httpx, stopped with SIGTERM where the test is about stopping and always
SIGKILLed (by its process group) in the teardown.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import signal
import sys
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from _apps.serving import Served, free_port, launch, serving

from scallion import App
from scallion.server import (
    INSTALL_HINT,
    MissingDependency,
    ServerConfigError,
    find_import_string,
    run_app,
)

SERVERS = ["granian", "uvicorn"]
BASIC = "tests._apps.basic:app"


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Served]]:
    """One long-lived server per kind, started on first use, for tests that do not stop it."""
    started: dict[str, Served] = {}
    with contextlib.ExitStack() as stack:

        class Lazy(dict[str, Served]):
            def __missing__(self, kind: str) -> Served:
                tmp = tmp_path_factory.mktemp(f"served-{kind}")
                self[kind] = stack.enter_context(serving(BASIC, "--server", kind, tmp=tmp))
                return self[kind]

        yield Lazy(started)


@pytest.fixture(params=SERVERS)
def server(request: pytest.FixtureRequest, shared: dict[str, Served]) -> Served:
    return shared[request.param]


def assert_quiet(served: Served) -> None:
    out = served.output()
    assert "Traceback" not in out, out
    assert "ERROR" not in out, out


# -- serving -----------------------------------------------------------------------------


def test_serves_http(server: Served) -> None:
    response = httpx.get(server.url + "/", timeout=5)
    assert response.status_code == 200
    assert response.text == "hello from scallion"
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["content-length"] == str(len("hello from scallion"))
    assert server.event_lines()[0].startswith("startup ")


def test_body_over_the_limit_is_413_declared_and_chunked(server: Served) -> None:
    with httpx.Client(timeout=5) as client:
        small = client.post(server.url + "/echo", content=b"x" * 1000)
        assert (small.status_code, small.content) == (200, b"x" * 1000)

        declared = client.post(server.url + "/echo", content=b"x" * 2048)
        assert declared.status_code == 413
        assert "limit of 1024 bytes" in declared.text

        # No Content-Length: httpx sends a generator body chunked.
        chunked = client.post(server.url + "/echo", content=iter([b"y" * 600] * 4))
        assert chunked.status_code == 413

        after = client.get(server.url + "/")  # the server is fine afterwards
        assert after.status_code == 200
    assert_quiet(server)


def test_sse_client_disconnect_closes_the_generator_promptly(server: Served) -> None:
    before = sum(line.startswith("sse-finally") for line in server.event_lines())
    with httpx.stream("GET", server.url + "/sse", timeout=5) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        data = [line for line in (next(lines) for _ in range(6)) if line.startswith("data:")]
        assert data[:2] == ['data: {"n":0}', 'data: {"n":1}']
    closed_at = time.monotonic()  # leaving the block closed the connection mid-stream
    while time.monotonic() - closed_at < 2.0:
        if sum(line.startswith("sse-finally") for line in server.event_lines()) > before:
            break
        time.sleep(0.02)
    else:
        pytest.fail(f"the stream's finally did not run within 2 s: {server.event_lines()}")
    time.sleep(0.1)
    assert_quiet(server)


# -- graceful shutdown and lifespan ----------------------------------------------------------


@pytest.mark.parametrize("server_name", SERVERS)
def test_sigterm_drains_the_in_flight_request_and_runs_shutdown(
    server_name: str, tmp_path: Path
) -> None:
    with serving(BASIC, "--server", server_name, tmp=tmp_path) as served:
        result: dict[str, httpx.Response | BaseException] = {}

        def slow() -> None:
            try:
                result["response"] = httpx.get(served.url + "/slow?s=1", timeout=10)
            except BaseException as exc:
                result["error"] = exc

        client = threading.Thread(target=slow)
        client.start()
        served.wait_for_event("slow-begin")
        served.proc.send_signal(signal.SIGTERM)
        client.join(10)
        assert "error" not in result, result
        response = result["response"]
        assert isinstance(response, httpx.Response)
        assert (response.status_code, response.text) == (200, "slept")
        assert served.wait_exit() == 0, served.output()
        words = [line.split()[0] for line in served.event_lines()]
        assert words == ["startup", "slow-begin", "slow-end", "shutdown"]
        assert "Traceback" not in served.output()


@pytest.mark.parametrize("server_name", SERVERS)
def test_startup_failure_exits_non_zero_with_the_message(server_name: str, tmp_path: Path) -> None:
    target = "tests._apps.failing:app"
    with serving(target, "--server", server_name, tmp=tmp_path, ready=False) as served:
        code = served.wait_exit(20)
        assert code != 0
        assert "scallion-test-startup-failure" in served.output()


def test_sighup_restarts_workers_without_failing_a_request(tmp_path: Path) -> None:
    """granian's rolling restart: a new worker starts before the old one drains and stops."""
    with serving(BASIC, tmp=tmp_path) as served:
        first = httpx.get(served.url + "/pid", timeout=5).json()["pid"]
        statuses: list[int] = []
        errors: list[BaseException] = []
        pids: set[int] = set()
        stop = threading.Event()

        def hammer() -> None:
            # A fresh connection per request: a keep-alive connection that the old worker
            # closes while idle is the client's to retry, not a lost request.
            while not stop.is_set():
                try:
                    response = httpx.get(served.url + "/pid", timeout=5)
                except httpx.HTTPError as exc:
                    errors.append(exc)
                    continue
                statuses.append(response.status_code)
                pids.add(response.json()["pid"])
                time.sleep(0.02)

        client = threading.Thread(target=hammer)
        client.start()
        try:
            served.proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and not any(
                line == f"shutdown {first}" for line in served.event_lines()
            ):
                time.sleep(0.05)
        finally:
            stop.set()
            client.join(10)
        assert f"shutdown {first}" in served.event_lines()
        assert errors == []
        assert statuses and set(statuses) == {200}
        assert len(pids) == 2, pids  # the old worker, then its replacement
        assert served.terminate() == 0, served.output()


def test_reload_picks_up_a_changed_module(tmp_path: Path) -> None:
    code = tmp_path / "src"  # watched; the log and events files live outside it
    code.mkdir()
    source = code / "reloaded_app.py"
    source.write_text(RELOADED.format(version="one"))
    with serving("reloaded_app:app", "--reload", tmp=tmp_path / "run", cwd=code) as served:
        assert httpx.get(served.url + "/", timeout=5).text == "one"
        source.write_text(RELOADED.format(version="two"))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if httpx.get(served.url + "/", timeout=2).text == "two":
                    break
            except httpx.TransportError:
                pass  # between the old worker and the new one
            time.sleep(0.1)
        else:
            pytest.fail(f"the change was not served within 15 s:\n{served.output()}")
        assert served.terminate() == 0, served.output()


RELOADED = """
from scallion import App

app = App()


async def answer(ctx, next):
    ctx.body = "{version}"


app.use(answer)
"""


# -- workers ---------------------------------------------------------------------------------


def pids_of(url: str, *, want: int = 2, tries: int = 40) -> set[int]:
    """PIDs answering ``/pid`` on fresh connections from 4 threads (each blocks its worker)."""

    def one(_: int) -> int:
        response = httpx.get(url + "/pid?block=0.03", timeout=5)
        assert response.status_code == 200
        pid: int = response.json()["pid"]
        return pid

    seen: set[int] = set()
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for batch in range(tries // 4):
            seen.update(pool.map(one, range(batch * 4, batch * 4 + 4)))
            if len(seen) >= want:
                break
    return seen


@pytest.mark.parametrize("server_name", SERVERS)
def test_two_workers_answer_from_two_processes(server_name: str, tmp_path: Path) -> None:
    with serving(BASIC, "--server", server_name, "--workers", "2", tmp=tmp_path) as served:
        seen = pids_of(served.url)
        assert len(seen) == 2, seen
        assert served.proc.pid not in seen  # workers, not the supervising process
        startups = {int(line.split()[1]) for line in served.event_lines() if "startup" in line}
        assert seen <= startups
        assert served.terminate() == 0, served.output()
        shutdowns = {int(line.split()[1]) for line in served.event_lines() if "shutdown" in line}
        assert shutdowns == startups


@pytest.mark.parametrize(("server_name", "workers"), [("granian", 2), ("uvicorn", 1)])
def test_listen_serves_an_app_object(server_name: str, workers: int, tmp_path: Path) -> None:
    """granian forks workers that inherit the object; uvicorn serves it in-process."""
    port = free_port()
    code = (
        "from tests._apps.basic import app\n"
        f"app.listen({port}, server={server_name!r}, workers={workers}, log_level='warning')\n"
        "print('listen returned', flush=True)\n"
    )
    served = launch(["-c", code], tmp_path, port=port)
    try:
        served.wait_ready()
        assert len(pids_of(served.url, want=workers)) == workers
        assert served.terminate() == 0, served.output()
        assert "listen returned" in served.output()
        assert sum(line.startswith("shutdown") for line in served.event_lines()) == workers
    finally:
        served.kill()


# -- HTTP/2 ----------------------------------------------------------------------------------


def test_granian_http2_answers_prior_knowledge(tmp_path: Path) -> None:
    with serving(BASIC, "--http", "2", tmp=tmp_path, http2=True) as served:
        with httpx.Client(http1=False, http2=True, timeout=5) as client:
            response = client.get(served.url + "/")
            again = client.get(served.url + "/pid")
        assert response.http_version == "HTTP/2"
        assert (response.status_code, response.text) == (200, "hello from scallion")
        assert again.http_version == "HTTP/2" and again.status_code == 200
        with pytest.raises(httpx.TransportError):  # HTTP/2 only: HTTP/1.1 is refused
            httpx.get(served.url + "/", timeout=5)


def test_granian_auto_speaks_both(shared: dict[str, Served]) -> None:
    server = shared["granian"]
    with httpx.Client(http1=False, http2=True, timeout=5) as client:
        assert client.get(server.url + "/").http_version == "HTTP/2"
    assert httpx.get(server.url + "/", timeout=5).http_version == "HTTP/1.1"


# -- run_app refuses what it cannot do, before binding anything --------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"server": "hypercorn"}, "unknown server"),
        ({"http": "3"}, "unknown HTTP mode"),
        ({"workers": 0}, "workers must be"),
        ({"log_level": "loud"}, "unknown log level"),
        ({"port": 70000}, "port must be"),
    ],
)
def test_run_app_rejects_bad_options(options: dict[str, object], message: str) -> None:
    with pytest.raises(ServerConfigError, match=message):
        run_app(BASIC, **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "target", ["", ":app", "not a module:app", "mod:bad-name", "mod:", "no/such/file.py:app"]
)
def test_run_app_rejects_bad_targets(target: str) -> None:
    with pytest.raises(ServerConfigError):
        run_app(target)


def test_unknown_module_fails_before_starting() -> None:
    with pytest.raises(ServerConfigError, match="cannot import module 'no_such_module_xyz'"):
        run_app("no_such_module_xyz:app")


def test_uvicorn_http2_without_its_protocol_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "zttp", None)  # uvicorn's optional HTTP/2 protocol
    with pytest.raises(ServerConfigError, match="--server granian --http 2"):
        run_app(BASIC, server="uvicorn", http="2")


@pytest.mark.parametrize("name", SERVERS)
def test_missing_server_package_names_the_install_command(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(MissingDependency) as info:
        run_app(BASIC, server=name)  # type: ignore[arg-type]
    assert INSTALL_HINT in str(info.value)
    assert INSTALL_HINT == "pip install 'scallion[server]'"


def test_an_object_only_in_main_cannot_go_to_new_processes() -> None:
    orphan = App()  # bound in no module: a new process could not import it
    assert find_import_string(orphan) is None
    with pytest.raises(ServerConfigError, match="import string"):
        run_app(orphan, server="uvicorn", workers=2)
    with pytest.raises(ServerConfigError, match="import string"):
        run_app(orphan, reload=True)


def test_find_import_string_names_the_module_attribute(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("scallion_test_found")
    module.application = App()  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "scallion_test_found", module)
    assert find_import_string(module.application) == "scallion_test_found:application"  # type: ignore[attr-defined]
