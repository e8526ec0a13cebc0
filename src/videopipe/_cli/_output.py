"""What the command prints: plain lines or JSON lines on stdout, colour only on a terminal, logs.

Output for people is plain text; `--json` prints one JSON object per line
instead. Colour is used only when the stream is a terminal and `NO_COLOR` is
unset (https://no-color.org), never in a pipe or a file. Log records go to
stderr through `tqdm.write`, so they never tear a progress bar.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any, TextIO

from tqdm import tqdm

from .._observability import _Redacting
from .._render import plain

__all__ = [
    "FAILURE_MESSAGES",
    "colour",
    "configure_cli_logging",
    "emit_json",
    "say",
    "warn",
]

_COLOURS = {"red": "31", "green": "32", "yellow": "33", "bold": "1", "dim": "2"}

FAILURE_MESSAGES = frozenset({"stage %s failed for video %s: %s", "FAILED: video %s in %.2fs: %s"})
"""The pipeline's log templates for a failed video, which `process` prints in its summary."""


def colour_enabled(stream: TextIO) -> bool:
    """Whether to colour what goes to `stream`: a terminal, `NO_COLOR` unset, `TERM` not dumb."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def colour(text: str, name: str, stream: TextIO | None = None) -> str:
    """`text` in colour `name` when `stream` (stdout by default) is a terminal, else unchanged."""
    if not colour_enabled(stream or sys.stdout):
        return text
    return f"\x1b[{_COLOURS[name]}m{text}\x1b[0m"


def say(*parts: object) -> None:
    """Print a line of the command's output on stdout."""
    print(*parts)  # noqa: T201  # the CLI's output


def warn(message: str) -> None:
    """Print a line for the person at the terminal on stderr (never mixed into stdout)."""
    print(message, file=sys.stderr)  # noqa: T201


def emit_json(record: dict[str, Any]) -> None:
    """Print one JSON object on one line."""
    say(json.dumps(record, default=str, ensure_ascii=False))


class _TqdmHandler(logging.Handler):
    """Writes records with `tqdm.write`, above a progress bar rather than through it."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=sys.stderr)
        except Exception:  # pragma: no cover - what logging.Handler does
            self.handleError(record)


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        level = record.levelname.lower()
        if record.levelno >= logging.ERROR:
            level = colour(level, "red", sys.stderr)
        elif record.levelno >= logging.WARNING:
            level = colour(level, "yellow", sys.stderr)
        text = f"videopipe: {level}: {plain(record.getMessage())}"
        if record.exc_info and record.levelno <= logging.DEBUG:
            text += "\n" + self.formatException(record.exc_info)
        return text


class _HideReportedFailures(logging.Filter):
    """Drops the pipeline's own lines about a failed video: `process` prints each failure once."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.name == "videopipe.pipeline"
            and hasattr(record, "video_id")
            and record.msg in FAILURE_MESSAGES
        )


def configure_cli_logging(level: int, *, hide_reported_failures: bool = False) -> None:
    """Send videopipe's log records at `level` and above to stderr, one formatted line each.

    Args:
        level: The lowest level shown.
        hide_reported_failures: Leave out the pipeline's lines about a failed
            video, which the command prints in its summary.
    """
    root = logging.getLogger("videopipe")
    for old in [h for h in root.handlers if getattr(h, "_videopipe_cli", False)]:
        root.removeHandler(old)
        old.close()
    handler = _TqdmHandler(level)
    handler.setFormatter(_Formatter())
    handler.addFilter(_Redacting())
    if hide_reported_failures:
        handler.addFilter(_HideReportedFailures())
    handler._videopipe_cli = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
