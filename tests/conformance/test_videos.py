"""Videos and stage runs: upserts by ID, newest first, statuses, errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import anyio
import pydantic
import pytest

import videopipe as vp
from tests.conformance.records import video
from videopipe import ConfigurationError, NotFound
from videopipe._models import StageRun, StageStatus, Video, VideoStatus
from videopipe._progress import stored_progress


async def test_upserting_a_video_twice_keeps_one_copy_and_its_creation_time(store) -> None:
    """A re-run writes the same video again: one row, `created_at` from the first write."""
    first = await store.upsert_video(video("talk"))
    assert first == await store.get_video("talk")
    await anyio.sleep(0.002)
    second = await store.upsert_video(video("talk", status=VideoStatus.PROCESSING, width=1280))
    assert second.created_at == first.created_at
    assert second.updated_at > first.updated_at
    assert second.width == 1280
    assert await store.get_video("talk") == second
    assert [v.id for v in await store.list_videos()] == ["talk"]


async def test_every_field_of_a_video_round_trips(store) -> None:
    created = datetime(2024, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)
    original = Video(
        id="v-1.2_x",
        original_path="/data/in/v 1.mp4",
        title="Q3 all-hands: “Budget” — 日本",
        normalized_path="processed/v-1.2_x/normalized.mp4",
        audio_path="processed/v-1.2_x/audio.wav",
        duration_sec=61.25,
        width=1280,
        height=720,
        has_audio=False,
        status=VideoStatus.FAILED,
        error="no audio",
        created_at=created,
        updated_at=created + timedelta(seconds=1),
    )
    stored = await store.upsert_video(original)
    assert stored == original
    fetched = await store.get_video("v-1.2_x")
    assert fetched == original
    assert fetched.created_at.tzinfo is not None
    assert fetched.created_at.utcoffset() == timedelta(0)


async def test_naive_timestamps_are_taken_as_utc(store) -> None:
    naive = datetime(2024, 1, 2, 3, 4, 5)
    stored = await store.upsert_video(video("naive", created_at=naive, updated_at=naive))
    assert stored.created_at == naive.replace(tzinfo=UTC)
    assert (await store.get_video("naive")).created_at == naive.replace(tzinfo=UTC)


async def test_an_unknown_video_is_not_found(store) -> None:
    with pytest.raises(NotFound, match="no video with id 'nope'"):
        await store.get_video("nope")
    with pytest.raises(KeyError):  # NotFound is also a KeyError
        await store.get_video("nope")
    with pytest.raises(NotFound):
        await store.set_video_status("nope", VideoStatus.READY)


async def test_list_videos_is_newest_first_filtered_and_limited(store) -> None:
    base = datetime(2024, 1, 1, tzinfo=UTC)
    for i in range(5):
        status = VideoStatus.READY if i % 2 else VideoStatus.PENDING
        await store.upsert_video(
            video(f"v{i}", created_at=base + timedelta(minutes=i), status=status)
        )
    assert [v.id for v in await store.list_videos()] == ["v4", "v3", "v2", "v1", "v0"]
    assert [v.id for v in await store.list_videos(limit=2)] == ["v4", "v3"]
    assert [v.id for v in await store.list_videos(status=VideoStatus.READY)] == ["v3", "v1"]
    assert await store.list_videos(limit=0) == []
    with pytest.raises(ConfigurationError):
        await store.list_videos(limit=-1)


async def test_count_videos_has_every_status(store) -> None:
    assert await store.count_videos() == {s.value: 0 for s in VideoStatus}
    await store.upsert_video(video("a"))
    await store.upsert_video(video("b", status=VideoStatus.READY))
    await store.upsert_video(video("c", status=VideoStatus.READY))
    counts = await store.count_videos()
    assert counts == {"pending": 1, "processing": 0, "ready": 2, "failed": 0}


async def test_set_video_status_records_and_clears_the_error(store) -> None:
    await store.upsert_video(video("talk"))
    await store.set_video_status("talk", VideoStatus.FAILED, error="ffmpeg: corrupt stream")
    failed = await store.get_video("talk")
    assert (failed.status, failed.error) == (VideoStatus.FAILED, "ffmpeg: corrupt stream")
    await store.set_video_status("talk", VideoStatus.READY)
    ready = await store.get_video("talk")
    assert (ready.status, ready.error) == (VideoStatus.READY, None)
    assert ready.updated_at >= failed.updated_at


def test_hostile_video_ids_are_rejected_by_the_record() -> None:
    """IDs become file names under DATA_DIR: `../` and friends never reach a store."""
    for bad in ["../etc", "a/b", "", ".hidden", "a..b", "x" * 129, "naïve", "a b"]:
        with pytest.raises(pydantic.ValidationError):
            Video(id=bad, original_path="x.mp4")


async def test_stage_runs_are_one_per_stage_and_replaced(store) -> None:
    await store.upsert_video(video("talk"))
    started = datetime(2024, 3, 1, tzinfo=UTC)
    running = StageRun(
        video_id="talk", stage="scenes", status=StageStatus.RUNNING, started_at=started
    )
    await store.record_stage_run(running)
    await store.record_stage_run(running)
    done = running.model_copy(
        update={
            "status": StageStatus.DONE,
            "finished_at": started + timedelta(seconds=3),
            "duration_sec": 3.0,
            "detail": {"scenes": 12, "detector": "adaptive", "nested": {"ok": [1, 2.5, None]}},
        }
    )
    await store.record_stage_run(done)
    other = StageRun(
        video_id="talk", stage="frames", status=StageStatus.FAILED, attempt=2, error="disk full"
    )
    await store.record_stage_run(other)
    runs = await store.get_stage_runs("talk")
    assert set(runs) == {"scenes", "frames"}
    assert runs["scenes"] == done
    assert runs["frames"] == other
    assert await store.get_stage_runs("other") == {}


async def test_a_stage_run_needs_its_video(store) -> None:
    with pytest.raises(NotFound):
        await store.record_stage_run(
            StageRun(video_id="ghost", stage="scenes", status=StageStatus.DONE)
        )


async def test_stage_run_detail_must_be_json(store) -> None:
    await store.upsert_video(video("talk"))
    run = StageRun(video_id="talk", stage="x", status=StageStatus.DONE, detail={"p": object()})
    with pytest.raises(ConfigurationError, match="JSON"):
        await store.record_stage_run(run)
    nan = StageRun(video_id="talk", stage="x", status=StageStatus.DONE, detail={"p": float("nan")})
    with pytest.raises(ConfigurationError):
        await store.record_stage_run(nan)
    tuples = StageRun(video_id="talk", stage="x", status=StageStatus.DONE, detail={"p": (1, 2)})
    await store.record_stage_run(tuples)
    assert (await store.get_stage_runs("talk"))["x"].detail == {"p": [1, 2]}


async def test_a_running_stage_s_progress_is_read_back_from_any_store(store, tmp_path) -> None:
    """What a run records while a stage runs, another process reads: the stage and percent."""
    gate, reached = anyio.Event(), anyio.Event()

    class Halfway:
        name = "work"
        requires = ("first",)

        async def run(self, ctx: vp.StageContext) -> dict[str, int]:
            ctx.report_progress(30.0, 60.0)
            reached.set()
            await gate.wait()
            return {"n": 1}

    class First:
        name = "first"
        requires = ()

        async def run(self, ctx: vp.StageContext) -> None:
            return None

    path = tmp_path / "v.mp4"
    path.write_bytes(b"video")
    pipeline = vp.Pipeline([First(), Halfway()], store=store, data_dir=tmp_path)
    registered = await pipeline.register(path)
    async with anyio.create_task_group() as tg:
        tg.start_soon(pipeline.run, registered)
        await reached.wait()
        with anyio.fail_after(10):  # a hang detector: the write follows the report
            while True:
                progress = stored_progress(registered.id, await store.get_stage_runs(registered.id))
                if progress.running and progress.running[0].percent == 50.0:
                    break
                await anyio.sleep(0.005)
        assert (progress.stage, progress.percent, progress.total) == ("work", 75.0, 2)
        gate.set()
    runs = await store.get_stage_runs(registered.id)
    assert runs["work"].status is StageStatus.DONE
    assert runs["work"].detail == {"n": 1}
