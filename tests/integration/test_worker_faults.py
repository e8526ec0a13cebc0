"""Real worker processes against a real PostgreSQL, under faults.

Each test starts `worker_main.py` as OS processes (`subprocess.Popen`) on a
fresh database and checks, through the store and through per-video side-effect
files the `work` stage writes (see `worker_main.py`), that:

1. a worker killed with SIGKILL mid-job loses the job to another worker once
   its lease expires, and the rows are exactly those of an undisturbed run;
2. SIGTERM stops a worker within its grace period, exit code 0, leaving no job
   `processing`; a restarted worker finishes everything;
3. every session of the database killed again and again while workers run:
   they reconnect and every job is done exactly once;
4. a poison job goes `dead` after exactly `max_attempts` without blocking the
   others, and `replay` brings it back;
5. four workers drain 200 jobs, each done exactly once.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

import videopipe as vp
from tests.integration.worker_main import expected_scenes, expected_segments

pytestmark = pytest.mark.integration

WORKER_MAIN = Path(__file__).with_name("worker_main.py")
# Waits below are hang detectors, not measurements: each gets this many times what it
# needs on an idle machine (the suite must pass beside `stress-ng --cpu 4`).
SLACK = 4


class Workers:
    """Worker processes started by a test; every one is killed when the test ends."""

    def __init__(self, dsn: str, side: Path, logs: Path) -> None:
        self.dsn = dsn
        self.side = side
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []
        self.log_paths: list[Path] = []

    def start(self, *, name: str, **options: Any) -> subprocess.Popen[bytes]:
        argv = [
            sys.executable,
            str(WORKER_MAIN),
            "--dsn",
            self.dsn,
            "--side-dir",
            str(self.side),
            "--worker-id",
            name,
        ]
        for key, value in options.items():
            argv += [f"--{key.replace('_', '-')}", str(value)]
        log_path = self.logs / f"{name}.log"
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy()
            )
        self.procs.append(proc)
        self.log_paths.append(log_path)
        return proc

    def output(self) -> str:
        """The tail of every worker's log, for failure messages."""
        parts = []
        for path in self.log_paths:
            lines = path.read_text(errors="replace").splitlines() if path.exists() else []
            parts.append(f"--- {path.name} ---\n" + "\n".join(lines[-40:]))
        return "\n".join(parts)

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)


@pytest.fixture
def side(tmp_path: Path) -> Path:
    path = tmp_path / "side"
    path.mkdir()
    return path


@pytest.fixture
def workers(pg_url: str, side: Path, tmp_path: Path) -> Iterator[Workers]:
    logs = tmp_path / "logs"
    logs.mkdir()
    group = Workers(pg_url, side, logs)
    try:
        yield group
    finally:
        group.kill_all()


async def add_videos(store: vp.Store, n: int, prefix: str = "v") -> list[str]:
    ids = [f"{prefix}{i:03d}" for i in range(n)]
    for vid in ids:
        await store.upsert_video(vp.Video(id=vid, original_path=f"/nonexistent/{vid}.mp4"))
    return ids


async def until(
    predicate: Callable[[], Awaitable[bool] | bool],
    seconds: float,
    workers: Workers,
    what: str,
) -> float:
    """Poll `predicate` until true; return the seconds it took. Fails with the workers' logs.

    `seconds` is what the wait takes on an idle machine; it is given `SLACK` times that,
    so that a loaded one (CI shares its cores) fails nothing that would pass on its own.
    """
    start = time.monotonic()
    while time.monotonic() - start < seconds * SLACK:
        value = predicate()
        if not isinstance(value, bool):
            value = await value
        if value:
            return time.monotonic() - start
        await anyio.sleep(0.05)
    raise AssertionError(f"timed out after {seconds}s waiting for {what}\n{workers.output()}")


async def wait_exit(proc: subprocess.Popen[bytes], seconds: float) -> int | None:
    start = time.monotonic()
    while time.monotonic() - start < seconds * SLACK:
        if proc.poll() is not None:
            return proc.returncode
        await anyio.sleep(0.02)
    return None


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


