"""The job queue: enqueue, claim, leases, heartbeats, failures, dead letters, replay."""

from __future__ import annotations

from datetime import timedelta

import anyio
import pytest

from tests.conformance import records
from videopipe import ConfigurationError, NotFound
from videopipe._models import JobStatus, utcnow


async def _videos(store, n: int = 3) -> list[str]:
    ids = [f"v{i}" for i in range(n)]
    for video_id in ids:
        await store.upsert_video(records.video(video_id))
    return ids


async def test_enqueue_makes_a_pending_job(store) -> None:
    await _videos(store, 1)
    before = utcnow()
    job = await store.enqueue("v0", queue="gpu", priority=5, max_attempts=4)
    assert (job.video_id, job.queue, job.priority, job.max_attempts) == ("v0", "gpu", 5, 4)
    assert (job.status, job.attempts, job.worker_id, job.lease_expires_at) == (
        JobStatus.PENDING, 0, None, None,
    )  # fmt: skip
    assert job.id.startswith("job_")
    # The database's clock may be a little off the test's: allow a second.
    assert abs((job.created_at - before).total_seconds()) < 1
    assert job.run_after <= utcnow() + timedelta(seconds=1)
    assert await store.get_job(job.id) == job


async def test_enqueue_needs_the_video(store) -> None:
    with pytest.raises(NotFound, match="ghost"):
        await store.enqueue("ghost")
    assert await store.peek() == []


async def test_unique_enqueue_returns_the_live_job(store) -> None:
    await _videos(store, 1)
    first = await store.enqueue("v0")
    assert await store.enqueue("v0") == first
    [claimed] = await store.claim("w1")
    assert (await store.enqueue("v0")).id == first.id  # processing is live too
    duplicate = await store.enqueue("v0", unique=False)
    assert duplicate.id != first.id
    assert await store.complete(claimed.id, "w1")
    # The first is done: the duplicate is the live one now.
    assert (await store.enqueue("v0")).id == duplicate.id
    assert await store.cancel(duplicate.id)
    fresh = await store.enqueue("v0")
    assert fresh.id not in (first.id, duplicate.id)


async def test_claims_take_highest_priority_then_oldest(store) -> None:
    ids = await _videos(store, 5)
    low = await store.enqueue(ids[0], priority=0)
    await anyio.sleep(0.002)
    high_old = await store.enqueue(ids[1], priority=10)
    await anyio.sleep(0.002)
    mid = await store.enqueue(ids[2], priority=5)
    await anyio.sleep(0.002)
    high_new = await store.enqueue(ids[3], priority=10)
    await anyio.sleep(0.002)
    negative = await store.enqueue(ids[4], priority=-3)
    expected = [high_old.id, high_new.id, mid.id, low.id, negative.id]
    assert [j.id for j in await store.peek(10)] == expected
    first = await store.claim("w", limit=2)
    assert [j.id for j in first] == expected[:2]
    rest = await store.claim("w", limit=10)
    assert [j.id for j in rest] == expected[2:]
    assert await store.claim("w") == []


async def test_a_claimed_job_is_processing_and_leased(store) -> None:
    await _videos(store, 1)
    job = await store.enqueue("v0")
    [claimed] = await store.claim("worker-1", lease=30)
    assert claimed.id == job.id
    assert (claimed.status, claimed.attempts, claimed.worker_id) == (
        JobStatus.PROCESSING, 1, "worker-1",
    )  # fmt: skip
    lease = (claimed.lease_expires_at - utcnow()).total_seconds()
    assert 28 < lease < 31
    assert await store.get_job(job.id) == claimed
    assert await store.claim("worker-2") == []  # leased: nobody else gets it


async def test_queues_are_separate(store) -> None:
    ids = await _videos(store, 3)
    gpu = await store.enqueue(ids[0], queue="gpu")
    cpu = await store.enqueue(ids[1], queue="cpu")
    default = await store.enqueue(ids[2])
    assert [j.id for j in await store.claim("w", queues=["gpu"], limit=5)] == [gpu.id]
    assert [j.id for j in await store.claim("w", limit=5)] == [default.id]
    assert await store.claim("w", queues=[]) == []
    assert await store.claim("w", queues=["gpu", "other"]) == []
    assert [j.id for j in await store.claim("w", queues=("other", "cpu"))] == [cpu.id]


