"""Code that runs in child processes (spawned: each opens its own store, as a real worker does)."""

from __future__ import annotations

import multiprocessing
from typing import Any

import anyio
import anyio.to_thread

from videopipe._models import Video
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
        reports = dict(results.get(timeout=timeout) for _ in processes)
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
    for name, value in reports.items():
        if isinstance(value, BaseException):
            raise AssertionError(f"{name} failed: {value!r}") from value
    return reports
