from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

import videopipe as vp
from videopipe.storage import MemoryStore

FAST = vp.RetryPolicy(attempts=1000, initial_delay=0.0, max_delay=0.0, jitter=False)


class Work:
    """A stage that takes `seconds`, fails for listed files, and counts concurrency."""

    name = "work"
    requires = ()

    def __init__(self, seconds: float = 0.01, poison: set[str] | None = None) -> None:
        self.seconds = seconds
        self.poison = poison or set()
        self.now = 0
        self.peak = 0
        self.runs: list[str] = []

    async def run(self, ctx: vp.StageContext) -> dict[str, Any]:
        self.now += 1
        self.peak = max(self.peak, self.now)
        try:
            self.runs.append(ctx.video.id)
            await anyio.sleep(self.seconds)
            if Path(ctx.video.original_path).name in self.poison:
                raise RuntimeError("this file always fails")
            return {"ok": True}
        finally:
            self.now -= 1


class Raises:
    """A stage that raises `error` for the video `only`, and succeeds for the others."""

    name = "work"
    requires = ()

    def __init__(self, error: Exception, *, only: str) -> None:
        self.error = error
        self.only = only
        self.runs: list[str] = []

    async def run(self, ctx: vp.StageContext) -> dict[str, Any]:
        self.runs.append(ctx.video.id)
        if ctx.video.id == self.only:
            raise self.error
        return {"ok": True}


async def enqueue(store: MemoryStore, tmp_path: Path, n: int, **kw: Any) -> list[vp.Job]:
    jobs = []
    for i in range(n):
        path = tmp_path / f"v{i}.mp4"
        path.write_bytes(f"video {i}".encode())
        video = await store.upsert_video(vp.Video(id=f"vid{i}", original_path=str(path)))
        jobs.append(await store.enqueue(video.id, **kw))
    return jobs


async def until(predicate: Any, seconds: float = 5.0) -> None:
    """Poll `predicate` (sync or async) until it is true; fail after `seconds`."""
    for _ in range(int(seconds / 0.01)):
        value = predicate()
        if hasattr(value, "__await__"):
            value = await value
        if value:
            return
        await anyio.sleep(0.01)
    raise AssertionError("condition never became true")


def make_worker(store: MemoryStore, stage: Work | Raises, **kw: Any) -> vp.Worker:
    pipeline = vp.Pipeline([stage], store=store, data_dir="data")
    options: dict[str, Any] = {
        "poll_interval": 0.01,
        "max_poll_interval": 0.05,
        "lease": 5.0,
        "backoff": FAST,
        "handle_signals": False,
    }
    options.update(kw)
    return vp.Worker(pipeline, **options)


async def run_until_drained(worker: vp.Worker, store: MemoryStore) -> None:
    async def stop_when_idle() -> None:
        while True:
            await anyio.sleep(0.02)
            counts = (await store.stats()).counts
            if counts["pending"] + counts["processing"] == 0:
                worker.stop()
                return

    with anyio.fail_after(15):
        async with anyio.create_task_group() as tg:
            tg.start_soon(stop_when_idle)
            await worker.run()


async def test_a_worker_drains_the_queue_with_bounded_concurrency(tmp_path: Path) -> None:
    store = MemoryStore()
    await enqueue(store, tmp_path, 12)
    stage = Work(seconds=0.02)
    worker = make_worker(store, stage, concurrency=3)
    await run_until_drained(worker, store)
    stats = await store.stats()
    assert stats.counts["done"] == 12
    assert stage.peak == 3
    assert sorted(stage.runs) == sorted(f"vid{i}" for i in range(12))  # each exactly once
    assert all(v.status is vp.VideoStatus.READY for v in await store.list_videos())
    assert worker.completed == 12


