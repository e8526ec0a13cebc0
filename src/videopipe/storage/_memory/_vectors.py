"""`MemoryStore`'s `Vectors`: embeddings, searched exactly with numpy."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from ..._models import Embedding, EmbeddingKind, FrameCaption, SearchHit, TranscriptSegment
from .._common import clean_record
from .._ranking import caption_hit, check_dimension, keyword_terms, rank_hits
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
