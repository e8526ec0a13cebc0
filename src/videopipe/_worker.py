"""`Worker`: the long-running process that drains the job queue through a pipeline."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import anyio
import anyio.abc

from ._exceptions import (
    ConfigurationError,
    ProviderError,
    RateLimited,
    StageError,
    StorageError,
    VideopipeError,
)
from ._models import Job, JobStatus, UsageSummary
from ._observability import METRICS, serve_http
from ._pipeline import Pipeline
from ._progress import RunProgress
from ._resources import resident_bytes
from ._result import VideoResult
from ._retry import RetryPolicy
from ._secrets import redact
from ._sync import run_blocking
from .storage import DEFAULT_LEASE, JobQueue

__all__ = ["Worker"]

logger = logging.getLogger("videopipe.worker")

T = TypeVar("T")


def _default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Worker:
    """Claims jobs from a store's queue and runs each video through a pipeline.

    At most `concurrency` videos run at once. Each claimed job is leased; a
    heartbeat extends the lease while the video runs, so when a worker dies
    its jobs are claimed again once their leases expire. A failed job is
    retried after a backoff until it has used its attempts, then it moves to
    the dead-letter queue with its error (`videopipe jobs replay` brings it
    back). Idle workers wait for a `NOTIFY` on PostgreSQL, otherwise poll with
    a backoff from `poll_interval` up to `max_poll_interval`.

    Stopping: `stop()` (or SIGTERM/SIGINT) stops claiming, lets running jobs
    finish for up to `grace_period` seconds, then cancels them and gives
    their jobs back to the queue at once. A second signal stops at once. No
    job is left `processing` by a clean stop.

    Examples:
        ```python
        store = vp.open_store("postgresql://videos@db/videos")
        worker = vp.Worker(vp.Pipeline.default(store=store), concurrency=4)
        await worker.run()
        ```

    Args:
        pipeline: What each job runs.
        store: The queue; defaults to the pipeline's store. A job's video, its
            usage and the video counts of `/stats` are read from the pipeline's
            store, where the pipeline records them.
        concurrency: Most jobs in flight at once.
        queues: The queues served; a job's priority orders claims across them.
        poll_interval: Seconds between claims while idle, at first;
            defaults to `WORKER_POLL_MS`.
        max_poll_interval: The longest wait between claims while idle.
        lease: Seconds a job stays leased without a heartbeat.
        grace_period: Seconds running jobs get to finish after a stop.
        backoff: The delay before a failed job's next attempt.
        max_attempts: Attempts a job gets before the dead-letter queue, when
            lower than the job's own `max_attempts` (set at enqueue); defaults
            to `WORKER_MAX_ATTEMPTS`.
        worker_id: This worker's name in the queue (host, pid and a random tag).
        http_port: Serve `/healthz`, `/jobs/peek`, `/stats` and `/metrics` here;
            defaults to `WORKER_HTTP_PORT` when `WORKER_DEV_HTTP` is set, else none.
        http_host: The address the HTTP endpoints bind to.
        handle_signals: Stop gracefully on SIGTERM and SIGINT (main thread only).
        max_rss_mb: The memory ceiling, in MiB of this process's resident memory:
            above it no new job is claimed, and with none running the worker
            stops (for a supervisor to start a fresh process); defaults to
            `WORKER_MAX_RSS_MB`.

    Note:
        Added in 0.1.0.
    """

    def __init__(
        self,
        pipeline: Pipeline,
        store: JobQueue | None = None,
        *,
        concurrency: int = 2,
        queues: Sequence[str] = ("default",),
        poll_interval: float | None = None,
        max_poll_interval: float = 15.0,
        lease: float = DEFAULT_LEASE,
        grace_period: float = 30.0,
        backoff: RetryPolicy | None = None,
        max_attempts: int | None = None,
        worker_id: str | None = None,
        http_port: int | None = None,
        http_host: str = "127.0.0.1",
        handle_signals: bool = True,
        max_rss_mb: int | None = None,
    ) -> None:
        settings = pipeline.settings
        self.pipeline = pipeline
        self.store: JobQueue = store if store is not None else _queue_of(pipeline)
        self.concurrency = concurrency
        self.queues = tuple(queues)
        self.poll_interval = (
            poll_interval if poll_interval is not None else settings.worker_poll_ms / 1000
        )
        self.max_poll_interval = max(max_poll_interval, self.poll_interval)
        self.lease = lease
        self.grace_period = grace_period
        self.backoff = backoff or RetryPolicy(attempts=1_000, initial_delay=5.0, max_delay=300.0)
        self.max_attempts = (
            max_attempts if max_attempts is not None else settings.worker_max_attempts
        )
        if self.max_attempts < 1:
            raise ConfigurationError(f"max_attempts must be at least 1, not {self.max_attempts}")
        self.worker_id = worker_id or _default_worker_id()
        if http_port is None and settings.worker_dev_http:
            http_port = settings.worker_http_port
        self.http_port = http_port
        self.http_host = http_host
        self.handle_signals = handle_signals
        self.max_rss_mb = max_rss_mb if max_rss_mb is not None else settings.worker_max_rss_mb
        if self.max_rss_mb < 1:
            raise ConfigurationError(f"max_rss_mb must be at least 1, not {self.max_rss_mb}")
        self.over_memory = False
        self.running: dict[str, Job] = {}
        self.progress: dict[str, RunProgress] = {}
        """The latest progress of each running job's video, by job ID."""
        self.completed = 0
        self.failed = 0
        self.bound_port: int | None = None
        self._stopping = anyio.Event()
        self._wake = anyio.Event()
        self._jobs_scope: anyio.CancelScope | None = None
        self._log = logging.LoggerAdapter(logger, {"worker_id": self.worker_id})

    def __repr__(self) -> str:
        return f"Worker({self.worker_id!r}, concurrency={self.concurrency}, queues={self.queues})"

    # --- control -------------------------------------------------------------------

    def stop(self) -> None:
        """Stop claiming and let running jobs finish (up to the grace period)."""
        if not self._stopping.is_set():
            self._log.info("stopping: no new jobs; waiting up to %ss", self.grace_period)
        self._stopping.set()
        self._wake.set()

    def kill(self) -> None:
        """Stop now: cancel running jobs and give them back to the queue."""
        self.stop()
        if self._jobs_scope is not None:
            self._jobs_scope.cancel()

    async def run(self) -> None:
        """Process jobs until stopped.

        Raises:
            StorageError: Only from set-up; a store that fails later is retried.
        """
        self._log.info(
            "worker %s started: queues=%s concurrency=%d",
            self.worker_id,
            ",".join(self.queues),
            self.concurrency,
        )
        async with anyio.create_task_group() as tg:
            if self.handle_signals:
                tg.start_soon(self._watch_signals)
            if self.http_port is not None:
                self.bound_port = await tg.start(self._serve_http)
            await self._claim_loop()
            tg.cancel_scope.cancel()
        self._log.info(
            "worker %s stopped: %d completed, %d failed",
            self.worker_id,
            self.completed,
            self.failed,
        )

    def run_blocking(self) -> None:
        """The blocking twin of `run`."""
        run_blocking(self.run)

    async def run_job(self, job: Job) -> None:
        """Run one job that was claimed under this worker's ID by someone else.

        For engines that claim on a worker's behalf and hand it the job (the Ray
        driver of [`videopipe.ray`][videopipe.ray]): the job is then heartbeaten,
        run, completed, retried or dead-lettered exactly as if this worker had
        claimed it, and given back to the queue if the call is cancelled.

        Args:
            job: A job leased to `worker_id` (by `JobQueue.claim`).

        Note:
            Added in 0.2.0.
        """
        self.running[job.id] = job
        METRICS.in_flight.inc()
        await self._job(job)

    async def _watch_signals(self) -> None:
        try:
            receiver = anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT)
        except ValueError:  # not the main thread: signals are the caller's business
            return
        with receiver as signals:
            async for signum in signals:
                if self._stopping.is_set():
                    self._log.warning("second %s: stopping now", signal.Signals(signum).name)
                    self.kill()
                    return
                self._log.info("%s received", signal.Signals(signum).name)
                self.stop()

    # --- the loop ------------------------------------------------------------------

    async def _claim_loop(self) -> None:
        idle = self.poll_interval
        async with anyio.create_task_group() as jobs:
            self._jobs_scope = jobs.cancel_scope
            while not self._stopping.is_set():
                free = self.concurrency - len(self.running)
                if free <= 0:
                    await self._wait()
                    continue
                if self._over_memory():
                    if self.running:  # their end may free memory: claim again after one
                        await self._wait()
                        continue
                    # Nothing of ours runs and the memory is still held: only a new
                    # process gets it back. Exit for the supervisor to restart us.
                    self._log.error(
                        "resident memory %.0f MiB is over WORKER_MAX_RSS_MB=%d with no job "
                        "running: stopping so that a fresh process takes over",
                        (resident_bytes() or 0) / 2**20,
                        self.max_rss_mb,
                    )
                    self.stop()
                    break
                try:
                    claimed = await self.store.claim(
                        self.worker_id, queues=self.queues, lease=self.lease, limit=free
                    )
                except StorageError as exc:
                    self._log.warning("claim failed, retrying in %.1fs: %s", idle, exc)
                    await self._wait(idle)
                    idle = min(idle * 2, self.max_poll_interval)
                    continue
                for job in claimed:
                    self.running[job.id] = job
                    METRICS.in_flight.inc()
                    jobs.start_soon(self._job, job)
                if claimed:
                    idle = self.poll_interval
                    continue
                await self._wait(idle, notify=True)
                idle = min(idle * 2, self.max_poll_interval)
            # Stopping: running jobs get the grace period, then are cancelled and released.
            with anyio.move_on_after(self.grace_period):
                while self.running:
                    await self._wait()
            if self.running:
                self._log.warning(
                    "grace period over: releasing %d running job(s)", len(self.running)
                )
            jobs.cancel_scope.cancel()
        self._jobs_scope = None

    def _over_memory(self) -> bool:
        """Whether this process holds more resident memory than its ceiling (logged once)."""
        rss = resident_bytes()
        if rss is not None:
            METRICS.worker_rss.set(rss)
        over = rss is not None and rss > self.max_rss_mb * 2**20
        if rss is not None and over and not self.over_memory:
            self._log.warning(
                "resident memory %.0f MiB is over WORKER_MAX_RSS_MB=%d: claiming no new job",
                rss / 2**20,
                self.max_rss_mb,
            )
        self.over_memory = over
        return over

    async def _wait(self, seconds: float | None = None, *, notify: bool = False) -> None:
        """Wait for a wake-up (a job finished, a stop), a NOTIFY, or the timeout."""
        if self._wake.is_set():
            self._wake = anyio.Event()
            return
        wake = self._wake
        async with anyio.create_task_group() as tg:

            async def woken() -> None:
                await wake.wait()
                tg.cancel_scope.cancel()

            async def notified() -> None:
                await self.store.wait_for_jobs(seconds if seconds is not None else 3600)
                tg.cancel_scope.cancel()

            tg.start_soon(woken)
            if notify:
                tg.start_soon(notified)
            elif seconds is not None:
                tg.cancel_scope.deadline = anyio.current_time() + seconds
        if wake.is_set():
            self._wake = anyio.Event()

    # --- one job ---------------------------------------------------------------------

    async def _job(self, job: Job) -> None:
        log = logging.LoggerAdapter(
            logger, {"worker_id": self.worker_id, "job_id": job.id, "video_id": job.video_id}
        )
        log.info(
            "CLAIMED: Processing job %s for video %s (attempt %d/%d)",
            job.id,
            job.video_id,
            job.attempts,
            job.max_attempts,
        )
        METRICS.jobs.labels(job.queue, "claimed").inc()
        lost = False
        outcome: BaseException | None = None
        result: VideoResult | None = None
        try:
            async with anyio.create_task_group() as tg:

                async def heartbeat() -> None:
                    nonlocal lost
                    while True:
                        await anyio.sleep(self.lease / 3)
                        try:
                            ours = await self.store.heartbeat(
                                job.id, self.worker_id, lease=self.lease
                            )
                        except StorageError as exc:
                            log.warning("heartbeat failed: %s", exc)
                            continue
                        if not ours:
                            lost = True
                            tg.cancel_scope.cancel()
                            return

                tg.start_soon(heartbeat)
                try:
                    video = await self.pipeline.store.get_video(job.video_id)

                    def progress(now: RunProgress) -> None:
                        self.progress[job.id] = now

                    result = await self.pipeline.run(
                        video, job_id=job.id, lease=self.lease, progress=progress
                    )
                except Exception as exc:
                    outcome = exc
                tg.cancel_scope.cancel()
            if lost:
                log.warning("job %s: lease lost to another worker; leaving it to them", job.id)
                return
            if outcome is None:
                await self._finish(job, result, log)
            else:
                await self._fail(job, outcome, log)
        except BaseException:
            # Cancelled (a hard stop): give the job back to the queue at once.
            with anyio.CancelScope(shield=True), anyio.move_on_after(10):
                try:
                    if await self.store.release(job.id, self.worker_id):
                        log.info("job %s released back to the queue", job.id)
                except Exception as exc:
                    log.warning("could not release job %s (its lease will expire): %s", job.id, exc)
            raise
        finally:
            self.running.pop(job.id, None)
            self.progress.pop(job.id, None)
            METRICS.in_flight.dec()
            self._wake.set()

    async def _finish(
        self, job: Job, result: VideoResult | None, log: logging.LoggerAdapter[logging.Logger]
    ) -> None:
        if not await _persist(lambda: self.store.complete(job.id, self.worker_id), log):
            log.warning("job %s finished but was no longer ours: not marked done", job.id)
            return
        self.completed += 1
        METRICS.jobs.labels(job.queue, "completed").inc()
        if result is not None:
            _observe(result, await self.pipeline.store.usage_summary(job_id=job.id))

    async def _fail(
        self, job: Job, error: BaseException, log: logging.LoggerAdapter[logging.Logger]
    ) -> None:
        self.failed += 1
        message = _error_text(error)
        permanent = _permanent(error)
        delay = self.backoff.delay(job.attempts, error if isinstance(error, Exception) else None)
        updated = await _persist(
            lambda: self.store.fail(
                job.id,
                self.worker_id,
                message,
                retry_in=delay,
                max_attempts=self.max_attempts,
                permanent=permanent,
            ),
            log,
        )
        cause = _provider_cause(error)
        if cause is not None:
            METRICS.provider_errors.labels(type(cause).__name__).inc()
        if updated is None:
            return
        if updated.status is JobStatus.DEAD:
            METRICS.jobs.labels(job.queue, "dead").inc()
            log.error(
                "DEAD: job %s moved to the dead-letter queue: %s",
                job.id,
                _escalation(job, updated, error),
            )
        else:
            METRICS.jobs.labels(job.queue, "failed").inc()
            log.warning(
                "job %s failed (attempt %d/%d), retrying in %.1fs: %s",
                job.id,
                updated.attempts,
                updated.max_attempts,
                delay,
                message,
            )

    # --- HTTP ----------------------------------------------------------------------------

    async def _serve_http(self, *, task_status: anyio.abc.TaskStatus[int]) -> None:
        await serve_http(
            {
                "/healthz": self._healthz,
                "/jobs/peek": self._peek,
                "/stats": self._stats,
                "/metrics": self._metrics,
            },
            host=self.http_host,
            port=self.http_port or 0,
            task_status=task_status,
        )

    async def _healthz(self) -> tuple[int, str, bytes]:
        try:
            with anyio.fail_after(3):
                await self.store.stats()
        except Exception as exc:
            return _json(503, {"ok": False, "status": "unhealthy", "error": str(exc)})
        return _json(200, {"ok": True, "status": "healthy", "worker_id": self.worker_id})

    async def _peek(self) -> tuple[int, str, bytes]:
        stats = await self.store.stats()
        jobs = await self.store.peek(20)
        return _json(
            200,
            {
                "pending_jobs": stats.counts.get("pending", 0),
                "jobs": [j.model_dump(mode="json") for j in jobs],
            },
        )

    async def _stats(self) -> tuple[int, str, bytes]:
        stats = await self.store.stats()
        videos = await self.pipeline.store.count_videos()
        return _json(
            200,
            {
                "jobs": stats.counts,
                "videos": videos,
                "processing": {
                    "worker_id": self.worker_id,
                    "in_flight": len(self.running),
                    "concurrency": self.concurrency,
                    "completed": self.completed,
                    "failed": self.failed,
                    "queue_lag_sec": stats.oldest_pending_age_sec,
                },
                "running": [
                    _running_record(job, self.progress.get(job_id))
                    for job_id, job in list(self.running.items())
                ],
            },
        )

    async def _metrics(self) -> tuple[int, str, bytes]:
        try:
            stats = await self.store.stats()
        except Exception:  # metrics still answer while the store is down
            stats = None
        if stats is not None:
            METRICS.queue_lag.set(stats.oldest_pending_age_sec or 0.0)
            for status, count in stats.counts.items():
                METRICS.queue_depth.labels(status).set(count)
        return 200, "text/plain; version=0.0.4; charset=utf-8", METRICS.render()


