"""Child processes of the object-storage tests: workers sharing only a database and a bucket.

Spawned (not forked), each with its own working directory, scratch directory
and environment, as a worker on another machine would be.
"""

from __future__ import annotations

import os
from typing import Any

import anyio

import videopipe as vp
from videopipe.storage import open_store
from videopipe.testing import FakeProvider


async def _drain(url: str, batch_id: str) -> int:
    async with open_store(url) as store:
        pipeline = vp.Pipeline.default(store=store, provider=FakeProvider())
        worker = vp.Worker(pipeline, concurrency=1, poll_interval=0.05, handle_signals=False)
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.run)
            # The batch's end is the stop condition; the poll only sets how soon it is seen.
            while True:
                if (await store.batch_status(batch_id)).state not in ("created", "running"):
                    break
                await anyio.sleep(0.05)
            worker.stop()
        return worker.completed


def worker(url: str, batch_id: str, env: dict[str, str], cwd: str, results: Any) -> None:
    """Run a `Worker` in `cwd` with `env` until the batch is finished; report jobs completed."""
    os.environ.update(env)
    os.chdir(cwd)
    try:
        results.put((cwd, anyio.run(_drain, url, batch_id)))
    except BaseException as exc:
        results.put((cwd, exc))
        raise


async def _run_one(db: str, source: str) -> None:
    async with open_store(db) as store:
        await vp.Pipeline.default(store=store, provider=FakeProvider()).run(source)


def run_one(db: str, source: str, env: dict[str, str], cwd: str) -> None:
    """Run one video through the default pipeline (the caller kills it part way)."""
    os.environ.update(env)
    os.chdir(cwd)
    anyio.run(_run_one, db, source)
