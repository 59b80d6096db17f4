"""Start a real ``scallion serve`` process for a test, and always stop it.

Each server runs in its own session (process group), so the teardown can SIGKILL the
server and any worker it forked, by that group's id, even if the main process is gone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Served:
    """One server process: its URL, its log, its events file and how to stop it."""

    def __init__(self, proc: subprocess.Popen[bytes], port: int, log: Path, events: Path) -> None:
        self.proc = proc
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        self.events = events

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def event_lines(self) -> list[str]:
        if not self.events.exists():
            return []
        return self.events.read_text().splitlines()

    def wait_for_event(self, word: str, timeout: float = 5.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = self.event_lines()
            if any(line.split()[0] == word for line in lines):
                return lines
            time.sleep(0.02)
        raise AssertionError(f"no {word!r} event within {timeout}s: {self.event_lines()}")

    def wait_ready(self, *, http2: bool = False, timeout: float = READY_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(http1=not http2, http2=http2, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise AssertionError(
                        f"server exited with {self.proc.returncode}:\n{self.output()}"
                    )
                try:
                    client.get(self.url + "/")
                    return
                except httpx.TransportError:
                    time.sleep(0.05)
        raise AssertionError(f"server not ready within {timeout}s:\n{self.output()}")

    def wait_exit(self, timeout: float = 15.0) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"server still running after {timeout}s:\n{self.output()}"
            ) from None

    def terminate(self, timeout: float = 15.0) -> int:
        """SIGTERM the main process (a graceful stop) and return its exit code."""
        self.proc.send_signal(signal.SIGTERM)
        return self.wait_exit(timeout)

    def kill(self) -> None:
        """SIGKILL whatever is left of this server's process group."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)


def launch(
    argv: Sequence[str],
    tmp: Path,
    *,
    env: dict[str, str] | None = None,
    port: int | None = None,
    cwd: Path = ROOT,
) -> Served:
    """Run ``python <argv>`` (from the repository root) with an events file and a log."""
    tmp.mkdir(parents=True, exist_ok=True)
    events = tmp / "events.txt"
    log = tmp / "server.log"
    full_env = dict(os.environ)
    full_env.pop("SCALLION_ENV", None)
    full_env.update({"SCALLION_TEST_EVENTS": str(events), "PYTHONUNBUFFERED": "1"})
    full_env.update(env or {})
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, *argv],
            cwd=cwd,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # A signal the test process ignores would stay ignored in the child (SIG_IGN
            # survives exec), and then Ctrl-C could never reach the server under test.
            preexec_fn=_default_signals,
        )
    return Served(proc, port or 0, log, events)


def _default_signals() -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)


@contextlib.contextmanager
def serving(
    target: str,
    *args: str,
    tmp: Path,
    ready: bool = True,
    http2: bool = False,
    env: dict[str, str] | None = None,
    cwd: Path = ROOT,
) -> Iterator[Served]:
    """``python -m scallion serve TARGET --host 127.0.0.1 --port N *args``, killed on exit."""
    port = free_port()
    argv = ["-m", "scallion", "serve", target, "--host", "127.0.0.1", "--port", str(port), *args]
    served = launch(argv, tmp, env=env, port=port, cwd=cwd)
    try:
        if ready:
            served.wait_ready(http2=http2)
        yield served
    finally:
        served.kill()
