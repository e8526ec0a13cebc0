"""`SQLiteStore`'s `Vectors`: float32 blobs, searched exactly with numpy."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence

import numpy as np

from ..._models import Embedding, EmbeddingKind, SearchHit
from .._common import clean_record
from .._ranking import (
    caption_hit,
    check_dimension,
    keyword_terms,
    rank_hits,
    scored_hits,
    vector_blob,
)
from ._connection import (
    _Q,
    Row,
    SQLiteConnection,
    _floats,
    _json_keys,
    _ok,
    _path_out,
    _require_videos,
    _snapshot,
)

__all__ = ["SQLiteVectors"]


class SQLiteVectors(SQLiteConnection):
    """The [`Vectors`][videopipe.storage.Vectors] of a `SQLiteStore`."""

    async def save_embeddings(self, embeddings: Sequence[Embedding]) -> None:
        rows = [
            {
                "owner_id": e.owner_id,
                "model": e.model,
                "video_id": e.video_id,
                "kind": e.kind,
                "dim": e.dimension,
                "vector": vector_blob(e.vector),
                "text_hash": e.text_hash,
            }
            for e in map(clean_record, embeddings)
        ]
        video_ids = sorted({e.video_id for e in embeddings})

        def op(conn: sqlite3.Connection) -> None:
            _require_videos(conn, video_ids)
            conn.executemany(_Q["upsert_embedding"], rows)

        await self._write(op)

    async def find_embeddings(
        self, text_hashes: Iterable[str], *, model: str
    ) -> dict[str, list[float]]:
        hashes = [h for h in text_hashes if _ok(h)]
        if not hashes or not _ok(model):
            await self._run(lambda conn: None)  # still raise StoreClosed when closed
            return {}
        params = {"model": model, "hashes": json.dumps(hashes)}

        def op(conn: sqlite3.Connection) -> dict[str, list[float]]:
            rows = conn.execute(_Q["find_embeddings"], params).fetchall()
            return {row["text_hash"]: _floats(row["vector"]) for row in rows}

        return await self._run(op)

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
        terms = keyword_terms(keywords) if keywords else []
        params = {
            "model": model,
            "kinds": None if kinds is None else json.dumps(sorted(set(kinds))),
            "video_ids": None if video_ids is None else _json_keys(video_ids),
            "with_text": bool(terms),
        }

        def op(conn: sqlite3.Connection) -> list[SearchHit]:
            if not _ok(model):
                return []
            with _snapshot(conn):  # the hits' rows are those the vectors were read with
                candidates = conn.execute(_Q["search_candidates"], params).fetchall()
                check_dimension(len(vector), {row["dim"] for row in candidates}, model=model)
                if not candidates:
                    return []
                blob = b"".join(row["vector"] for row in candidates)
                matrix = np.frombuffer(blob, dtype="<f4").reshape(len(candidates), len(vector))
                texts = [row["text"] or "" for row in candidates] if terms else []
                top = rank_hits(vector, matrix.astype(np.float32), texts, terms, k)
                return _hits(conn, [(candidates[i], score, found) for i, score, found in top])

        return await self._run(op)


def _hits(conn: sqlite3.Connection, ranked: list[tuple[Row, float, list[str]]]) -> list[SearchHit]:
    segment_ids = [row["owner_id"] for row, _, _ in ranked if row["kind"] == "segment"]
    caption_ids = [row["owner_id"] for row, _, _ in ranked if row["kind"] == "caption"]
    details: dict[tuple[str, str], SearchHit] = {}
    if segment_ids:
        for row in conn.execute(_Q["segment_hits"], {"ids": json.dumps(segment_ids)}):
            details["segment", row["id"]] = SearchHit(
                kind="segment",
                id=row["id"],
                video_id=row["video_id"],
                text=row["text"],
                t_start=row["t_start"],
                t_end=row["t_end"],
                score=0.0,
            )
    if caption_ids:
        for row in conn.execute(_Q["caption_hits"], {"ids": json.dumps(caption_ids)}):
            has_scene = row["scene_start"] is not None
            details["caption", row["id"]] = caption_hit(
                id=row["id"],
                video_id=row["video_id"],
                caption=row["caption"],
                ocr_text=row["ocr_text"],
                t=row["t"],
                scene=(row["scene_start"], row["scene_end"]) if has_scene else None,
                frame_path=_path_out(row["frame_path"]),
            )
    return scored_hits(details, ranked)
