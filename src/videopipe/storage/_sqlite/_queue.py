"""`SQLiteStore`'s `JobQueue`: jobs, leases and batches under SQLite's write lock."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import anyio
import anyio.to_thread

from ..._exceptions import NotFound, StoreClosed
from ..._models import BatchItem, BatchResults, BatchStatus, Job, JobStatus, QueueStats, utcnow
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
from ._connection import (
    _Q,
    Row,
    SQLiteConnection,
    _dt,
    _dt_or_none,
    _ok,
    _record,
    _require_video,
    _require_videos,
    _snapshot,
    _us,
)

__all__ = ["SQLiteQueue"]


class SQLiteQueue(SQLiteConnection):
    """The [`JobQueue`][videopipe.storage.JobQueue] of a `SQLiteStore`."""

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
        now = _us(utcnow())
        params = {
            "id": new_id("job"),
            "video_id": video_id,
            "queue": queue,
            "priority": priority,
            "max_attempts": max_attempts,
            "batch_id": batch_id,
            "now": now,
            "created_at": now,
            "dedupe": int(unique),
        }

        def op(conn: sqlite3.Connection) -> Job:
            _require_video(conn, video_id)
            if unique:
                # The write lock is held: nobody can add a live job between this
                # look and the insert.
                row = conn.execute(_Q["live_job"], {"video_id": video_id}).fetchone()
                if row is not None:
                    return _record(Job, row)
            return _record(Job, conn.execute(_Q["insert_job"], params).fetchone())

        return await self._write(op)

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
            await self._run(lambda conn: None)
            return []
        now = utcnow()
        params: dict[str, Any] = {
            "worker_id": worker_id,
            "now": _us(now),
            "lease_until": _us(now + timedelta(seconds=lease)),
            "limit": limit,
        }
        if len(names) == 1:
            query, params["queue"] = _Q["claim_queue"], names[0]
        else:
            query, params["queues"] = _Q["claim_queues"], json.dumps(names)

        def op(conn: sqlite3.Connection) -> list[Job]:
            conn.execute(_Q["reap_expired"], {"now": params["now"]})
            return [_record(Job, row) for row in conn.execute(query, params).fetchall()]

        jobs = await self._write(op)
        # RETURNING comes back in no particular order.
        jobs.sort(key=lambda j: (-j.priority, j.created_at, j.id))
        return jobs

    async def _owned_update(
        self, name: str, job_id: str, worker_id: str, **extra: Any
    ) -> Row | None:
        if not (_ok(job_id) and _ok(worker_id)):
            await self._run(lambda conn: None)
            return None
        now = utcnow()
        params = {"id": job_id, "worker_id": worker_id, "now": _us(now), **extra}
        for key, value in extra.items():
            if isinstance(value, timedelta):
                params[key] = _us(now + value)

        def op(conn: sqlite3.Connection) -> Row | None:
            row: Row | None = conn.execute(_Q[name], params).fetchone()
            return row

        return await self._write(op)

    async def heartbeat(self, job_id: str, worker_id: str, *, lease: float = DEFAULT_LEASE) -> bool:
        row = await self._owned_update(
            "heartbeat", job_id, worker_id, lease_until=timedelta(seconds=lease)
        )
        return row is not None

    async def complete(self, job_id: str, worker_id: str) -> bool:
        if self._closed:
            raise StoreClosed
        if not (_ok(job_id) and _ok(worker_id)):
            return False
        return await self._complete((job_id, worker_id))

    async def _complete_many(self, keys: list[tuple[str, str]]) -> list[bool]:
        now = _us(utcnow())

        def op(conn: sqlite3.Connection) -> list[bool]:
            return [
                conn.execute(
                    _Q["complete"], {"id": job_id, "worker_id": worker_id, "now": now}
                ).fetchone()
                is not None
                for job_id, worker_id in keys
            ]

        return await self._write(op)

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
        row = await self._owned_update(
            "fail",
            job_id,
            worker_id,
            error=sanitize_text(error),
            retry_at=timedelta(seconds=retry_in),
            cap=0 if permanent else max_attempts,
        )
        return None if row is None else _record(Job, row)

    async def release(self, job_id: str, worker_id: str) -> bool:
        return await self._owned_update("release", job_id, worker_id) is not None

    async def replay(self, job_id: str | None = None) -> int:
        now = _us(utcnow())
        if job_id is not None and not _ok(job_id):
            await self._run(lambda conn: None)
            return 0

        def op(conn: sqlite3.Connection) -> int:
            if job_id is None:
                return conn.execute(_Q["replay_all"], {"now": now}).rowcount
            return conn.execute(_Q["replay_one"], {"id": job_id, "now": now}).rowcount

        return await self._write(op)

    async def cancel(self, job_id: str) -> bool:
        now = _us(utcnow())

        def op(conn: sqlite3.Connection) -> bool:
            _get_job(conn, job_id)
            return conn.execute(_Q["cancel"], {"id": job_id, "now": now}).rowcount == 1

        return await self._write(op)

    async def get_job(self, job_id: str) -> Job:
        return await self._run(lambda conn: _get_job(conn, job_id))

    async def peek(self, n: int = 10, *, status: JobStatus = JobStatus.PENDING) -> list[Job]:
        check_limit(n, what="n")
        params = {"status": JobStatus(status).value, "n": n}
        return await self._run(
            lambda conn: [_record(Job, row) for row in conn.execute(_Q["peek"], params)]
        )

    async def stats(self) -> QueueStats:
        def op(conn: sqlite3.Connection) -> QueueStats:
            now = utcnow()
            row = conn.execute(_Q["stats"], {"now": _us(now)}).fetchone()
            oldest = row["oldest"]
            return QueueStats(
                counts={s.value: row[s.value] for s in JobStatus},
                oldest_pending_age_sec=(
                    None if oldest is None else (now - _dt(oldest)).total_seconds()
                ),
                failed_attempts=row["failed"],
            )

        return await self._run(op)

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
        batch_id = new_id("batch")
        now = _us(utcnow())
        ids = list(video_ids)
        rows = [
            {
                "id": new_id("job"),
                "video_id": video_id,
                "queue": queue,
                "priority": priority,
                "max_attempts": max_attempts,
                "batch_id": batch_id,
                "now": now,
                # One microsecond apart: the batch runs in the order it was given.
                "created_at": now + i,
                "dedupe": 0,
            }
            for i, video_id in enumerate(ids)
        ]

        def op(conn: sqlite3.Connection) -> str:
            _require_videos(conn, ids)
            conn.execute(_Q["insert_batch"], {"id": batch_id, "total": len(ids), "now": now})
            conn.executemany(_Q["insert_batch_job"], rows)
            return batch_id

        return await self._write(op)

    async def batch_status(self, batch_id: str) -> BatchStatus:
        return await self._run(lambda conn: _batch_status(conn, batch_id))

    async def batch_results(self, batch_id: str) -> BatchResults:
        def op(conn: sqlite3.Connection) -> BatchResults:
            with _snapshot(conn):  # the summary and the items agree
                status = _batch_status(conn, batch_id)
                rows = conn.execute(_Q["batch_items"], {"id": batch_id}).fetchall()
            items = [_record(BatchItem, row) for row in rows]
            return BatchResults(
                batch_id=batch_id,
                state=status.state,
                total=status.total,
                successful=status.done,
                failed=status.failed,
                items=items,
            )

        return await self._run(op)

    async def cancel_batch(self, batch_id: str) -> int:
        now = _us(utcnow())

        def op(conn: sqlite3.Connection) -> int:
            if (
                not _ok(batch_id)
                or conn.execute(_Q["cancel_batch"], {"id": batch_id}).fetchone() is None
            ):
                raise NotFound(f"no batch with id {batch_id!r}")
            return conn.execute(_Q["cancel_batch_jobs"], {"id": batch_id, "now": now}).rowcount

        return await self._write(op)

    async def wait_for_jobs(self, timeout: float) -> None:  # noqa: ASYNC109 (an idle wait, not a deadline)
        """Sleep `timeout` seconds: SQLite has no way to hear of other processes' jobs."""
        if self._closed:
            raise StoreClosed
        await anyio.sleep(timeout)


def _get_job(conn: sqlite3.Connection, job_id: str) -> Job:
    row = conn.execute(_Q["get_job"], {"id": job_id}).fetchone() if _ok(job_id) else None
    if row is None:
        raise NotFound(f"no job with id {job_id!r}")
    return _record(Job, row)


def _batch_status(conn: sqlite3.Connection, batch_id: str) -> BatchStatus:
    row = conn.execute(_Q["batch_status"], {"id": batch_id}).fetchone() if _ok(batch_id) else None
    if row is None:
        raise NotFound(f"no batch with id {batch_id!r}")
    return batch_status_of_row(
        row, created_at=_dt(row["created_at"]), last_update=_dt_or_none(row["last_update"])
    )