async def test_an_expired_lease_is_claimed_again(store) -> None:
    """A worker that dies stops heartbeating: its job goes to another worker, not lost."""
    await _videos(store, 1)
    job = await store.enqueue("v0")
    # The margins are wide (a second) so that a loaded machine cannot see the lease lapse
    # before the next line runs.
    [first] = await store.claim("dead-worker", lease=1.0)
    assert await store.claim("w2") == []
    await anyio.sleep(1.1)
    [again] = await store.claim("w2", lease=30)
    assert again.id == job.id
    assert (again.attempts, again.worker_id) == (2, "w2")
    # The first worker wakes up: the job is no longer its own.
    assert not await store.heartbeat(job.id, "dead-worker")
    assert not await store.complete(job.id, "dead-worker")
    assert await store.fail(job.id, "dead-worker", "late") is None
    assert not await store.release(job.id, "dead-worker")
    assert await store.complete(job.id, "w2")
    assert first.attempts == 1


async def test_heartbeats_extend_the_lease(store) -> None:
    await _videos(store, 1)
    job = await store.enqueue("v0")
    await store.claim("w1", lease=0.1)
    assert await store.heartbeat(job.id, "w1", lease=30)
    await anyio.sleep(0.2)
    assert await store.claim("w2") == []
    extended = await store.get_job(job.id)
    assert (extended.lease_expires_at - utcnow()).total_seconds() > 25


async def test_only_the_owner_may_heartbeat_complete_fail_or_release(store) -> None:
    await _videos(store, 1)
    job = await store.enqueue("v0")
    assert not await store.complete(job.id, "w1")  # pending: nobody owns it
    await store.claim("w1")
    assert not await store.heartbeat(job.id, "intruder")
    assert not await store.complete(job.id, "intruder")
    assert await store.fail(job.id, "intruder", "boom") is None
    assert not await store.release(job.id, "intruder")
    assert not await store.complete("job_nope", "w1")
    assert await store.fail("job_nope", "w1", "x") is None
    unchanged = await store.get_job(job.id)
    assert (unchanged.status, unchanged.worker_id, unchanged.last_error) == (
        JobStatus.PROCESSING, "w1", None,
    )  # fmt: skip
    assert await store.complete(job.id, "w1")
    done = await store.get_job(job.id)
    assert (done.status, done.lease_expires_at) == (JobStatus.DONE, None)
    assert not await store.complete(job.id, "w1")  # done: no longer processing
    assert not await store.heartbeat(job.id, "w1")


async def test_failures_retry_after_a_delay_then_go_dead_then_replay(store) -> None:
    await _videos(store, 1)
    job = await store.enqueue("v0", max_attempts=2)
    await store.claim("w")
    retried = await store.fail(job.id, "w", "provider timeout", retry_in=1.0)
    assert (retried.status, retried.attempts, retried.last_error) == (
        JobStatus.PENDING, 1, "provider timeout",
    )  # fmt: skip
    assert retried.run_after > utcnow()
    assert retried.lease_expires_at is None
    assert await store.claim("w") == []  # backing off (for a second: room for a busy machine)
    await anyio.sleep(1.1)
    [again] = await store.claim("w")
    assert again.attempts == 2
    dead = await store.fail(job.id, "w", "still broken", retry_in=60)
    assert (dead.status, dead.attempts, dead.last_error) == (JobStatus.DEAD, 2, "still broken")
    assert await store.claim("w") == []
    assert [j.id for j in await store.peek(status=JobStatus.DEAD)] == [job.id]

    assert await store.replay("job_nope") == 0
    assert await store.replay(job.id) == 1
    replayed = await store.get_job(job.id)
    assert (replayed.status, replayed.attempts, replayed.worker_id) == (
        JobStatus.PENDING, 0, None,
    )  # fmt: skip
    assert await store.replay(job.id) == 0  # no longer dead
    [third] = await store.claim("w")
    assert third.attempts == 1