async def test_a_poison_job_goes_dead_after_max_attempts_without_blocking_the_queue(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="videopipe")
    store = MemoryStore()
    jobs = await enqueue(store, tmp_path, 5, max_attempts=3)
    stage = Work(poison={"v2.mp4"})
    await run_until_drained(make_worker(store, stage, concurrency=2), store)
    poison = await store.get_job(jobs[2].id)
    assert poison.status is vp.JobStatus.DEAD
    assert poison.attempts == 3
    assert poison.last_error is not None
    assert "this file always fails" in poison.last_error
    assert stage.runs.count("vid2") == 3
    assert (await store.stats()).counts["done"] == 4
    dead_lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("DEAD:")]
    assert len(dead_lines) == 1
    assert f'"job_id": "{poison.id}"' in dead_lines[0]
    assert '"stage": "work"' in dead_lines[0]
    assert '"attempts": 3' in dead_lines[0]
    assert '"error_type": "RuntimeError"' in dead_lines[0]
    assert any(r.getMessage().startswith("CLAIMED: Processing job") for r in caplog.records)
    # Replay puts it back, and a fixed stage finishes it.
    assert await store.replay(poison.id) == 1
    stage.poison.clear()
    await run_until_drained(make_worker(store, stage), store)
    assert (await store.get_job(poison.id)).status is vp.JobStatus.DONE


async def test_the_workers_max_attempts_caps_each_jobs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = MemoryStore()
    [job] = await enqueue(store, tmp_path, 1, max_attempts=5)
    stage = Work(poison={"v0.mp4"})
    await run_until_drained(make_worker(store, stage, max_attempts=2), store)
    assert (await store.get_job(job.id)).status is vp.JobStatus.DEAD
    assert stage.runs.count("vid0") == 2
    # By default the cap is WORKER_MAX_ATTEMPTS.
    monkeypatch.setenv("WORKER_MAX_ATTEMPTS", "4")
    assert make_worker(store, stage).max_attempts == 4
    with pytest.raises(vp.ConfigurationError, match="at least 1"):
        make_worker(store, stage, max_attempts=0)


@pytest.mark.parametrize(
    "error",
    [
        vp.NotAVideo("x.mp4 is not a video"),
        vp.InputNotFound("x.mp4: no such file"),
        vp.EmptyInput("x.mp4 is empty"),
        vp.CorruptMedia("x.mp4 is corrupt"),
        vp.NoAudioTrack("x.mp4 has no audio track"),
    ],
    ids=type,
)
async def test_a_permanent_error_goes_dead_on_its_first_attempt(
    tmp_path: Path, error: vp.MediaError, caplog: pytest.LogCaptureFixture
) -> None:
    """A bad input will fail the same way every time: it is not retried."""
    caplog.set_level(logging.INFO, logger="videopipe")
    store = MemoryStore()
    [job, other] = await enqueue(store, tmp_path, 2, max_attempts=3)
    stage = Raises(error, only="vid0")
    await run_until_drained(make_worker(store, stage), store)
    [dead_line] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("DEAD:")]
    # The payload names the error's type, which the stored message (for people) leaves out.
    assert f'"error_type": "{type(error).__name__}"' in dead_line
    assert '"permanent": true' in dead_line
    dead = await store.get_job(job.id)
    assert (dead.status, dead.attempts) == (vp.JobStatus.DEAD, 1)
    assert dead.last_error is not None
    assert error.message in dead.last_error
    assert stage.runs.count("vid0") == 1
    assert (await store.get_job(other.id)).status is vp.JobStatus.DONE


async def test_a_transient_error_is_still_retried(tmp_path: Path) -> None:
    """Only permanent errors skip the retries: a passing failure gets every attempt."""
    store = MemoryStore()
    [job] = await enqueue(store, tmp_path, 1, max_attempts=3)
    stage = Raises(vp.ProviderTimeout(), only="vid0")
    await run_until_drained(make_worker(store, stage), store)
    assert (await store.get_job(job.id)).attempts == 3
    assert stage.runs.count("vid0") == 3


