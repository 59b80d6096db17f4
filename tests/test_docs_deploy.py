"""docs/deploy.md stays true to the CLI: every option it lists exists with the default it
states, every option the CLI has is listed, and its python blocks run."""

from __future__ import annotations

import re
from typing import Any

import pytest
from _docs_helpers import DOCS, Block, run_block, runnable

from scallion.cli import build_cli

TEXT = (DOCS / "deploy.md").read_text(encoding="utf-8")


def options(command: Any) -> dict[str, Any]:
    """Every flag of a click command (``--tour/--no-tour`` as both) -> its parameter."""
    found = {}
    for param in command.params:
        for flag in (*param.opts, *param.secondary_opts):
            found[flag] = param
    return found


def test_serve_options_table_matches_the_cli() -> None:
    serve = options(build_cli().commands["serve"])
    table = TEXT.split("| option | default | what it does |", 1)[1].split("\n\n", 1)[0]
    listed: set[str] = set()
    for row in table.strip().splitlines()[1:]:
        first, default = (cell.strip() for cell in row.strip("|").split("|")[:2])
        flags = re.findall(r"`(-{1,2}[a-z-]+)`", first)
        if "--help" in flags:  # click's own, not a parameter
            continue
        listed.update(flags)
        param = serve[flags[0]]
        shown = re.match(r"`([^`]*)`", default)
        if param.is_flag:
            assert default == "off", row
        elif shown is not None:
            assert str(param.default) == shown.group(1), row
        else:
            assert param.default is None, row
        for env in re.findall(r"`\$(\w+)`", first):
            assert param.envvar == env, row
    flags_of_cli = {flag for flag in serve if flag.startswith("-")}  # not the TARGET argument
    assert listed == flags_of_cli, flags_of_cli ^ listed


def test_synopsis_and_other_commands_match_the_cli() -> None:
    cli = build_cli()
    serve = options(cli.commands["serve"])
    synopsis = TEXT.split("scallion serve TARGET", 1)[1].split("```", 1)[0]
    for flag in re.findall(r"(--?[a-z][a-z-]*)", synopsis):
        assert flag in serve, flag
    for choice in ("granian|uvicorn", "auto|1|2", "development|production"):
        assert choice in synopsis
    demo = options(cli.commands["demo"])
    line = re.search(r"`scallion demo ([^`]*)`", TEXT)
    assert line is not None
    assert set(re.findall(r"--[a-z-]+", line.group(1))) == {
        f for f in demo if f.startswith("--") and f != "--help"
    }
    assert re.search(r"`scallion --version` \(or `-V`\)", TEXT)


@pytest.mark.parametrize("block", runnable("deploy.md"), ids=lambda b: b.id)
async def test_block_runs(
    block: Block, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    if "REDIS_CLUSTER_URL" in block.source:  # the Redis Cluster example runs on a real one
        monkeypatch.setenv("REDIS_CLUSTER_URL", request.getfixturevalue("redis_cluster").url)
    await run_block(block)


def test_the_cluster_example_is_run_against_a_cluster() -> None:
    cluster_blocks = [b for b in runnable("deploy.md") if "REDIS_CLUSTER_URL" in b.source]
    assert len(cluster_blocks) == 1
    assert "redis+cluster://" in cluster_blocks[0].source
