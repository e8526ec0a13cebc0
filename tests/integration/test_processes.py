"""Several processes on one database: no job lost, none claimed twice, one migration."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest

from tests.integration.processes import claimer, first_user, run_all
from videopipe._models import JobStatus, Video
from videopipe.storage import PostgresStore, SQLiteStore, open_store, sql

N_JOBS = 2000
N_PROCESSES = 8


async def _fill(url: str) -> set[str]:
    """2,000 jobs: most in batches (several per video), some enqueued one by one."""
    async with open_store(url) as store:
        ids = [f"v{i:03d}" for i in range(250)]
        for video_id in ids:
            await store.upsert_video(Video(id=video_id, original_path=f"{video_id}.mp4"))
        jobs = set()
        for _ in range(7):
            batch = await store.create_batch(ids)
            jobs |= {item.job_id for item in (await store.batch_results(batch)).items}
        for i, video_id in enumerate(ids):
            jobs.add((await store.enqueue(video_id, priority=i % 3, unique=False)).id)
        return jobs


async def _check_race(url: str) -> None:
    jobs = await _fill(url)
    assert len(jobs) == N_JOBS
    reports = run_all(
        claimer,
        [(url, f"w{i}", 1 + i % 4) for i in range(N_PROCESSES)],
        timeout=50,
    )
    claimed = [job_id for ids in reports.values() for job_id in ids]
    assert len(claimed) == N_JOBS, "a job was claimed twice, or lost"
    assert set(claimed) == jobs
    assert sum(1 for ids in reports.values() if ids) > 1, "the race had a single runner"
    async with open_store(url) as store:
        stats = await store.stats()
        assert stats.counts["done"] == N_JOBS
        assert all(j.attempts == 1 for j in await store.peek(N_JOBS, status=JobStatus.DONE))


@pytest.mark.timeout(300)
async def test_sqlite_processes_never_claim_a_job_twice(tmp_path) -> None:
    await _check_race(f"sqlite:///{tmp_path}/race.db")


@pytest.mark.integration
@pytest.mark.timeout(300)
async def test_postgres_processes_never_claim_a_job_twice(pg_url: str) -> None:
    await _check_race(pg_url)


@pytest.mark.timeout(300)
async def test_sqlite_first_use_by_several_processes_migrates_once(tmp_path) -> None:
    url = f"sqlite:///{tmp_path}/fresh.db"
    run_all(first_user, [(url, f"v{i}") for i in range(4)], timeout=50)
    async with SQLiteStore(tmp_path / "fresh.db") as store:
        assert sorted(v.id for v in await store.list_videos()) == [f"v{i}" for i in range(4)]
    with closing(sqlite3.connect(tmp_path / "fresh.db")) as conn:
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_version")]
    assert versions == [m.version for m in sql.migrations("sqlite")]


@pytest.mark.integration
@pytest.mark.timeout(300)
async def test_postgres_first_use_by_several_processes_migrates_once(pg_empty_url: str) -> None:
    run_all(first_user, [(pg_empty_url, f"v{i}") for i in range(4)], timeout=50)
    async with PostgresStore(pg_empty_url) as store:
        assert sorted(v.id for v in await store.list_videos()) == [f"v{i}" for i in range(4)]
    import psycopg

    with psycopg.connect(pg_empty_url) as conn:
        versions = [row[0] for row in conn.execute("SELECT version FROM schema_version ORDER BY 1")]
    assert versions == [m.version for m in sql.migrations("postgres")]