async def test_failed_attempts_wait_for_their_backoff(tmp_path: Path) -> None:
    store = MemoryStore()
    [job] = await enqueue(store, tmp_path, 1, max_attempts=2)
    stage = Work(poison={"v0.mp4"})
    worker = make_worker(store, stage, backoff=vp.RetryPolicy(initial_delay=30, jitter=False))
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run)
        await until(lambda: stage.runs and not stage.now)
        await anyio.sleep(0.2)
        worker.stop()
    after = await store.get_job(job.id)
    assert after.status is vp.JobStatus.PENDING
    assert after.attempts == 1
    assert (after.run_after - after.updated_at).total_seconds() == pytest.approx(30, abs=1)
    assert stage.runs == ["vid0"]  # not retried before its time


async def test_a_graceful_stop_lets_running_jobs_finish(tmp_path: Path) -> None:
    store = MemoryStore()
    await enqueue(store, tmp_path, 4)
    stage = Work(seconds=0.3)
    worker = make_worker(store, stage, concurrency=2, grace_period=5)
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run)
        await until(lambda: stage.now == 2)
        worker.stop()
    counts = (await store.stats()).counts
    assert counts["done"] == 2
    assert counts["pending"] == 2  # never claimed
    assert counts["processing"] == 0


async def test_after_the_grace_period_running_jobs_are_released(tmp_path: Path) -> None:
    store = MemoryStore()
    jobs = await enqueue(store, tmp_path, 2)
    stage = Work(seconds=30)
    worker = make_worker(store, stage, concurrency=2, grace_period=0.1)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.run)
            await until(lambda: stage.now == 2)
            worker.stop()
    for job in jobs:
        after = await store.get_job(job.id)
        assert after.status is vp.JobStatus.PENDING
        assert after.attempts == 0  # the interrupted attempt is refunded
        assert after.worker_id is None


async def test_kill_stops_at_once_and_releases(tmp_path: Path) -> None:
    store = MemoryStore()
    [job] = await enqueue(store, tmp_path, 1)
    stage = Work(seconds=30)
    worker = make_worker(store, stage, grace_period=60)
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.run)
            await until(lambda: stage.now == 1)
            worker.kill()
    assert (await store.get_job(job.id)).status is vp.JobStatus.PENDING


async def test_a_job_whose_lease_was_taken_is_not_completed_by_the_old_worker(
    tmp_path: Path,
) -> None:
    store = MemoryStore()
    [job] = await enqueue(store, tmp_path, 1)
    stage = Work(seconds=0.5)
    worker = make_worker(store, stage, lease=0.15)
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run)
        await until(lambda: stage.now == 1)
        # Another worker takes the job over (as if this one had stalled past its lease).
        current = await store.get_job(job.id)
        store.jobs[job.id] = current.model_copy(update={"worker_id": "someone-else"})
        await until(lambda: not stage.now)
        worker.stop()
    after = await store.get_job(job.id)
    assert after.status is vp.JobStatus.PROCESSING
    assert after.worker_id == "someone-else"
    assert worker.completed == 0


async def test_a_worker_serves_only_its_queues_highest_priority_first(tmp_path: Path) -> None:
    store = MemoryStore()
    await enqueue(store, tmp_path, 2, queue="bulk")
    low = await store.upsert_video(vp.Video(id="low", original_path=str(tmp_path / "v0.mp4")))
    high = await store.upsert_video(vp.Video(id="high", original_path=str(tmp_path / "v1.mp4")))
    await store.enqueue(low.id, queue="interactive", priority=0)
    await store.enqueue(high.id, queue="interactive", priority=10)
    stage = Work()
    worker = make_worker(store, stage, concurrency=1, queues=["interactive"])
    await run_until_drained_queue(worker, store, "interactive")
    assert stage.runs == ["high", "low"]
    assert (await store.stats()).counts["pending"] == 2  # bulk untouched


async def run_until_drained_queue(worker: vp.Worker, store: MemoryStore, queue: str) -> None:
    async def stop_when_idle() -> None:
        while True:
            await anyio.sleep(0.02)
            live = [
                j
                for j in store.jobs.values()
                if j.queue == queue and j.status in (vp.JobStatus.PENDING, vp.JobStatus.PROCESSING)
            ]
            if not live:
                worker.stop()
                return

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tg:
            tg.start_soon(stop_when_idle)
            await worker.run()


