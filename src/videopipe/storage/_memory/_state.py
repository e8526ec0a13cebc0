"""The state every part of `MemoryStore` shares: plain dicts and lists, and the lifecycle."""

from __future__ import annotations

from types import TracebackType
from typing import Self

from ..._exceptions import NotFound, StoreClosed
from ..._models import (
    Batch,
    Embedding,
    Frame,
    FrameCaption,
    Job,
    Scene,
    StageRun,
    TranscriptSegment,
    Usage,
    Video,
)

__all__ = ["MemoryState"]


class MemoryState:
    """What `MemoryStore` holds: the records of every protocol, by ID."""

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
        self.buckets: dict[str, tuple[float, float]] = {}  # key -> (level, last refill)
        self.leases: dict[str, tuple[str, float]] = {}  # key -> (owner, expires)

    def __repr__(self) -> str:
        return f"MemoryStore(videos={len(self.videos)}, jobs={len(self.jobs)})"

    def _check(self) -> None:
        if self._closed:
            raise StoreClosed

    def _require_video(self, video_id: str) -> None:
        self._check()
        if video_id not in self.videos:
            raise NotFound(f"no video with id {video_id!r}")

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
