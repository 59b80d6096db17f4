"""Run mypy over the typing checks next to this file; every ``assert_type`` must hold."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parents[1]


def test_assert_type_checks_pass_under_mypy_strict() -> None:
    checks = sorted(str(path) for path in HERE.glob("check_*.py"))
    assert checks
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", *checks],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
