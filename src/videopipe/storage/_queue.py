"""The `JobQueue` protocol: jobs, leases, the dead-letter queue and batches."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from .._models import BatchResults, BatchStatus, Job, JobStatus, QueueStats

__all__ = ["DEFAULT_LEASE", "JobQueue"]

DEFAULT_LEASE = 60.0
"""Seconds a claimed job stays leased to its worker without a heartbeat."""


# Runtime-checkable: a worker asks whether its pipeline's store is also a queue.
@runtime_checkable
class JobQueue(Protocol):
    """**Protocol:** the job queue that workers drain: jobs, leases, retries, batches.

    What [`Worker`][videopipe.Worker] depends on. A job names a video of the
    same store: `enqueue` and `create_batch` raise `NotFound` for an unknown
    one. Every backend of [`Store`][videopipe.storage.Store] implements it.

    Note:
        Added in 0.1.0.
    """

    # --- jobs ------------------------------------------------------------------------------

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
        """Add a job to process the video (which must exist).

        With `unique`, a video that already has a live (pending or processing)
        job gets that job back instead of a duplicate.
        """
        ...

    async def claim(
        self,
        worker_id: str,
        *,
        queues: Sequence[str] = ("default",),
        lease: float = DEFAULT_LEASE,
        limit: int = 1,
    ) -> list[Job]:
        """Atomically take up to `limit` runnable jobs, highest priority first, then oldest.

        Runnable: `pending` with `run_after <= now`, or `processing` with an
        expired lease (its worker died). Each claimed job becomes `processing`,
        `attempts += 1`, leased to `worker_id` for `lease` seconds.
        """
        ...

    async def heartbeat(self, job_id: str, worker_id: str, *, lease: float = DEFAULT_LEASE) -> bool:
        """Extend the lease; `False` when the job is no longer this worker's."""
        ...

    async def complete(self, job_id: str, worker_id: str) -> bool:
        """Mark the job `done`; `False` when the job is no longer this worker's."""
        ...

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
        """Record a failed attempt.

        With attempts left the job goes back to `pending`, runnable after
        `retry_in` seconds; after the last attempt it goes to `dead` (the
        dead-letter queue) keeping `error`. The last attempt is the job's
        `max_attempts`, or the worker's `max_attempts` when that is lower.
        A `permanent` failure (the error's `permanent`: not a video, a missing
        input) goes to `dead` at once, whatever attempts are left.
        Returns the updated job, or `None` when the job is no longer this
        worker's.
        """
        ...

    async def release(self, job_id: str, worker_id: str) -> bool:
        """Give a claimed job back to `pending` at once, refunding its attempt (graceful stop)."""
        ...

    async def replay(self, job_id: str | None = None) -> int:
        """Move a dead job (or, with no ID, every dead job) back to `pending`, attempts reset."""
        ...

    async def cancel(self, job_id: str) -> bool:
        """Cancel a pending job; `False` if it is not pending."""
        ...

    async def get_job(self, job_id: str) -> Job:
        """The job with this ID. Raises `NotFound`."""
        ...

    async def peek(self, n: int = 10, *, status: JobStatus = JobStatus.PENDING) -> list[Job]:
        """Up to `n` jobs with `status`, in claim order."""
        ...

    async def stats(self) -> QueueStats:
        """Counts per status, queue lag and failures."""
        ...

    # --- batches ---------------------------------------------------------------------

    async def create_batch(
        self,
        video_ids: Sequence[str],
        *,
        queue: str = "default",
        priority: int = 0,
        max_attempts: int = 3,
    ) -> str:
        """Enqueue one job per video (which must exist) as a batch; returns the batch ID."""
        ...

    async def batch_status(self, batch_id: str) -> BatchStatus:
        """State, counts and percentage of a batch. Raises `NotFound`."""
        ...

    async def batch_results(self, batch_id: str) -> BatchResults:
        """Summary and per-item results of a batch, failures with their errors."""
        ...

    async def cancel_batch(self, batch_id: str) -> int:
        """Cancel the batch's jobs that have not started; returns how many."""
        ...

    async def wait_for_jobs(self, timeout: float) -> None:  # noqa: ASYNC109 (an idle wait, not a deadline)
        """Wait up to `timeout` seconds for jobs to become runnable, for a worker's idle loop.

        Returns after `timeout` seconds, or earlier when the backend hears of new
        jobs (PostgreSQL: `LISTEN videopipe_jobs`, which `enqueue` notifies). It
        is a hint, not a promise: call `claim` after it either way.
        """
        ...
