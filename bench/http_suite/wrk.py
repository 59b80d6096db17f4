"""Running wrk and reading its report (throughput, latency percentiles, errors)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.http_suite.servers import pin

INSTALL_HINT = (
    "wrk is not installed. On Debian/Ubuntu: sudo apt-get update && sudo apt-get install -y wrk\n"
    "(elsewhere build it from https://github.com/wg/wrk and put it on PATH)."
)

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}
_LAT = re.compile(r"^\s*(50|75|90|99)%\s+([\d.]+)(us|ms|s|m|h)\s*$", re.M)
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.M)
_TOTAL = re.compile(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h)", re.M)
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_NON2XX = re.compile(r"Non-2xx or 3xx responses: (\d+)")


@dataclass
class WrkResult:
    rps: float
    requests: int
    p50_ms: float
    p75_ms: float
    p90_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: dict[str, int]

    def to_json(self) -> dict[str, object]:
        return asdict(self)


class WrkError(RuntimeError):
    pass


def wrk_path() -> str | None:
    return shutil.which("wrk")


def wrk_version() -> str:
    path = wrk_path()
    if path is None:
        return "missing"
    out = subprocess.run([path, "-v"], capture_output=True, text=True, timeout=10)
    first = (out.stdout or out.stderr).strip().splitlines()
    return first[0].split(" Copyright")[0].strip() if first else "unknown"


def parse(text: str) -> WrkResult:
    rps = _RPS.search(text)
    total = _TOTAL.search(text)
    lat = {p: float(v) * _UNITS_MS[u] for p, v, u in _LAT.findall(text)}
    if rps is None or total is None or len(lat) != 4:
        raise WrkError(f"could not read wrk's output:\n{text}")
    sock = _SOCKET.search(text)
    errors = (
        dict(zip(("connect", "read", "write", "timeout"), map(int, sock.groups()), strict=True))
        if sock
        else {}
    )
    non2xx = _NON2XX.search(text)
    return WrkResult(
        rps=float(rps.group(1)),
        requests=int(total.group(1)),
        p50_ms=lat["50"],
        p75_ms=lat["75"],
        p90_ms=lat["90"],
        p99_ms=lat["99"],
        non_2xx=int(non2xx.group(1)) if non2xx else 0,
        socket_errors=errors,
    )


def run(
    url: str,
    *,
    duration: int,
    connections: int,
    threads: int = 1,
    script: str | None = None,
    cpu: int | None = None,
    timeout_s: int = 5,
) -> WrkResult:
    """One wrk run with keep-alive connections and its latency distribution."""
    path = wrk_path()
    if path is None:
        raise WrkError(INSTALL_HINT)
    argv = [
        *pin(cpu),
        path,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration}s",
        "--latency",
        f"--timeout={timeout_s}s",
    ]
    with tempfile.TemporaryDirectory(prefix="scallion-wrk-") as tmp:
        if script is not None:
            lua = Path(tmp) / "request.lua"
            lua.write_text(script)
            argv += ["-s", str(lua)]
        argv.append(url)
        done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 60)
    if done.returncode != 0:
        raise WrkError(f"wrk exited with {done.returncode}: {done.stderr.strip()}\n{done.stdout}")
    return parse(done.stdout)
