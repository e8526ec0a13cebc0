"""`MemoryStore`'s `Results`: videos, stage runs, stage outputs, the cache and usage."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from ..._exceptions import NotFound
from ..._models import (
    Frame,
    FrameCaption,
    Scene,
    StageRun,
    TranscriptSegment,
    Usage,
    UsageSummary,
    Video,
    VideoStatus,
    utcnow,
)
from .._common import check_limit, check_text, clean_record, owned_by, sanitize_text
from ._state import MemoryState

__all__ = ["MemoryResults"]


class MemoryResults(MemoryState):
    """The [`Results`][videopipe.storage.Results] of a `MemoryStore`."""

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

    async def find_videos_by_path(self, original_path: str) -> list[Video]:
        self._check()
        videos = [v for v in self.videos.values() if v.original_path == original_path]
        videos.sort(key=lambda v: (v.created_at, v.id), reverse=True)
        return videos

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
