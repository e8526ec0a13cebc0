"""The argument parser: every command with its help, its examples and its options' variables.

Options that stand for a setting (`--db` for `DATABASE_URL`, ...) show that
variable in their help. The name is read from the `Settings` field, never
copied by hand, so the help cannot drift from what is read.
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import AliasChoices

import videopipe

from .._models import JobStatus, VideoStatus
from .._settings import Settings

__all__ = ["EXAMPLES", "SETTING_OPTIONS", "Handler", "build_parser", "env_name"]

Handler = Callable[[argparse.Namespace, Settings], Awaitable[int]]

SETTING_OPTIONS = {"--db": "database_url", "--data-dir": "data_dir", "--log-level": "log_level"}
"""The options that override a `Settings` field, by option."""

EXAMPLES: dict[str, list[tuple[str, str]]] = {
    "process": [
        ("videopipe process talk.mp4", "process one video, with a progress bar"),
        ("videopipe process --concurrency 4 videos/*.mp4", "four videos at a time"),
        ("videopipe process talk.mp4 --force vision", "redo the vision stage (and after)"),
        ("videopipe process talk.mp4 --title 'Q3 all-hands'", "the name hits and reports show"),
        ("videopipe process --json *.mp4 | jq .status", "one JSON object per input"),
        ("videopipe process --dry-run *.mp4", "the expected calls and cost, nothing run"),
    ],
    "enqueue": [
        ("videopipe enqueue *.mp4", "one job per video, for `videopipe worker`"),
        ("videopipe enqueue --batch --queue nightly *.mp4", "one tracked batch"),
    ],
    "worker": [
        ("videopipe worker --concurrency 4", "serve the default queue"),
        ("videopipe worker --queue nightly --http-port 8000", "with /healthz and /metrics"),
    ],
    "status": [
        ("videopipe status", "jobs and videos by status, and the queue lag"),
        ("videopipe status batch_0123abcd", "a batch's progress and failures"),
        ("videopipe status talk.mp4", "one video, by its file or its ID"),
        ("videopipe status --json", "the same as one JSON object"),
    ],
    "videos": [
        ("videopipe videos", "the newest videos: id, status, duration, date, file"),
        ("videopipe videos --status failed", "only the failed ones, with their errors"),
        ("videopipe videos --json | jq -r .file", "one JSON object per video"),
    ],
    "jobs": [
        ("videopipe jobs peek", "the next pending jobs"),
        ("videopipe jobs dead", "jobs that failed for good, with their errors"),
        ("videopipe jobs replay --all", "put every dead job back in the queue"),
    ],
    "jobs peek": [
        ("videopipe jobs peek", "the next 20 pending jobs"),
        ("videopipe jobs peek --status processing --limit 5", "five running jobs"),
    ],
    "jobs dead": [("videopipe jobs dead", "the dead-letter queue, with each job's error")],
    "jobs replay": [
        ("videopipe jobs replay job_0123abcd", "one dead job back to pending"),
        ("videopipe jobs replay --all", "every dead job"),
    ],
    "jobs cancel": [("videopipe jobs cancel job_0123abcd", "a pending job that should not run")],
    "search": [
        ('videopipe search "who mentions the budget?"', "the ten best hits"),
        ('videopipe search -k 3 --video talk.mp4 "budget"', "in one video (file or ID)"),
        ('videopipe search --json "budget" | jq .t_start', "one JSON object per hit"),
    ],
    "report": [
        ("videopipe report talk.mp4", "HTML report and storyboard of a video, by its file"),
        ("videopipe report v0123456789abcdef0123 --out site/", "by its ID, into site/"),
    ],
    "stats": [("videopipe stats", "queue, video and usage statistics as JSON")],
    "ray": [
        ("videopipe ray process --db postgresql://db/videos *.mp4", "on the cluster"),
        ("videopipe ray drain --batch batch_0123abcd", "work off a batch already queued"),
    ],
    "ray process": [
        ("videopipe ray process --workers 4 videos/*.mp4", "four actors, one video each"),
        ("videopipe ray process --address auto --num-gpus 1 *.mp4", "an actor per GPU"),
        ("videopipe ray process --pipeline mypipes:build *.mp4", "your own pipeline"),
    ],
    "ray drain": [
        ("videopipe ray drain", "every job of the default queue"),
        ("videopipe ray drain --batch batch_0123abcd --workers 8", "one batch, eight actors"),
    ],
    "settings": [
        ("videopipe settings", "every setting, and the provider and models chosen"),
        ("DATABASE_URL=sqlite:///v.db videopipe settings", "what a variable changes"),
    ],
}
"""Each command's examples: (command line, what it does)."""


