"""A real three-master Redis Cluster on loopback, for the tests of scallion on a cluster.

``ClusterProcesses.start()`` runs three ``redis-server --cluster-enabled yes`` processes on
free loopback ports (each with its bus port at +10000), joins them with
``redis-cli --cluster create ... --cluster-replicas 0``, and waits until every node says
``cluster_state:ok``. ``stop()`` terminates exactly those processes, by PID, and removes the
temporary directory. Missing binaries are a loud failure, never a skip: CI installs
redis-server (``scripts/ensure-redis.sh``), and Debian's redis-server depends on
redis-tools, which brings redis-cli.
"""

from __future__ import annotations

import random
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

HOST = "127.0.0.1"
MASTERS = 3
START_TIMEOUT = 20.0


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
        return True


def free_cluster_ports(count: int) -> list[int]:
    """``count`` ports whose cluster bus port (port + 10000) is free as well."""
    ports: list[int] = []
    rng = random.Random()
    while len(ports) < count:
        port = rng.randrange(20000, 55000)
        taken = {p + d for p in ports for d in (0, 10000)}
        if port in taken or port + 10000 in taken:
            continue
        if _bindable(port) and _bindable(port + 10000):
            ports.append(port)
    return ports


def command(port: int, *args: str, timeout: float = 1.0) -> bytes:
    """Send one command on a fresh connection and return the reply's payload (RESP2)."""
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        parts = [f"*{len(args)}\r\n".encode()]
        for arg in args:
            data = arg.encode()
            parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
        sock.sendall(b"".join(parts))
        reader = sock.makefile("rb")
        head = reader.readline()
        if head[:1] == b"$":
            size = int(head[1:])
            return b"" if size < 0 else reader.read(size + 2)[:-2]
        if head[:1] in (b"+", b":"):
            return head[1:].rstrip(b"\r\n")
        raise RuntimeError(f"redis on port {port} answered {head!r} to {args}")


class ClusterProcesses:
    """Three cluster-enabled redis-server processes this test session owns."""

    def __init__(self) -> None:
        server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
        if server is None or cli is None:
            missing = " and ".join(
                n for n, p in (("redis-server", server), ("redis-cli", cli)) if p is None
            )
            raise RuntimeError(
                f"{missing} not found on PATH: the Redis Cluster tests need a real cluster. "
                "Install Redis (Debian: apt-get install redis-server, which brings "
                "redis-tools) or run scripts/ensure-redis.sh."
            )
        self.server, self.cli = server, cli
        self.dir = Path(tempfile.mkdtemp(prefix="scallion-cluster-"))
        self.ports = free_cluster_ports(MASTERS)
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        """The ``redis+cluster://`` URL naming every node."""
        return "redis+cluster://" + ",".join(f"{HOST}:{p}" for p in self.ports)

    def log_tail(self) -> str:
        tails = []
        for i in range(len(self.ports)):
            log = self.dir / f"redis-{i}.log"
            if log.exists():
                tails.append(f"--- {log.name}\n" + "\n".join(log.read_text().splitlines()[-15:]))
        return "\n".join(tails)

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        for i, port in enumerate(self.ports):
            argv = [
                self.server,
                "--port", str(port),
                "--bind", HOST,
                "--cluster-enabled", "yes",
                "--cluster-config-file", str(self.dir / f"nodes-{i}.conf"),
                "--save", "",
                "--appendonly", "no",
                "--daemonize", "no",
                "--dir", str(self.dir),
                "--logfile", str(self.dir / f"redis-{i}.log"),
            ]  # fmt: skip
            self.procs.append(
                subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
        deadline = time.monotonic() + START_TIMEOUT
        for port in self.ports:
            self._wait(deadline, lambda p=port: command(p, "PING") == b"PONG", f"{port} PING")
        nodes = [f"{HOST}:{p}" for p in self.ports]
        created = subprocess.run(
            [self.cli, "--cluster", "create", *nodes, "--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True,
            timeout=START_TIMEOUT,
            check=False,
        )
        if created.returncode != 0:
            raise RuntimeError(
                f"redis-cli --cluster create failed ({created.returncode}):\n"
                f"{created.stdout.decode()}{created.stderr.decode()}\n{self.log_tail()}"
            )
        for port in self.ports:
            self._wait(
                deadline,
                lambda p=port: b"cluster_state:ok" in command(p, "CLUSTER", "INFO"),
                f"{port} cluster_state:ok",
            )

    def _wait(self, deadline: float, ready: object, what: str) -> None:
        assert callable(ready)
        while True:
            for proc in self.procs:
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"redis-server exited ({proc.returncode})\n{self.log_tail()}"
                    )
            try:
                if ready():
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"Redis Cluster not ready: {what}\n{self.log_tail()}")
            time.sleep(0.02)

    def stop(self) -> None:
        """Terminate the processes this object started (by PID) and remove their files."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self.procs.clear()
        shutil.rmtree(self.dir, ignore_errors=True)
