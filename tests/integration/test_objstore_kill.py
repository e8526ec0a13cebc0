"""A worker killed with kill -9 in the middle of an upload to the bucket: nothing half-made."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import anyio.to_thread
import pytest

import videopipe as vp
from tests.integration.objstore_processes import run_one
from tests.media.conftest import media  # noqa: F401 (fixture)
from tests.s3server import Bucket, HoldingProxy, aws_env
from videopipe._media import probe
from videopipe.storage import open_store
from videopipe.testing import FakeProvider


@pytest.mark.timeout(240)
async def test_a_worker_killed_mid_upload_leaves_no_half_object_and_the_retry_completes(
    media,  # noqa: F811
    bucket: Bucket,
    tmp_path: Path,
) -> None:
    """The object is absent (not partial), nothing records it, and a new run finishes the video."""
    bucket.fs.put_file(str(media["cuts.mp4"]), f"{bucket.name}/in/cuts.mp4")
    source, data = bucket.url("in", "cuts.mp4"), bucket.url("data")
    db = f"sqlite:///{tmp_path / 'videos.db'}"
    scratch = tmp_path / "scratch"
    proxy = HoldingProxy(bucket.endpoint, b"/normalized.mp4")
    env = {
        **aws_env(proxy.url),
        "DATA_DIR": data,
        "SCRATCH_DIR": str(scratch),
        "RUN_LEASE_SEC": "2",  # so that the retry need not wait long for the dead run's hold
    }
    home = tmp_path / "worker"
    home.mkdir()
    ctx = multiprocessing.get_context("spawn")
    child = ctx.Process(target=run_one, args=(db, source, env, str(home)), daemon=True)
    child.start()
    try:
        # A hang detector: the upload starts within seconds on an idle machine.
        assert await anyio.to_thread.run_sync(proxy.held.wait, 180), "the upload never started"
        child.kill()  # kill -9, mid-upload
        await anyio.to_thread.run_sync(child.join)
    finally:
        proxy.close()
        if child.is_alive():
            child.kill()

    video_id = await vp.video_id_for(media["cuts.mp4"])
    normalized = f"data/processed/{video_id}/normalized.mp4"
    assert normalized not in bucket.objects()  # not there at all, not half there
    stale = [p for p in scratch.iterdir() if p.is_dir()]
    assert stale  # the killed run's scratch directory, left behind by kill -9
    async with open_store(db) as store:
        video = await store.get_video(video_id)
        assert video.normalized_path is None
        runs = await store.get_stage_runs(video_id)
        assert runs["normalize"].status is not vp.StageStatus.DONE

        settings = vp.Settings(run_lease_sec=2, scratch_dir=scratch)
        pipeline = vp.Pipeline.default(
            store=store, provider=FakeProvider(), data_dir=data, settings=settings
        )
        result = await pipeline.run(source)
    assert result.ok
    assert result.video.normalized_path == bucket.url(normalized)
    assert (await store_runs(db, video_id))["normalize"].attempt == 2
    local = tmp_path / "normalized.mp4"
    bucket.fs.get_file(f"{bucket.name}/{normalized}", str(local))
    assert (await probe(local)).duration_sec == pytest.approx(8.0, abs=0.1)
    assert not any(p.exists() for p in stale)  # swept by the next process to use the scratch


async def store_runs(db: str, video_id: str) -> dict[str, vp.StageRun]:
    async with open_store(db) as store:
        return dict(await store.get_stage_runs(video_id))
