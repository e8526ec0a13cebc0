"""Hostile values: stored exactly or refused clearly, alike in every backend, never injected."""

from __future__ import annotations

import os

import pytest

from tests.conformance import records
from videopipe import ConfigurationError, NotFound
from videopipe._models import (
    FrameCaption,
    JobStatus,
    StageRun,
    StageStatus,
    Usage,
    caption_id,
    frame_id,
    segment_id,
)

NASTY = [
    'it\'s a "quoted" `thing`',
    "100% of 50%% %s %(name)s {0} $1 ?",
    "'; DROP TABLE jobs; --",
    "Robert'); DELETE FROM videos WHERE ('1'='1",
    "\\ backslash \\\\ and \\x00 as text",
    "émoji 🎬 中文 עברית \u200b\u2028\ufeff",
    "tab\tnew\nline\r\n",
]


async def test_nasty_text_round_trips_exactly(store) -> None:
    await store.upsert_video(records.video("talk"))
    await store.save_segments("talk", records.segments("talk", NASTY))
    assert [s.text for s in await store.list_segments("talk")] == NASTY
    await store.save_captions("talk", records.captions("talk", NASTY))
    stored = await store.list_captions("talk")
    assert [c.caption for c in stored] == NASTY
    caption = stored[0].model_copy(
        update={"entities": NASTY, "controls": NASTY, "ocr_text": NASTY[2]}
    )
    await store.save_captions("talk", [caption])
    assert await store.list_captions("talk") == [caption]
    # Tables are all still there, with their rows.
    assert (await store.get_video("talk")).id == "talk"
    assert await store.stats()


async def test_nasty_names_round_trip_in_queues_workers_stages_and_errors(store) -> None:
    await store.upsert_video(records.video("talk"))
    for i, name in enumerate(NASTY):
        await store.record_stage_run(
            StageRun(
                video_id="talk",
                stage=name,
                status=StageStatus.FAILED,
                error=name,
                detail={name: [name]},
            )
        )
        job = await store.enqueue("talk", queue=name, priority=i, unique=False)
        [claimed] = await store.claim(name, queues=[name])
        assert claimed.id == job.id
        assert claimed.worker_id == name
        failed = await store.fail(job.id, name, name)
        assert failed.last_error == name
    runs = await store.get_stage_runs("talk")
    assert set(runs) == set(NASTY)
    assert all(runs[n].error == n and runs[n].detail == {n: [n]} for n in NASTY)
    await store.record_usage(
        Usage(
            video_id="talk",
            stage=NASTY[2],
            provider=NASTY[0],
            model=NASTY[1],
            job_id=NASTY[2],
            requests=1,
        )
    )
    assert (await store.usage_summary(job_id=NASTY[2])).requests == 1
    await store.put_cached({n: n for n in NASTY})
    assert await store.get_cached(NASTY) == {n: n for n in NASTY}


async def test_lookups_by_injection_strings_find_nothing(store) -> None:
    await store.upsert_video(records.video("talk"))
    await store.enqueue("talk")
    for key in [*NASTY, "talk' OR '1'='1", "%", "_", "*"]:
        with pytest.raises(NotFound):
            await store.get_video(key)
        with pytest.raises(NotFound):
            await store.get_job(key)
        with pytest.raises(NotFound):
            await store.batch_status(key)
        assert await store.list_segments(key) == []
        assert await store.get_stage_runs(key) == {}
        assert not await store.complete(key, key)
        assert await store.replay(key) == 0
        assert await store.search([1.0], model=key) == []
    assert [v.id for v in await store.list_videos()] == ["talk"]
    assert len(await store.peek()) == 1


async def test_very_long_text_round_trips(store) -> None:
    long = ("a slide about the budget; " * 4000)[:100_000] + "🎬"
    await store.upsert_video(records.video("talk"))
    await store.save_segments("talk", records.segments("talk", [long]))
    [segment] = await store.list_segments("talk")
    assert segment.text == long
    job = await store.enqueue("talk")
    await store.claim("w")
    failed = await store.fail(job.id, "w", long)
    assert failed.last_error == long
    assert (await store.get_job(job.id)).last_error == long


NON_UTF8 = [
    os.fsdecode(b"\xff\xfe.mp4"),
    os.fsdecode(b"/videos/caf\xe9 (latin-1).mp4"),
    os.fsdecode(b"/videos/ok \xc3\xa9 then bad \x80\x81.mkv"),
]


@pytest.mark.parametrize("path", NON_UTF8, ids=["ff-fe", "latin-1", "mixed"])
async def test_non_utf8_file_names_round_trip_exactly(store, path: str) -> None:
    """A file whose name is not UTF-8 is a real file on Linux: its path must come back exact."""
    stored = await store.upsert_video(
        records.video("odd", normalized_path=path + ".norm", audio_path=path + ".wav").model_copy(
            update={"original_path": path}
        )
    )
    assert stored.original_path == path
    video = await store.get_video("odd")
    assert (video.original_path, video.normalized_path, video.audio_path) == (
        path, path + ".norm", path + ".wav",
    )  # fmt: skip
    assert os.fsencode(video.original_path) == os.fsencode(path)
    [listed] = await store.list_videos()
    assert listed.original_path == path

    frame = records.frames("odd", 1)[0].model_copy(update={"path": path})
    await store.save_scenes("odd", records.scenes("odd", 1))
    await store.save_frames("odd", [frame])
    assert (await store.list_frames("odd"))[0].path == path
    await store.save_captions("odd", records.captions("odd", ["x"]))
    await store.save_embeddings(
        [records.embedding(caption_id(frame_id("odd", 0)), "odd", "caption", [1.0, 0.0])]
    )
    [hit] = await store.search([1.0, 0.0], model="m")
    assert hit.frame_path == path

    batch_id = await store.create_batch(["odd"])
    [item] = (await store.batch_results(batch_id)).items
    assert item.original_path == path


