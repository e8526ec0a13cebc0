"""The default pipeline end to end on generated videos: real FFmpeg, PySceneDetect, a fake AI."""

from __future__ import annotations

import json
from pathlib import Path

import anyio
import pytest

import videopipe as vp
from videopipe._media import ffmpeg_calls, probe
from videopipe.testing import FakeProvider, MemoryStore

FRAME = 1 / 30


def make(store: MemoryStore, provider: FakeProvider, data: Path) -> vp.Pipeline:
    return vp.Pipeline.default(
        store=store, provider=provider, data_dir=data, settings=vp.Settings(_env_file=None)
    )


async def rows(store: MemoryStore, video_id: str) -> dict[str, list[object]]:
    return {
        "scenes": list(await store.list_scenes(video_id)),
        "frames": [f.model_dump(exclude={"path"}) for f in await store.list_frames(video_id)],
        "segments": list(await store.list_segments(video_id)),
        "captions": list(await store.list_captions(video_id)),
        "embeddings": sorted(
            (e.owner_id, e.model) for e in store.embeddings.values() if e.video_id == video_id
        ),
    }


@pytest.mark.timeout(240)
async def test_a_video_runs_end_to_end_and_a_rerun_does_no_work(media, tmp_path: Path) -> None:
    store, provider = MemoryStore(), FakeProvider()
    pipeline = make(store, provider, tmp_path)
    result = await pipeline.run(media["cuts.mp4"])
    assert result.ok, result
    truth = json.loads(media["cuts.json"].read_text())
    vid = result.video_id
    scenes = await store.list_scenes(vid)
    assert len(scenes) == len(truth["cuts"]) + 1
    for scene, cut in zip(scenes[1:], truth["cuts"], strict=True):
        assert abs(scene.t_start - cut) <= 2 * FRAME
    frames = await store.list_frames(vid)
    assert [Path(f.path).name for f in frames] == [f"scene_{i:03d}.jpg" for i in range(4)]
    assert all([await anyio.Path(f.path).is_file() for f in frames])
    assert [f.duplicate_of for f in frames] == [None] * 4
    info = await probe(tmp_path / "processed" / vid / "normalized.mp4")
    assert (info.width, info.height, info.has_audio) == (320, 240, True)
    assert (tmp_path / "processed" / vid / "audio.wav").is_file()
    assert (tmp_path / "subs" / f"{vid}.srt").read_text().startswith("1\n00:00:00,000 --> ")
    assert len(await store.list_segments(vid)) == 4  # the fake says a sentence per 2 s
    assert provider.calls["caption"] == 4
    assert result.video.duration_sec == pytest.approx(8.0, abs=0.1)
    assert set(result.stages) == {
        "normalize", "transcribe", "scenes", "frames", "vision", "embeddings",
    }  # fmt: skip
    assert all(o.status is vp.StageStatus.DONE for o in result.stages.values())
    before = await rows(store, vid)

    calls, ai_calls = ffmpeg_calls(), sum(provider.calls.values())
    again = await pipeline.run(media["cuts.mp4"])
    assert again.ok
    assert all(o.resumed for o in again.stages.values())
    assert ffmpeg_calls() == calls  # no FFmpeg run
    assert sum(provider.calls.values()) == ai_calls  # no provider call
    assert await rows(store, vid) == before


async def test_repeated_scenes_are_captioned_once(media, tmp_path: Path) -> None:
    store, provider = MemoryStore(), FakeProvider()
    result = await make(store, provider, tmp_path).run(media["repeated.mp4"])
    truth = json.loads(media["repeated.json"].read_text())
    frames = await store.list_frames(result.video_id)
    expected = [None if d is None else frames[d].id for d in truth["duplicate_of"]]
    assert [f.duplicate_of for f in frames] == expected
    assert provider.calls["caption"] == 2
    captions = await store.list_captions(result.video_id)
    assert captions[2].caption == captions[0].caption


async def test_a_silent_video_skips_transcription(media, tmp_path: Path) -> None:
    store, provider = MemoryStore(), FakeProvider()
    result = await make(store, provider, tmp_path).run(media["silent.mp4"])
    assert result.ok
    assert result.stages["transcribe"].status is vp.StageStatus.SKIPPED
    assert result.video.has_audio is False
    assert provider.calls["transcribe"] == 0


@pytest.mark.timeout(240)
async def test_bad_files_fail_alone_in_a_batch(media, tmp_path: Path) -> None:
    store, provider = MemoryStore(), FakeProvider()
    names = ["cuts.mp4", "empty.mp4", "text.mp4", "truncated.mp4", "silent.mp4", "missing.mp4"]
    paths = [media.get(n, tmp_path / n) for n in names]
    results = await make(store, provider, tmp_path).run_many(paths, concurrency=3)
    assert [r.ok for r in results] == [True, False, False, False, True, False]
    assert isinstance(results[1], vp.Err)
    assert isinstance(results[1].error, vp.EmptyInput)
    assert isinstance(results[5], vp.Err)
    assert isinstance(results[5].error, vp.InputNotFound)
    for index, kind in ((2, vp.NotAVideo), (3, vp.CorruptMedia)):
        err = results[index]
        assert isinstance(err, vp.Err)
        assert isinstance(err.error, vp.StageError)
        assert err.error.stage == "normalize"
        assert isinstance(err.error.__cause__, kind)
        assert str(paths[index]) in str(err.error)
    failed = await store.list_videos(status=vp.VideoStatus.FAILED)
    assert len(failed) == 2  # text.mp4 and truncated.mp4 were registered, then failed
    assert len(await store.list_videos(status=vp.VideoStatus.READY)) == 2


@pytest.mark.timeout(240)
async def test_cancelled_mid_stage_then_rerun_gives_the_same_rows(media, tmp_path: Path) -> None:
    reference_store = MemoryStore()
    reference = await make(reference_store, FakeProvider(), tmp_path / "a").run(media["cuts.mp4"])
    expected = await rows(reference_store, reference.video_id)

    store = MemoryStore()
    slow = FakeProvider(delay=30)
    pipeline = make(store, slow, tmp_path / "b")
    async with anyio.create_task_group() as tg:
        tg.start_soon(pipeline.run, media["cuts.mp4"])
        for _ in range(1000):  # until the AI stages are mid-flight
            if slow.calls["caption"]:
                break
            await anyio.sleep(0.01)
        tg.cancel_scope.cancel()
    [video] = await store.list_videos()
    runs = await store.get_stage_runs(video.id)
    assert runs["vision"].error == "cancelled"
    slow.delay = 0
    result = await pipeline.run(media["cuts.mp4"])
    assert result.ok
    assert await rows(store, result.video_id) == expected
