"""Load an ``examples/seeds/<name>.py`` module by path, whatever ``sys.path`` holds."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

SEEDS = Path(__file__).resolve().parents[2] / "examples" / "seeds"


def load(name: str) -> ModuleType:
    """Import ``examples/seeds/<name>.py`` once, under a private module name."""
    key = f"_seed_example_{name}"
    if key in sys.modules:
        return sys.modules[key]
    spec = importlib.util.spec_from_file_location(key, SEEDS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[key] = module
    spec.loader.exec_module(module)
    return module
