"""`SQLiteStore`'s `Vectors`: float32 blobs in IVF lists or scanned, fused with FTS5 full text."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ..._models import Embedding, EmbeddingKind, SearchHit
from .._common import clean_record
from .._fulltext import COMMON_MIN, COMMON_SHARE, TextQuery, rarer
from .._ivf import (
    GROWTH,
    IVF_MIN_ROWS,
    Lists,
    assign,
    list_count,
    nearest_lists,
    probe_count,
    sample_size,
    train,
)
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

logger = logging.getLogger(__name__)

#: Postings' IDs of one list lie in `[list_id * _LIST_SPAN, (list_id + 1) * _LIST_SPAN)`.
_LIST_SPAN = 1 << 40


class SQLiteVectors(SQLiteConnection):
    """The [`Vectors`][videopipe.storage.Vectors] of a `SQLiteStore`."""

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 30.0) -> None:
        super().__init__(path, busy_timeout=busy_timeout)
        #: A model is indexed (IVF) from this many vectors on; tests lower it.
        self._ivf_min_rows = IVF_MIN_ROWS
        # Each model's centroids, as last read: (first list ID, list IDs, unit centroids).
        self._lists: dict[str, Lists] = {}

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
                "list_id": None,
            }
            for e in map(clean_record, embeddings)
        ]
        video_ids = sorted({e.video_id for e in embeddings})
        models = sorted({(e.model, e.dimension) for e in embeddings})

        def op(conn: sqlite3.Connection) -> None:
            _require_videos(conn, video_ids)
            for model, _ in models:
                self._assign(conn, model, [row for row in rows if row["model"] == model])
            conn.executemany(_Q["upsert_embedding"], rows)
            for model, dim in models:
                saved = sum(1 for row in rows if row["model"] == model and row["dim"] == dim)
                self._grow(conn, model, dim, saved)

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
                rows = self._vector_candidates(conn, q, params, n)
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

    def _vector_candidates(
        self, conn: sqlite3.Connection, q: np.ndarray, params: dict[str, str | None], n: int
    ) -> list[Row]:
        """The nearest rows: from the IVF lists, or an exact scan (filtered, or a small model).

        Vectors of segments and captions since replaced stay (a cache for the
        next run) but are never hits: when they are most of the nearest `n`, more
        are taken (up to `_MAX_WIDEN` times `n`), so the search still finds `k`.
        """
        want = n
        while True:
            rows = None
            if params["video_ids"] is None:
                rows = self._ivf_nearest(conn, q, params, want)
            if rows is None:
                rows = _nearest(conn, q, params, want)
            if len(rows) < want or want >= _MAX_WIDEN * n:
                return rows
            ids = json.dumps([row["owner_id"] for row in rows])
            if conn.execute(_Q["alive_owners"], {"ids": ids}).fetchone()["n"] >= n // 2:
                return rows
            want *= 4

    # --- the IVF index (storage/_ivf.py) --------------------------------------------------

    def _centroids(self, conn: sqlite3.Connection, model: str) -> Lists | None:
        """`model`'s lists, from the cache unless they were trained again since."""
        index = conn.execute(_Q["ivf_index"], {"model": model}).fetchone()
        if index is None or index["first_list"] is None:
            return None
        cached = self._lists.get(model)
        if cached is not None and cached.first == index["first_list"]:
            return cached
        rows = conn.execute(_Q["ivf_lists"], {"model": model}).fetchall()
        ids = np.array([row["list_id"] for row in rows], dtype=np.int64)
        matrix = np.frombuffer(b"".join(row["centroid"] for row in rows), dtype="<f4")
        lists = Lists(
            first=index["first_list"],
            dim=index["dim"],
            trained_rows=index["trained_rows"],
            ids=ids,
            centroids=matrix.reshape(len(rows), index["dim"]).astype(np.float32),
        )
        self._lists[model] = lists
        return lists

    def _assign(self, conn: sqlite3.Connection, model: str, rows: list[dict[str, Any]]) -> None:
        """Set each row's `list_id`: its nearest list, when `model` is indexed."""
        lists = self._centroids(conn, model)
        if lists is None:
            return
        same = [row for row in rows if row["dim"] == lists.dim]
        if not same:
            return
        matrix = np.frombuffer(b"".join(row["vector"] for row in same), dtype="<f4")
        nearest = assign(matrix.reshape(len(same), lists.dim), lists.centroids)
        for row, i in zip(same, nearest, strict=True):
            row["list_id"] = int(lists.ids[i])

    def _grow(self, conn: sqlite3.Connection, model: str, dim: int, saved: int) -> None:
        """Train `model`'s lists when it first has enough vectors, and when it has grown."""
        index = conn.execute(_Q["ivf_index"], {"model": model}).fetchone()
        if index is None or index["dim"] != dim:
            cap = {"model": model, "dim": dim, "cap": self._ivf_min_rows}
            if conn.execute(_Q["ivf_count"], cap).fetchone()["n"] >= self._ivf_min_rows:
                self._train(conn, model, dim)
            return
        since = index["saved_since"] + saved
        if index["trained_rows"] + since < GROWTH * index["trained_rows"]:
            conn.execute(_Q["ivf_saved"], {"model": model, "saved_since": since})
            return
        count = {"model": model, "dim": dim, "cap": -1}
        rows = conn.execute(_Q["ivf_count"], count).fetchone()["n"]
        if rows >= GROWTH * index["trained_rows"]:
            self._train(conn, model, dim)
        else:  # upserts of vectors already there counted as new ones
            conn.execute(
                _Q["ivf_saved"], {"model": model, "saved_since": rows - index["trained_rows"]}
            )

    def _train(self, conn: sqlite3.Connection, model: str, dim: int) -> None:
        """(Re)build `model`'s lists: k-means over a sample, then every vector to its list."""
        total = conn.execute(_Q["ivf_count"], {"model": model, "dim": dim, "cap": -1}).fetchone()
        rows = int(total["n"])
        started = time.perf_counter()
        count = list_count(rows)
        share = min(1.0, sample_size(count) / max(rows, 1))
        rng = np.random.default_rng(rows)
        picked = [matrix[rng.random(len(matrix)) < share] for _, matrix in _pages(conn, model, dim)]
        centroids = train(np.concatenate(picked), count, seed=rows)
        # New IDs above the old ones: a cache of the old lists (`_centroids`) sees the change.
        first = int(conn.execute(_Q["ivf_next_list"]).fetchone()["next"])
        old = self._centroids(conn, model)
        if old is not None:
            for list_id in old.ids.tolist():
                span = {"lo": list_id * _LIST_SPAN, "hi": (list_id + 1) * _LIST_SPAN}
                conn.execute(_Q["ivf_clear_list"], span)
        conn.execute(_Q["ivf_clear_lists"], {"model": model})
        ids = np.arange(first, first + len(centroids), dtype=np.int64)
        conn.executemany(
            _Q["ivf_add_list"],
            [
                {"list_id": int(i), "model": model, "centroid": c.astype("<f4").tobytes()}
                for i, c in zip(ids, centroids, strict=True)
            ],
        )
        for rids, matrix in _pages(conn, model, dim):
            nearest = ids[assign(matrix, centroids)]
            conn.executemany(
                _Q["ivf_assign"],
                [{"rid": r, "list_id": int(i)} for r, i in zip(rids, nearest, strict=True)],
            )
        conn.execute(_Q["ivf_save_index"], {"model": model, "dim": dim, "trained_rows": rows})
        self._lists[model] = Lists(
            first=first, dim=dim, ids=ids, centroids=centroids, trained_rows=rows
        )
        elapsed = time.perf_counter() - started
        logger.info(
            "indexed %d vectors of %r in %d lists in %.1f s", rows, model, len(ids), elapsed
        )

    def _ivf_nearest(
        self, conn: sqlite3.Connection, query: np.ndarray, params: dict[str, str | None], n: int
    ) -> list[Row] | None:
        """The `n` rows nearest `query` among the lists nearest it; `None` to scan instead.

        `None` when the model is not indexed, or its nearest lists hold fewer
        than `n` vectors (of the kinds asked for): the exact scan answers then.
        """
        lists = self._centroids(conn, str(params["model"]))
        if lists is None or lists.dim != len(query):
            return None
        top = TopK(n)
        seen = 0
        cursor = conn.cursor()
        cursor.row_factory = None
        for i in nearest_lists(query, lists.centroids, probe_count(len(lists.ids))):
            list_id = int(lists.ids[i])
            span = {"lo": list_id * _LIST_SPAN, "hi": (list_id + 1) * _LIST_SPAN}
            cursor.execute(_Q["ivf_scan"], {**span, "kinds": params["kinds"]})
            while chunk := cursor.fetchmany(_SCAN_CHUNK):
                blob = b"".join(vector for _, vector in chunk)
                matrix = np.frombuffer(blob, dtype="<f4").reshape(len(chunk), len(query))
                top.add(query, [owner for owner, _ in chunk], matrix)
                seen += len(chunk)
        if seen < n:
            return None
        ids = json.dumps([str(owner) for owner in top.best()])
        return conn.execute(
            _Q["candidates_by_owner"], {"model": params["model"], "ids": ids}
        ).fetchall()


#: A search takes at most this many times its candidates when most are of replaced rows.
_MAX_WIDEN = 64

#: Vectors read per page while the lists are trained.
_TRAIN_PAGE = 4096


def _pages(
    conn: sqlite3.Connection, model: str, dim: int
) -> Iterable[tuple[list[int], npt.NDArray[np.float32]]]:
    """`model`'s `dim`-dimension vectors, a page at a time: (rowids, matrix)."""
    after = 0
    while True:
        params = {"model": model, "dim": dim, "after": after, "page": _TRAIN_PAGE}
        page = conn.execute(_Q["ivf_rows"], params).fetchall()
        if not page:
            return
        blob = b"".join(row["vector"] for row in page)
        rids = [row["rid"] for row in page]
        yield rids, np.frombuffer(blob, dtype="<f4").reshape(len(page), dim).astype(np.float32)
        after = rids[-1]


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