async def counts(store: vp.Store) -> dict[str, int]:
    return (await store.stats()).counts


async def all_done(store: vp.Store, n: int) -> bool:
    return (await counts(store)).get("done", 0) == n


async def check_rows(store: vp.Store, vid: str) -> None:
    """The rows of `vid` are exactly those of an undisturbed run."""
    assert await store.list_scenes(vid) == expected_scenes(vid)
    assert await store.list_segments(vid) == expected_segments(vid)


def terminate_sessions(dsn: str) -> int:
    """`pg_terminate_backend` every other session of the database of `dsn`."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True, connect_timeout=3) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return len(rows)


# --- 1. kill -9 mid-job ------------------------------------------------------------------


@pytest.mark.timeout(360)
async def test_a_killed_workers_job_is_finished_by_another(
    pg_url: str, side: Path, workers: Workers
) -> None:
    async with vp.open_store(pg_url) as store:
        ids = await add_videos(store, 3)
        victim = ids[0]
        (side / f"{victim}.sleep").write_text("30")
        jobs = {vid: await store.enqueue(vid) for vid in ids}  # the victim is claimed first

        a = workers.start(name="a", concurrency=1, lease=1.0, sleep=0.2)
        await until(lambda: (side / f"{victim}.start").exists(), 20, workers, "a to start")
        assert (await store.get_job(jobs[victim].id)).worker_id == "a"
        await anyio.sleep(0.5)  # a few heartbeats in: the job is well and truly mid-run
        a.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        assert await wait_exit(a, 5) == -signal.SIGKILL
        (side / f"{victim}.sleep").unlink()  # the next attempt is quick

        b = workers.start(name="b", concurrency=2, lease=1.0, sleep=0.2)
        await until(lambda: all_done(store, 3), 30, workers, "b to finish every job")
        recovered = time.monotonic() - killed_at

        job = await store.get_job(jobs[victim].id)
        assert job.status is vp.JobStatus.DONE
        assert job.attempts == 2  # a's attempt, then b's
        assert job.worker_id == "b"
        assert [line.split()[0] for line in lines(side / f"{victim}.start")] == [
            str(a.pid),
            str(b.pid),
        ]
        assert lines(side / f"{victim}.done") == [f"{b.pid} {job.id}"]
        for vid in ids:
            await check_rows(store, vid)
            assert len(lines(side / f"{vid}.done")) == 1
        [run] = (await store.get_stage_runs(victim)).values()
        assert run.status is vp.StageStatus.DONE
        assert run.attempt == 2  # a's run was left `running`; b redid it
        assert recovered < 15, recovered
        b.send_signal(signal.SIGTERM)
        assert await wait_exit(b, 10) == 0, workers.output()


# --- 2. SIGTERM --------------------------------------------------------------------------


@pytest.mark.timeout(600)
async def test_sigterm_lets_running_jobs_finish_then_exits_cleanly(
    pg_url: str, side: Path, workers: Workers
) -> None:
    async with vp.open_store(pg_url) as store:
        ids = await add_videos(store, 4)
        for vid in ids:
            await store.enqueue(vid)
        w = workers.start(name="w1", concurrency=2, lease=2.0, sleep=1.5, grace=120)
        await until(
            lambda: sum((side / f"{v}.start").exists() for v in ids) == 2, 20, workers, "2 starts"
        )
        w.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        assert await wait_exit(w, 25) == 0, workers.output()
        took = time.monotonic() - signalled
        # Far within the 120 s grace: it waited for the running (1.5 s) jobs only. The margin
        # is wide so that a loaded machine cannot fail it.
        assert took < 60, took

        stats = await counts(store)
        assert stats["processing"] == 0
        assert stats["done"] == 2  # the two running jobs finished in their grace period
        assert stats["pending"] == 2  # nothing new was claimed after the signal

        w2 = workers.start(name="w2", concurrency=2, lease=2.0, sleep=0.1)
        await until(lambda: all_done(store, 4), 30, workers, "the restarted worker")
        for vid in ids:
            assert len(lines(side / f"{vid}.done")) == 1
            await check_rows(store, vid)
        w2.send_signal(signal.SIGTERM)
        assert await wait_exit(w2, 10) == 0, workers.output()


@pytest.mark.timeout(600)
async def test_sigterm_past_the_grace_period_releases_running_jobs(
    pg_url: str, side: Path, workers: Workers
) -> None:
    async with vp.open_store(pg_url) as store:
        ids = await add_videos(store, 3)
        jobs = [await store.enqueue(vid) for vid in ids]
        w = workers.start(name="w1", concurrency=2, lease=2.0, sleep=600, grace=0.5)
        await until(
            lambda: sum((side / f"{v}.start").exists() for v in ids) == 2, 20, workers, "2 starts"
        )
        w.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        assert await wait_exit(w, 25) == 0, workers.output()
        took = time.monotonic() - signalled
        assert took < 60, took  # grace 0.5 s, then cancel and release: not the 600 s jobs

        stats = await counts(store)
        assert stats["processing"] == 0
        assert stats["pending"] == 3
        for job in jobs:
            assert (await store.get_job(job.id)).attempts == 0  # release refunds the attempt
        # The videos it was running are pending again, not `processing` with nothing on them.
        assert (await store.count_videos())["processing"] == 0
        assert not any((side / f"{v}.done").exists() for v in ids)

        for vid in ids:
            (side / f"{vid}.sleep").write_text("0.1")
        w2 = workers.start(name="w2", concurrency=2, lease=2.0, sleep=60)
        await until(lambda: all_done(store, 3), 30, workers, "the restarted worker")
        for vid in ids:
            assert len(lines(side / f"{vid}.done")) == 1
            await check_rows(store, vid)
        w2.send_signal(signal.SIGTERM)
        assert await wait_exit(w2, 10) == 0, workers.output()


@pytest.mark.timeout(600)
async def test_a_second_sigterm_stops_scene_detection_at_once(
    pg_url: str, side: Path, workers: Workers, long_clip: Path
) -> None:
    """Detection runs in a thread; a stop must reach it, not wait minutes for it to end."""
    async with vp.open_store(pg_url) as store:
        await store.upsert_video(vp.Video(id="long", original_path=str(long_clip)))
        job = await store.enqueue("long")
        w = workers.start(name="w1", pipeline="scenes", concurrency=1, lease=2.0, grace=600)

        async def detecting() -> bool:
            running = (await store.get_job(job.id)).status is vp.JobStatus.PROCESSING
            return running and (side / "long.start").exists()

        await until(detecting, 15, workers, "scene detection to start")
        w.send_signal(signal.SIGTERM)
        log = workers.log_paths[0]
        await until(lambda: "SIGTERM received" in log.read_text(), 5, workers, "the first stop")
        w.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        assert await wait_exit(w, 25) == 0, workers.output()
        took = time.monotonic() - signalled
        assert took < 60, took  # not the 600 s grace; the detection never finished (below)
        released = await store.get_job(job.id)
        assert (released.status, released.attempts) == (vp.JobStatus.PENDING, 0)
        assert (await counts(store))["processing"] == 0
        assert not (side / "long.done").exists()


# --- 3. connection loss ------------------------------------------------------------------


@pytest.mark.timeout(360)
async def test_workers_survive_their_connections_being_killed(
    pg_url: str, side: Path, workers: Workers
) -> None:
    n = 40
    async with vp.open_store(pg_url) as store:
        ids = await add_videos(store, n)
        for vid in ids:
            await store.enqueue(vid)
        procs = [workers.start(name=f"w{i}", concurrency=2, lease=2.0, sleep=0.4) for i in range(2)]
        await until(
            lambda: sum((side / f"{v}.start").exists() for v in ids) >= 2, 20, workers, "starts"
        )
        # Every 0.3 s, for as long as work remains (up to 10 rounds), kill every session.
        killed: list[int] = []
        while len(killed) < 10 and (await counts(store))["done"] < n:
            killed.append(await anyio.to_thread.run_sync(terminate_sessions, pg_url))
            await anyio.sleep(0.3)
        assert len(killed) >= 4, f"the faults came too late to matter: {killed}"
        assert sum(killed) >= 2 * len(killed), killed  # both workers' sessions, every round
        for proc in procs:
            assert proc.poll() is None, workers.output()

        await until(lambda: all_done(store, n), 60, workers, "every job done after the faults")
        stats = await counts(store)
        assert stats["done"] == n
        assert stats["processing"] == stats["pending"] == 0
        for vid in ids:
            assert len(lines(side / f"{vid}.done")) == 1, vid
            await check_rows(store, vid)
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            assert await wait_exit(proc, 10) == 0, workers.output()


# --- 4. a poison job ---------------------------------------------------------------------


@pytest.mark.timeout(360)
async def test_a_poison_job_goes_dead_without_blocking_others_and_replays(
    pg_url: str, side: Path, workers: Workers
) -> None:
    async with vp.open_store(pg_url) as store:
        poison, *others = await add_videos(store, 6)
        (side / f"{poison}.poison").touch()
        # First in line and highest priority: whenever it is runnable, it is claimed first.
        bad = await store.enqueue(poison, max_attempts=3, priority=10)
        for vid in others:
            await store.enqueue(vid)
        w = workers.start(name="w1", concurrency=1, lease=2.0, sleep=0.05)

        async def settled() -> bool:
            c = await counts(store)
            return c["dead"] == 1 and c["done"] == len(others)

        await until(settled, 30, workers, "the poison dead and the others done")
        job = await store.get_job(bad.id)
        assert job.status is vp.JobStatus.DEAD
        assert job.attempts == 3
        assert "poisoned" in (job.last_error or "")
        assert len(lines(side / f"{poison}.failed")) == 3  # exactly max_attempts runs
        assert not (side / f"{poison}.done").exists()
        for vid in others:
            assert len(lines(side / f"{vid}.done")) == 1
            await check_rows(store, vid)
        await anyio.sleep(0.5)  # a dead job stays dead
        assert len(lines(side / f"{poison}.failed")) == 3

        (side / f"{poison}.poison").unlink()
        assert await store.replay(bad.id) == 1
        await until(lambda: all_done(store, 6), 20, workers, "the replayed job")
        job = await store.get_job(bad.id)
        assert job.attempts == 1  # replay reset the attempts
        assert len(lines(side / f"{poison}.done")) == 1
        await check_rows(store, poison)
        w.send_signal(signal.SIGTERM)
        assert await wait_exit(w, 10) == 0, workers.output()


# --- 5. four workers, 200 jobs -----------------------------------------------------------


@pytest.mark.timeout(360)
async def test_four_workers_drain_200_jobs_each_exactly_once(
    pg_url: str, side: Path, workers: Workers
) -> None:
    n = 200
    async with vp.open_store(pg_url) as store:
        ids = await add_videos(store, n)
        batch = await store.create_batch(ids)
        procs = [
            workers.start(name=f"w{i}", concurrency=4, lease=10.0, sleep=0.02) for i in range(4)
        ]
        await until(lambda: all_done(store, n), 60, workers, "200 jobs done")
        status = await store.batch_status(batch)
        assert status.state is vp.BatchState.COMPLETED, status

        pids: dict[str, int] = {}
        for vid in ids:
            done = lines(side / f"{vid}.done")
            assert len(done) == 1, (vid, done)  # exactly one successful run
            assert len(lines(side / f"{vid}.start")) == 1, vid  # and no other attempt
            pid = done[0].split()[0]
            pids[pid] = pids.get(pid, 0) + 1
        assert set(pids) <= {str(p.pid) for p in procs}
        assert len(pids) >= 2, pids  # the work was shared
        assert sum(pids.values()) == n
        for vid in ids[:: n // 20]:
            await check_rows(store, vid)
        jobs = await store.peek(n, status=vp.JobStatus.DONE)
        assert len(jobs) == n
        assert all(job.attempts == 1 for job in jobs)
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            assert await wait_exit(proc, 10) == 0, workers.output()
