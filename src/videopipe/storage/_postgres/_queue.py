"""`PostgresStore`'s `JobQueue`: `FOR UPDATE SKIP LOCKED` claims, leases, batches, `NOTIFY`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import anyio

from ..._exceptions import NotFound, StoreClosed
from ..._models import BatchItem, BatchResults, BatchStatus, Job, JobStatus, QueueStats
from .._coalescer import Coalescer
from .._common import (
    batch_status_of_row,
    check_limit,
    check_queue,
    check_text,
    new_id,
    sanitize_text,
)
from .._queue import DEFAULT_LEASE
from ._connection import PostgresConnection
from ._values import _Q, Row, _ok, _record, _require_videos, _utc, _utc_or_none, logger

if TYPE_CHECKING:
    from ._values import Conn

__all__ = ["PostgresQueue"]


class PostgresQueue(PostgresConnection):
    """The [`JobQueue`][videopipe.storage.JobQueue] of a `PostgresStore`."""

    _complete: Coalescer[tuple[str, str], bool]

    # --- the job queue -------------------------------------------------------------------

    async def enqueue(
        self,
        video_id: str,
        *,
        queue: str = "default",
        priority: int = 0,
        max_attempts: int = 3,
        batch_id: str | None = None,
        unique: bool = True,
    ) -> Job:
        check_queue(queue)
        if batch_id is not None:
            check_text(batch_id, what="batch_id")
        params = {
            "id": new_id("job"),
            "video_id": video_id,
            "queue": queue,
            "priority": priority,
            "max_attempts": max_attempts,
            "batch_id": batch_id,
            "dedupe": unique,
        }

        async def op(conn: Conn) -> Job:
            # A retry after a lost connection: the first attempt may have committed.
            mine = await (await conn.execute(_Q["get_job"], params)).fetchone()
            if mine is not None:
                return _record(Job, mine)
            while True:
                live = await (await conn.execute(_Q["video_live_job"], params)).fetchone()
                if live is None:
                    raise NotFound(f"no video with id {video_id!r}")
                if unique and live["id"] is not None:
                    return _record(Job, live)
                row = await (await conn.execute(_Q["insert_job"], params)).fetchone()
                if row is not None:
                    return _record(Job, row)
                # Another enqueue of this video won the race for its unique slot
                # between our look and our insert: look again, and return its job.

        if not _ok(video_id):
            self._check()
            raise NotFound(f"no video with id {video_id!r}")
        return await self._run(op)

    async def claim(
        self,
        worker_id: str,
        *,
        queues: Sequence[str] = ("default",),
        lease: float = DEFAULT_LEASE,
        limit: int = 1,
    ) -> list[Job]:
        check_limit(limit)
        check_text(worker_id, what="worker_id")
        names = [check_queue(q) for q in queues]
        if limit == 0 or not names:
            self._check()
            return []
        params: dict[str, Any] = {"worker_id": worker_id, "lease": float(lease), "limit": limit}
        if len(names) == 1:
            query, params["queue"] = _Q["claim_queue"], names[0]
        else:
            query, params["queues"] = _Q["claim_queues"], names
        jobs = [_record(Job, row) for row in await self._rows(query, params)]
        # RETURNING comes back in no particular order.
        jobs.sort(key=lambda j: (-j.priority, j.created_at, j.id))
        return jobs

    async def _owned(self, name: str, job_id: str, worker_id: str, **extra: Any) -> Row | None:
        if not (_ok(job_id) and _ok(worker_id)):
            self._check()
            return None
        return await self._row(_Q[name], {"id": job_id, "worker_id": worker_id, **extra})

    async def heartbeat(self, job_id: str, worker_id: str, *, lease: float = DEFAULT_LEASE) -> bool:
        return await self._owned("heartbeat", job_id, worker_id, lease=float(lease)) is not None

    async def complete(self, job_id: str, worker_id: str) -> bool:
        self._check()
        if not (_ok(job_id) and _ok(worker_id)):
            return False
        return await self._complete((job_id, worker_id))

    async def _complete_many(self, keys: list[tuple[str, str]]) -> list[bool]:
        if len(keys) == 1:
            [(job_id, worker_id)] = keys
            return [await self._owned("complete", job_id, worker_id) is not None]
        params = {"ids": [k[0] for k in keys], "worker_ids": [k[1] for k in keys]}
        done = {
            (row["id"], row["worker_id"]) for row in await self._rows(_Q["complete_many"], params)
        }
        return _first_wins(keys, done)

    async def fail(
        self,
        job_id: str,
        worker_id: str,
        error: str,
        *,
        retry_in: float = 0.0,
        max_attempts: int | None = None,
        permanent: bool = False,
    ) -> Job | None:
        row = await self._owned(
            "fail",
            job_id,
            worker_id,
            error=sanitize_text(error),
            retry_in=float(retry_in),
            notify=retry_in <= 0,
            cap=0 if permanent else max_attempts,
        )
        return None if row is None else _record(Job, row)

    async def release(self, job_id: str, worker_id: str) -> bool:
        return await self._owned("release", job_id, worker_id) is not None

    async def replay(self, job_id: str | None = None) -> int:
        if job_id is None:
            row = await self._row(_Q["replay_all"])
        elif _ok(job_id):
            row = await self._row(_Q["replay_one"], {"id": job_id})
        else:
            self._check()
            return 0
        assert row is not None  # an aggregate always has its row
        count: int = row["count"]
        return count

    async def cancel(self, job_id: str) -> bool:
        if not _ok(job_id):
            self._check()
            raise NotFound(f"no job with id {job_id!r}")
        if await self._row(_Q["cancel"], {"id": job_id}) is not None:
            return True
        await self.get_job(job_id)  # NotFound, or a job that is no longer pending
        return False

    async def get_job(self, job_id: str) -> Job:
        row = await self._row(_Q["get_job"], {"id": job_id}) if _ok(job_id) else None
        if row is None:
            self._check()
            raise NotFound(f"no job with id {job_id!r}")
        return _record(Job, row)

    async def peek(self, n: int = 10, *, status: JobStatus = JobStatus.PENDING) -> list[Job]:
        check_limit(n, what="n")
        rows = await self._rows(_Q["peek"], {"status": JobStatus(status).value, "n": n})
        return [_record(Job, row) for row in rows]

    async def stats(self) -> QueueStats:
        row = await self._row(_Q["stats"])
        assert row is not None  # an aggregate always has its row
        oldest = row["oldest"]
        age = None if oldest is None else max(0.0, (row["now"] - oldest).total_seconds())
        return QueueStats(
            counts={s.value: row[s.value] for s in JobStatus},
            oldest_pending_age_sec=age,
            failed_attempts=row["failed"],
        )

    # --- batches -------------------------------------------------------------------------

    async def create_batch(
        self,
        video_ids: Sequence[str],
        *,
        queue: str = "default",
        priority: int = 0,
        max_attempts: int = 3,
    ) -> str:
        check_queue(queue)
        ids = list(video_ids)
        for video_id in ids:
            if not _ok(video_id):
                self._check()
                raise NotFound(f"no video with id {video_id!r}")
        batch_id = new_id("batch")
        params = {
            "batch_id": batch_id,
            "queue": queue,
            "priority": priority,
            "max_attempts": max_attempts,
            "ids": [new_id("job") for _ in ids],
            "video_ids": ids,
        }

        async def op(conn: Conn) -> str:
            async with conn.transaction():
                # A retry after a lost connection: the first attempt may have committed.
                done = await conn.execute(_Q["batch_exists"], {"id": batch_id})
                if await done.fetchone() is not None:
                    return batch_id
                await _require_videos(conn, ids)
                await conn.execute(_Q["insert_batch"], {"id": batch_id, "total": len(ids)})
                await conn.execute(_Q["insert_batch_jobs"], params)
                if ids:
                    await conn.execute(_Q["notify_jobs"], {"queue": queue})
            return batch_id

        return await self._run(op)

    async def batch_status(self, batch_id: str) -> BatchStatus:
        row = await self._row(_Q["batch_status"], {"id": batch_id}) if _ok(batch_id) else None
        return _batch_status(row, batch_id, self)

    async def batch_results(self, batch_id: str) -> BatchResults:
        if not _ok(batch_id):
            self._check()
            raise NotFound(f"no batch with id {batch_id!r}")

        async def op(conn: Conn) -> tuple[Row | None, list[Row]]:
            async with conn.transaction():
                # One snapshot: the summary and the items agree.
                await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                status = await (await conn.execute(_Q["batch_status"], {"id": batch_id})).fetchone()
                rows = await (await conn.execute(_Q["batch_items"], {"id": batch_id})).fetchall()
            return status, rows

        status_row, rows = await self._run(op)
        status = _batch_status(status_row, batch_id, self)
        items = [_record(BatchItem, row) for row in rows]
        return BatchResults(
            batch_id=batch_id,
            state=status.state,
            total=status.total,
            successful=status.done,
            failed=status.failed,
            items=items,
        )

    async def cancel_batch(self, batch_id: str) -> int:
        if not _ok(batch_id):
            self._check()
            raise NotFound(f"no batch with id {batch_id!r}")

        async def op(conn: Conn) -> int:
            async with conn.transaction():
                found = await (await conn.execute(_Q["cancel_batch"], {"id": batch_id})).fetchone()
                if found is None:
                    raise NotFound(f"no batch with id {batch_id!r}")
                cursor = await conn.execute(_Q["cancel_batch_jobs"], {"id": batch_id})
                return cursor.rowcount

        return await self._run(op)

    # --- waiting for work ----------------------------------------------------------------

    async def wait_for_jobs(self, timeout: float) -> None:  # noqa: ASYNC109 (an idle wait, not a deadline)
        """Wait up to `timeout` seconds, returning early when a job is enqueued or released.

        Listens on the channel `videopipe_jobs` (PostgreSQL `LISTEN/NOTIFY`)
        with a connection of its own, kept open between calls, so a job
        enqueued between two calls still wakes the next one. If listening
        fails, it sleeps instead: the wake-up only saves polling.
        """
        import psycopg

        self._check()
        deadline = anyio.current_time() + timeout
        async with self._listen_lock:
            try:
                listener = self._listener
                if listener is None:
                    await self._open()  # the schema, and a clear error for a bad URL
                    listener = self._listener = await self._connect()
                    await listener.execute(_Q["listen_jobs"])
                remaining = max(0.0, deadline - anyio.current_time())
                async for _ in listener.notifies(timeout=remaining, stop_after=1):
                    pass
                return
            except psycopg.Error as exc:
                await self._drop_listener()
                if self._closed:
                    raise StoreClosed from exc
                logger.debug("cannot listen for jobs in %s (%s); sleeping instead", self.url, exc)
        await anyio.sleep(max(0.0, deadline - anyio.current_time()))


def _first_wins(keys: list[tuple[str, str]], done: set[tuple[str, str]]) -> list[bool]:
    """Each key's answer; a job completed twice in one batch is completed by the first call."""
    answers = []
    for key in keys:
        answers.append(key in done)
        done.discard(key)
    return answers


def _batch_status(row: Row | None, batch_id: str, store: PostgresConnection) -> BatchStatus:
    if row is None:
        store._check()
        raise NotFound(f"no batch with id {batch_id!r}")
    return batch_status_of_row(
        row, created_at=_utc(row["created_at"]), last_update=_utc_or_none(row["last_update"])
    )
