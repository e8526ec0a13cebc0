"""The `videopipe` command: a thin layer over the public API."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pydantic import AliasChoices, ValidationError

import videopipe

from ._exceptions import VideopipeError
from ._settings import Settings, redact_url

__all__ = ["main"]


def _cmd_settings(args: argparse.Namespace) -> int:
    settings = Settings()
    for name, field in type(settings).model_fields.items():
        alias = field.validation_alias
        env = alias.choices[0] if isinstance(alias, AliasChoices) else name
        value = getattr(settings, name)
        if name == "database_url":
            value = redact_url(value)
        print(f"{str(env).upper():<24} {value if value is not None else '-'}")  # noqa: T201
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `videopipe` command."""
    parser = argparse.ArgumentParser(
        prog="videopipe",
        description="Turn raw video into searchable, AI-analysed content.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {videopipe.__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    show = commands.add_parser(
        "settings", help="show the configuration read from the environment (secrets masked)"
    )
    show.set_defaults(handler=_cmd_settings)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `videopipe` command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.handler(args))
    except (VideopipeError, ValidationError) as exc:
        if args.debug:
            raise
        print(f"videopipe: error: {exc}", file=sys.stderr)  # noqa: T201
        return 1
