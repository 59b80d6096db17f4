"""The ``scallion`` command: ``serve`` an app or a gateway file, ``check`` a gateway, ``demo``.

click is an optional dependency (``scallion[server]``), so it is imported inside ``main()``
and a missing install is one line that says what to run, not a traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from . import __version__

__all__ = ["main"]

GATEWAY_SUFFIXES = (".yaml", ".yml")
GATEWAY_MODULE = "scallion.bff.gateway"
# Workers build the gateway themselves from the file named by $SCALLION_GATEWAY.
GATEWAY_TARGET = f"{GATEWAY_MODULE}:app_from_env"
GATEWAY_ENV = "SCALLION_GATEWAY"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``scallion`` and ``python -m scallion``; returns the exit code."""
    try:
        import click
    except ImportError:
        from .server import INSTALL_HINT

        print(f"scallion: the command line needs click: {INSTALL_HINT}", file=sys.stderr)
        return 1
    cli = build_cli()
    try:
        result = cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="scallion",
            standalone_mode=False,
        )
    except click.exceptions.Exit as stop:
        return int(stop.exit_code)
    except click.exceptions.Abort:
        print("Aborted.", file=sys.stderr)
        return 1
    except click.ClickException as err:
        err.show()
        return err.exit_code
    return result if isinstance(result, int) else 0


def build_cli() -> Any:
    """Build the click command group (a function, so click is only imported when needed)."""
    import click

    from .server import HTTP_MODES, LOG_LEVELS, SERVERS

    @click.group(context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(
        __version__, "-V", "--version", prog_name="scallion", message="%(prog)s %(version)s"
    )
    def cli() -> None:
        """scallion: an onion-model ASGI framework with an Express layer and a BFF layer."""

    @cli.command()
    @click.argument("target")
    @click.option(
        "--host",
        default="127.0.0.1",
        show_default=True,
        envvar="SCALLION_HOST",
        help="Address to bind (0.0.0.0 for every interface).",
    )
    @click.option(
        "--port",
        default=3000,
        show_default=True,
        type=click.IntRange(0, 65535),
        envvar="SCALLION_PORT",
        help="Port to bind.",
    )
    @click.option(
        "--workers",
        "-w",
        default=1,
        show_default=True,
        type=click.IntRange(min=1),
        envvar="SCALLION_WORKERS",
        help="Worker processes sharing the socket (one per CPU core).",
    )
    @click.option(
        "--server",
        "server_name",
        default="granian",
        show_default=True,
        type=click.Choice(SERVERS),
        help="The ASGI server to run on.",
    )
    @click.option(
        "--http",
        "http_mode",
        default="auto",
        show_default=True,
        type=click.Choice(HTTP_MODES),
        help="HTTP version: 1, 2 (HTTP/2 only) or auto (both; granian).",
    )
    @click.option("--reload", is_flag=True, help="Restart workers when files change (development).")
    @click.option(
        "--env",
        "env_name",
        type=click.Choice(["development", "production"]),
        default=None,
        help="Sets SCALLION_ENV for the app (default: production).",
    )
    @click.option("--log-level", default="info", show_default=True, type=click.Choice(LOG_LEVELS))
    @click.option("--access-log", is_flag=True, help="Log every request.")
    @click.option(
        "--graceful-timeout",
        default=30.0,
        show_default=True,
        type=float,
        help="Seconds in-flight requests get to finish on shutdown.",
    )
    def serve(
        target: str,
        host: str,
        port: int,
        workers: int,
        server_name: str,
        http_mode: str,
        reload: bool,
        env_name: str | None,
        log_level: str,
        access_log: bool,
        graceful_timeout: float,
    ) -> int:
        """Serve TARGET: an app as module:app (or module:factory()), or a gateway YAML file."""
        from .server import MissingDependency, ServerConfigError, ServerStartError, run_app

        if env_name is not None:
            os.environ["SCALLION_ENV"] = env_name
        factory = False
        reload_paths: list[str] | None = None
        start_method: Literal["spawn"] | None = None
        if target.endswith(GATEWAY_SUFFIXES):
            path = Path(target).resolve()
            if _check_gateway(path) != 0:
                return 1
            os.environ[GATEWAY_ENV] = str(path)
            target, factory = GATEWAY_TARGET, True
            reload_paths = [os.getcwd(), str(path.parent)]
            # Checking built the upstream clients here (a Rust runtime): workers must not fork.
            start_method = "spawn"
        else:
            # Workers import the target from the current directory, as `python -m` would.
            cwd = os.getcwd()
            if cwd not in sys.path:
                sys.path.insert(0, cwd)
        try:
            run_app(
                target,
                host=host,
                port=port,
                server=server_name,  # type: ignore[arg-type]
                workers=workers,
                reload=reload,
                http=http_mode,  # type: ignore[arg-type]
                log_level=log_level,
                access_log=access_log,
                factory=factory,
                graceful_timeout=graceful_timeout if graceful_timeout > 0 else None,
                reload_paths=reload_paths,
                start_method=start_method,
            )
        except (ServerConfigError, ServerStartError, MissingDependency) as exc:
            _fail(str(exc))
            return 1
        return 0

    @cli.command()
    @click.argument("path")
    def check(path: str) -> int:
        """Validate a gateway YAML file without serving it (exit 0 when valid)."""
        return _check_gateway(Path(path))

    @cli.command()
    @click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
    @click.option(
        "--port",
        default=8000,
        show_default=True,
        type=click.IntRange(0, 65535),
        help="Port of the demo gateway.",
    )
    @click.option(
        "--tour/--no-tour",
        default=True,
        show_default=True,
        help="Walk through aggregation, caching and a breaker over real HTTP first.",
    )
    @click.option(
        "--gateway",
        "gateway_file",
        default=None,
        help="Serve this gateway file over the mock services instead of the example.",
    )
    def demo(host: str, port: int, tour: bool, gateway_file: str | None) -> int:
        """Start mock upstreams and a gateway over them on loopback, and show what to try."""
        from .server import MissingDependency, import_feature

        try:
            demo_main = import_feature("scallion.bff.demo", "main", "scallion demo")
        except MissingDependency as exc:
            _fail(str(exc))
            return 1
        result = demo_main(host=host, port=port, tour=tour, gateway_file=gateway_file)
        return result if isinstance(result, int) else 0

    return cli


def _check_gateway(path: Path) -> int:
    """Report every error of a gateway file as ``file:line: field: message``; 0 when valid."""
    from .server import MissingDependency, import_feature

    if not path.is_file():
        _fail(f"{path}: no such gateway file")
        return 1
    try:
        check_gateway = import_feature(GATEWAY_MODULE, "check_gateway", "the declarative gateway")
    except MissingDependency as exc:
        _fail(str(exc))
        return 1
    try:
        errors = check_gateway(str(path))
    except Exception as exc:  # the compiler itself failed: show it rather than a traceback
        errors = [f"{path}: {type(exc).__name__}: {exc}"]
    if errors:
        for error in errors:
            print(error, file=sys.stderr)
        count = len(errors)
        print(f"{path}: {count} error{'s' if count != 1 else ''}", file=sys.stderr)
        return 1
    print(f"{path}: ok")
    return 0


def _fail(message: str) -> None:
    print(f"scallion: {message}", file=sys.stderr)
