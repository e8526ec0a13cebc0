"""`PostgresStore`'s `Vectors`: `real[]` paged or through pgvector's HNSW, fused with full text."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..._exceptions import StorageError, StoreClosed
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
    with_source,
)
from ._connection import PostgresConnection
from ._pgvector import (
    _ANN_MAX_K,
    _HNSW_MAX_EF_SEARCH,
    _HNSW_MIN_EF_SEARCH,
    HNSW_MAX_DIM,
    _adapt_vectors,
    hnsw_index_name,
)
from ._values import _Q, Row, _ok, _path_out, _require_videos, logger

if TYPE_CHECKING:
    import numpy.typing as npt
    from psycopg import AsyncCursor
    from psycopg.rows import DictRow
    from psycopg.sql import Composed

    from ._values import Conn

__all__ = ["PostgresVectors"]


class PostgresVectors(PostgresConnection):
    """The [`Vectors`][videopipe.storage.Vectors] of a `PostgresStore`."""

    # --- embeddings and search -----------------------------------------------------------

    async def save_embeddings(self, embeddings: Sequence[Embedding]) -> None:
        rows = [
            {
                "owner_id": e.owner_id,
                "model": e.model,
                "video_id": e.video_id,
                "kind": e.kind,
                "dim": e.dimension,
                "vector": np.asarray(e.vector, dtype=np.float32),
                "text_hash": e.text_hash,
            }
            for e in map(clean_record, embeddings)
        ]
        video_ids = sorted({e.video_id for e in embeddings})

        async def op(conn: Conn) -> None:
            async with conn.transaction():
                await _require_videos(conn, video_ids)
                if rows:
                    async with conn.cursor() as cursor:
                        _adapt_vectors(cursor)
                        await cursor.executemany(_Q["upsert_embedding"], rows)

        await self._run(op)
        if self._vector_schema is not None:
            # Indexed from a model's first vectors on, so no search waits for a build.
            for model, dim in sorted({(e.model, e.dimension) for e in embeddings}):
                if 1 <= dim <= HNSW_MAX_DIM and (model, dim) not in self._hnsw:
                    try:
                        await self._run(functools.partial(self._ensure_hnsw, model=model, dim=dim))
                    except StoreClosed:
                        raise
                    except StorageError as exc:
                        # The vectors are saved; the search will try to index them again.
                        logger.warning("cannot index %r's vectors yet: %s", model, exc)

    async def find_embeddings(
        self, text_hashes: Iterable[str], *, model: str
    ) -> dict[str, list[float]]:
        hashes = [h for h in text_hashes if _ok(h)]
        if not hashes or not _ok(model):
            self._check()
            return {}
        params = {"model": model, "hashes": hashes}

        async def op(conn: Conn) -> list[Row]:
            async with conn.cursor(binary=True) as cursor:
                _adapt_vectors(cursor)
                await cursor.execute(_Q["find_embeddings"], params)
                return await cursor.fetchall()

        rows = await self._run(op)
        return {row["text_hash"]: row["vector"].tolist() for row in rows}

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
        q = np.asarray(vector, dtype=np.float32)
        query = TextQuery.parse(keywords) if keywords else None
        if not _ok(model):
            self._check()
            return []
        n = candidate_count(k)
        params = {
            "model": model,
            "kinds": None if kinds is None else sorted(set(kinds)),
            "video_ids": None if video_ids is None else sorted({v for v in video_ids if _ok(v)}),
        }
        if self._pool is None:
            await self._open()  # whether pgvector is there
        # Filters by kind or video leave the nearest neighbours of the whole model
        # unknown in number; an exact scan of the filtered rows is the sure way.
        ann = kinds is None and video_ids is None and self._ann_eligible(len(q), k)
        dims = await self._run(functools.partial(_model_dims, model=model, cap=self._ann_min_rows))
        if dims["n"] == 0:
            return []
        check_dimension(len(q), {dims["min_dim"], dims["max_dim"]}, model=model)
        if k <= 0:
            return []
        ann = ann and dims["n"] >= self._ann_min_rows
        if ann and (model, len(q)) not in self._hnsw:
            await self._run(functools.partial(self._ensure_hnsw, model=model, dim=len(q)))

        async def op(conn: Conn) -> list[SearchHit]:
            async with conn.transaction():
                # One snapshot: the hits' rows are those the vectors were read with.
                await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                async with conn.cursor(binary=True) as cursor:
                    _adapt_vectors(cursor)
                    nearest = None
                    if ann:
                        nearest = await self._ann_nearest(cursor, q, model, n)
                    if nearest is None:
                        nearest = await _scan_nearest(conn, q, params, n)
                    await cursor.execute(
                        _Q["candidates_by_owner"], {"model": model, "ids": nearest}
                    )
                    rows = await cursor.fetchall()
                    match = (await _rare(conn, query)).tsquery() if query is not None else None
                    if match is not None:
                        found = await conn.execute(
                            _Q["text_candidates"], {**params, "match": match, "n": n}
                        )
                        ids = [row["owner_id"] for row in await found.fetchall()]
                        await cursor.execute(
                            _Q["candidates_by_owner"], {"model": model, "ids": ids}
                        )
                        rows += await cursor.fetchall()
                details = await _hits(conn, rows)
                alive = [row for row in rows if (row["kind"], row["owner_id"]) in details]
                scores = cosines(q, [row["vector"] for row in alive])
                candidates = (
                    (details[row["kind"], row["owner_id"]], score)
                    for row, score in zip(alive, scores, strict=True)
                )
                return fuse(candidates, query, k=k, min_score=min_score)

        return await self._run(op)

    # --- pgvector ------------------------------------------------------------------------

    def _ann_eligible(self, dim: int, k: int) -> bool:
        return self._vector_schema is not None and 1 <= dim <= HNSW_MAX_DIM and 0 < k <= _ANN_MAX_K

    def _ann_query(self, model: str, dim: int) -> Composed:
        """The nearest-neighbour query of `model`'s `dim`-dimension vectors, for its index."""
        from psycopg import sql as pgsql

        assert self._vector_schema is not None
        return pgsql.SQL(_Q["ann_nearest"]).format(
            model=pgsql.Literal(model),
            dim=pgsql.Literal(int(dim)),
            vector=pgsql.Identifier(self._vector_schema, "vector"),
            schema=pgsql.Identifier(self._vector_schema),
        )

    async def _ann_settings(self, conn: Conn, fetch: int) -> None:
        """Settle how the transaction's nearest-neighbour queries run: by the index."""
        ef = min(_HNSW_MAX_EF_SEARCH, max(_HNSW_MIN_EF_SEARCH, 2 * fetch))
        await conn.execute(_Q["ann_settings"], {"ef": str(ef)})

    async def _ensure_hnsw(self, conn: Conn, *, model: str, dim: int) -> None:
        """Create the HNSW index of `model`'s `dim`-dimension vectors, unless it exists."""
        from psycopg import sql as pgsql

        assert self._vector_schema is not None
        name = hnsw_index_name(model, dim)
        async with conn.transaction():
            await conn.execute(_Q["index_lock"], {"name": name})
            row = await (await conn.execute(_Q["has_index"], {"name": name})).fetchone()
            if not (row and row["present"]):
                logger.info("building the HNSW index %s of %r (%d dimensions)", name, model, dim)
                query = pgsql.SQL(_Q["create_hnsw_index"]).format(
                    name=pgsql.Identifier(name),
                    vector=pgsql.Identifier(self._vector_schema, "vector"),
                    opclass=pgsql.Identifier(self._vector_schema, "vector_cosine_ops"),
                    model=pgsql.Literal(model),
                    dim=pgsql.Literal(int(dim)),
                )
                await conn.execute(query)
        self._hnsw.add((model, dim))

    async def _ann_nearest(
        self, cursor: AsyncCursor[DictRow], query: npt.NDArray[np.float32], model: str, n: int
    ) -> list[str] | None:
        """The `n` nearest owners through the model's HNSW index; `None` to scan instead.

        The index cannot tell how many of its nearest vectors belong to segments or
        captions since replaced: when most of them do, the exact scan answers.
        """
        dim = len(query)
        await self._ann_settings(cursor.connection, n)
        await cursor.execute(self._ann_query(model, dim), {"query": query, "fetch": n})
        nearest = [row["owner_id"] for row in await cursor.fetchall()]
        if len(nearest) == n:
            alive = await (
                await cursor.connection.execute(_Q["alive_owners"], {"ids": nearest})
            ).fetchone()
            assert alive is not None  # an aggregate always has its row
            if alive["n"] < n // 2:
                return None
        logger.debug("searched %r through %s", model, hnsw_index_name(model, dim))
        return nearest