def _running_record(job: Job, progress: RunProgress | None) -> dict[str, Any]:
    """A running job as `/stats` shows it: its stage and how far the stage and video are."""
    running = progress.running if progress is not None else ()
    return {
        "job_id": job.id,
        "video_id": job.video_id,
        "stage": progress.stage if progress is not None else None,
        "stage_percent": running[0].percent if running else None,
        "percent": progress.percent if progress is not None else 0.0,
        "stages": {s.stage: s.percent for s in running},
    }


def _queue_of(pipeline: Pipeline) -> JobQueue:
    """The pipeline's store as a job queue, or `ConfigurationError` when it is none."""
    store = pipeline.store
    if not isinstance(store, JobQueue):
        raise ConfigurationError(
            f"the pipeline's store {type(store).__name__} has no job queue: pass the "
            "queue as Worker(pipeline, store=...) (any videopipe.storage.JobQueue)"
        )
    return store


def _json(status: int, body: dict[str, Any]) -> tuple[int, str, bytes]:
    return status, "application/json", json.dumps(body, default=str).encode()


async def _persist(
    call: Callable[[], Awaitable[T]], log: logging.LoggerAdapter[logging.Logger]
) -> T | None:
    """Retry a queue update through a database outage (up to about a minute).

    If it never gets through, the job's lease expires and another worker runs
    it again: the pipeline's resumable stages make that safe.
    """
    delay = 0.5
    for _ in range(8):
        try:
            return await call()
        except StorageError as exc:
            log.warning("queue update failed, retrying in %.1fs: %s", delay, exc)
            await anyio.sleep(delay)
            delay = min(delay * 2, 15)
    return None


