"""Find the code blocks of a Markdown page and run its Python blocks in order, like notebook cells.

A page's Python blocks share one namespace. A block may use top-level `await`
(it is compiled with `ast.PyCF_ALLOW_TOP_LEVEL_AWAIT`); all such blocks of a
page run on one event loop, which is not running between blocks, so a block
can also be a script that calls `anyio.run()` itself.

A block preceded by `<!-- not-run: REASON -->` is not run; REASON is required.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RUNNABLE = frozenset({"python", "py"})

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})\s*\{?\.?(?P<lang>[\w+-]*)")
_MARKER = re.compile(r"<!--\s*not-run\s*:?(?P<reason>.*?)-->", re.DOTALL)
_ANY_MARKER = re.compile(r"<!--\s*not-run\b")


@dataclass(frozen=True)
class Block:
    """One fenced code block."""

    page: Path
    lang: str
    line: int  # 1-based line of the first line of code
    code: str
    not_run: str | None = None  # the reason, when marked `not-run`

    @property
    def runnable(self) -> bool:
        return self.lang in RUNNABLE and self.not_run is None

    def compile(self) -> Any:
        # Padding keeps line numbers in tracebacks equal to the page's.
        source = "\n" * (self.line - 1) + self.code
        return compile(
            source,
            str(self.page),
            "exec",
            flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
            dont_inherit=True,
        )


@dataclass
class Page:
    """The code blocks of one Markdown file, and the problems found reading it."""

    path: Path
    blocks: list[Block] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def runnable(self) -> list[Block]:
        return [b for b in self.blocks if b.runnable]


def read_page(path: Path) -> Page:
    """Parse the fenced code blocks of `path`, with their `not-run` markers."""
    page = Page(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    pending: tuple[int, str] | None = None  # a marker waiting for its block: (line, reason)
    i = 0
    while i < len(lines):
        text = lines[i]
        opened = _FENCE.match(text)
        if opened is None:
            if _ANY_MARKER.search(text):
                if pending is not None:
                    page.problems.append(f"{path}:{pending[0]}: not-run marker without a block")
                comment = text
                while "-->" not in comment and i + 1 < len(lines):  # a marker over several lines
                    i += 1
                    comment += "\n" + lines[i]
                found = _MARKER.search(comment)
                pending = (i + 1, " ".join(found["reason"].split()) if found else "")
            elif text.strip() and pending is not None:
                page.problems.append(f"{path}:{pending[0]}: not-run marker without a block")
                pending = None
            i += 1
            continue
        indent, fence, lang = opened["indent"], opened["fence"], opened["lang"].lower()
        start = i + 1
        i += 1
        body: list[str] = []
        while i < len(lines):
            closing = lines[i].strip()
            if closing.startswith(fence[0] * len(fence)) and not closing.strip(fence[0]):
                break
            body.append(lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i])
            i += 1
        else:
            page.problems.append(f"{path}:{start}: unclosed code block")
        reason = None
        if pending is not None:
            reason = pending[1]
            if not reason:
                page.problems.append(f"{path}:{pending[0]}: not-run marker without a reason")
            if lang not in RUNNABLE:
                page.problems.append(
                    f"{path}:{pending[0]}: not-run marker on a {lang or 'plain'} block, "
                    "which is never run anyway"
                )
            pending = None
        page.blocks.append(Block(path, lang, start + 1, "\n".join(body) + "\n", reason))
        i += 1
    if pending is not None:
        page.problems.append(f"{path}:{pending[0]}: not-run marker without a block")
    return page


def run_blocks(blocks: list[Block], namespace: dict[str, Any], loop: asyncio.AbstractEventLoop):
    """Run `blocks` in order in `namespace`; the `await`ing ones on `loop`."""
    for block in blocks:
        code = block.compile()
        if code.co_flags & inspect.CO_COROUTINE:
            loop.run_until_complete(eval(code, namespace))
        else:
            exec(code, namespace)


def defined_tests(namespace: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """The `test_*` functions a page defines, to be run as pytest would run them."""
    for name, value in list(namespace.items()):
        if name.startswith("test_") and inspect.isfunction(value):
            yield name, value
