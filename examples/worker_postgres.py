"""Enqueue a batch into PostgreSQL, run two workers, watch the batch, print its results.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test python examples/worker_postgres.py

In production each worker is its own process (`videopipe worker`), on as many
machines as you like; here two run in one process to keep the example short.
"""

from __future__ import annotations

import os

import anyio
from _samples import samples

import videopipe as vp


async def main(db: str) -> int:
    made = samples()
    paths = [made[n] for n in ("cuts.mp4", "silent.mp4", "portrait.mp4", "text.mp4")]
    async with vp.open_store(db) as store:
        pipeline = vp.Pipeline.default(store=store, data_dir=os.environ.get("DATA_DIR", "data"))
        videos = [await pipeline.register(p) for p in paths]
        batch_id = await store.create_batch([v.id for v in videos], max_attempts=1)
        print(f"batch {batch_id}: {len(videos)} videos")
        workers = [
            vp.Worker(pipeline, concurrency=1, poll_interval=0.2, handle_signals=False)
            for _ in range(2)
        ]
        async with anyio.create_task_group() as tg:
            for worker in workers:
                tg.start_soon(worker.run)
            while True:
                status = await store.batch_status(batch_id)
                print(
                    f"  {status.state.value:<9} {status.percentage:5.1f}%  "
                    f"done={status.done} failed={status.failed} running={status.processing}"
                )
                if status.state.value in ("completed", "failed", "cancelled"):
                    break
                await anyio.sleep(1)
            for worker in workers:
                worker.stop()
        results = await store.batch_results(batch_id)
    print(f"Total: {results.total}, successful: {results.successful}, failed: {results.failed}")
    for item in results.failures:
        print(f"  FAILED {item.original_path}: {item.error}")
    return 0


if __name__ == "__main__":
    url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
    raise SystemExit(anyio.run(main, url))
