"""`MemoryStore`: everything in plain Python structures, for tests, notebooks and one-off runs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from types import TracebackType
from typing import Self

import anyio
import numpy as np

from .._exceptions import NotFound, StoreClosed
from .._models import (
    Batch,
    BatchItem,
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
    utcnow,
)
from ._common import (
    LIVE,
    REAPED,
    batch_finished_at,
    batch_state,
    caption_hit,
    check_dimension,
    check_limit,
    check_text,
    clean_record,
    keyword_terms,
    new_id,
    owned_by,
    rank_hits,
    sanitize_text,
)
from ._queue import DEFAULT_LEASE

__all__ = ["MemoryStore"]


class MemoryStore:
    """A [`Store`][videopipe.storage.Store] that keeps everything in memory.

    Nothing survives the process. Every method runs without awaiting in the
    middle, so concurrent tasks on one event loop see each operation as atomic.

    Examples:
        ```python
        async with vp.storage.MemoryStore() as store:
            await store.upsert_video(vp.Video(id="talk", original_path="talk.mp4"))
        ```

    Note:
        Added in 0.1.0.
    """

    def __init__(self) -> None:
        self.url = "memory://"
        self._closed = False
        self.videos: dict[str, Video] = {}
        self.stage_runs: dict[tuple[str, str], StageRun] = {}
        self.scenes: dict[str, list[Scene]] = {}
        self.frames: dict[str, list[Frame]] = {}
        self.segments: dict[str, list[TranscriptSegment]] = {}
        self.captions: dict[str, list[FrameCaption]] = {}
        self.embeddings: dict[tuple[str, str], Embedding] = {}
        self.usage: list[Usage] = []
        self.jobs: dict[str, Job] = {}
        self.batches: dict[str, Batch] = {}
        self.cache: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"MemoryStore(videos={len(self.videos)}, jobs={len(self.jobs)})"

    def _check(self) -> None:
        if self._closed:
            raise StoreClosed

    def _require_video(self, video_id: str) -> None:
        self._check()
        if video_id not in self.videos:
            raise NotFound(f"no video with id {video_id!r}")

    # --- videos and stage runs -------------------------------------------------------

    async def upsert_video(self, video: Video) -> Video:
        self._check()
        video = clean_record(video)
        old = self.videos.get(video.id)
        if old is not None:
            video = video.model_copy(update={"created_at": old.created_at, "updated_at": utcnow()})
        self.videos[video.id] = video
        return video

    async def get_video(self, video_id: str) -> Video:
        self._check()
        try:
            return self.videos[video_id]
        except KeyError:
            raise NotFound(f"no video with id {video_id!r}") from None

    async def list_videos(
        self, *, status: VideoStatus | None = None, limit: int = 100
    ) -> list[Video]:
        self._check()
        check_limit(limit)
        videos = [v for v in self.videos.values() if status is None or v.status == status]
        videos.sort(key=lambda v: (v.created_at, v.id), reverse=True)
        return videos[:limit]

    async def count_videos(self) -> dict[str, int]:
        self._check()
        counts = {s.value: 0 for s in VideoStatus}
        for video in self.videos.values():
            counts[video.status.value] += 1
        return counts

    async def set_video_status(
        self, video_id: str, status: VideoStatus, *, error: str | None = None
    ) -> None:
        video = await self.get_video(video_id)
        error = None if error is None else sanitize_text(error)
        self.videos[video_id] = video.model_copy(
            update={"status": status, "error": error, "updated_at": utcnow()}
        )

    async def record_stage_run(self, run: StageRun) -> None:
        run = clean_record(run)
        self._require_video(run.video_id)
        self.stage_runs[run.video_id, run.stage] = run

    async def get_stage_runs(self, video_id: str) -> dict[str, StageRun]:
        self._check()
        return {s: r for (v, s), r in self.stage_runs.items() if v == video_id}

    # --- stage outputs ------------------------------------------------------------------

    async def save_scenes(self, video_id: str, scenes: Sequence[Scene]) -> None:
        self._require_video(video_id)
        rows = [clean_record(r) for r in owned_by(video_id, scenes, what="scene")]
        self.scenes[video_id] = sorted(rows, key=lambda s: (s.idx, s.id))

    async def list_scenes(self, video_id: str) -> list[Scene]:
        self._check()
        return list(self.scenes.get(video_id, []))

    async def save_frames(self, video_id: str, frames: Sequence[Frame]) -> None:
        self._require_video(video_id)
        rows = [clean_record(r) for r in owned_by(video_id, frames, what="frame")]
        self.frames[video_id] = sorted(rows, key=lambda f: (f.idx, f.id))

    async def list_frames(self, video_id: str) -> list[Frame]:
        self._check()
        return list(self.frames.get(video_id, []))

    async def save_segments(self, video_id: str, segments: Sequence[TranscriptSegment]) -> None:
        self._require_video(video_id)
        rows = [clean_record(r) for r in owned_by(video_id, segments, what="segment")]
        self.segments[video_id] = sorted(rows, key=lambda s: (s.idx, s.id))

    async def list_segments(self, video_id: str) -> list[TranscriptSegment]:
        self._check()
        return list(self.segments.get(video_id, []))

    async def save_captions(self, video_id: str, captions: Sequence[FrameCaption]) -> None:
        self._require_video(video_id)
        rows = [clean_record(r) for r in owned_by(video_id, captions, what="caption")]
        self.captions[video_id] = sorted(rows, key=lambda c: (c.frame_id, c.id))

    async def list_captions(self, video_id: str) -> list[FrameCaption]:
        self._check()
        return list(self.captions.get(video_id, []))

    # --- embeddings and search -------------------------------------------------------------

    async def save_embeddings(self, embeddings: Sequence[Embedding]) -> None:
        self._check()
        rows = [clean_record(e) for e in embeddings]
        for e in rows:
            self._require_video(e.video_id)
        for e in rows:
            self.embeddings[e.owner_id, e.model] = e

    async def find_embeddings(
        self, text_hashes: Iterable[str], *, model: str
    ) -> dict[str, list[float]]:
        self._check()
        wanted = set(text_hashes)
        return {
            e.text_hash: e.vector
            for e in self.embeddings.values()
            if e.model == model and e.text_hash in wanted
        }

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
        self._check()
        terms = keyword_terms(keywords) if keywords else []
        self._check()
        kind_set = None if kinds is None else set(kinds)
        video_set = None if video_ids is None else set(video_ids)
        candidates = [
            e
            for e in self.embeddings.values()
            if e.model == model
            and (kind_set is None or e.kind in kind_set)
            and (video_set is None or e.video_id in video_set)
            # An embedding outlives its segment or caption when a stage re-run replaced
            # them; it is kept (it still answers `find_embeddings`) but never a hit.
            and self._owner_exists(e)
        ]
        check_dimension(len(vector), {e.dimension for e in candidates}, model=model)
        matrix = np.asarray([e.vector for e in candidates], dtype=np.float32)
        hits = [self._hit(e, 0.0) for e in candidates] if terms else []
        texts = [hit.text for hit in hits]
        ranked = rank_hits(vector, matrix, texts, terms, k)
        return [
            (hits[i] if terms else self._hit(candidates[i], 0.0)).model_copy(
                update={"score": score, "matched": matched}
            )
            for i, score, matched in ranked
        ]

    def _owner_exists(self, e: Embedding) -> bool:
        rows: Sequence[TranscriptSegment | FrameCaption] = (
            self.segments.get(e.video_id, [])
            if e.kind == "segment"
            else self.captions.get(e.video_id, [])
        )
        return any(r.id == e.owner_id for r in rows)

    def _hit(self, e: Embedding, score: float) -> SearchHit:
        if e.kind == "segment":
            seg = next(s for s in self.segments[e.video_id] if s.id == e.owner_id)
            return SearchHit(
                kind="segment",
                id=seg.id,
                video_id=e.video_id,
                text=seg.text,
                t_start=seg.t_start,
                t_end=seg.t_end,
                score=score,
            )
        cap = next(c for c in self.captions[e.video_id] if c.id == e.owner_id)
        frame = next((f for f in self.frames.get(e.video_id, []) if f.id == cap.frame_id), None)
        scene = None
        if frame is not None:
            scene = next(
                (s for s in self.scenes.get(e.video_id, []) if s.id == frame.scene_id), None
            )
        return caption_hit(
            id=cap.id,
            video_id=e.video_id,
            caption=cap.caption,
            ocr_text=cap.ocr_text,
            t=cap.t,
            scene=(scene.t_start, scene.t_end) if scene else None,
            frame_path=frame.path if frame else None,
            score=score,
        )

    # --- cache ----------------------------------------------------------------------------

    async def get_cached(self, keys: Iterable[str]) -> dict[str, str]:
        self._check()
        return {k: self.cache[k] for k in keys if k in self.cache}

    async def put_cached(self, items: Mapping[str, str]) -> None:
        self._check()
        for key, value in items.items():
            check_text(key, what="cache key")
            check_text(value, what="cached value")
        self.cache.update(items)

    # --- usage ----------------------------------------------------------------------------

    async def record_usage(self, usage: Usage) -> None:
        self._check()
        self.usage.append(clean_record(usage))

    async def usage_summary(
        self,
        *,
        video_id: str | None = None,
        job_id: str | None = None,
        batch_id: str | None = None,
    ) -> UsageSummary:
        self._check()
        batch_videos = None
        if batch_id is not None:
            batch_videos = {j.video_id for j in self.jobs.values() if j.batch_id == batch_id}
        rows = [
            u
            for u in self.usage
            if (video_id is None or u.video_id == video_id)
            and (job_id is None or u.job_id == job_id)
            and (batch_videos is None or u.video_id in batch_videos)
        ]
        return UsageSummary.of(rows)

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
        await self.get_video(video_id)
        check_text(queue, what="queue")
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
            check_text(name, what="queue")
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
    ) -> Job | None:
        job = self._owned(job_id, worker_id)
        if job is None:
            return None
        error = sanitize_text(error)
        now = utcnow()
        cap = job.max_attempts if max_attempts is None else min(job.max_attempts, max_attempts)
        dead = job.attempts >= cap
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
            await self.get_video(video_id)
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
        state = batch_state(counts, total=batch.total, cancelled=batch.cancelled)
        last = max((j.updated_at for j in jobs), default=None)
        return BatchStatus(
            id=batch.id,
            state=state,
            total=batch.total,
            done=counts[JobStatus.DONE],
            failed=counts[JobStatus.DEAD],
            pending=counts[JobStatus.PENDING],
            processing=counts[JobStatus.PROCESSING],
            cancelled=counts[JobStatus.CANCELLED],
            created_at=batch.created_at,
            finished_at=batch_finished_at(state, last),
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

    # --- lifecycle -------------------------------------------------------------------------

    async def aclose(self) -> None:
        self._closed = True

    async def __aenter__(self) -> Self:
        self._check()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
