"""SQLite specifics: a real file, WAL, schema versions and upgrades."""

from __future__ import annotations

import sqlite3
from contextlib import closing

import pytest

from videopipe import StorageError
from videopipe._models import JobStatus, Video
from videopipe.storage import SQLiteStore, sql

Q = sql.queries("sqlite")


async def test_data_survives_reopening_the_file(tmp_path) -> None:
    path = tmp_path / "videos.db"
    async with SQLiteStore(path) as store:
        await store.upsert_video(Video(id="talk", original_path="talk.mp4"))
        job = await store.enqueue("talk")
    async with SQLiteStore(path) as store:
        assert (await store.get_video("talk")).original_path == "talk.mp4"
        assert (await store.get_job(job.id)).status is JobStatus.PENDING


async def test_the_file_is_in_wal_mode_with_foreign_keys(tmp_path) -> None:
    path = tmp_path / "videos.db"
    async with SQLiteStore(path) as store:
        await store.stats()
        with closing(sqlite3.connect(path)) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert await store._run(lambda c: c.execute("PRAGMA foreign_keys").fetchone()[0]) == 1


async def test_sqlite_runs_off_the_event_loop(tmp_path) -> None:
    """The loop keeps ticking while a store call runs: the call is on a worker thread."""
    import threading

    async with SQLiteStore(tmp_path / "x.db") as store:
        thread = await store._run(lambda conn: threading.get_ident())
    assert thread != threading.get_ident()


def _create_v1(path) -> None:
    """A database exactly as version 1 left it, with rows in it."""
    [v1, *_] = sql.migrations("sqlite")
    conn = sqlite3.connect(path)
    conn.executescript(v1.sql)
    conn.execute(Q["schema_version_table"])
    conn.execute(Q["record_migration"], {"version": 1, "name": v1.name, "applied_at": 0})
    conn.execute(
        "INSERT INTO videos (id, original_path, status, created_at, updated_at) "
        "VALUES ('old', 'old.mp4', 'ready', 1, 2)"
    )
    conn.execute(
        "INSERT INTO jobs (id, video_id, queue, priority, status, attempts, max_attempts, "
        "run_after, created_at, updated_at) "
        "VALUES ('job_old', 'old', 'default', 0, 'pending', 0, 3, 0, 1, 1)"
    )
    conn.execute(
        "INSERT INTO transcript_segments (id, video_id, idx, t_start, t_end, text) "
        "VALUES ('old_segment_000', 'old', 0, 0.0, 1.5, 'hello')"
    )
    conn.commit()
    conn.close()


async def test_a_version_1_database_is_upgraded_without_losing_rows(tmp_path) -> None:
    path = tmp_path / "v1.db"
    _create_v1(path)
    async with SQLiteStore(path) as store:
        assert (await store.get_video("old")).original_path == "old.mp4"
        assert [s.text for s in await store.list_segments("old")] == ["hello"]
        old_job = await store.get_job("job_old")
        assert old_job.status is JobStatus.PENDING
        # The upgrade's column is in use: the old live job still answers a unique enqueue,
        assert (await store.enqueue("old")).id == "job_old"
        # and a new unique job takes the video's slot once the old one is done.
        [claimed] = await store.claim("w")
        await store.complete(claimed.id, "w")
        new = await store.enqueue("old")
        assert new.id != "job_old"
        assert (await store.enqueue("old")).id == new.id
    with closing(sqlite3.connect(path)) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY 1")]
        columns = {r[1] for r in conn.execute("PRAGMA table_info(jobs)")}
        indexes = {r[1] for r in conn.execute("PRAGMA index_list(jobs)")}
    assert versions == [m.version for m in sql.migrations("sqlite")]
    assert "dedupe" in columns
    assert "jobs_one_live_per_video" in indexes


async def test_the_unique_slot_is_enforced_by_the_database(tmp_path) -> None:
    """Even a writer that skips the store's look-up cannot add a second live unique job."""
    async with SQLiteStore(tmp_path / "x.db") as store:
        await store.upsert_video(Video(id="v", original_path="v.mp4"))
        await store.enqueue("v")
    with (
        closing(sqlite3.connect(tmp_path / "x.db")) as conn,
        pytest.raises(sqlite3.IntegrityError),
    ):
        conn.execute(
            "INSERT INTO jobs (id, video_id, queue, priority, status, attempts, max_attempts, "
            "run_after, created_at, updated_at, dedupe) "
            "VALUES ('job_2', 'v', 'default', 0, 'pending', 0, 3, 0, 1, 1, 1)"
        )


async def test_a_database_newer_than_the_code_is_refused(tmp_path) -> None:
    path = tmp_path / "future.db"
    async with SQLiteStore(path) as store:
        await store.stats()
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("INSERT INTO schema_version VALUES (99, 'future', 0)")
        conn.commit()
    store = SQLiteStore(path)
    with pytest.raises(StorageError, match="newer than this videopipe"):
        await store.stats()
    await store.aclose()


async def test_an_unopenable_file_is_a_storage_error(tmp_path) -> None:
    store = SQLiteStore(tmp_path / "missing-dir" / "x.db")
    with pytest.raises(StorageError, match="unable to open"):
        await store.stats()
    await store.aclose()


async def test_claims_use_the_partial_index(tmp_path) -> None:
    """A claim walks the index of runnable jobs in claim order: no sort, no finished rows."""
    async with SQLiteStore(tmp_path / "x.db") as store:
        await store.stats()
        plan = await store._run(
            lambda conn: " ".join(
                str(row[3])
                for row in conn.execute(
                    "EXPLAIN QUERY PLAN " + Q["claim_queue"],
                    {"worker_id": "w", "now": 0, "lease_until": 0, "limit": 10, "queue": "q"},
                )
            )
        )
    assert "jobs_runnable" in plan
    assert "TEMP B-TREE" not in plan  # no sort step
