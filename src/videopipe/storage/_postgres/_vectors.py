"""`PostgresStore`'s `Vectors`: pgvector HNSW, IVF lists or a paged scan; fused with full text."""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..._exceptions import StorageError, StoreClosed
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

    def __init__(
        self, url: str, *, min_size: int = 1, max_size: int = 10, retry_for: float = 30.0
    ) -> None:
        super().__init__(url, min_size=min_size, max_size=max_size, retry_for=retry_for)
        #: Without pgvector, a model is indexed (IVF) from this many vectors on; tests lower it.
        self._ivf_min_rows = IVF_MIN_ROWS
        # Each model's centroids, as last read (see `Lists`).
        self._lists: dict[str, Lists] = {}

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
                "list_id": None,
            }
            for e in map(clean_record, embeddings)
        ]
        video_ids = sorted({e.video_id for e in embeddings})
        models = sorted({(e.model, e.dimension) for e in embeddings})
        if self._pool is None:
            await self._open()  # whether pgvector is there
        lists = self._vector_schema is None  # with pgvector, HNSW indexes answer instead

        async def op(conn: Conn) -> None:
            async with conn.transaction():
                await _require_videos(conn, video_ids)
                if lists:
                    for model, _ in models:
                        # Shared: saves go on side by side, a training waits for them.
                        await conn.execute(_Q["ivf_lock_shared"], {"model": model})
                        await self._assign(conn, model, [r for r in rows if r["model"] == model])
                if rows:
                    async with conn.cursor() as cursor:
                        _adapt_vectors(cursor)
                        await cursor.executemany(_Q["upsert_embedding"], rows)
            if lists:
                for model, dim in models:
                    saved = sum(1 for r in rows if r["model"] == model and r["dim"] == dim)
                    await self._grow(conn, model, dim, saved)

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
                        nearest = await self._vector_candidates(cursor, q, params, n)
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

    async def _vector_candidates(
        self,
        cursor: AsyncCursor[DictRow],
        q: npt.NDArray[np.float32],
        params: dict[str, Any],
        n: int,
    ) -> list[str]:
        """The nearest owners: from the IVF lists, or an exact scan (filtered, small model).

        Vectors of segments and captions since replaced stay (a cache for the
        next run) but are never hits: when they are most of the nearest `n`, more
        are taken (up to `_MAX_WIDEN` times `n`), so the search still finds `k`.
        """
        conn = cursor.connection
        want = n
        while True:
            nearest = None
            if self._vector_schema is None and params["video_ids"] is None:
                nearest = await self._ivf_nearest(cursor, q, params, want)
            if nearest is None:
                nearest = await _scan_nearest(conn, q, params, want)
            if len(nearest) < want or want >= _MAX_WIDEN * n:
                return nearest
            row = await (await conn.execute(_Q["alive_owners"], {"ids": nearest})).fetchone()
            assert row is not None  # an aggregate always has its row
            if row["n"] >= n // 2:
                return nearest
            want *= 4

    # --- the IVF index (storage/_ivf.py), without pgvector ------------------------------

    async def _centroids(self, conn: Conn, model: str) -> Lists | None:
        """`model`'s lists, from the cache unless they were trained again since."""
        index = await (await conn.execute(_Q["ivf_index"], {"model": model})).fetchone()
        if index is None or index["first_list"] is None:
            return None
        cached = self._lists.get(model)
        if cached is not None and cached.first == index["first_list"]:
            return cached
        async with conn.cursor(binary=True) as cursor:
            _adapt_vectors(cursor)
            await cursor.execute(_Q["ivf_lists"], {"model": model})
            rows = await cursor.fetchall()
        lists = Lists(
            first=index["first_list"],
            dim=index["dim"],
            trained_rows=index["trained_rows"],
            ids=np.array([row["list_id"] for row in rows], dtype=np.int64),
            centroids=np.stack([row["centroid"] for row in rows]).astype(np.float32),
        )
        self._lists[model] = lists
        return lists

    async def _assign(self, conn: Conn, model: str, rows: list[dict[str, Any]]) -> None:
        """Set each row's `list_id`: its nearest list, when `model` is indexed."""
        lists = await self._centroids(conn, model)
        if lists is None:
            return
        same = [row for row in rows if row["dim"] == lists.dim]
        if same:
            nearest = assign(np.stack([row["vector"] for row in same]), lists.centroids)
            for row, i in zip(same, nearest, strict=True):
                row["list_id"] = int(lists.ids[i])

    async def _grow(self, conn: Conn, model: str, dim: int, saved: int) -> None:
        """Train `model`'s lists when it first has enough vectors, and when it has grown."""
        async with conn.transaction():
            await conn.execute(_Q["ivf_lock"], {"model": model})
            index = await (await conn.execute(_Q["ivf_index"], {"model": model})).fetchone()
            if index is None or index["dim"] != dim:
                cap = {"model": model, "dim": dim, "cap": self._ivf_min_rows}
                if await _count(conn, cap) >= self._ivf_min_rows:
                    await self._train(conn, model, dim)
                return
            since = index["saved_since"] + saved
            if index["trained_rows"] + since < GROWTH * index["trained_rows"]:
                await conn.execute(_Q["ivf_saved"], {"model": model, "saved_since": since})
                return
            rows = await _count(conn, {"model": model, "dim": dim, "cap": None})
            if rows >= GROWTH * index["trained_rows"]:
                await self._train(conn, model, dim)
            else:  # upserts of vectors already there counted as new ones
                since = rows - index["trained_rows"]
                await conn.execute(_Q["ivf_saved"], {"model": model, "saved_since": since})

    async def _train(self, conn: Conn, model: str, dim: int) -> None:
        """(Re)build `model`'s lists: k-means over a sample, then every vector to its list.

        Runs in the caller's transaction, under the model's lock.
        """
        started = time.perf_counter()
        rows = await _count(conn, {"model": model, "dim": dim, "cap": None})
        count = list_count(rows)
        share = min(1.0, sample_size(count) / max(rows, 1))
        rng = np.random.default_rng(rows)
        picked = [m[rng.random(len(m)) < share] async for _, m in _pages(conn, model, dim)]
        centroids = train(np.concatenate(picked), count, seed=rows)
        row = await (await conn.execute(_Q["ivf_next_list"])).fetchone()
        assert row is not None  # an aggregate always has its row
        first = int(row["next"])
        ids = np.arange(first, first + len(centroids), dtype=np.int64)
        await conn.execute(_Q["ivf_clear_lists"], {"model": model})
        async with conn.cursor() as cursor:
            _adapt_vectors(cursor)
            await cursor.executemany(
                _Q["ivf_add_list"],
                [
                    {"list_id": int(i), "model": model, "centroid": c}
                    for i, c in zip(ids, centroids, strict=True)
                ],
            )
        async for owners, matrix in _pages(conn, model, dim):
            nearest = ids[assign(matrix, centroids)]
            params = {"model": model, "owners": owners, "lists": nearest.tolist()}
            await conn.execute(_Q["ivf_assign"], params)
        await conn.execute(_Q["ivf_save_index"], {"model": model, "dim": dim, "trained_rows": rows})
        await conn.execute(_Q["ivf_analyze"])
        self._lists[model] = Lists(
            first=first, dim=dim, ids=ids, centroids=centroids, trained_rows=rows
        )
        elapsed = time.perf_counter() - started
        logger.info(
            "indexed %d vectors of %r in %d lists in %.1f s", rows, model, len(ids), elapsed
        )

    async def _ivf_nearest(
        self,
        cursor: AsyncCursor[DictRow],
        query: npt.NDArray[np.float32],
        params: dict[str, Any],
        n: int,
    ) -> list[str] | None:
        """The `n` owners nearest `query` among the lists nearest it; `None` to scan instead.

        Each list's vectors arrive packed in one binary string and become one numpy
        matrix: no vector is decoded row by row. `None` when the model is not
        indexed, or its nearest lists hold fewer than `n` vectors (of the kinds
        asked for): the exact scan answers then.
        """
        conn = cursor.connection
        lists = await self._centroids(conn, params["model"])
        dim = len(query)
        if lists is None or lists.dim != dim:
            return None
        top = TopK(n)
        seen = 0
        probes = nearest_lists(query, lists.centroids, probe_count(len(lists.ids)))
        # A few reads of several lists each: fewer round trips, bounded memory.
        ids = [int(lists.ids[i]) for i in probes]
        step = lists.per_read(_READ_FLOATS)
        for start in range(0, len(ids), step):
            await cursor.execute(
                _Q["ivf_scan"],
                {
                    "model": params["model"],
                    "dim": dim,
                    "kinds": params["kinds"],
                    "lists": ids[start : start + step],
                    "unlisted": start == 0,
                },
            )
            row = await cursor.fetchone()
            if row is None or not row["owners"]:
                continue
            owners = row["owners"]
            top.add(query, owners, _unpack_matrix(row["vectors"], len(owners), dim))
            seen += len(owners)
        if seen < n:
            return None
        return [str(owner) for owner in top.best()]

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


