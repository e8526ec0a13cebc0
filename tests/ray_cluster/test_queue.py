"""A Ray run and a worker fleet share one job queue: a video done by either is never repaid."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

import videopipe as vp
from tests.ray_cluster.clips import make_clips
from tests.ray_cluster.pipelines import Default, runs
from videopipe import ray as vp_ray

pytestmark = pytest.mark.timeout(600)


async def test_ray_drains_a_batch_a_worker_started_and_repays_nothing(
    ray_cluster: str, pg_url: str, tmp_path: Path
) -> None:
    """A `Worker` finishes one video; `drain` of a batch of all three runs only the other two."""
    clips = make_clips(tmp_path / "clips", 3)
    side = tmp_path / "side"
    side.mkdir()
    factory = Default(side=str(side), data_dir=str(tmp_path / "data"))
    async with vp.open_store(pg_url) as store:
        pipeline = factory(store)
        videos = [await pipeline.register(clip) for clip in clips]
        first = await store.create_batch([videos[0].id])
        worker = vp.Worker(pipeline, concurrency=1, handle_signals=False, worker_id="fleet-1")
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.run)
            with anyio.fail_after(300):  # a hang detector
                while (await store.batch_status(first)).done < 1:  # noqa: ASYNC110
                    await anyio.sleep(0.05)
            worker.stop()
        assert runs(side, videos[0].id, "normalize") == 1
        batch = await store.create_batch([v.id for v in videos])

        result = await vp_ray.drain(
            store=pg_url, batch_id=batch, pipeline=factory, num_workers=2, progress=False
        )

        assert result.status is not None
        assert (result.status.done, result.status.total) == (3, 3)
        for video in videos:
            assert runs(side, video.id, "normalize") == 1
            assert runs(side, video.id, "hold-runs") == 1
            assert (await store.get_video(video.id)).status is vp.VideoStatus.READY
        done = await store.peek(10, status=vp.JobStatus.DONE)
        assert {j.worker_id for j in done if j.batch_id == first} == {"fleet-1"}
        by_ray = {j.worker_id for j in done if j.batch_id == batch}
        assert by_ray
        assert all(w is not None and w.startswith("videopipe-") for w in by_ray)
        assert (await store.stats()).counts["processing"] == 0
