"""`videopipe.ray` on a real two-node Ray cluster: results as a local run writes them."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

import videopipe as vp
from tests.ray_cluster.clips import make_clips
from tests.ray_cluster.pipelines import Default, runs
from videopipe import ray as vp_ray
from videopipe._cli import main

pytestmark = pytest.mark.timeout(600)

STAGES = ("normalize", "transcribe", "scenes", "frames", "vision", "embeddings", "hold")


async def test_process_writes_what_a_local_run_writes_and_a_second_run_pays_nothing(
    ray_cluster: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two actors on two raylets; then every video is ready, searchable, and a re-run is free."""
    clips = make_clips(tmp_path / "clips", 3)
    side = tmp_path / "side"
    side.mkdir()
    url = f"sqlite:///{tmp_path / 'videos.db'}"
    factory = Default(side=str(side), data_dir=str(tmp_path / "data"))

    run = await vp_ray.process(clips, store=url, pipeline=factory, num_workers=2, progress=False)

    assert run.completed == 3
    assert run.failed == 0
    assert run.status is not None
    assert (run.status.done, run.status.total) == (3, 3)
    assert len(set(run.actors.values())) == 2  # two actor processes
    for text in run.metrics.values():
        assert "videopipe_jobs_total" in text
    done = sum(
        float(line.rsplit(" ", 1)[1])
        for text in run.metrics.values()
        for line in text.splitlines()
        if line.startswith('videopipe_jobs_total{outcome="completed"')
    )
    assert done == 3
    async with vp.open_store(url) as store:
        videos = await store.list_videos()
        assert sorted(v.status for v in videos) == [vp.VideoStatus.READY] * 3
        for video in videos:
            assert runs(side, video.id, "normalize") == 1
            stages = set(await store.get_stage_runs(video.id))
            assert set(STAGES) <= stages
            assert await store.list_scenes(video.id)
            normalized = anyio.Path(tmp_path / "data" / "processed" / video.id / "normalized.mp4")
            assert await normalized.exists()
        stats = await store.stats()
        assert stats.counts["processing"] == 0
        assert stats.counts["pending"] == 0

    capsys.readouterr()
    again = await vp_ray.process(clips, store=url, pipeline=factory, num_workers=2, progress=True)

    assert again.completed == 3
    assert "3/3" in capsys.readouterr().err  # the driver's progress bar, over videos
    async with vp.open_store(url) as store:
        for video in await store.list_videos():
            assert runs(side, video.id, "normalize") == 1
            assert runs(side, video.id, "hold-runs") == 1


def test_the_cli_runs_the_default_pipeline_with_the_local_provider(
    ray_cluster: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch
) -> None:
    """`videopipe ray process`: the default stages and LocalProvider models, once per actor."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "DATABASE_URL", "DATA_DIR"):
        monkeypatch.delenv(name, raising=False)
    clips = make_clips(tmp_path / "clips", 2)
    db = tmp_path / "videos.db"
    argv = ["ray", "process", "--db", f"sqlite:///{db}", "--data-dir", str(tmp_path / "data")]
    argv += ["--address", ray_cluster, "--workers", "2", "--json", *map(str, clips)]

    assert main(argv) == 0

    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["completed"] == 2
    assert summary["dead"] == 0

    async def check() -> None:
        async with vp.open_store(f"sqlite:///{db}") as store:
            videos = await store.list_videos()
            assert sorted(v.status for v in videos) == [vp.VideoStatus.READY] * 2
            for video in videos:
                assert await store.list_frames(video.id)
                assert await store.list_captions(video.id)  # by LocalProvider's vision
                stages = await store.get_stage_runs(video.id)
                assert {"normalize", "transcribe", "vision", "embeddings"} <= set(stages)
            usage = await store.usage_summary()
            assert usage.requests > 0

    anyio.run(check)