async def test_http_endpoints(tmp_path: Path) -> None:
    store = MemoryStore()
    await enqueue(store, tmp_path, 3)
    worker = make_worker(store, Work(seconds=5), concurrency=1, http_port=0, grace_period=0)
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run)
        await until(lambda: worker.bound_port is not None and worker.running)
        base = f"http://127.0.0.1:{worker.bound_port}"
        async with httpx.AsyncClient(base_url=base) as client:
            health = await client.get("/healthz")
            assert health.status_code == 200
            assert health.json()["ok"] is True
            assert health.json()["status"] == "healthy"
            peek = (await client.get("/jobs/peek")).json()
            assert peek["pending_jobs"] == 2
            assert len(peek["jobs"]) == 2
            stats = (await client.get("/stats")).json()
            assert stats["jobs"]["processing"] == 1
            assert stats["videos"]["pending"] + stats["videos"]["processing"] == 3
            assert stats["processing"]["in_flight"] == 1
            metrics = await client.get("/metrics")
            assert metrics.status_code == 200
            assert "videopipe_jobs_in_flight" in metrics.text
            assert 'videopipe_queue_jobs{status="pending"} 2.0' in metrics.text
            assert (await client.get("/nope")).status_code == 404
            await store.aclose()
            unhealthy = await client.get("/healthz")
            assert unhealthy.status_code == 503
            assert unhealthy.json()["ok"] is False
        worker.kill()


async def test_a_worker_over_its_memory_ceiling_claims_nothing_and_stops(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Above WORKER_MAX_RSS_MB with nothing running, only a fresh process gets memory back."""
    store = MemoryStore()
    jobs = await enqueue(store, tmp_path, 2)
    stage = Work()
    worker = make_worker(store, stage, max_rss_mb=1)  # any Python process holds more
    with anyio.fail_after(15), caplog.at_level(logging.WARNING, logger="videopipe"):
        await worker.run()
    assert stage.runs == []
    assert worker.over_memory
    for job in jobs:
        assert (await store.get_job(job.id)).status is vp.JobStatus.PENDING
    assert "WORKER_MAX_RSS_MB=1" in caplog.text
    assert "stopping so that a fresh process takes over" in caplog.text


async def test_a_worker_over_its_ceiling_lets_running_jobs_finish_and_claims_no_more(
    tmp_path: Path,
) -> None:
    store = MemoryStore()
    await enqueue(store, tmp_path, 3)
    stage = Work(seconds=0.3)
    worker = make_worker(store, stage, concurrency=1)
    with anyio.fail_after(15):
        async with anyio.create_task_group() as tg:
            tg.start_soon(worker.run)
            await until(lambda: stage.now == 1)
            worker.max_rss_mb = 1  # the running job "grew" the process past its ceiling
    counts = (await store.stats()).counts
    assert counts["done"] == 1  # the running one finished
    assert counts["pending"] == 2  # the others were left for a fresh process
    assert counts["processing"] == 0


def test_the_memory_ceiling_must_be_positive() -> None:
    with pytest.raises(vp.ConfigurationError, match="max_rss_mb"):
        make_worker(MemoryStore(), Work(), max_rss_mb=0)


async def test_run_job_runs_a_job_claimed_on_the_workers_behalf(tmp_path: Path) -> None:
    """What `videopipe.ray`'s actors do: someone else claims, the worker runs and completes."""
    store = MemoryStore()
    stage = Raises(RuntimeError("boom"), only="vid1")
    worker = make_worker(store, stage, worker_id="actor-0")
    await enqueue(store, tmp_path, 2)
    claimed = await store.claim("actor-0", limit=2)
    assert len(claimed) == 2

    for job in claimed:
        await worker.run_job(job)

    assert (worker.completed, worker.failed, worker.running) == (1, 1, {})
    jobs = {job.video_id: await store.get_job(job.id) for job in claimed}
    assert jobs["vid0"].status is vp.JobStatus.DONE
    assert jobs["vid1"].status is vp.JobStatus.PENDING  # retried later, attempt counted
    assert jobs["vid1"].attempts == 1
    assert stage.runs == ["vid0", "vid1"]