def _error_text(error: BaseException) -> str:
    """The error as stored with the job and logged: passwords and keys masked."""
    text = redact(str(error)) or type(error).__name__
    return text if isinstance(error, StageError) else f"{type(error).__name__}: {text}"


def _error_type(error: BaseException) -> str:
    """The class name of what went wrong: the first cause under the `StageError`s."""
    seen: BaseException = error
    while isinstance(seen, StageError) and seen.__cause__ is not None:
        seen = seen.__cause__
    return type(seen).__name__


def _permanent(error: BaseException) -> bool:
    """Whether the error, or the first videopipe error it wraps, says no attempt will succeed."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, VideopipeError) and not isinstance(seen, StageError):
            return seen.permanent and not seen.retryable
        seen = seen.__cause__
    return False


def _provider_cause(error: BaseException) -> ProviderError | None:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ProviderError):
            return seen
        seen = seen.__cause__
    return None


def _escalation(job: Job, updated: Job, error: BaseException) -> str:
    """The payload summary an operator needs to act on a dead job."""
    result = getattr(error, "result", None)
    return json.dumps(
        {
            "job_id": job.id,
            "video_id": job.video_id,
            "input": getattr(getattr(result, "video", None), "original_path", None),
            "stage": getattr(error, "stage", None),
            "error": _error_text(error),
            "error_type": _error_type(error),
            "attempts": updated.attempts,
            "permanent": _permanent(error),
            "retry_after": error.retry_after if isinstance(error, RateLimited) else None,
        }
    )


def _observe(result: VideoResult, usage: UsageSummary) -> None:
    """Stage timings of this run, and the provider usage of this job (all its attempts)."""
    for name, outcome in result.stages.items():
        if not outcome.resumed and outcome.duration_sec:
            METRICS.stage_seconds.labels(name).observe(outcome.duration_sec)
    if usage.requests:
        METRICS.provider_requests.inc(usage.requests)
        METRICS.cost.inc(usage.cost_usd)
        METRICS.tokens.labels("input").inc(usage.input_tokens)
        METRICS.tokens.labels("output").inc(usage.output_tokens)
        METRICS.audio_seconds.inc(usage.audio_seconds)
