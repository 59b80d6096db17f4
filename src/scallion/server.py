"""Run an app on a real ASGI server: granian by default, uvicorn on request.

``run_app()`` is what ``scallion serve`` and ``App.listen()`` call. It takes either an
import string (``"module:app"``, ``"module:factory()"``) or the app object itself.

Import strings are the robust form: every worker process imports the module itself, so
any number of workers, ``reload`` and any process start method work. An app *object*
cannot be pickled into a new process, so for granian it is registered in this module and
the workers are **forked** from the serving process, inheriting it (``fork`` is made the
start method for that, the default on Linux before Python 3.14). uvicorn serves an object
in-process with one worker. Where a new process must import the app (``reload``, uvicorn
with several workers), the object is looked up in the loaded modules to find its import
string, and a clear error asks for one when it lives only in ``__main__``.

Shutdown is graceful with both servers: SIGTERM or SIGINT stops accepting connections,
lets in-flight requests finish (up to ``graceful_timeout`` seconds), then runs the app's
``shutdown`` hooks through the ASGI lifespan protocol and exits 0. A failing ``startup``
hook makes the server exit non-zero with the hook's error in the log. A response still
streaming at the timeout is cancelled by uvicorn (its ``finally`` runs), while granian
kills the worker process (nothing more runs in it): see docs/deploy.md.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import importlib.util
import math
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Literal

from .types import ASGIApp

__all__ = [
    "INSTALL_HINT",
    "MissingDependency",
    "ServerConfigError",
    "ServerStartError",
    "find_import_string",
    "import_feature",
    "run_app",
]

ServerName = Literal["granian", "uvicorn"]
HttpMode = Literal["auto", "1", "2"]

INSTALL_HINT = "pip install 'scallion[server]'"
SERVERS: tuple[ServerName, ...] = ("granian", "uvicorn")
HTTP_MODES: tuple[HttpMode, ...] = ("auto", "1", "2")
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")

# App objects served by granian's forked workers, by the key granian passes back to the loader.
_REGISTRY: dict[str, ASGIApp] = {}


class ServerConfigError(ValueError):
    """The options asked for something the chosen server cannot do."""


class ServerStartError(RuntimeError):
    """The server could not start (most often: the address is already in use)."""


class MissingDependency(ImportError):
    """An optional package the server needs is not installed; the message says how to fix it."""


@dataclass(frozen=True, slots=True)
class _Target:
    import_string: str | None  # "module:attr" when known
    factory: bool
    obj: ASGIApp | None  # the in-process object when given one


def run_app(
    app_or_target: ASGIApp | str,
    *,
    host: str = "127.0.0.1",
    port: int = 3000,
    server: ServerName = "granian",
    workers: int = 1,
    reload: bool = False,
    http: HttpMode = "auto",
    log_level: str = "info",
    access_log: bool = False,
    factory: bool = False,
    graceful_timeout: float | None = 30.0,
    reload_paths: list[str] | None = None,
    start_method: Literal["fork", "spawn"] | None = None,
    **server_options: Any,
) -> None:
    """Serve an app in the foreground until SIGINT/SIGTERM; returns after a clean shutdown.

    Args:
        app_or_target: an ASGI app object, or ``"module:attr"`` / ``"module:factory()"``.
        server: ``"granian"`` (default) or ``"uvicorn"``.
        workers: number of processes sharing the listening socket (N = CPU cores).
        reload: restart the workers when source files change (development only).
        http: ``"1"``, ``"2"`` (h2c prior knowledge / h2 over TLS) or ``"auto"`` (both).
        graceful_timeout: seconds in-flight requests get to finish on shutdown before the
            worker is stopped hard; ``None`` waits for ever.
        reload_paths: directories (or files' directories) watched by ``reload``.
        start_method: how granian starts workers for an import string: ``"spawn"`` when
            this process holds something a fork must not inherit (a Rust async runtime,
            threads, open clients); default: the platform's (fork on Linux before 3.14).
        server_options: passed through to ``granian.Granian`` / ``uvicorn.run`` as is.

    Raises:
        ServerConfigError: an option the chosen server cannot honour.
        MissingDependency: the server package is not installed.
    """
    if server not in SERVERS:
        raise ServerConfigError(f"unknown server {server!r}: choose one of {', '.join(SERVERS)}")
    if http not in HTTP_MODES:
        raise ServerConfigError(f"unknown HTTP mode {http!r}: choose one of auto, 1, 2")
    if log_level not in LOG_LEVELS:
        raise ServerConfigError(
            f"unknown log level {log_level!r}: choose one of {', '.join(LOG_LEVELS)}"
        )
    if not isinstance(workers, int) or workers < 1:
        raise ServerConfigError(f"workers must be an integer >= 1, got {workers!r}")
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise ServerConfigError(f"port must be an integer in 0..65535, got {port!r}")
    target = _resolve(app_or_target, factory)
    if server == "granian":
        _run_granian(
            target,
            host=host,
            port=port,
            workers=workers,
            reload=reload,
            http=http,
            log_level=log_level,
            access_log=access_log,
            graceful_timeout=graceful_timeout,
            reload_paths=reload_paths,
            start_method=start_method,
            options=server_options,
        )
    else:
        _run_uvicorn(
            target,
            host=host,
            port=port,
            workers=workers,
            reload=reload,
            http=http,
            log_level=log_level,
            access_log=access_log,
            graceful_timeout=graceful_timeout,
            reload_paths=reload_paths,
            options=server_options,
        )


# -- targets -----------------------------------------------------------------------------


def _resolve(app_or_target: ASGIApp | str, factory: bool) -> _Target:
    if isinstance(app_or_target, str):
        return _parse_import_string(app_or_target, factory)
    if not callable(app_or_target):
        raise TypeError(f"expected an ASGI app or an import string, got {app_or_target!r}")
    return _Target(import_string=None, factory=False, obj=app_or_target)


def _parse_import_string(text: str, factory: bool) -> _Target:
    """``"pkg.mod:attr"``, ``"pkg.mod"`` (attr ``app``), ``"pkg.mod:make()"`` (a factory),
    or a file, ``"path/to/mod.py:app"``."""
    module, _, attr = text.strip().partition(":")
    attr = attr or "app"
    if module.endswith(".py") or "/" in module or os.sep in module:
        module = _module_for_file(module)
    if attr.endswith("()"):
        attr, factory = attr[:-2], True
    if not module or not attr or not all(p.isidentifier() for p in module.split(".")):
        raise ServerConfigError(
            f"bad target {text!r}: expected 'module:attribute', e.g. 'examples.hello:app'"
        )
    if not all(p.isidentifier() for p in attr.split(".")):
        raise ServerConfigError(f"bad attribute {attr!r} in target {text!r}")
    return _Target(import_string=f"{module}:{attr}", factory=factory, obj=None)


def _module_for_file(name: str) -> str:
    """The dotted module name of a ``.py`` file, its package root put on ``sys.path``.

    ``examples/hello.py`` in a directory where ``examples/__init__.py`` exists becomes
    ``examples.hello`` importable from the current directory, as ``python -m`` would see it.
    Worker processes inherit ``sys.path`` (fork) or are given it (spawn).
    """
    path = Path(name).resolve()
    if path.suffix != ".py":
        path = path.with_suffix(".py")
    if not path.is_file():
        raise ServerConfigError(f"no such Python file: {name}")
    parts = [path.stem]
    root = path.parent
    while (root / "__init__.py").is_file():
        parts.insert(0, root.name)
        root = root.parent
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    return ".".join(parts)


def find_import_string(obj: object) -> str | None:
    """The ``module:attr`` a fresh process can import to get ``obj``, if there is one.

    Looks through the loaded modules for a module-level name bound to ``obj``. A script run
    as ``python path/app.py`` is the module ``__main__``, which another process cannot
    import; ``python -m pkg.app`` is, under its real name from ``__spec__``.
    """
    for name, module in list(sys.modules.items()):
        if module is None or name == "__mp_main__":
            continue
        try:
            namespace = vars(module)
        except TypeError:
            continue
        for attr, value in list(namespace.items()):
            if value is obj and not attr.startswith("__"):
                if name != "__main__":
                    return f"{name}:{attr}"
                spec = getattr(module, "__spec__", None)
                if spec is not None and spec.name and spec.name != "__main__":
                    return f"{spec.name}:{attr}"
    return None


def _import_string_or_fail(target: _Target, why: str) -> _Target:
    if target.import_string is not None:
        return target
    found = find_import_string(target.obj)
    if found is None:
        raise ServerConfigError(
            f"{why} needs the app as an import string, because each new process imports it: "
            "serve it with `scallion serve module:app`, or keep the app in an importable "
            "module (not only in the script you run)"
        )
    return _Target(import_string=found, factory=False, obj=None)


def _load_registered(key: str) -> ASGIApp:
    """granian's target loader for an app object: the forked worker inherited the registry."""
    try:
        return _REGISTRY[key]
    except KeyError:
        raise RuntimeError(
            "this worker was not forked from the process that registered the app; "
            "serve an import string instead (scallion serve module:app)"
        ) from None


def _check_importable(import_string: str) -> None:
    """Fail in the parent, with a short message, when the target's module does not exist."""
    module = import_string.partition(":")[0]
    if module == "__main__":
        return
    try:
        found = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        found = False
    except Exception:  # a broken parent package: let the server show its traceback
        return
    if not found:
        raise ServerConfigError(
            f"cannot import module {module!r} (from target {import_string!r}); "
            f"the current directory is {os.getcwd()}"
        )


# -- granian -----------------------------------------------------------------------------


def _import_server(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise MissingDependency(
            f"the {name} server is not installed: {INSTALL_HINT}", name=name
        ) from exc


def _run_granian(
    target: _Target,
    *,
    host: str,
    port: int,
    workers: int,
    reload: bool,
    http: HttpMode,
    log_level: str,
    access_log: bool,
    graceful_timeout: float | None,
    reload_paths: list[str] | None,
    start_method: Literal["fork", "spawn"] | None,
    options: dict[str, Any],
) -> None:
    granian = _import_server("granian")
    from granian.constants import HTTPModes, Interfaces
    from granian.log import LOGGING_CONFIG, LogLevels

    if reload:
        target = _import_string_or_fail(target, "reload")
        # A forked worker would keep whatever this process imported (the app's module, or
        # its package) as it was: each reload must import the changed code afresh.
        start_method = "spawn"
    kwargs: dict[str, Any] = {
        "address": host,
        "port": port,
        "interface": Interfaces.ASGI,
        "workers": workers,
        "http": HTTPModes(http),
        "log_level": LogLevels(log_level),
        "log_access": access_log,
        "log_dictconfig": _granian_logging(LOGGING_CONFIG, log_level),
        "reload": reload,
        "factory": target.factory,
    }
    if graceful_timeout is not None:
        kwargs["workers_kill_timeout"] = max(1, math.ceil(graceful_timeout))
    if reload and reload_paths:
        kwargs["reload_paths"] = [_watch_dir(p) for p in reload_paths]
    kwargs.update(options)
    if target.import_string is not None:
        _check_importable(target.import_string)
        if start_method is not None:
            multiprocessing.set_start_method(start_method, force=True)
        with _bind_errors(host, port):
            granian.Granian(target.import_string, **kwargs).serve()
        return
    # An app object: workers are forked from here and find it in the registry.
    if "fork" not in multiprocessing.get_all_start_methods():
        raise ServerConfigError(
            "serving an app object needs fork(), which this platform lacks: "
            "serve an import string instead (scallion serve module:app)"
        )
    if multiprocessing.get_start_method(allow_none=False) != "fork":
        multiprocessing.set_start_method("fork", force=True)
    key = f"<{type(target.obj).__name__} object at {id(target.obj):#x}>"
    assert target.obj is not None
    _REGISTRY[key] = target.obj
    try:
        with _bind_errors(host, port):
            granian.Granian(key, **kwargs).serve(target_loader=_load_registered)
    finally:
        _REGISTRY.pop(key, None)


@contextlib.contextmanager
def _bind_errors(host: str, port: int) -> Iterator[None]:
    """granian reports a socket it cannot bind as a bare RuntimeError from Rust."""
    try:
        yield
    except RuntimeError as exc:
        if "os error" not in str(exc):
            raise
        message = str(exc).splitlines()[0]
        raise ServerStartError(f"cannot listen on {host}:{port}: {message}") from None


def _granian_logging(base: dict[str, Any], level: str) -> dict[str, Any]:
    """granian's logging config plus the ``scallion`` logger on the same console handler."""
    config = copy.deepcopy(base)
    config["loggers"]["scallion"] = {
        "handlers": ["console"],
        "level": level.upper(),
        "propagate": False,
    }
    return config


def _watch_dir(path: str) -> Path:
    p = Path(path).resolve()
    return p if p.is_dir() else p.parent


# -- uvicorn -----------------------------------------------------------------------------


def _run_uvicorn(
    target: _Target,
    *,
    host: str,
    port: int,
    workers: int,
    reload: bool,
    http: HttpMode,
    log_level: str,
    access_log: bool,
    graceful_timeout: float | None,
    reload_paths: list[str] | None,
    options: dict[str, Any],
) -> None:
    uvicorn = _import_server("uvicorn")
    from uvicorn.config import LOGGING_CONFIG

    if reload and workers > 1:
        raise ServerConfigError("uvicorn cannot combine --reload with --workers > 1")
    if reload or workers > 1:
        target = _import_string_or_fail(target, "reload" if reload else "several workers")
    kwargs: dict[str, Any] = {
        "host": host,
        "port": port,
        "workers": workers,
        "reload": reload,
        "lifespan": "on",
        "log_level": log_level,
        "access_log": access_log,
        "log_config": _uvicorn_logging(LOGGING_CONFIG, log_level),
        "factory": target.factory,
        "timeout_graceful_shutdown": (
            None if graceful_timeout is None else max(1, math.ceil(graceful_timeout))
        ),
    }
    if http == "2":
        kwargs.update(_uvicorn_http2())
    else:
        kwargs["http"] = "auto"  # httptools when installed, else h11
    if reload:
        kwargs["reload_dirs"] = [str(_watch_dir(p)) for p in reload_paths or [os.getcwd()]]
        kwargs["reload_includes"] = ["*.py", "*.yaml", "*.yml"]
    kwargs.update(options)
    if target.import_string is not None:
        _check_importable(target.import_string)
    with _signals_end_cleanly():
        uvicorn.run(target.import_string or target.obj, **kwargs)


class _Stopped(BaseException):
    """Raised by our SIGTERM/SIGINT handler; caught around ``uvicorn.run``."""


def _stop(signum: int, frame: FrameType | None) -> None:
    raise _Stopped(signum)


@contextlib.contextmanager
def _signals_end_cleanly() -> Iterator[None]:
    """Make a graceful uvicorn shutdown return normally, so ``scallion serve`` exits 0.

    After draining, uvicorn restores the previous SIGTERM/SIGINT handlers and raises the
    signal again so that an embedding program sees it; with the default handlers the
    process would die of SIGTERM. Our handler turns that into a normal return, and also
    stops cleanly if a signal arrives before uvicorn has installed its own handlers.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    except _Stopped:
        pass
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _uvicorn_http2() -> dict[str, Any]:
    """uvicorn speaks HTTP/2 only through the optional ``zttp`` protocol (h1 and h2 both)."""
    if importlib.util.find_spec("zttp") is None:
        raise ServerConfigError(
            "uvicorn has no built-in HTTP/2: use `--server granian --http 2` "
            "(or install uvicorn's optional HTTP/2 protocol: pip install zttp)"
        )
    return {"http": "zttp", "http2": True}


def _uvicorn_logging(base: dict[str, Any], level: str) -> dict[str, Any]:
    config = copy.deepcopy(base)
    config["loggers"]["scallion"] = {
        "handlers": ["default"],
        "level": level.upper(),
        "propagate": False,
    }
    return config


# -- optional features -----------------------------------------------------------------------


def import_feature(module_name: str, attr: str, feature: str) -> Any:
    """Import ``module_name.attr`` lazily; a MissingDependency names what to install."""
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        missing = getattr(exc, "name", None) or ""
        if missing == "scallion" or missing.startswith("scallion."):
            raise MissingDependency(
                f"{feature} ({module_name}) is not part of this scallion install", name=missing
            ) from exc
        raise MissingDependency(
            f"{feature} needs the {missing or 'optional'} package: pip install 'scallion[all]'",
            name=missing or None,
        ) from exc
    value = getattr(module, attr, None)
    if value is None:
        raise MissingDependency(
            f"{feature}: {module_name} has no {attr}(); this install is incomplete",
            name=module_name,
        )
    return value
