"""`SQLiteStore`'s `Vectors`: float32 blobs scanned in chunks, fused with FTS5 full text."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence

import numpy as np

from ..._models import Embedding, EmbeddingKind, SearchHit
from .._common import clean_record
from .._fulltext import COMMON_MIN, COMMON_SHARE, TextQuery, rarer
from .._ranking import (
    TopK,
    candidate_count,
    caption_hit,
    check_dimension,
    cosines,
    fuse,
    vector_blob,
    vector_from_blob,
    with_source,
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
        min_score: float = 0.0,
    ) -> list[SearchHit]:
        query = TextQuery.parse(keywords) if keywords else None
        q = np.asarray(vector, dtype=np.float32)
        n = candidate_count(k)
        params = {
            "model": model,
            "kinds": None if kinds is None else json.dumps(sorted(set(kinds))),
            "video_ids": None if video_ids is None else _json_keys(video_ids),
        }

        def op(conn: sqlite3.Connection) -> list[SearchHit]:
            if not _ok(model):
                return []
            with _snapshot(conn):  # the hits' rows are those the vectors were read with
                dims = conn.execute(_Q["model_dims"], {"model": model}).fetchone()
                if dims["min_dim"] is None:
                    return []
                check_dimension(len(q), {dims["min_dim"], dims["max_dim"]}, model=model)
                if k <= 0:
                    return []
                rows = _nearest(conn, q, params, n)
                match = _rare(conn, query).fts5() if query is not None else None
                if match is not None:
                    name = (
                        "text_candidates"
                        if params["video_ids"] is None
                        else "text_candidates_videos"
                    )
                    found = conn.execute(_Q[name], {**params, "match": match, "n": n})
                    ids = json.dumps([row["owner_id"] for row in found])
                    rows += conn.execute(
                        _Q["candidates_by_owner"], {"model": model, "ids": ids}
                    ).fetchall()
                details = _hits(conn, rows)
                alive = [row for row in rows if (row["kind"], row["owner_id"]) in details]
                scores = cosines(q, [vector_from_blob(row["vector"]) for row in alive])
                candidates = (
                    (details[row["kind"], row["owner_id"]], score)
                    for row, score in zip(alive, scores, strict=True)
                )
                return fuse(candidates, query, k=k, min_score=min_score)

        return await self._run(op)


#: Vectors read per step of a scan: about 1.5 MB of 384-d vectors, whatever the table holds.
_SCAN_CHUNK = 1024


def _rare(conn: sqlite3.Connection, query: TextQuery) -> TextQuery:
    """`query` with only its rarer plain words, for the full-text candidates (`rarer`)."""
    if len(query.words) <= 1:
        return query
    counts: dict[str | None, int] = {
        row["term"]: row["doc"]
        for row in conn.execute(_Q["term_counts"], {"terms": json.dumps(query.words)})
    }
    limit = max(COMMON_MIN, COMMON_SHARE * counts.pop(None, 0))
    return rarer(query, counts, limit=limit)


def _nearest(
    conn: sqlite3.Connection, query: np.ndarray, params: dict[str, str | None], n: int
) -> list[Row]:
    """The `n` rows (owner, kind, vector) of the model whose vectors are nearest `query`.

    An exact scan in chunks: SQLite streams the blobs, numpy scores each chunk,
    and only the best `n` so far are kept, so memory stays flat however many
    vectors the model has. A search filtered to some videos reads only theirs,
    through the `(video_id, model, kind)` index.
    """
    top = TopK(n)
    scan = "vector_scan" if params["video_ids"] is None else "vector_scan_videos"
    cursor = conn.cursor()
    cursor.row_factory = None  # plain (rowid, vector) tuples: a tenth less time per row
    cursor.execute(_Q[scan], params)
    while chunk := cursor.fetchmany(_SCAN_CHUNK):
        blob = b"".join(vector for _, vector in chunk)
        matrix = np.frombuffer(blob, dtype="<f4").reshape(len(chunk), len(query))
        top.add(query, [rid for rid, _ in chunk], matrix)
    rids = json.dumps(top.best())
    return conn.execute(_Q["candidates_by_rowid"], {"rids": rids}).fetchall()


def _hits(conn: sqlite3.Connection, rows: Sequence[Row]) -> dict[tuple[str, str], SearchHit]:
    """The hits of candidate rows whose segment or caption still exists, by kind and ID."""
    segment_ids = sorted({row["owner_id"] for row in rows if row["kind"] == "segment"})
    caption_ids = sorted({row["owner_id"] for row in rows if row["kind"] == "caption"})
    details: dict[tuple[str, str], SearchHit] = {}
    if segment_ids:
        for row in conn.execute(_Q["segment_hits"], {"ids": json.dumps(segment_ids)}):
            hit = SearchHit(
                kind="segment",
                id=row["id"],
                video_id=row["video_id"],
                text=row["text"],
                t_start=row["t_start"],
                t_end=row["t_end"],
                score=0.0,
            )
            source = _path_out(row["original_path"])
            details["segment", row["id"]] = with_source(hit, source, row["title"])
    if caption_ids:
        for row in conn.execute(_Q["caption_hits"], {"ids": json.dumps(caption_ids)}):
            has_scene = row["scene_start"] is not None
            hit = caption_hit(
                id=row["id"],
                video_id=row["video_id"],
                caption=row["caption"],
                ocr_text=row["ocr_text"],
                t=row["t"],
                scene=(row["scene_start"], row["scene_end"]) if has_scene else None,
                frame_path=_path_out(row["frame_path"]),
            )
            source = _path_out(row["original_path"])
            details["caption", row["id"]] = with_source(hit, source, row["title"])
    return details