def env_name(field: str) -> str:
    """The environment variable `Settings` reads `field` from."""
    alias = Settings.model_fields[field].validation_alias
    return str(alias.choices[0]).upper() if isinstance(alias, AliasChoices) else field.upper()


def _epilog(name: str) -> str:
    width = max(len(line) for line, _ in EXAMPLES[name])
    lines = [f"  $ {line:<{width}}  # {what}" for line, what in EXAMPLES[name]]
    return "examples:\n" + "\n".join(lines)


def _setting_help(option: str, text: str, default: object = None) -> str:
    field = SETTING_OPTIONS[option]
    if default is None:
        default = Settings.model_fields[field].default
    return f"{text} (default: {default}) [env: {env_name(field)}]"


def _common(suppress: bool) -> argparse.ArgumentParser:
    # Given after the command they must not be reset by the command's own
    # defaults, so the commands' copies default to "not given".
    default: Any = argparse.SUPPRESS if suppress else None
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--db", default=default, metavar="URL", help=_setting_help("--db", "store URL")
    )
    options.add_argument(
        "--data-dir",
        default=default,
        metavar="DIR",
        help=_setting_help("--data-dir", "root of the file layout"),
    )
    options.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=default,
        help="show more log lines: -v info, -vv debug (default: warnings and errors)",
    )
    options.add_argument(
        "--log-level",
        default=default,
        type=str.upper,
        choices=["CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"],
        metavar="LEVEL",
        help=_setting_help(
            "--log-level",
            "lowest level of the log lines shown",
            f"WARNING; the worker's: {Settings.model_fields['log_level'].default}",
        ),
    )
    options.add_argument(
        "--debug",
        action="store_true",
        default=default or False,
        help="show tracebacks on errors",
    )
    return options


def _add_json(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--json",
        action="store_true",
        help=f"print one JSON object per line ({what}); the fields are in the CLI guide",
    )


