"""Starting and stopping server processes: one per (framework, server, app variant).

Every process is started in its own session (so its PID is its process group id) and
registered here; ``stop`` and the atexit handler kill exactly those groups and nothing
else.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.apps.common import STATIC_DIR
from bench.http_suite.frameworks import Framework

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = ROOT / "bench" / "node"
HOST = "127.0.0.1"

_live: dict[int, subprocess.Popen[bytes]] = {}


def _kill_all() -> None:
    for pid in list(_live):
        _kill_group(pid)


atexit.register(_kill_all)


def _kill_group(pid: int, grace: float = 3.0) -> None:
    proc = _live.pop(pid, None)
    if proc is None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, grace)):
        if proc.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(wait)
    # The leader may be gone while a child of its group (a granian worker) lingers.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def pin(cpu: int | None) -> list[str]:
    """A ``taskset`` prefix pinning a command to one CPU, or nothing."""
    if cpu is None:
        return []
    return ["taskset", "-c", str(cpu)]


def command(fw: Framework, server: str, variant: str, port: int) -> list[str]:
    """The command line that serves one app variant of one framework."""
    py = sys.executable
    if fw.kind == "node":
        return ["node", str(NODE_DIR / fw.target), variant, str(port), str(STATIC_DIR)]
    if fw.kind == "aiohttp":
        return [py, "-m", fw.target, "--variant", variant, "--port", str(port)]
    target = f"{fw.target}:{variant}"
    if server == "granian":
        return [
            py, "-m", "granian", "--interface", "asgi", "--workers", "1", "--loop", "uvloop",
            "--host", HOST, "--port", str(port), "--log-level", "warning", target,
        ]  # fmt: skip
    if server == "uvicorn":
        return [
            py, "-m", "uvicorn", "--loop", "uvloop", "--http", "httptools", "--no-access-log",
            "--workers", "1", "--host", HOST, "--port", str(port), "--log-level", "warning",
            target,
        ]  # fmt: skip
    raise ValueError(f"unknown server {server!r}")


@dataclass
class Server:
    """A started server: its process, its port and where its output goes."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path
    argv: Sequence[str]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def output(self, limit: int = 4000) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return ""
        return text[-limit:]


class ServerError(RuntimeError):
    pass


def start(
    argv: Sequence[str], port: int, *, env: dict[str, str] | None = None, timeout: float = 40.0
) -> Server:
    """Start ``argv`` in a new session and wait until ``port`` accepts connections."""
    fd, name = tempfile.mkstemp(prefix="scallion-bench-", suffix=".log")
    log = Path(name)
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), "NODE_ENV": "production", **(env or {})}
    full_env.pop("SCALLION_ENV", None)
    with os.fdopen(fd, "wb") as out:
        proc = subprocess.Popen(
            list(argv),
            cwd=ROOT,
            env=full_env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _live[proc.pid] = proc
    server = Server(proc, port, log, list(argv))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not server.alive():
            output = server.output()
            stop(server)
            raise ServerError(f"exited with {proc.returncode}:\n{output}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=0.5):
            return server
        time.sleep(0.1)
    output = server.output()
    stop(server)
    raise ServerError(f"did not listen on {HOST}:{port} within {timeout:.0f}s:\n{output}")


def stop(server: Server) -> None:
    _kill_group(server.pid)
    with contextlib.suppress(OSError):
        server.log.unlink()


@contextlib.contextmanager
def running(argv: Sequence[str], port: int, **kwargs: object) -> Iterator[Server]:
    server = start(argv, port, **kwargs)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        stop(server)


def node_version() -> tuple[int, ...] | None:
    node = shutil.which("node")
    if node is None:
        return None
    out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10)
    try:
        return tuple(int(x) for x in out.stdout.strip().lstrip("v").split("."))
    except ValueError:
        return None


def ensure_node_modules(log: bool = True) -> str | None:
    """Install the Node peers' packages into bench/node when missing; an error string or None."""
    version = node_version()
    if version is None or version < (20,):
        return "Node.js >= 20 is needed for the Node peers (install nodejs 20+ and npm)"
    lock = NODE_DIR / "package-lock.json"
    marker = NODE_DIR / "node_modules" / ".package-lock.json"
    if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
        return None
    npm = shutil.which("npm")
    if npm is None:
        return "npm is needed to install the Node peers (apt-get install -y npm)"
    if log:
        print("installing the Node peers into bench/node (npm ci) ...", flush=True)
    done = subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        return f"npm ci failed in bench/node:\n{done.stderr[-2000:]}"
    return None
