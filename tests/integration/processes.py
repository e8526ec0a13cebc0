"""Code that runs in child processes (spawned: each opens its own store, as a real worker does)."""

from __future__ import annotations

import multiprocessing
import tempfile
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from videopipe import Pipeline, Settings, StageContext, process_batch
from videopipe._models import TranscriptSegment, Video
from videopipe.providers import OpenAIProvider
from videopipe.stages import Embed
from videopipe.storage import open_store


async def _drain(url: str, worker: str, limit: int, barrier: Any) -> list[str]:
    claimed: list[str] = []
    async with open_store(url) as store:
        await store.stats()  # connected (and migrated) before the race starts
        await anyio.to_thread.run_sync(barrier.wait)
        while jobs := await store.claim(worker, limit=limit, lease=120):
            # Completed together, as a worker running several jobs does (they coalesce).
            async with anyio.create_task_group() as tg:
                for job in jobs:
                    tg.start_soon(_complete, store, job.id, worker)
            claimed.extend(job.id for job in jobs)
    return claimed


async def _complete(store: Any, job_id: str, worker: str) -> None:
    if not await store.complete(job_id, worker):
        raise AssertionError(f"{worker} lost {job_id}")


def claimer(url: str, worker: str, limit: int, barrier: Any, results: Any) -> None:
    """Claim and complete jobs until none is left; report the IDs claimed."""
    try:
        results.put((worker, anyio.run(_drain, url, worker, limit, barrier)))
    except BaseException as exc:
        results.put((worker, exc))
        raise


async def _first_use(url: str, video_id: str, barrier: Any) -> None:
    await anyio.to_thread.run_sync(barrier.wait)
    async with open_store(url) as store:
        await store.upsert_video(Video(id=video_id, original_path=f"{video_id}.mp4"))


def first_user(url: str, video_id: str, barrier: Any, results: Any) -> None:
    """Open a store on a database nobody has used yet, all at once with others."""
    try:
        anyio.run(_first_use, url, video_id, barrier)
        results.put((video_id, None))
    except BaseException as exc:
        results.put((video_id, exc))
        raise


def run_all(target: Any, argument_lists: list[tuple[Any, ...]], timeout: float) -> dict[str, Any]:
    """Start one spawned process per argument list, released together; collect their reports."""
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(len(argument_lists))
    results = ctx.Queue()
    processes = [
        ctx.Process(target=target, args=(*args, barrier, results), daemon=True)
        for args in argument_lists
    ]
    for process in processes:
        process.start()
    try:
        # Read before joining: a child blocks at exit until its queued report is read.
        # `timeout` is what an idle machine needs; a loaded one gets four times that.
        reports = dict(results.get(timeout=timeout * 4) for _ in processes)
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
    for name, value in reports.items():
        if isinstance(value, BaseException):
            raise AssertionError(f"{name} failed: {value!r}") from value
    return reports


WARM_UP = "warm-up request, not counted"
"""The text of a worker's warm-up request (`OpenAIServer(quiet=WARM_UP)` leaves it out)."""


class _Segment:
    """Stands in for transcription: one transcript segment, whose text names the video."""

    name = "transcribe"
    requires = ()

    async def run(self, ctx: StageContext) -> None:
        segment = TranscriptSegment(
            id=f"{ctx.video.id}_segment_000", video_id=ctx.video.id, idx=0, t_start=0.0,
            t_end=1.0, text=f"what {ctx.video.id} says",
        )  # fmt: skip
        await ctx.store.save_segments(ctx.video.id, [segment])


class _NoVision:
    name = "vision"
    requires = ()

    async def run(self, ctx: StageContext) -> None:
        return None


async def _embed_videos(
    url: str, base_url: str, worker: str, videos: int, rpm: float, window: float, barrier: Any
) -> list[str]:
    settings = Settings(provider_rpm=rpm, provider_rate_window_sec=window, _env_file=None)
    with tempfile.TemporaryDirectory(prefix="videopipe-rate-") as tmp:
        source = Path(tmp) / "v.mp4"
        source.write_bytes(b"video")
        async with (
            open_store(url) as store,
            OpenAIProvider(api_key="test", base_url=base_url) as provider,
        ):
            pipeline = Pipeline(
                [_Segment(), _NoVision(), Embed()],
                store=store,
                provider=provider,
                data_dir=Path(tmp) / "data",
                settings=settings,
            )
            await store.stats()  # connected (and migrated) before the race starts
            # The first request of a process loads the SDK's modules and opens a
            # connection, which can hold requests back past their turn: not measured.
            await provider.embed([WARM_UP])
            await anyio.to_thread.run_sync(barrier.wait)

            async def one(video_id: str) -> str:
                result = await pipeline.run(source, video_id=video_id)
                if not result.ok:
                    raise AssertionError(f"{video_id}: {result.error}")
                return video_id

            ids = [f"{worker}v{i:02d}" for i in range(videos)]
            results = await process_batch(ids, one, concurrency=videos)
            return [r.unwrap() for r in results]


def embedder(
    url: str,
    base_url: str,
    worker: str,
    videos: int,
    rpm: float,
    window: float,
    barrier: Any,
    results: Any,
) -> None:
    """Run `videos` videos whose only provider request is one embedding, under a shared limit."""
    try:
        done = anyio.run(_embed_videos, url, base_url, worker, videos, rpm, window, barrier)
        results.put((worker, done))
    except BaseException as exc:
        results.put((worker, exc))
        raise
