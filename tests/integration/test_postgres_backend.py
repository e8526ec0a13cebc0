"""PostgreSQL specifics: reconnects, LISTEN/NOTIFY, schema versions, the claim plan."""

from __future__ import annotations

import subprocess
import sys
import time

import anyio
import pytest

from tests.integration.postgres import admin_connection
from videopipe import StorageError
from videopipe._models import JobStatus, Usage, Video
from videopipe.storage import PostgresStore, sql

Q = sql.queries("postgres")
pytestmark = pytest.mark.integration


def _terminate(url: str) -> int:
    """End every session on the database of `url`, as an administrator might."""
    name = url.rsplit("/", 1)[1]
    with admin_connection() as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        ).fetchall()
    return len(rows)


async def test_an_operation_after_the_connections_were_killed_succeeds(pg_url: str) -> None:
    async with PostgresStore(pg_url, min_size=3, max_size=3) as store:
        await store.upsert_video(Video(id="v", original_path="v.mp4"))
        await store.enqueue("v")
        await anyio.sleep(0.2)  # let the pool fill
        assert _terminate(pg_url) >= 1
        assert (await store.get_video("v")).id == "v"
        [job] = await store.claim("w")
        assert await store.complete(job.id, "w")


async def test_an_enqueue_retried_after_its_commit_was_lost_is_not_doubled(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The connection drops after COMMIT but before the answer: the retry finds the work done."""
    async with PostgresStore(pg_url) as store:
        await store.upsert_video(Video(id="v", original_path="v.mp4"))
        run = store._run

        async def committed_then_lost(op):  # what `_run` does when the ack never arrives
            await run(op)
            return await run(op)

        monkeypatch.setattr(store, "_run", committed_then_lost)
        job = await store.enqueue("v", unique=False)
        batch_id = await store.create_batch(["v"])
        await store.record_usage(Usage(video_id="v", stage="vision", provider="p", model="m",
                                       requests=1, cost_usd=0.25))  # fmt: skip
        monkeypatch.undo()
        assert (await store.usage_summary(video_id="v")).cost_usd == 0.25
        pending = await store.peek(10)
        assert len(pending) == 2  # one from enqueue, one from the batch: neither doubled
        assert job.id in {j.id for j in pending}
        assert [j.batch_id for j in pending if j.id != job.id] == [batch_id]
        assert (await store.batch_status(batch_id)).total == 1


async def test_an_operation_waits_for_the_database_to_come_back(pg_url: str) -> None:
    """The database refuses connections for a while: the operation retries until it is back."""
    name = pg_url.rsplit("/", 1)[1]
    async with PostgresStore(pg_url, min_size=1, max_size=2, retry_for=20) as store:
        await store.upsert_video(Video(id="v", original_path="v.mp4"))
        with admin_connection() as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        _terminate(pg_url)

        async def reopen() -> None:
            await anyio.sleep(1.0)
            with admin_connection() as admin:
                admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')

        started = time.monotonic()
        async with anyio.create_task_group() as tg:
            tg.start_soon(reopen)
            assert (await store.get_video("v")).id == "v"
        assert time.monotonic() - started >= 0.9


async def test_retrying_gives_up_after_retry_for(pg_url: str) -> None:
    name = pg_url.rsplit("/", 1)[1]
    async with PostgresStore(pg_url, min_size=1, max_size=1, retry_for=0.5) as store:
        await store.stats()
        with admin_connection() as admin:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        try:
            _terminate(pg_url)
            with pytest.raises(StorageError, match=r"could not get it back within 0\.5 s"):
                await store.stats()
        finally:
            with admin_connection() as admin:
                admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


async def test_a_wrong_url_fails_at_once_without_showing_the_password() -> None:
    store = PostgresStore("postgresql://someone:hunter2@127.0.0.1:1/nothing")
    started = time.monotonic()
    with pytest.raises(StorageError) as info:
        await store.stats()
    assert time.monotonic() - started < 60  # refused at once: no retrying for minutes
    assert "hunter2" not in str(info.value)
    assert "cannot connect to postgresql://someone:***@127.0.0.1:1/nothing" in str(info.value)
    await store.aclose()


async def test_enqueue_wakes_a_waiting_worker(pg_url: str) -> None:
    """LISTEN/NOTIFY: a worker waiting for jobs returns as soon as one is enqueued."""
    async with PostgresStore(pg_url) as worker, PostgresStore(pg_url) as producer:
        await producer.upsert_video(Video(id="v", original_path="v.mp4"))
        await worker.wait_for_jobs(0.01)  # starts listening
        woke_after: list[float] = []

        async def wait() -> None:
            started = time.monotonic()
            await worker.wait_for_jobs(600)
            woke_after.append(time.monotonic() - started)

        async with anyio.create_task_group() as tg:
            tg.start_soon(wait)
            await anyio.sleep(0.3)
            await producer.enqueue("v")
        assert 0.2 < woke_after[0] < 60  # woken, not timed out at 600 s
        # A job released by a stopping worker wakes waiters too.
        [job] = await worker.claim("w1")
        async with anyio.create_task_group() as tg:
            tg.start_soon(wait)
            await anyio.sleep(0.3)
            await producer.release(job.id, "w1")
        assert 0.2 < woke_after[1] < 60


async def test_a_notification_between_waits_is_not_lost(pg_url: str) -> None:
    async with PostgresStore(pg_url) as worker, PostgresStore(pg_url) as producer:
        await producer.upsert_video(Video(id="v", original_path="v.mp4"))
        await worker.wait_for_jobs(0.01)
        await producer.enqueue("v")
        started = time.monotonic()
        await worker.wait_for_jobs(600)
        assert time.monotonic() - started < 60  # woken, not timed out at 600 s


async def test_concurrent_unique_enqueues_make_one_job(pg_url: str) -> None:
    """The partial unique index settles the race that two look-then-insert calls would lose."""
    async with PostgresStore(pg_url, max_size=10) as a, PostgresStore(pg_url, max_size=10) as b:
        await a.upsert_video(Video(id="v", original_path="v.mp4"))
        jobs = []

        async def enqueue(store: PostgresStore) -> None:
            jobs.append(await store.enqueue("v"))

        async with anyio.create_task_group() as tg:
            for i in range(30):
                tg.start_soon(enqueue, a if i % 2 else b)
        assert len({j.id for j in jobs}) == 1
        assert len(await a.peek(100)) == 1


async def test_claims_walk_the_partial_index_in_order(pg_url: str) -> None:
    """No sort and no finished rows: a claim costs the same after a million jobs as after ten."""
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(pg_url) as conn:
        conn.execute(
            "INSERT INTO videos (id, original_path, status, created_at, updated_at) "
            "SELECT 'v' || g, 'v.mp4', 'pending', now(), now() FROM generate_series(1, 2000) g"
        )
    async with PostgresStore(pg_url) as store:
        await store.create_batch([f"v{i}" for i in range(1, 2001)] * 10)
    with psycopg.connect(pg_url, row_factory=dict_row) as conn:
        # 18,000 finished jobs, 2,000 runnable ones.
        conn.execute(
            "UPDATE jobs SET status = 'done' "
            "WHERE created_at > (SELECT min(created_at) FROM jobs) + interval '2000 microseconds'"
        )
        conn.execute("ANALYZE jobs")
        conn.execute("SET plan_cache_mode = force_generic_plan")  # as a prepared claim runs
        params = {"worker_id": "w", "lease": 60.0, "limit": 10, "queue": "default"}
        plan = "\n".join(
            row["QUERY PLAN"]
            for row in conn.execute("EXPLAIN (COSTS OFF) " + Q["claim_queue"], params)
        )
        conn.rollback()
    assert "jobs_runnable" in plan, plan
    assert "Sort" not in plan, plan


def _create_v1(url: str) -> None:
    import psycopg

    [v1, *_] = sql.migrations("postgres")
    with psycopg.connect(url) as conn:
        conn.execute(v1.sql)
        conn.execute(Q["schema_version_table"])
        conn.execute(Q["record_migration"], {"version": 1, "name": v1.name})
        conn.execute(
            "INSERT INTO videos (id, original_path, status, created_at, updated_at) "
            "VALUES ('old', 'old.mp4', 'ready', now(), now())"
        )
        conn.execute(
            "INSERT INTO jobs (id, video_id, queue, priority, status, attempts, max_attempts, "
            "run_after, created_at, updated_at) "
            "VALUES ('job_old', 'old', 'default', 0, 'pending', 0, 3, now(), now(), now())"
        )
        conn.execute(
            "INSERT INTO transcript_segments (id, video_id, idx, t_start, t_end, text) "
            "VALUES ('old_segment_000', 'old', 0, 0, 1.5, 'hello')"
        )


async def test_a_version_1_database_is_upgraded_without_losing_rows(pg_empty_url: str) -> None:
    import psycopg

    _create_v1(pg_empty_url)
    async with PostgresStore(pg_empty_url) as store:
        assert (await store.get_video("old")).original_path == "old.mp4"
        assert [s.text for s in await store.list_segments("old")] == ["hello"]
        assert (await store.get_job("job_old")).status is JobStatus.PENDING
        assert (await store.enqueue("old")).id == "job_old"
        [claimed] = await store.claim("w")
        await store.complete(claimed.id, "w")
        new = await store.enqueue("old")
        assert new.id != "job_old"
        assert (await store.enqueue("old")).id == new.id
    with psycopg.connect(pg_empty_url) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM schema_version ORDER BY 1")]
        index = conn.execute(
            "SELECT 1 FROM pg_indexes WHERE indexname = 'jobs_one_live_per_video'"
        ).fetchone()
    assert versions == [m.version for m in sql.migrations("postgres")]
    assert index is not None


async def test_a_database_newer_than_the_code_is_refused(pg_url: str) -> None:
    import psycopg

    with psycopg.connect(pg_url) as conn:
        conn.execute("INSERT INTO schema_version (version, name) VALUES (99, 'future')")
    store = PostgresStore(pg_url)
    with pytest.raises(StorageError, match="newer than this videopipe"):
        await store.stats()
    await store.aclose()


async def test_pgvector_is_detected_and_exact_search_used(pg_url: str) -> None:
    async with PostgresStore(pg_url) as store:
        await store.stats()
        with admin_connection() as admin:
            available = admin.execute(
                "SELECT count(*) FROM pg_available_extensions WHERE name = 'vector'"
            ).fetchone()[0]
        assert store._pgvector is bool(available)


@pytest.mark.filterwarnings("ignore")
def test_import_videopipe_works_without_psycopg() -> None:
    """`psycopg` is an extra: without it `import videopipe` works, and using Postgres says how."""
    code = (
        "import sys; sys.modules['psycopg'] = None; sys.modules['psycopg_pool'] = None\n"
        "import videopipe, videopipe.storage as s\n"
        "try:\n"
        "    s.open_store('postgresql://localhost/x')\n"
        "except videopipe.MissingDependency as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'videopipe[postgres]'" in out.stdout
