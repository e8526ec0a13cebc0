"""Batches: created → running → completed | failed | cancelled, progress and results."""

from __future__ import annotations

import pytest

from tests.conformance import records
from videopipe import NotFound
from videopipe._models import BatchState, JobStatus


async def _videos(store, n: int) -> list[str]:
    ids = [f"b{i}" for i in range(n)]
    for video_id in ids:
        await store.upsert_video(records.video(video_id))
    return ids


async def test_a_batch_runs_from_created_to_completed(store) -> None:
    ids = await _videos(store, 4)
    batch_id = await store.create_batch(ids, priority=2, max_attempts=1)
    status = await store.batch_status(batch_id)
    assert (status.id, status.state, status.total, status.pending) == (
        batch_id, BatchState.CREATED, 4, 4,
    )  # fmt: skip
    assert (status.percentage, status.finished_at) == (0.0, None)
    jobs = await store.claim("w", limit=4)
    assert [j.video_id for j in jobs] == ids  # a batch runs in the order it was given
    assert all(j.batch_id == batch_id and j.priority == 2 for j in jobs)
    assert (await store.batch_status(batch_id)).state is BatchState.RUNNING
    await store.complete(jobs[0].id, "w")
    await store.complete(jobs[1].id, "w")
    await store.fail(jobs[2].id, "w", "corrupt stream")
    running = await store.batch_status(batch_id)
    assert (running.state, running.done, running.failed, running.processing) == (
        BatchState.RUNNING, 2, 1, 1,
    )  # fmt: skip
    assert running.percentage == 75.0
    await store.complete(jobs[3].id, "w")
    done = await store.batch_status(batch_id)
    assert (done.state, done.done, done.failed, done.percentage) == (
        BatchState.COMPLETED, 3, 1, 100.0,
    )  # fmt: skip
    assert done.finished_at is not None
    assert done.finished_at >= done.created_at

    results = await store.batch_results(batch_id)
    assert (results.batch_id, results.state, results.total) == (batch_id, BatchState.COMPLETED, 4)
    assert (results.successful, results.failed) == (3, 1)
    assert [i.video_id for i in results.items] == ids
    assert [i.original_path for i in results.items] == [f"/videos/{v}.mp4" for v in ids]
    [failure] = results.failures
    assert (failure.video_id, failure.status, failure.error, failure.attempts) == (
        "b2", JobStatus.DEAD, "corrupt stream", 1,
    )  # fmt: skip


async def test_a_batch_whose_every_item_failed_has_failed(store) -> None:
    ids = await _videos(store, 2)
    batch_id = await store.create_batch(ids, max_attempts=1)
    for job in await store.claim("w", limit=2):
        await store.fail(job.id, "w", f"bad {job.video_id}")
    status = await store.batch_status(batch_id)
    assert (status.state, status.failed, status.percentage) == (BatchState.FAILED, 2, 100.0)
    results = await store.batch_results(batch_id)
    assert sorted(i.error for i in results.failures) == ["bad b0", "bad b1"]


async def test_cancelling_a_batch_cancels_what_has_not_started(store) -> None:
    ids = await _videos(store, 3)
    batch_id = await store.create_batch(ids)
    [running] = await store.claim("w")
    assert await store.cancel_batch(batch_id) == 2
    status = await store.batch_status(batch_id)
    # The running item finishes; until then the batch is still running.
    assert (status.state, status.cancelled, status.processing) == (BatchState.RUNNING, 2, 1)
    await store.complete(running.id, "w")
    final = await store.batch_status(batch_id)
    assert (final.state, final.done, final.cancelled, final.percentage) == (
        BatchState.CANCELLED, 1, 2, 100.0,
    )  # fmt: skip
    assert await store.cancel_batch(batch_id) == 0
    assert await store.claim("w") == []


async def test_batches_do_not_deduplicate_and_leave_other_jobs_alone(store) -> None:
    ids = await _videos(store, 2)
    single = await store.enqueue(ids[0])
    batch_id = await store.create_batch([ids[0], ids[0], ids[1]])
    assert (await store.batch_status(batch_id)).total == 3
    assert (await store.get_job(single.id)).batch_id is None
    assert len(await store.peek(10)) == 4
    await store.cancel_batch(batch_id)
    assert [j.id for j in await store.peek(10)] == [single.id]


async def test_a_batch_needs_all_its_videos(store) -> None:
    ids = await _videos(store, 2)
    with pytest.raises(NotFound, match="ghost"):
        await store.create_batch([ids[0], "ghost", ids[1]])
    assert await store.peek(10) == []  # nothing was enqueued


async def test_an_empty_batch_is_complete(store) -> None:
    batch_id = await store.create_batch([])
    status = await store.batch_status(batch_id)
    assert (status.state, status.total, status.percentage) == (BatchState.COMPLETED, 0, 100.0)
    assert (await store.batch_results(batch_id)).items == []


async def test_an_unknown_batch_is_not_found(store) -> None:
    for call in (store.batch_status, store.batch_results, store.cancel_batch):
        with pytest.raises(NotFound, match="batch_nope"):
            await call("batch_nope")