async def _count(conn: Conn, params: dict[str, Any]) -> int:
    row = await (await conn.execute(_Q["ivf_count"], params)).fetchone()
    assert row is not None  # an aggregate always has its row
    return int(row["n"])


#: About how many numbers one read of IVF lists brings (16 MB of float32).
_READ_FLOATS = 4_000_000

#: A search takes at most this many times its candidates when most are of replaced rows.
_MAX_WIDEN = 64

#: Vectors per page while the lists are trained.
_TRAIN_PAGE = 4096


async def _pages(
    conn: Conn, model: str, dim: int
) -> AsyncIterator[tuple[list[str], npt.NDArray[np.float32]]]:
    """`model`'s `dim`-dimension vectors, a page at a time: (owners, matrix)."""
    async with conn.cursor(name="videopipe_ivf_rows", binary=True) as cursor:
        _adapt_vectors(cursor)
        await cursor.execute(_Q["ivf_rows"], {"model": model, "dim": dim})
        while rows := await cursor.fetchmany(_TRAIN_PAGE):
            matrix = np.stack([row["vector"] for row in rows]).astype(np.float32)
            yield [row["owner_id"] for row in rows], matrix


def _unpack_matrix(data: bytes, rows: int, dim: int) -> npt.NDArray[np.float32]:
    """`rows` `dim`-dimension `real[]`s in binary format (`array_send`), back to back.

    Each is a 20-byte header, then each element as a 4-byte length and a big-endian
    float4: one fixed stride, so the whole string is one reshape, not a loop.
    """
    stride = 20 + 8 * dim
    if len(data) != rows * stride:
        raise StorageError("the stored vectors do not have the dimension their rows say")
    packed = np.frombuffer(data, dtype=np.uint8).reshape(rows, stride)[:, 20:]
    values = np.ascontiguousarray(packed).view(">f4")[:, 1::2]
    return values.astype(np.float32)


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