#: Vectors per fetch of an exact scan (about 3 MB of 384-d vectors).
_SCAN_PAGE = 2000


async def _model_dims(conn: Conn, *, model: str, cap: int) -> Row:
    row = await (
        await conn.execute(_Q["model_dims"], {"model": model, "cap": max(cap, 1)})
    ).fetchone()
    assert row is not None  # an aggregate always has its row
    return row


async def _scan_nearest(
    conn: Conn, query: npt.NDArray[np.float32], params: dict[str, Any], n: int
) -> list[str]:
    """The `n` owners whose vectors are nearest `query`: an exact scan in pages.

    A server-side cursor streams the vectors in PostgreSQL's binary format (each
    row becomes a numpy array, never Python floats), numpy scores each page, and
    only the best `n` are kept: memory stays flat however many vectors the model
    has. Filtered to some videos, it reads only theirs through an index.
    """
    top = TopK(n)
    name = "vector_scan" if params["video_ids"] is None else "vector_scan_videos"
    async with conn.cursor(name="videopipe_vector_scan", binary=True) as cursor:
        _adapt_vectors(cursor)
        await cursor.execute(_Q[name], params)
        while rows := await cursor.fetchmany(_SCAN_PAGE):
            check_dimension(len(query), {len(row["vector"]) for row in rows}, model=params["model"])
            matrix = np.stack([row["vector"] for row in rows])
            top.add(query, [row["owner_id"] for row in rows], matrix)
    return [str(owner) for owner in top.best()]


