"""`MemoryStore`'s `JobQueue`: jobs, leases and batches as Python objects."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

import anyio

from ..._exceptions import NotFound
from ..._models import (
    Batch,
    BatchItem,
    BatchResults,
    BatchStatus,
    Job,
    JobStatus,
    QueueStats,
    utcnow,
)
from .._common import (
    LIVE,
    REAPED,
    batch_status,
    check_limit,
    check_queue,
    check_text,
    new_id,
    sanitize_text,
)
from .._queue import DEFAULT_LEASE
from ._state import MemoryState

__all__ = ["MemoryQueue"]


class MemoryQueue(MemoryState):
    """The [`JobQueue`][videopipe.storage.JobQueue] of a `MemoryStore`."""

    # --- the job queue ---------------------------------------------------------------------

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
        self._require_video(video_id)
        check_queue(queue)
        if unique:
            for job in self.jobs.values():
                if job.video_id == video_id and job.status in LIVE:
                    return job
        job = Job(
            id=new_id("job"),
            video_id=video_id,
            queue=queue,
            priority=priority,
            max_attempts=max_attempts,
            batch_id=batch_id,
        )
        self.jobs[job.id] = job
        return job

    async def claim(
        self,
        worker_id: str,
        *,
        queues: Sequence[str] = ("default",),
        lease: float = DEFAULT_LEASE,
        limit: int = 1,
    ) -> list[Job]:
        self._check()
        check_limit(limit)
        check_text(worker_id, what="worker_id")
        for name in queues:
            check_queue(name)
        now = utcnow()
        runnable = []
        for j in list(self.jobs.values()):
            if j.queue not in queues:
                continue
            expired = (
                j.status is JobStatus.PROCESSING
                and j.lease_expires_at is not None
                and j.lease_expires_at <= now
            )
            if expired and j.attempts >= j.max_attempts:
                # Its last attempt's worker died: dead-letter it, never re-claim it forever.
                self.jobs[j.id] = j.model_copy(
                    update={
                        "status": JobStatus.DEAD,
                        "lease_expires_at": None,
                        "last_error": " / ".join(filter(None, [j.last_error, REAPED])),
                        "updated_at": now,
                    }
                )
            elif expired or (j.status is JobStatus.PENDING and j.run_after <= now):
                runnable.append(j)
        runnable.sort(key=lambda j: (-j.priority, j.created_at, j.id))
        claimed = []
        for job in runnable[:limit]:
            job = job.model_copy(
                update={
                    "status": JobStatus.PROCESSING,
                    "attempts": job.attempts + 1,
                    "worker_id": worker_id,
                    "lease_expires_at": now + timedelta(seconds=lease),
                    "updated_at": now,
                }
            )
            self.jobs[job.id] = job
            claimed.append(job)
        return claimed

    def _owned(self, job_id: str, worker_id: str) -> Job | None:
        self._check()
        job = self.jobs.get(job_id)
        if job is None or job.status is not JobStatus.PROCESSING or job.worker_id != worker_id:
            return None
        return job

    async def heartbeat(self, job_id: str, worker_id: str, *, lease: float = DEFAULT_LEASE) -> bool:
        job = self._owned(job_id, worker_id)
        if job is None:
            return False
        now = utcnow()
        self.jobs[job_id] = job.model_copy(
            update={"lease_expires_at": now + timedelta(seconds=lease), "updated_at": now}
        )
        return True

    async def complete(self, job_id: str, worker_id: str) -> bool:
        job = self._owned(job_id, worker_id)
        if job is None:
            return False
        self.jobs[job_id] = job.model_copy(
            update={
                "status": JobStatus.DONE,
                "lease_expires_at": None,
                "last_error": None,
                "updated_at": utcnow(),
            }
        )
        return True

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
        job = self._owned(job_id, worker_id)
        if job is None:
            return None
        error = sanitize_text(error)
        now = utcnow()
        cap = job.max_attempts if max_attempts is None else min(job.max_attempts, max_attempts)
        dead = permanent or job.attempts >= cap
        job = job.model_copy(
            update={
                "status": JobStatus.DEAD if dead else JobStatus.PENDING,
                "run_after": now if dead else now + timedelta(seconds=retry_in),
                "lease_expires_at": None,
                "last_error": error,
                "updated_at": now,
            }
        )
        self.jobs[job_id] = job
        return job

    async def release(self, job_id: str, worker_id: str) -> bool:
        job = self._owned(job_id, worker_id)
        if job is None:
            return False
        now = utcnow()
        self.jobs[job_id] = job.model_copy(
            update={
                "status": JobStatus.PENDING,
                "attempts": max(0, job.attempts - 1),
                "run_after": now,
                "lease_expires_at": None,
                "worker_id": None,
                "updated_at": now,
            }
        )
        return True

    async def replay(self, job_id: str | None = None) -> int:
        self._check()
        now = utcnow()
        count = 0
        for job in list(self.jobs.values()):
            if job.status is JobStatus.DEAD and (job_id is None or job.id == job_id):
                self.jobs[job.id] = job.model_copy(
                    update={
                        "status": JobStatus.PENDING,
                        "attempts": 0,
                        "run_after": now,
                        "worker_id": None,
                        "updated_at": now,
                    }
                )
                count += 1
        return count

    async def cancel(self, job_id: str) -> bool:
        job = await self.get_job(job_id)
        if job.status is not JobStatus.PENDING:
            return False
        self.jobs[job_id] = job.model_copy(
            update={"status": JobStatus.CANCELLED, "updated_at": utcnow()}
        )
        return True

    async def get_job(self, job_id: str) -> Job:
        self._check()
        try:
            return self.jobs[job_id]
        except KeyError:
            raise NotFound(f"no job with id {job_id!r}") from None

    async def peek(self, n: int = 10, *, status: JobStatus = JobStatus.PENDING) -> list[Job]:
        self._check()
        check_limit(n, what="n")
        jobs = [j for j in self.jobs.values() if j.status is status]
        jobs.sort(key=lambda j: (-j.priority, j.created_at, j.id))
        return jobs[:n]

    async def stats(self) -> QueueStats:
        self._check()
        now = utcnow()
        counts = {s.value: 0 for s in JobStatus}
        oldest = None
        failed = 0
        for job in self.jobs.values():
            counts[job.status.value] += 1
            if job.status is JobStatus.PENDING and job.run_after <= now:
                oldest = job.created_at if oldest is None else min(oldest, job.created_at)
            if job.last_error is not None:
                failed += 1
        age = None if oldest is None else (now - oldest).total_seconds()
        return QueueStats(counts=counts, oldest_pending_age_sec=age, failed_attempts=failed)

    # --- batches ---------------------------------------------------------------------------

    async def create_batch(
        self,
        video_ids: Sequence[str],
        *,
        queue: str = "default",
        priority: int = 0,
        max_attempts: int = 3,
    ) -> str:
        self._check()
        for video_id in video_ids:
            self._require_video(video_id)
        batch = Batch(id=new_id("batch"), total=len(video_ids))
        self.batches[batch.id] = batch
        for video_id in video_ids:
            await self.enqueue(
                video_id,
                queue=queue,
                priority=priority,
                max_attempts=max_attempts,
                batch_id=batch.id,
                unique=False,
            )
        return batch.id

    def _batch(self, batch_id: str) -> tuple[Batch, list[Job]]:
        self._check()
        try:
            batch = self.batches[batch_id]
        except KeyError:
            raise NotFound(f"no batch with id {batch_id!r}") from None
        jobs = sorted(
            (j for j in self.jobs.values() if j.batch_id == batch_id),
            key=lambda j: (j.created_at, j.id),
        )
        return batch, jobs

    async def batch_status(self, batch_id: str) -> BatchStatus:
        batch, jobs = self._batch(batch_id)
        counts = {s: sum(1 for j in jobs if j.status is s) for s in JobStatus}
        last = max((j.updated_at for j in jobs), default=None)
        return batch_status(
            batch.id,
            counts,
            total=batch.total,
            cancelled=batch.cancelled,
            created_at=batch.created_at,
            last_update=last,
        )

    async def batch_results(self, batch_id: str) -> BatchResults:
        status = await self.batch_status(batch_id)
        _, jobs = self._batch(batch_id)
        items = [
            BatchItem(
                job_id=j.id,
                video_id=j.video_id,
                original_path=self.videos[j.video_id].original_path,
                status=j.status,
                attempts=j.attempts,
                error=j.last_error,
            )
            for j in jobs
        ]
        return BatchResults(
            batch_id=batch_id,
            state=status.state,
            total=status.total,
            successful=status.done,
            failed=status.failed,
            items=items,
        )

    async def cancel_batch(self, batch_id: str) -> int:
        batch, jobs = self._batch(batch_id)
        self.batches[batch_id] = batch.model_copy(update={"cancelled": True})
        count = 0
        for job in jobs:
            if await self.cancel(job.id):
                count += 1
        return count

    async def wait_for_jobs(self, timeout: float) -> None:  # noqa: ASYNC109 (an idle wait, not a deadline)
        """Sleep `timeout` seconds: a memory store has no other process to hear from."""
        self._check()
        await anyio.sleep(timeout)