async def test_a_workers_lower_max_attempts_caps_the_jobs(store) -> None:
    await _videos(store, 2)
    job = await store.enqueue("v0", max_attempts=5)
    await store.claim("w")
    assert (await store.fail(job.id, "w", "x", max_attempts=2)).status is JobStatus.PENDING
    await store.claim("w")
    dead = await store.fail(job.id, "w", "x", max_attempts=2)  # 2 attempts: the worker's cap
    assert (dead.status, dead.attempts, dead.max_attempts) == (JobStatus.DEAD, 2, 5)
    # A higher cap than the job's changes nothing: the job's own max_attempts wins.
    other = await store.enqueue("v1", max_attempts=1)
    await store.claim("w")
    assert (await store.fail(other.id, "w", "x", max_attempts=9)).status is JobStatus.DEAD


async def test_a_permanent_failure_goes_dead_at_once_with_its_message(store) -> None:
    """A file that is not a video will not become one: no attempt is wasted on it."""
    await _videos(store, 1)
    job = await store.enqueue("v0", max_attempts=5)
    await store.claim("w")
    dead = await store.fail(job.id, "w", "NotAVideo: x.txt is not a video", permanent=True)
    assert (dead.status, dead.attempts, dead.last_error) == (
        JobStatus.DEAD, 1, "NotAVideo: x.txt is not a video",
    )  # fmt: skip
    assert dead.lease_expires_at is None
    assert await store.claim("w") == []
    # Replay still brings it back, for when the input was replaced.
    assert await store.replay(job.id) == 1
    assert (await store.get_job(job.id)).status is JobStatus.PENDING


async def test_a_failure_with_no_delay_is_runnable_at_once(store) -> None:
    await _videos(store, 1)
    job = await store.enqueue("v0")
    await store.claim("w1")
    await store.fail(job.id, "w1", "flaky")
    [again] = await store.claim("w2")
    assert (again.id, again.attempts) == (job.id, 2)


async def test_replay_without_an_id_replays_every_dead_job(store) -> None:
    ids = await _videos(store, 3)
    for video_id in ids:
        await store.enqueue(video_id, max_attempts=1)
    for job in await store.claim("w", limit=3):
        await store.fail(job.id, "w", "boom")
    assert (await store.stats()).counts["dead"] == 3
    assert await store.replay() == 3
    assert (await store.stats()).counts["pending"] == 3
    assert await store.replay() == 0


async def test_release_gives_the_job_back_and_refunds_the_attempt(store) -> None:
    """A graceful stop (SIGTERM) is not a failure: the attempt does not count."""
    await _videos(store, 1)
    job = await store.enqueue("v0", max_attempts=1)
    await store.claim("w1")
    assert await store.release(job.id, "w1")
    released = await store.get_job(job.id)
    assert (released.status, released.attempts, released.worker_id, released.lease_expires_at) == (
        JobStatus.PENDING, 0, None, None,
    )  # fmt: skip
    [again] = await store.claim("w2")
    assert again.attempts == 1
    assert not await store.release(job.id, "w1")


async def test_cancel_only_cancels_pending_jobs(store) -> None:
    ids = await _videos(store, 2)
    pending = await store.enqueue(ids[0])
    running = await store.enqueue(ids[1])
    await store.claim("w", limit=1)  # takes `pending` (older)
    assert not await store.cancel(pending.id)
    assert await store.cancel(running.id)
    assert (await store.get_job(running.id)).status is JobStatus.CANCELLED
    assert not await store.cancel(running.id)
    with pytest.raises(NotFound):
        await store.cancel("job_nope")


async def test_an_unknown_job_is_not_found(store) -> None:
    with pytest.raises(NotFound, match="job_nope"):
        await store.get_job("job_nope")


async def test_peek_lists_jobs_of_one_status_in_claim_order(store) -> None:
    ids = await _videos(store, 3)
    jobs = [await store.enqueue(v, priority=p) for v, p in zip(ids, [1, 3, 2], strict=True)]
    assert [j.id for j in await store.peek()] == [jobs[1].id, jobs[2].id, jobs[0].id]
    assert [j.id for j in await store.peek(1)] == [jobs[1].id]
    assert await store.peek(status=JobStatus.PROCESSING) == []
    await store.claim("w")
    assert [j.id for j in await store.peek(status=JobStatus.PROCESSING)] == [jobs[1].id]
    with pytest.raises(ConfigurationError):
        await store.peek(-1)


