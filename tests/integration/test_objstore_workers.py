"""Workers on "many machines": processes sharing only PostgreSQL and a bucket on an S3 server."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

import videopipe as vp
from tests.integration.objstore_processes import worker
from tests.media.conftest import media  # noqa: F401 (fixture)
from tests.s3server import Bucket, aws_env
from videopipe.storage import open_store
from videopipe.testing import FakeProvider

pytestmark = pytest.mark.integration

INPUTS = ("cuts.mp4", "silent.mp4", "portrait.mp4")


@pytest.mark.timeout(300)
async def test_two_workers_sharing_no_directory_process_a_batch_from_a_bucket(
    media,  # noqa: F811
    bucket: Bucket,
    pg_url: str,
    tmp_path: Path,
) -> None:
    """Every video done once, every artefact in the bucket, nothing left on either worker's disk."""
    for name in INPUTS:
        bucket.fs.put_file(str(media[name]), f"{bucket.name}/in/{name}")
    data = bucket.url("data")
    async with open_store(pg_url) as store:
        pipeline = vp.Pipeline.default(store=store, provider=FakeProvider(), data_dir=data)
        videos = [await pipeline.register(bucket.url("in", name)) for name in INPUTS]
        batch_id = await store.create_batch([v.id for v in videos], max_attempts=2)

    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    homes = [tmp_path / "machine-a", tmp_path / "machine-b"]
    processes = []
    for home in homes:
        home.mkdir()
        env = {
            **aws_env(bucket.endpoint),
            "DATA_DIR": data,
            "SCRATCH_DIR": str(home / "scratch"),
            "VIDEOPIPE_PROVIDER": "none",
        }
        processes.append(
            ctx.Process(target=worker, args=(pg_url, batch_id, env, str(home), results))
        )
    for process in processes:
        process.start()
    try:
        # A hang detector: two workers that have not finished three short videos in 240 s
        # are stuck, not slow.
        reports = dict(results.get(timeout=240) for _ in processes)
    finally:
        for process in processes:
            process.join(timeout=60)
            if process.is_alive():
                process.kill()
    assert not [r for r in reports.values() if isinstance(r, BaseException)], reports
    assert sum(reports.values()) == len(INPUTS)

    async with open_store(pg_url) as store:
        summary = await store.batch_results(batch_id)
        assert (summary.successful, summary.failed) == (len(INPUTS), 0)
        for video in videos:
            got = await store.get_video(video.id)
            assert got.status is vp.VideoStatus.READY
            assert got.normalized_path == f"{data}/processed/{video.id}/normalized.mp4"
            runs = await store.get_stage_runs(video.id)
            assert {r.attempt for r in runs.values()} == {1}  # nothing ran twice
    keys = bucket.objects()
    for video in videos:
        assert f"data/processed/{video.id}/normalized.mp4" in keys
    for home in homes:
        # No local DATA_DIR, and the scratch space removed at exit.
        assert sorted(p.name for p in home.iterdir()) in ([], ["scratch"])
        assert [p for p in (home / "scratch").rglob("*") if p.is_file()] == []