async def _rare(conn: Conn, query: TextQuery) -> TextQuery:
    """`query` with only its rarer plain words, for the full-text candidates (see SQLite's)."""
    if len(query.words) <= 1:
        return query
    row = await (await conn.execute(_Q["search_docs_estimate"])).fetchone()
    cap = int(max(COMMON_MIN, COMMON_SHARE * (row["n"] if row else 0))) + 1
    params = {
        "terms": list(query.words),
        "queries": [TextQuery((w,), (), ()).tsquery() for w in query.words],
        "cap": cap,
    }
    counts = {
        r["term"]: r["doc"]
        for r in await (await conn.execute(_Q["term_counts"], params)).fetchall()
    }
    return rarer(query, counts, limit=cap - 1)


async def _hits(conn: Conn, rows: Sequence[Row]) -> dict[tuple[str, str], SearchHit]:
    """The hits of candidate rows whose segment or caption still exists, by kind and ID."""
    segment_ids = sorted({row["owner_id"] for row in rows if row["kind"] == "segment"})
    caption_ids = sorted({row["owner_id"] for row in rows if row["kind"] == "caption"})
    details: dict[tuple[str, str], SearchHit] = {}
    if segment_ids:
        cursor = await conn.execute(_Q["segment_hits"], {"ids": segment_ids})
        for row in await cursor.fetchall():
            hit = SearchHit(
                kind="segment",
                id=row["id"],
                video_id=row["video_id"],
                text=row["text"],
                t_start=row["t_start"],
                t_end=row["t_end"],
                score=0.0,
            )
            source = _path_out(row["original_path"], row["original_path_raw"])
            details["segment", row["id"]] = with_source(hit, source, row["title"])
    if caption_ids:
        cursor = await conn.execute(_Q["caption_hits"], {"ids": caption_ids})
        for row in await cursor.fetchall():
            has_scene = row["scene_start"] is not None
            hit = caption_hit(
                id=row["id"],
                video_id=row["video_id"],
                caption=row["caption"],
                ocr_text=row["ocr_text"],
                t=row["t"],
                scene=(row["scene_start"], row["scene_end"]) if has_scene else None,
                frame_path=_path_out(row["frame_path"], row["frame_path_raw"]),
            )
            source = _path_out(row["original_path"], row["original_path_raw"])
            details["caption", row["id"]] = with_source(hit, source, row["title"])
    return details
