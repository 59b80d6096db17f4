"""``App(gc_tuning=...)``: the lifespan startup tunes the collector once per process.

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

    if {preset}:
        gc.set_threshold(1000, 10, 10)
    first = run(App(gc_tuning={flag}))
    kept = [[i] for i in range(5000)]  # made after the first startup, still alive
    second = run(App(gc_tuning={flag}))
    print(first, second, gc.get_threshold()[0])
    """
)


def _counts(flag: bool, preset: bool = False) -> tuple[int, int, int]:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(flag=flag, preset=preset)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.split()
    return int(out[0]), int(out[1]), int(out[2])


def test_the_first_startup_freezes_and_later_ones_do_not() -> None:
    first, second, threshold = _counts(True)
    assert first > 1000  # the interpreter, scallion and the app: all frozen
    assert second - first < 5000  # no second freeze: what was made since stays young
    assert threshold == 7000


def test_a_threshold_set_by_the_program_is_kept() -> None:
    first, _, threshold = _counts(True, preset=True)
    assert first > 1000 and threshold == 1000


def test_gc_tuning_false_leaves_the_collector_alone() -> None:
    assert _counts(False) == (0, 0, 700)
