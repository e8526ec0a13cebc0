"""Checked by mypy, never run: pins the public generics so a refactor cannot loosen them."""

from __future__ import annotations

from typing import assert_type

import anyio

import videopipe as vp


async def double(x: int) -> int:
    return 2 * x


async def check_process_batch() -> None:
    results = await vp.process_batch([1, 2, 3], double, concurrency=2)
    assert_type(results, list[vp.Ok[int] | vp.Err])
    for r in results:
        if isinstance(r, vp.Ok):
            assert_type(r.value, int)
        else:
            assert_type(r.error, Exception)
        match r:
            case vp.Ok(value):
                assert_type(value, int)
            case vp.Err(error):
                assert_type(error, Exception)


async def check_stream_batch() -> None:
    async with vp.stream_batch(range(3), double, stop=anyio.Event()) as stream:
        async for index, result in stream:
            assert_type(index, int)
            assert_type(result, vp.Ok[int] | vp.Err)


def check_blocking() -> None:
    assert_type(vp.process_batch_blocking([1], double), list[vp.Ok[int] | vp.Err])
    assert_type(vp.run_blocking(double, 2), int)


def check_progress(p: vp.Progress) -> None:
    done, total, failed = p
    assert_type(done, int)
    assert_type(total, int | None)
    assert_type(failed, int)
    assert_type(p.completed, float)
    assert_type(p.percent, float | None)
    for run in p.running:
        assert_type(run, vp.RunProgress)
        assert_type(run.fraction, float)
        assert_type(run.stage, str | None)
        for stage in run.running:
            assert_type(stage.percent, float | None)


def check_storage_protocols(
    memory: vp.storage.MemoryStore, sqlite: vp.storage.SQLiteStore, pg: vp.storage.PostgresStore
) -> None:
    stores: list[vp.storage.Store] = [memory, sqlite, pg]
    results: list[vp.storage.Results] = [*stores]
    vectors: list[vp.storage.Vectors] = [*stores]
    queues: list[vp.storage.JobQueue] = [*stores]
    assert_type(vp.open_store("memory://"), vp.Store)
    del results, vectors, queues


def check_blocking_store(store: vp.Store) -> None:
    with vp.BlockingStore("sqlite:///videos.db") as blocking:
        assert_type(blocking, vp.BlockingStore)
        assert_type(blocking.list_scenes("v"), list[vp.Scene])
        assert_type(blocking.list_segments("v"), list[vp.TranscriptSegment])
        assert_type(blocking.list_captions("v"), list[vp.FrameCaption])
        assert_type(blocking.get_video("v"), vp.Video)
        assert_type(blocking.usage_summary(video_id="v"), vp.UsageSummary)
        assert_type(blocking.search("budget", k=3), list[vp.SearchHit])
    assert_type(vp.BlockingStore(store).store, vp.Store)


def check_export(scenes: list[vp.Scene], hits: list[vp.SearchHit]) -> None:
    import polars

    assert_type(vp.to_polars(scenes), polars.DataFrame)
    assert_type(vp.to_polars(hits), polars.DataFrame)
    vp.to_pandas(scenes).to_csv("scenes.csv")