async def test_a_path_that_names_no_file_is_refused(store) -> None:
    with pytest.raises(ConfigurationError, match="not a file name"):
        await store.upsert_video(
            records.video("x").model_copy(update={"original_path": "a\ud800b"})
        )


@pytest.mark.parametrize(
    "bad", ["nul \x00 inside", "lone \udcff surrogate"], ids=["nul", "surrogate"]
)
async def test_text_no_backend_can_store_is_refused_before_writing(store, bad: str) -> None:
    """PostgreSQL text cannot hold NUL or lone surrogates: every backend refuses them alike."""
    await store.upsert_video(records.video("talk"))
    good = records.segments("talk", ["fine"])
    await store.save_segments("talk", good)
    with pytest.raises(ConfigurationError, match="cannot be stored"):
        await store.save_segments("talk", records.segments("talk", ["ok", bad]))
    assert await store.list_segments("talk") == good  # nothing was written
    with pytest.raises(ConfigurationError):
        await store.save_captions("talk", records.captions("talk", [bad]))
    with pytest.raises(ConfigurationError):
        await store.record_stage_run(StageRun(video_id="talk", stage=bad, status=StageStatus.DONE))
    with pytest.raises(ConfigurationError):
        await store.enqueue("talk", queue=bad)
    with pytest.raises(ConfigurationError):
        await store.claim(bad)
    with pytest.raises(ConfigurationError):
        await store.record_usage(Usage(video_id="talk", stage="s", provider="p", model=bad))
    assert await store.peek() == []


async def test_errors_are_escaped_not_refused(store) -> None:
    """Recording a failure must never fail: NUL and lone surrogates in errors are escaped."""
    path = os.fsdecode(b"/in/\xff.mp4")
    error = f"cannot open {path}: \x00 garbage"
    escaped = "cannot open /in/\\udcff.mp4: \\x00 garbage"
    await store.upsert_video(records.video("talk"))
    job = await store.enqueue("talk")
    await store.claim("w")
    assert (await store.fail(job.id, "w", error)).last_error == escaped
    assert (await store.get_job(job.id)).last_error == escaped
    await store.set_video_status("talk", "failed", error=error)
    assert (await store.get_video("talk")).error == escaped
    run = StageRun(video_id="talk", stage="normalize", status=StageStatus.FAILED, error=error)
    await store.record_stage_run(run)
    assert (await store.get_stage_runs("talk"))["normalize"].error == escaped
    caption = FrameCaption(id="c", video_id="talk", frame_id="f", t=0.0, caption="", error=error)
    await store.save_captions("talk", [caption])
    assert (await store.list_captions("talk"))[0].error == escaped
    upserted = await store.upsert_video(records.video("talk", error=error))
    assert upserted.error == escaped


async def test_keys_no_backend_can_store_are_simply_not_found(store) -> None:
    await store.upsert_video(records.video("talk"))
    job = await store.enqueue("talk")
    await store.claim("w")
    for key in ("a\x00b", "a\udcffb"):
        with pytest.raises(NotFound):
            await store.get_video(key)
        with pytest.raises(NotFound):
            await store.get_job(key)
        with pytest.raises(NotFound):
            await store.cancel(key)
        with pytest.raises(NotFound):
            await store.enqueue(key)
        with pytest.raises(NotFound):
            await store.create_batch([key])
        with pytest.raises(NotFound):
            await store.save_segments(key, [])
        assert not await store.heartbeat(job.id, key)
        assert not await store.complete(key, "w")
        assert await store.fail(job.id, key, "x") is None
        assert await store.find_embeddings([key], model="m") == {}
        assert await store.search([1.0], model="m", video_ids=[key]) == []
        assert await store.usage_summary(video_id=key) == await store.usage_summary(video_id="none")
    assert (await store.get_job(job.id)).status is JobStatus.PROCESSING


async def test_nan_is_refused(store) -> None:
    await store.upsert_video(records.video("talk"))
    [scene] = records.scenes("talk", 1)
    with pytest.raises(ConfigurationError, match="NaN"):
        await store.save_scenes("talk", [scene.model_copy(update={"t_end": float("nan")})])
    with pytest.raises(ConfigurationError, match="NaN"):
        await store.upsert_video(records.video("talk", duration_sec=float("nan")))
    assert (await store.get_video("talk")).duration_sec is None


async def test_segment_ids_with_odd_characters_are_plain_data(store) -> None:
    await store.upsert_video(records.video("talk"))
    [segment] = records.segments("talk", ["x"])
    odd = segment.model_copy(update={"id": "talk_segment_000'; DROP TABLE transcript_segments; --"})
    await store.save_segments("talk", [odd])
    assert await store.list_segments("talk") == [odd]
    assert segment_id("talk", 0) != odd.id


async def test_a_huge_queue_name_is_refused_the_same_way_everywhere(store) -> None:
    """105 kB worked on SQLite and failed on PostgreSQL (its index row limit): now refused."""
    await store.upsert_video(records.video("talk"))
    huge = "q" * 105_000
    with pytest.raises(ConfigurationError, match="queue name"):
        await store.enqueue("talk", queue=huge)
    with pytest.raises(ConfigurationError, match="queue name"):
        await store.claim("w", queues=[huge])
    with pytest.raises(ConfigurationError, match="queue name"):
        await store.create_batch(["talk"], queue=huge)
    longest = "q" * 200
    job = await store.enqueue("talk", queue=longest)
    [claimed] = await store.claim("w", queues=[longest])
    assert (claimed.id, claimed.queue) == (job.id, longest)
