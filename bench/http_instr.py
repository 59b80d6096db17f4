"""Instructions per HTTP request in the server process, counted by callgrind: HTTP without noise.

Run: ``python -m bench hinstr`` (``--frameworks``, ``--scenarios``, ``--n``).

req/s on a shared 2-core machine swings by tens of percent between repetitions, which hides
differences of that size between frameworks. This gauge counts what one request costs the
server instead: each framework's app runs on granian (one worker, uvloop) under valgrind's
callgrind with ``--trace-children=yes``, so the server's Rust, its Python worker and the
app are all counted. A keep-alive client sends warm-up requests (the first answer is
checked like in ``bench http``), the counters of every process in the tree are zeroed
(``callgrind_control -z PID``), ``n`` requests are sent one after another, the counters are
dumped, and the total divided by ``n`` is the figure. The kernel's share (syscalls) is not
counted; it is the same for every framework on the same server. Repeated runs agree to
within ~1 %.
"""

from __future__ import annotations

import argparse
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.http_suite import servers
from bench.http_suite.frameworks import FRAMEWORKS, NA
from bench.http_suite.scenarios import SCENARIOS, Answer, Scenario

DEFAULT_FRAMEWORKS = ("raw", "scallion", "starlette", "blacksheep", "falcon", "litestar", "fastapi")
DEFAULT_SCENARIOS = (
    "plaintext", "json", "mw10", "router100", "error", "express-plaintext", "express-mw10",
)  # fmt: skip
_TOTAL = re.compile(rb"^(?:summary|totals):\s+(\d+)", re.M)


class Client:
    """One keep-alive HTTP/1.1 connection that sends the same request again and again."""

    def __init__(self, port: int, scenario: Scenario) -> None:
        self.sock = socket.create_connection((servers.HOST, port), timeout=60)
        lines = [f"{scenario.method} {scenario.path} HTTP/1.1", "Host: 127.0.0.1"]
        lines += [f"{name}: {value}" for name, value in scenario.headers.items()]
        if scenario.body:
            lines.append(f"Content-Length: {len(scenario.body)}")
        self.request = ("\r\n".join(lines) + "\r\n\r\n").encode() + scenario.body
        self.buffer = b""

    def one(self) -> Answer:
        self.sock.sendall(self.request)
        while True:
            head, sep, rest = self.buffer.partition(b"\r\n\r\n")
            if sep:
                status_line, *header_lines = head.decode("latin-1").split("\r\n")
                headers = {}
                for line in header_lines:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                if "content-length" not in headers:
                    raise RuntimeError("answer without Content-Length: not supported here")
                length = int(headers["content-length"])
                if len(rest) >= length:
                    self.buffer = rest[length:]
                    return Answer(int(status_line.split()[1]), headers, rest[:length])
            chunk = self.sock.recv(65536)
            if not chunk:
                raise RuntimeError("the server closed the connection")
            self.buffer += chunk

    def close(self) -> None:
        self.sock.close()


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (granian's worker runs in a child process)."""
    found = [pid]
    for parent in found:
        out = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(parent)], capture_output=True, text=True
        ).stdout
        found += [int(p) for p in out.split()]
    return found


def measure(framework: str, scenario: Scenario, n: int, warmup: int) -> float | str:
    """Instructions per request, or why it could not be measured."""
    fw = FRAMEWORKS[framework]
    variant = fw.variant(scenario.name)
    if isinstance(variant, NA):
        return f"n/a: {variant.reason}"
    port = servers.free_port()
    with tempfile.TemporaryDirectory(prefix="scallion-hinstr-") as tmp:
        out = Path(tmp)
        argv = [
            "valgrind", "--tool=callgrind", "--cache-sim=no", "--branch-sim=no",
            "--trace-children=yes", f"--callgrind-out-file={out}/cg.%p",
            *servers.command(fw, "granian", variant, port),
        ]  # fmt: skip
        server = servers.start(argv, port, timeout=240)
        try:
            client = Client(port, scenario)
            problems = scenario.check(client.one())
            if problems:
                return "wrong answer: " + "; ".join(problems)
            for _ in range(warmup):
                client.one()
            time.sleep(0.5)
            tree = _tree(server.pid)
            for pid in tree:
                subprocess.run(["callgrind_control", "-z", str(pid)], capture_output=True)
            for _ in range(n):
                client.one()
            for pid in tree:
                subprocess.run(["callgrind_control", "-d", str(pid)], capture_output=True)
            client.close()
        finally:
            servers.stop(server)
        total = 0
        for dump in out.glob("cg.*.1"):
            match = _TOTAL.search(dump.read_bytes())
            if match:
                total += int(match.group(1))
        if not total:
            return "no callgrind dump"
        return total / n


def main(frameworks: list[str], scenarios: list[str], n: int, warmup: int) -> int:
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("valgrind is not installed (Debian/Ubuntu: apt-get install -y valgrind)")
        return 2
    print(
        f"instructions per HTTP request, server process tree on granian under callgrind "
        f"({n} requests after {warmup} warm-up)"
    )
    results: dict[str, dict[str, float | str]] = {}
    for name in scenarios:
        scenario = SCENARIOS[name]
        results[name] = {}
        for fw in frameworks:
            value = measure(fw, scenario, n, warmup)
            results[name][fw] = value
            shown = f"{value:>10,.0f}" if isinstance(value, float) else f"  {value}"
            print(f"  {name:<18} {fw:<12} {shown}", flush=True)
    print("\nratio: raw ASGI's instructions / the framework's (1.00 = the ceiling)")
    print(f"| scenario | {' | '.join(frameworks)} |")
    print(f"|---|{'---:|' * len(frameworks)}")
    for name, row in results.items():
        raw = row.get("raw")
        cells = []
        for fw in frameworks:
            value = row.get(fw)
            if isinstance(value, float) and isinstance(raw, float):
                cells.append(f"{value / 1000:,.1f}k ({raw / value:.2f})")
            elif isinstance(value, float):
                cells.append(f"{value / 1000:,.1f}k")
            else:
                cells.append("n/a")
        print(f"| {name} | {' | '.join(cells)} |")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frameworks", help="comma list (default: the ASGI peers)")
    parser.add_argument("--scenarios", help="comma list (default: the GET scenarios)")
    parser.add_argument("--n", type=int, default=2000, help="requests counted (2000)")
    parser.add_argument("--warmup", type=int, default=300, help="requests before (300)")
    args = parser.parse_args()
    sys.exit(
        main(
            args.frameworks.split(",") if args.frameworks else list(DEFAULT_FRAMEWORKS),
            args.scenarios.split(",") if args.scenarios else list(DEFAULT_SCENARIOS),
            args.n,
            args.warmup,
        )
    )
