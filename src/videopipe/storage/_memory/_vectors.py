"""`MemoryStore`'s `Vectors`: embeddings, searched exactly with numpy."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from ..._models import Embedding, EmbeddingKind, FrameCaption, SearchHit, TranscriptSegment
from .._common import clean_record
from .._fulltext import TextQuery
from .._ranking import caption_hit, check_dimension, cosines, fuse, with_source
from ._state import MemoryState

__all__ = ["MemoryVectors"]


class MemoryVectors(MemoryState):
    """The [`Vectors`][videopipe.storage.Vectors] of a `MemoryStore`."""

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
        min_score: float = 0.0,
    ) -> list[SearchHit]:
        self._check()
        query = TextQuery.parse(keywords) if keywords else None
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
        if not candidates:
            return []
        # Every candidate is scored: the engines' two candidate lists exist to keep
        # them from reading every row, which a scan in memory does anyway.
        scores = cosines(vector, [np.asarray(e.vector, dtype=np.float32) for e in candidates])
        hits = [self._hit(e, 0.0) for e in candidates]
        return fuse(zip(hits, scores, strict=True), query, k=k, min_score=min_score)

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
            hit = SearchHit(
                kind="segment",
                id=seg.id,
                video_id=e.video_id,
                text=seg.text,
                t_start=seg.t_start,
                t_end=seg.t_end,
                score=score,
            )
            return with_source(hit, *self._source(e.video_id))
        cap = next(c for c in self.captions[e.video_id] if c.id == e.owner_id)
        frame = next((f for f in self.frames.get(e.video_id, []) if f.id == cap.frame_id), None)
        scene = None
        if frame is not None:
            scene = next(
                (s for s in self.scenes.get(e.video_id, []) if s.id == frame.scene_id), None
            )
        hit = caption_hit(
            id=cap.id,
            video_id=e.video_id,
            caption=cap.caption,
            ocr_text=cap.ocr_text,
            t=cap.t,
            scene=(scene.t_start, scene.t_end) if scene else None,
            frame_path=frame.path if frame else None,
            score=score,
        )
        return with_source(hit, *self._source(e.video_id))

    def _source(self, video_id: str) -> tuple[str | None, str | None]:
        video = self.videos.get(video_id)
        return (None, None) if video is None else (video.original_path, video.title)
