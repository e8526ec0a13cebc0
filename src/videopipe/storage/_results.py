"""The `Results` protocol: videos, stage runs, stage outputs, usage and the cache."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol

from .._models import (
    Frame,
    FrameCaption,
    Scene,
    StageRun,
    TranscriptSegment,
    Usage,
    UsageSummary,
    Video,
    VideoStatus,
)

__all__ = ["Results"]


class Results(Protocol):
    """**Protocol:** where a pipeline records videos, stage runs, stage outputs and usage.

    What [`Pipeline`][videopipe.Pipeline], its stages and reports depend on.
    Every write is an idempotent upsert by ID: writing the same stage output
    twice leaves one copy. Methods that list a video's outputs return them in
    index order. Timestamps are timezone-aware UTC. Every backend of
    [`Store`][videopipe.storage.Store] implements it.

    Note:
        Added in 0.1.0.
    """

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

    async def find_videos_by_path(self, original_path: str) -> list[Video]:
        """The videos made from this input path or URL, exactly as it was given, newest first.

        What lets people name a video by its file rather than its ID (a command
        line's `report talk.mp4`). The path is compared as stored, so pass it as the
        video was added (the pipeline stores the absolute path of a local file).
        Empty when none is.

        Note:
            Added in 0.2.0.
        """
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
