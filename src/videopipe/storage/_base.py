"""The `Store` protocol: what a backend must do, in terms of videopipe's own records."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from types import TracebackType
from typing import Protocol, Self

from .._models import (
    BatchResults,
    BatchStatus,
    Embedding,
    EmbeddingKind,
    Frame,
    FrameCaption,
    Job,
    JobStatus,
    QueueStats,
    Scene,
    SearchHit,
    StageRun,
    TranscriptSegment,
    Usage,
    UsageSummary,
    Video,
    VideoStatus,
)

__all__ = ["DEFAULT_LEASE", "Store"]

DEFAULT_LEASE = 60.0
"""Seconds a claimed job stays leased to its worker without a heartbeat."""


class Store(Protocol):
    r"""**Protocol:** where videopipe persists videos, stage outputs, usage and the job queue.

    Every write is an idempotent upsert by ID: writing the same stage output
    twice leaves one copy. Methods that list a video's outputs return them in
    index order. Timestamps are timezone-aware UTC.

    Every backend stores the same values. File paths are kept byte for byte,
    even when they are not valid UTF-8 (`os.fsdecode`); error messages have NUL
    characters and lone surrogates escaped (`\x00`, `\udcff`) so that recording
    a failure never fails; any other text with a NUL or a lone surrogate, a NaN,
    or a `detail` that is not JSON is rejected with `ConfigurationError` before
    anything is written. Backends: [`MemoryStore`][videopipe.storage.MemoryStore],
    [`SQLiteStore`][videopipe.storage.SQLiteStore] and
    [`PostgresStore`][videopipe.storage.PostgresStore], all behind
    [`open_store`][videopipe.storage.open_store].

    Note:
        Added in 0.1.0.
    """

    url: str
    """Where this store lives, with any password redacted."""

    # --- videos and stage runs ---------------------------------------------------

    async def upsert_video(self, video: Video) -> Video:
        """Insert or replace a video; `created_at` of an existing video is kept."""
        ...

    async def get_video(self, video_id: str) -> Video:
        """The video with this ID. Raises `NotFound`."""
        ...

    async def list_videos(
        self, *, status: VideoStatus | None = None, limit: int = 100
    ) -> list[Video]:
        """Videos, newest first, optionally only those with `status`."""
        ...

    async def count_videos(self) -> dict[str, int]:
        """Videos per status; every `VideoStatus` is present."""
        ...

    async def set_video_status(
        self, video_id: str, status: VideoStatus, *, error: str | None = None
    ) -> None:
        """Move a video to `status`, recording (or clearing) its error. Raises `NotFound`."""
        ...

    async def record_stage_run(self, run: StageRun) -> None:
        """Insert or replace the run of `run.stage` for `run.video_id`. Raises `NotFound`."""
        ...

    async def get_stage_runs(self, video_id: str) -> dict[str, StageRun]:
        """The latest run of each stage of a video, by stage name."""
        ...

    # --- stage outputs -------------------------------------------------------------
    # `save_*` replaces a video's rows of that kind with exactly the given ones (one per
    # ID, the last wins), so a stage re-run after a failure never leaves stale or
    # duplicate rows. They raise `NotFound` when the video does not exist, and
    # `ConfigurationError` when a record belongs to another video.

    async def save_scenes(self, video_id: str, scenes: Sequence[Scene]) -> None:
        """Replace the video's scenes."""
        ...

    async def list_scenes(self, video_id: str) -> list[Scene]:
        """The video's scenes in order."""
        ...

    async def save_frames(self, video_id: str, frames: Sequence[Frame]) -> None:
        """Replace the video's frames."""
        ...

    async def list_frames(self, video_id: str) -> list[Frame]:
        """The video's frames in order."""
        ...

    async def save_segments(self, video_id: str, segments: Sequence[TranscriptSegment]) -> None:
        """Replace the video's transcript segments."""
        ...

    async def list_segments(self, video_id: str) -> list[TranscriptSegment]:
        """The video's transcript segments in order."""
        ...

    async def save_captions(self, video_id: str, captions: Sequence[FrameCaption]) -> None:
        """Replace the video's frame captions."""
        ...

    async def list_captions(self, video_id: str) -> list[FrameCaption]:
        """The video's captions in frame order."""
        ...

    # --- embeddings and search ------------------------------------------------------

    async def save_embeddings(self, embeddings: Sequence[Embedding]) -> None:
        """Upsert embeddings by `(owner_id, model)`. Raises `NotFound` for an unknown video."""
        ...

    async def find_embeddings(
        self, text_hashes: Iterable[str], *, model: str
    ) -> dict[str, list[float]]:
        """Stored vectors of `model` for these text hashes, so identical texts are embedded once."""
        ...

    async def search(
        self,
        vector: Sequence[float],
        *,
        model: str,
        k: int = 10,
        kinds: Iterable[EmbeddingKind] | None = None,
        video_ids: Iterable[str] | None = None,
        keywords: str | None = None,
    ) -> list[SearchHit]:
        """The `k` segments and captions nearest `vector`, best first (hybrid search).

        `vector` was made by the embedding model `model`. Only vectors of that
        one model are searched (a store can hold several models' vectors side by
        side), and only those whose segment or caption still exists. A store
        never embeds text: [`videopipe.search`][videopipe.search] embeds a text
        query with the provider, then calls this.

        The score is the cosine similarity, plus up to `KEYWORD_WEIGHT` (0.5) for
        the share of the words of `keywords` that the hit's text holds verbatim,
        so a product name, number or code shown on screen is found even when the
        embedding misses it. `SearchHit.matched` lists the words found.

        Raises:
            ConfigurationError: `vector`'s dimension differs from the stored
                vectors of `model`.
        """
        ...

    # --- cache -------------------------------------------------------------------------

    async def get_cached(self, keys: Iterable[str]) -> dict[str, str]:
        """Cached values of these keys (those present), such as captions by perceptual hash."""
        ...

    async def put_cached(self, items: Mapping[str, str]) -> None:
        """Store cached values; an existing key is overwritten."""
        ...

    # --- usage -------------------------------------------------------------------------

    async def record_usage(self, usage: Usage) -> None:
        """Append a usage row."""
        ...

    async def usage_summary(
        self,
        *,
        video_id: str | None = None,
        job_id: str | None = None,
        batch_id: str | None = None,
    ) -> UsageSummary:
        """Usage added up over a video, a job, a batch, or everything."""
        ...

    # --- the job queue --------------------------------------------------------------

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
    ) -> Job | None:
        """Record a failed attempt.

        With attempts left the job goes back to `pending`, runnable after
        `retry_in` seconds; after the last attempt it goes to `dead` (the
        dead-letter queue) keeping `error`. The last attempt is the job's
        `max_attempts`, or the worker's `max_attempts` when that is lower.
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

    # --- lifecycle -------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the store; later calls raise `StoreClosed`."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
