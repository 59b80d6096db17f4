"""scallion.observability imports neither prometheus-client nor OpenTelemetry until used."""

from __future__ import annotations

import subprocess
import sys

import scallion.observability as obs


def test_optional_libraries_load_lazily() -> None:
    code = (
        "import sys, scallion.observability\n"
        "print(sorted(m for m in sys.modules"
        " if m.startswith(('prometheus_client', 'opentelemetry'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_all_is_sorted_and_complete() -> None:
    assert obs.__all__ == sorted(obs.__all__, key=lambda n: (not n.isupper(), n[0].islower(), n))
    for name in obs.__all__:
        assert getattr(obs, name) is not None
    public = {n for n in vars(obs) if not n.startswith("_")} - {
        "bff_metrics", "logging", "metrics", "status", "tracing", "annotations",
    }  # fmt: skip
    assert public <= set(obs.__all__)