def _ray_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workers", type=int, default=2, help="Ray actors (default: 2)")
    parser.add_argument("--slots", type=int, default=1, help="videos per actor (default: 1)")
    parser.add_argument(
        "--num-cpus", type=float, default=1, help="CPUs each actor reserves (default: 1)"
    )
    parser.add_argument(
        "--num-gpus", type=float, default=0, help="GPUs each actor reserves (default: 0)"
    )
    parser.add_argument(
        "--address",
        help="the Ray cluster, such as auto or ray://head:10001 "
        "(default: RAY_ADDRESS, else a local one is started)",
    )
    parser.add_argument(
        "--pipeline",
        metavar="MODULE:FUNCTION",
        help="a function that takes the store and returns the Pipeline each actor runs "
        "(default: the default pipeline)",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        metavar="PORT",
        help="actor N serves /metrics and /healthz on PORT+N of its node (default: off)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_json(parser, "one summary")


def build_parser(handlers: dict[str, Handler]) -> argparse.ArgumentParser:
    """The argument parser of the `videopipe` command.

    Args:
        handlers: The coroutine function of each command, by name.
    """
    parser = argparse.ArgumentParser(
        prog="videopipe",
        description="Turn raw video into searchable, AI-analysed content.",
        parents=[_common(suppress=False)],
        epilog="examples:\n  $ videopipe process talk.mp4\n  $ videopipe search 'the budget'\n\n"
        "Run `videopipe COMMAND --help` for a command's options and examples.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {videopipe.__version__}")
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", help="one of these; COMMAND --help for more"
    )

    def command(
        name: str, help: str, into: Any = commands, full: str | None = None
    ) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = into.add_parser(
            name.split()[-1],
            help=help,
            description=textwrap.fill(help[0].upper() + help[1:] + ".", 88),
            epilog=_epilog(full or name),
            parents=[_common(True)],
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if (full or name) in handlers:
            sub.set_defaults(handler=handlers[full or name])
        return sub

    p = command("process", "process videos now, with a progress bar")
    p.add_argument("paths", nargs="+", metavar="PATH", help="video files to process")
    p.add_argument("--concurrency", type=int, default=2, help="videos at once (default: 2)")
    p.add_argument(
        "--force",
        nargs="*",
        metavar="STAGE",
        help="redo these stages (or 'all') even if they completed before",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--title",
        help="what search hits and reports call the video (one file; default: its file name)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the expected provider calls and cost of each video, and process nothing",
    )
    _add_json(p, "one per input")

    p = command("enqueue", "add videos to the job queue for workers")
    p.add_argument("paths", nargs="+", metavar="PATH", help="video files to queue")
    p.add_argument("--batch", action="store_true", help="enqueue them as one tracked batch")
    p.add_argument("--queue", default="default", help="queue name (default: 'default')")
    p.add_argument("--priority", type=int, default=0, help="higher runs first (default: 0)")

    p = command("worker", "run a worker until SIGTERM or SIGINT")
    p.add_argument("--concurrency", type=int, default=2, help="videos at once (default: 2)")
    p.add_argument("--queue", action="append", help="queue to serve (repeatable)")
    p.add_argument(
        "--http-port",
        type=int,
        help="serve /healthz, /jobs/peek, /stats, /metrics on this port (default: off; "
        f"[env: {env_name('worker_dev_http')}=1 with {env_name('worker_http_port')}])",
    )
    p.add_argument("--grace-period", type=float, default=30.0, help="seconds to finish on stop")
    p.add_argument("--json-logs", action="store_true", help="log JSON lines")

    p = command("status", "queue status, a batch's progress, or one video's stages")
    p.add_argument(
        "target",
        nargs="?",
        metavar="BATCH_OR_VIDEO",
        help="a batch ID (batch_...), or a video's file or ID; none for the whole queue",
    )
    _add_json(p, "one object")

    p = command("videos", "list the videos in the store, newest first")
    p.add_argument(
        "--status", choices=[s.value for s in VideoStatus], help="only videos in this state"
    )
    p.add_argument("--limit", type=int, default=100, help="at most this many (default: 100)")
    _add_json(p, "one per video")

    jobs = command("jobs", "peek at, replay or cancel jobs")
    actions = jobs.add_subparsers(
        dest="action", metavar="ACTION", required=True, help="what to do with the queue"
    )
    p = command("jobs peek", "list jobs in a state, next first", actions)
    p.add_argument(
        "--status",
        default="pending",
        choices=[s.value for s in JobStatus],
        help="which jobs (default: pending)",
    )
    p.add_argument("--limit", type=int, default=20, help="at most this many (default: 20)")
    p = command("jobs dead", "list the dead-letter queue with each job's error", actions)
    p.add_argument("--limit", type=int, default=20, help="at most this many (default: 20)")
    p = command("jobs replay", "put dead jobs back in the queue", actions)
    p.add_argument("job_id", nargs="?", metavar="JOB", help="the dead job to replay")
    p.add_argument("--all", action="store_true", help="replay every dead job")
    p = command("jobs cancel", "cancel a pending job", actions)
    p.add_argument("job_id", metavar="JOB", help="the pending job to cancel")

    p = command("search", "search transcripts and captions")
    p.add_argument("query", help="what to look for, in words")
    p.add_argument("-k", type=int, default=10, help="how many hits (default: 10)")
    p.add_argument(
        "--video",
        action="append",
        metavar="FILE_OR_ID",
        help="only this video, by its file or ID (repeatable)",
    )
    _add_json(p, "one per hit")

    p = command("report", "write a video's HTML report and storyboard PNG")
    p.add_argument("video", metavar="FILE_OR_ID", help="the video, by its file or its ID")
    p.add_argument("--out", metavar="DIR", help="where to write them (default: DATA_DIR/reports)")
    p.add_argument(
        "--player",
        action="store_true",
        help="add a video player of the local file, which the times and anchors seek",
    )

    ray = command("ray", "run the pipeline on a Ray cluster (pip install 'videopipe[ray]')")
    engines = ray.add_subparsers(
        dest="action", metavar="ACTION", required=True, help="what to run on the cluster"
    )
    p = command("ray process", "enqueue videos as a batch and process it on Ray", engines)
    p.add_argument("paths", nargs="+", metavar="PATH", help="video files to process")
    p.add_argument("--queue", default="default", help="queue name (default: 'default')")
    p.add_argument("--priority", type=int, default=0, help="higher runs first (default: 0)")
    _ray_options(p)
    p = command("ray drain", "work off queued jobs on Ray, alongside any workers", engines)
    p.add_argument("--batch", metavar="BATCH", help="stop when this batch is finished")
    p.add_argument("--queue", action="append", help="queue to claim from (repeatable)")
    _ray_options(p)

    command("stats", "queue, video and usage statistics as JSON")
    command("settings", "the configuration read from the environment, and the provider chosen")
    return parser
