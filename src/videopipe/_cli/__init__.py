"""The `videopipe` command: a thin layer over the public API.

`_parser` builds the commands, their help and examples; `_process` and
`_commands` hold what each command does; `_output` prints (plain text, JSON
lines, colour only on a terminal) and routes log records; `_stores` opens the
store a command names and finds a video by its file or ID.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

import anyio
from pydantic import ValidationError

from .._exceptions import VideopipeError
from .._render import plain
from .._secrets import redact
from .._settings import Settings
from . import _commands
from ._output import colour, configure_cli_logging
from ._parser import Handler
from ._parser import build_parser as _build_parser
from ._process import INTERRUPTED_EXIT, cmd_process
from ._ray import cmd_ray_drain, cmd_ray_process

__all__ = ["build_parser", "main"]

HANDLERS: dict[str, Handler] = {
    "process": cmd_process,
    "enqueue": _commands.cmd_enqueue,
    "worker": _commands.cmd_worker,
    "status": _commands.cmd_status,
    "videos": _commands.cmd_videos,
    "jobs": _commands.cmd_jobs,
    "search": _commands.cmd_search,
    "report": _commands.cmd_report,
    "stats": _commands.cmd_stats,
    "ray process": cmd_ray_process,
    "ray drain": cmd_ray_drain,
    "settings": _commands.cmd_settings,
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `videopipe` command."""
    return _build_parser(HANDLERS)


def _log_level(args: argparse.Namespace) -> str | None:
    """The level asked for on the command line: `--log-level`, else `-v` (info) / `-vv` (debug)."""
    if getattr(args, "log_level", None):
        return str(args.log_level)
    verbose = getattr(args, "verbose", None) or 0
    if verbose:
        return "INFO" if verbose == 1 else "DEBUG"
    return None


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, object] = {}
    if getattr(args, "db", None):
        overrides["database_url"] = args.db
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = args.data_dir
    level = _log_level(args)
    if level:
        overrides["log_level"] = level
    return Settings(**overrides)  # type: ignore[arg-type]


def _configure_logging(args: argparse.Namespace, settings: Settings) -> None:
    """Log lines on stderr: warnings and errors unless asked for more (the worker: LOG_LEVEL)."""
    if args.command == "worker":
        return  # the worker sets up its own logging (console and file) from the settings
    chosen = _log_level(args) is not None or "log_level" in settings.model_fields_set
    level = settings.log_level_number if chosen else logging.WARNING
    configure_cli_logging(
        level, hide_reported_failures=args.command == "process" and level >= logging.WARNING
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `videopipe` command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        settings = _settings(args)
        _configure_logging(args, settings)
        handler: Handler = args.handler
        return anyio.run(handler, args, settings)
    except (VideopipeError, ValidationError, OSError) as exc:
        if args.debug:
            raise
        # One line, and a file name's escape sequences shown, not sent to the terminal.
        message = plain(redact(str(exc)))
        prefix = colour("videopipe: error:", "red", sys.stderr)
        print(f"{prefix} {message}", file=sys.stderr)  # noqa: T201
        return 1
    except KeyboardInterrupt:
        print("videopipe: interrupted", file=sys.stderr)  # noqa: T201
        return INTERRUPTED_EXIT