async def test_stats_count_every_status_the_lag_and_failures(store) -> None:
    empty = await store.stats()
    assert empty.counts == {s.value: 0 for s in JobStatus}
    assert (empty.oldest_pending_age_sec, empty.failed_attempts) == (None, 0)
    ids = await _videos(store, 5)
    jobs = [await store.enqueue(v, max_attempts=1) for v in ids]
    await anyio.sleep(0.05)
    claimed = await store.claim("w", limit=3)
    await store.complete(claimed[0].id, "w")
    await store.fail(claimed[1].id, "w", "boom")
    await store.cancel(jobs[4].id)
    stats = await store.stats()
    assert stats.counts == {"pending": 1, "processing": 1, "done": 1, "dead": 1, "cancelled": 1}
    assert 0.04 < stats.oldest_pending_age_sec < 30
    assert stats.failed_attempts == 1


async def test_a_job_backing_off_is_not_queue_lag(store) -> None:
    await _videos(store, 1)
    job = await store.enqueue("v0", max_attempts=3)
    await store.claim("w")
    await store.fail(job.id, "w", "later", retry_in=60)
    stats = await store.stats()
    assert stats.counts["pending"] == 1
    assert stats.oldest_pending_age_sec is None


async def test_claim_arguments_are_checked(store) -> None:
    with pytest.raises(ConfigurationError):
        await store.claim("w", limit=-1)
    assert await store.claim("w", limit=0) == []


async def test_wait_for_jobs_returns_within_its_timeout(store) -> None:
    start = anyio.current_time()
    with anyio.fail_after(5):
        await store.wait_for_jobs(0.05)
    assert anyio.current_time() - start < 4


async def test_concurrent_completions_each_get_their_own_answer(store) -> None:
    """A worker finishing many jobs at once: each `complete` answers for its own job."""
    ids = await _videos(store, 12)
    for video_id in ids:
        await store.enqueue(video_id)
    mine = await store.claim("w1", limit=6)
    theirs = await store.claim("w2", limit=6)
    answers: dict[tuple[str, str], bool] = {}

    async def complete(job_id: str, worker_id: str) -> None:
        answers[job_id, worker_id] = await store.complete(job_id, worker_id)

    async with anyio.create_task_group() as tg:
        for job in mine:
            tg.start_soon(complete, job.id, "w1")
        for job in theirs[:3]:
            tg.start_soon(complete, job.id, "w1")  # not w1's: refused
        tg.start_soon(complete, "job_nope", "w1")
    assert all(answers[j.id, "w1"] for j in mine)
    assert not any(answers[j.id, "w1"] for j in theirs[:3])
    assert not answers["job_nope", "w1"]
    stats = await store.stats()
    assert (stats.counts["done"], stats.counts["processing"]) == (6, 6)


async def test_completing_a_job_twice_at_once_succeeds_once(store) -> None:
    await _videos(store, 1)
    job = await store.enqueue("v0")
    await store.claim("w")
    answers: list[bool] = []

    async def complete() -> None:
        answers.append(await store.complete(job.id, "w"))

    async with anyio.create_task_group() as tg:
        tg.start_soon(complete)
        tg.start_soon(complete)
    assert sorted(answers) == [False, True]


async def test_a_job_whose_last_attempts_worker_died_goes_dead_not_round_again(store) -> None:
    """A crash loop (the worker dies on every attempt) ends in the dead-letter queue."""
    await _videos(store, 1)
    job = await store.enqueue("v0", max_attempts=2)
    await store.claim("w1", lease=0.05)
    await anyio.sleep(0.1)
    [second] = await store.claim("w2", lease=0.05)  # attempt 2 of 2
    assert second.attempts == 2
    await anyio.sleep(0.1)
    assert await store.claim("w3") == []
    dead = await store.get_job(job.id)
    assert dead.status is JobStatus.DEAD
    assert dead.attempts == 2
    assert "lease expired" in (dead.last_error or "")
    assert await store.replay(job.id) == 1
    [back] = await store.claim("w4")
    assert back.attempts == 1
