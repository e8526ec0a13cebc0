"""`PostgresStore`'s `Vectors`: `real[]` searched exactly, or through pgvector's HNSW index."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ..._exceptions import StorageError, StoreClosed
from ..._models import Embedding, EmbeddingKind, SearchHit
from .._common import clean_record
from .._ranking import caption_hit, check_dimension, keyword_terms, rank_hits, scored_hits
from ._connection import PostgresConnection
from ._pgvector import (
    _ANN_MAX_K,
    _ANN_MIN_FETCH,
    _ANN_OVERFETCH,
    _HNSW_MAX_EF_SEARCH,
    _HNSW_MIN_EF_SEARCH,
    HNSW_MAX_DIM,
    _adapt_vectors,
    hnsw_index_name,
)
from ._values import _Q, Row, _ok, _path_out, _require_videos, logger

if TYPE_CHECKING:
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
    ) -> list[SearchHit]:
        vector = list(vector)
        terms = keyword_terms(keywords) if keywords else []
        if not _ok(model):
            self._check()
            return []
        params = {
            "model": model,
            "kinds": None if kinds is None else sorted(set(kinds)),
            "video_ids": None if video_ids is None else sorted({v for v in video_ids if _ok(v)}),
            "with_text": bool(terms),
        }
        if self._pool is None:
            await self._open()  # whether pgvector is there
        # Filters by kind or video leave the nearest neighbours of the whole model
        # unknown in number; exact search over the filtered rows is the sure way.
        if kinds is None and video_ids is None and self._ann_eligible(len(vector), k):
            hits = await self._run(
                functools.partial(self._ann_search, vector=vector, model=model, terms=terms, k=k)
            )
            if hits is not None:
                return hits

        async def op(conn: Conn) -> list[SearchHit]:
            async with conn.transaction():
                # One snapshot: the hits' rows are those the vectors were read with.
                await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                async with conn.cursor(binary=True) as cursor:
                    _adapt_vectors(cursor)
                    await cursor.execute(_Q["search_candidates"], params)
                    candidates = await cursor.fetchall()
                check_dimension(len(vector), {row["dim"] for row in candidates}, model=model)
                return await _ranked_hits(conn, candidates, vector, terms, k)

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

    async def _ann_search(
        self, conn: Conn, *, vector: list[float], model: str, terms: list[str], k: int
    ) -> list[SearchHit] | None:
        """Search through the model's HNSW index; `None` when exact search should answer.

        The index gives the model's nearest vectors, a few times `k` of them; with
        keywords, the rows whose text holds one join them. `rank_hits` then scores
        those rows exactly, as the exact path would: a row it ranks in the top `k`
        is either near (in the index's answer) or holds a keyword.
        """
        dim = len(vector)
        cap = max(self._ann_min_rows, 1)
        stats = await (
            await conn.execute(_Q["model_dims"], {"model": model, "cap": cap})
        ).fetchone()
        assert stats is not None  # an aggregate always has its row
        if stats["n"] == 0:
            return []
        check_dimension(dim, {stats["min_dim"], stats["max_dim"]}, model=model)
        if stats["n"] < self._ann_min_rows:
            return None
        if (model, dim) not in self._hnsw:
            await self._ensure_hnsw(conn, model=model, dim=dim)
        fetch = max(_ANN_OVERFETCH * k, _ANN_MIN_FETCH)
        query = np.asarray(vector, dtype=np.float32)
        async with conn.transaction():
            # One snapshot: the hits' rows are those the vectors were read with.
            await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            await self._ann_settings(conn, fetch)
            async with conn.cursor(binary=True) as cursor:
                _adapt_vectors(cursor)
                await cursor.execute(self._ann_query(model, dim), {"query": query, "fetch": fetch})
                nearest = [row["owner_id"] for row in await cursor.fetchall()]
                params = {
                    "model": model,
                    "owner_ids": nearest,
                    "with_text": bool(terms),
                    "terms": terms,
                }
                await cursor.execute(_Q["ann_rows"], params)
                rows = await cursor.fetchall()
            alive = {row["owner_id"] for row in rows}
            if len(nearest) == fetch and sum(o in alive for o in nearest) < k:
                # Most of the nearest vectors belong to replaced segments or captions:
                # the index cannot say how many more to fetch.
                return None
            logger.debug(
                "searched %r through %s: %d nearest, %d rows scored",
                model,
                hnsw_index_name(model, dim),
                len(nearest),
                len(rows),
            )
            return await _ranked_hits(conn, rows, vector, terms, k)


async def _ranked_hits(
    conn: Conn, rows: Sequence[Row], vector: list[float], terms: list[str], k: int
) -> list[SearchHit]:
    """Score candidate rows exactly (cosine, plus the keyword share) and build the best `k`."""
    if not rows:
        return []
    matrix = np.stack([row["vector"] for row in rows])
    texts = [row["text"] or "" for row in rows] if terms else []
    top = rank_hits(vector, matrix, texts, terms, k)
    return await _hits(conn, [(rows[i], score, found) for i, score, found in top])


async def _hits(conn: Conn, ranked: list[tuple[Row, float, list[str]]]) -> list[SearchHit]:
    segment_ids = [row["owner_id"] for row, _, _ in ranked if row["kind"] == "segment"]
    caption_ids = [row["owner_id"] for row, _, _ in ranked if row["kind"] == "caption"]
    details: dict[tuple[str, str], SearchHit] = {}
    if segment_ids:
        cursor = await conn.execute(_Q["segment_hits"], {"ids": segment_ids})
        for row in await cursor.fetchall():
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
        cursor = await conn.execute(_Q["caption_hits"], {"ids": caption_ids})
        for row in await cursor.fetchall():
            has_scene = row["scene_start"] is not None
            details["caption", row["id"]] = caption_hit(
                id=row["id"],
                video_id=row["video_id"],
                caption=row["caption"],
                ocr_text=row["ocr_text"],
                t=row["t"],
                scene=(row["scene_start"], row["scene_end"]) if has_scene else None,
                frame_path=_path_out(row["frame_path"], row["frame_path_raw"]),
            )
    return scored_hits(details, ranked)
