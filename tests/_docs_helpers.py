"""Reading and running the code blocks of a docs/ page.

A block right after an ``<!-- fragment -->`` comment is a piece of a larger program (a call
in the middle of a handler) and is skipped; every other ``python`` block must run on its
own, in a fresh namespace. Top-level ``await`` is allowed, as in ``python -m asyncio``.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parents[1] / "docs"
FRAGMENT = "<!-- fragment -->"
_FENCE = re.compile(
    r"^(?P<indent>[ ]*)```(?P<lang>[\w-]*)\n(?P<body>.*?)^(?P=indent)```", re.M | re.S
)


@dataclass(frozen=True)
class Block:
    doc: str
    lang: str
    line: int
    source: str
    fragment: bool

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}"


def blocks(name: str, lang: str) -> list[Block]:
    """Every fenced block of ``lang`` in ``docs/<name>``, with its line and fragment mark."""
    text = (DOCS / name).read_text(encoding="utf-8")
    found = []
    for match in _FENCE.finditer(text):
        if match["lang"] != lang:
            continue
        before = text[: match.start()].rstrip().splitlines()
        fragment = bool(before) and before[-1].strip() == FRAGMENT
        line = text.count("\n", 0, match.start()) + 1
        body = textwrap.dedent(match["body"])
        found.append(Block(name, lang, line, body, fragment))
    return found


def runnable(name: str, lang: str = "python") -> list[Block]:
    return [b for b in blocks(name, lang) if not b.fragment]


async def run_block(block: Block, namespace: dict[str, Any] | None = None) -> dict[str, Any]:
    """Execute one block (top-level ``await`` allowed) and return its namespace."""
    ns: dict[str, Any] = {"__name__": "docs_block"} if namespace is None else namespace
    code = compile(block.source, f"docs/{block.id}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = eval(code, ns)  # our own docs
    if inspect.iscoroutine(result):
        await result
    return ns


def block_at(name: str, marker: str, lang: str = "python") -> Block:
    """The one runnable block of ``lang`` whose source contains ``marker``."""
    found = [b for b in runnable(name, lang) if marker in b.source]
    assert len(found) == 1, f"{len(found)} {lang} blocks in {name} contain {marker!r}"
    return found[0]
