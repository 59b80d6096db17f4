"""``import scallion`` loads only the standard library and orjson (DESIGN §1: a light core)."""

from __future__ import annotations

import json
import subprocess
import sys

ALLOWED_THIRD_PARTY = {"orjson"}

PROBE = """
import json, sys
before = set(sys.modules)
import scallion
print(json.dumps(sorted(set(sys.modules) - before)))
"""


def loaded_by_import(code: str = PROBE) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def test_import_scallion_loads_only_stdlib_and_orjson() -> None:
    stdlib = sys.stdlib_module_names
    foreign = [
        name
        for name in loaded_by_import()
        if name.split(".")[0] not in stdlib
        and name.split(".")[0] not in ALLOWED_THIRD_PARTY
        and name.split(".")[0] != "scallion"
        and not name.startswith("_")  # C accelerators of stdlib modules (_json, _ssl...)
    ]
    assert foreign == []


def test_the_core_does_not_pull_in_the_test_client_or_optional_extras() -> None:
    loaded = set(loaded_by_import())
    for heavy in ("httpx", "anyio", "redis", "granian", "uvicorn", "scallion.testing"):
        assert heavy not in loaded


CORE = [
    "app",
    "compose",
    "context",
    "request",
    "response",
    "cookies",
    "datastructures",
    "errors",
    "types",
    "sse",
    "_mime",
    "_fresh",
]

EACH_ON_ITS_OWN = """
import importlib, sys
for module in %r:
    for name in [n for n in sys.modules if n == "scallion" or n.startswith("scallion.")]:
        del sys.modules[name]
    importlib.import_module("scallion." + module)
print("ok")
"""


def test_every_core_module_imports_on_its_own() -> None:
    """No import cycle hides behind the package's import order (aiohttp's circular-imports test)."""
    out = subprocess.run(
        [sys.executable, "-I", "-c", EACH_ON_ITS_OWN % CORE], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
