"""``App(gc_freeze=...)``: the lifespan startup freezes the collector once per process.

Each case runs in a fresh interpreter: the freeze is process-wide and lasts.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import gc, sys
    from scallion import App
    from scallion.testing import TestClient

    def run(app):
        app.use(lambda ctx: setattr(ctx, "body", "ok"))
        with TestClient(app) as client:
            assert client.get("/").text == "ok"
        return gc.get_freeze_count()

    first = run(App(gc_freeze={flag}))
    kept = [[i] for i in range(5000)]  # made after the first startup, still alive
    second = run(App(gc_freeze={flag}))
    print(first, second)
    """
)


def _counts(flag: bool) -> tuple[int, int]:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(flag=flag)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split()
    return int(out[0]), int(out[1])


def test_the_first_startup_freezes_and_later_ones_do_not() -> None:
    first, second = _counts(True)
    assert first > 1000  # the interpreter, scallion and the app: all frozen
    assert second - first < 5000  # no second freeze: what was made since stays young


def test_gc_freeze_false_leaves_the_collector_alone() -> None:
    assert _counts(False) == (0, 0)
