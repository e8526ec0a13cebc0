"""`PostgresStore`: the scale-out backend, shared by many workers on many machines.

psycopg 3 is an optional dependency (`pip install 'videopipe[postgres]'`): this
module imports it inside functions, after `PostgresStore()` has checked it is
installed, so `import videopipe` works without it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from types import TracebackType
from typing import TYPE_CHECKING, Any, LiteralString, Self, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import anyio
import numpy as np

from .._exceptions import ConfigurationError, NotFound, StorageError, StoreClosed
from .._imports import require
from .._models import (
    BatchItem,
    BatchResults,
    BatchStatus,
    Embedding,
    EmbeddingKind,
    Frame,
    FrameCaption,
    Job,
    JobStatus,
    QueueStats,
    Scene,
    SearchHit,
    StageRun,
    TranscriptSegment,
    Usage,
    UsageSummary,
    Video,
    VideoStatus,
)
from . import sql
from ._common import (
    Coalescer,
    batch_finished_at,
    batch_state,
    caption_hit,
    check_dimension,
    check_limit,
    check_text,
    clean_record,
    is_storable,
    keyword_terms,
    new_id,
    owned_by,
    path_from_bytes,
    path_to_bytes,
    rank_hits,
    sanitize_text,
    scored_hits,
)
from ._queue import DEFAULT_LEASE

#: The most dimensions a pgvector HNSW index can hold; longer vectors are searched exactly.
HNSW_MAX_DIM = 2000

#: Searches of a model with fewer vectors than this are exact (numpy is as quick there).
ANN_MIN_ROWS = 1000

if TYPE_CHECKING:
    import numpy.typing as npt
    from psycopg import AsyncConnection, AsyncCursor
    from psycopg.rows import DictRow
    from psycopg.sql import Composed
    from psycopg_pool import AsyncConnectionPool

    Conn = AsyncConnection[DictRow]

__all__ = ["PostgresStore"]

T = TypeVar("T")
Row = dict[str, Any]

logger = logging.getLogger(__name__)

_Q = sql.queries("postgres")


class PostgresStore:
    """A [`Store`][videopipe.storage.Store] in PostgreSQL, for many workers on many machines.

    Uses psycopg 3 with an async connection pool, opened on first use inside
    the running event loop. The schema is created and upgraded on first use,
    under an advisory lock, so workers starting together do not race.

    The job queue claims with `FOR UPDATE SKIP LOCKED` in one round trip, along
    a partial index of runnable jobs, so claims stay fast however many finished
    jobs pile up. `enqueue` notifies `videopipe_jobs`, which
    [`wait_for_jobs`][videopipe.storage.Store.wait_for_jobs] listens to.
    Times come from the database's clock, which all workers share.

    When the connection drops (the server restarts, an administrator ends the
    session), an operation is retried until the database answers again, for up
    to `retry_for` seconds.

    Embeddings are `real[]` columns, searched exactly with numpy one model at a
    time. When the server has the pgvector extension, the store also keeps each
    vector as a pgvector `vector` and builds an HNSW index per model and
    dimension, and searches a model with many vectors through it; the hits
    and their scores are those of exact search (see the storage guide).

    Args:
        url: A libpq URL, `postgresql://user:password@host:5432/dbname`
            (`postgres://` also works). Add `?options=-csearch_path%3Dvideopipe`
            to keep videopipe's tables in their own schema.
        min_size: Connections the pool keeps open.
        max_size: Connections the pool may open.
        retry_for: Seconds to keep retrying an operation whose connection was
            lost before raising `StorageError`.

    Raises:
        MissingDependency: psycopg is not installed.
        ConfigurationError: `url` is not a PostgreSQL URL.

    Note:
        Added in 0.1.0.
    """

    def __init__(
        self, url: str, *, min_size: int = 1, max_size: int = 10, retry_for: float = 30.0
    ) -> None:
        require("psycopg", package="psycopg", extra="postgres", feature="PostgresStore")
        require("psycopg_pool", package="psycopg-pool", extra="postgres", feature="PostgresStore")
        from psycopg.conninfo import conninfo_to_dict

        if not url.lower().startswith(("postgresql://", "postgres://")):
            raise ConfigurationError(
                f"not a PostgreSQL URL: {redact_url(url)!r}; use postgresql://user@host/dbname"
            )
        try:
            params = conninfo_to_dict(url)
        except Exception as exc:  # psycopg.ProgrammingError, with the parser's reason
            raise ConfigurationError(f"invalid PostgreSQL URL {redact_url(url)!r}: {exc}") from None
        self.url = redact_url(url)
        self._conninfo = url
        self._kwargs: dict[str, Any] = {"autocommit": True}
        if "application_name" not in params:
            self._kwargs["application_name"] = "videopipe"
        if "connect_timeout" not in params:
            self._kwargs["connect_timeout"] = 10
        self._min_size = min_size
        self._max_size = max_size
        self._retry_for = retry_for
        self._pool: AsyncConnectionPool[Conn] | None = None
        self._listener: Conn | None = None
        self._open_lock = anyio.Lock()
        self._listen_lock = anyio.Lock()
        self._closed = False
        self._pgvector: bool | None = None
        # The schema pgvector lives in, when this store uses it (`_open`).
        self._vector_schema: str | None = None
        self._hnsw: set[tuple[str, int]] = set()  # (model, dim) known to have an index
        self._ann_min_rows = ANN_MIN_ROWS
        # Completions arriving together share one statement and one commit.
        self._complete = Coalescer(self._complete_many)

    def __repr__(self) -> str:
        return f"PostgresStore({self.url!r})"

    # --- plumbing ------------------------------------------------------------------------

    async def _connect(self) -> Conn:
        from psycopg import AsyncConnection
        from psycopg.rows import dict_row

        return await AsyncConnection.connect(self._conninfo, row_factory=dict_row, **self._kwargs)

    async def _open(self) -> AsyncConnectionPool[Conn]:
        import psycopg
        from psycopg import AsyncConnection
        from psycopg.rows import DictRow, dict_row
        from psycopg_pool import AsyncConnectionPool

        async with self._open_lock:
            if self._closed:
                raise StoreClosed
            if self._pool is not None:
                return self._pool
            # A first connection that fails is most likely a wrong URL or password:
            # fail at once, rather than retrying as for a connection lost later.
            try:
                conn = await self._connect()
            except psycopg.Error as exc:
                raise StorageError(f"cannot connect to {self.url}: {exc}") from exc
            try:
                async with conn:
                    await _migrate(conn)
                    self._vector_schema = await _enable_pgvector(conn, self.url)
                    self._pgvector = self._vector_schema is not None
            except psycopg.Error as exc:
                raise StorageError(f"cannot set up the schema in {self.url}: {exc}") from exc
            pool: AsyncConnectionPool[AsyncConnection[DictRow]] = AsyncConnectionPool(
                self._conninfo,
                connection_class=AsyncConnection[DictRow],
                kwargs={**self._kwargs, "row_factory": dict_row},
                min_size=self._min_size,
                max_size=self._max_size,
                open=False,
                name="videopipe",
                timeout=10.0,
            )
            await pool.open()
            self._pool = pool
            return pool

    async def _run(self, op: Callable[[Conn], Awaitable[T]]) -> T:
        """Run `op` on a pooled connection, retrying it while the database is unreachable."""
        import psycopg
        from psycopg.errors import QueryCanceled

        if self._closed:
            raise StoreClosed
        pool = self._pool if self._pool is not None else await self._open()
        deadline = anyio.current_time() + self._retry_for
        delay = 0.05
        retrying = False
        while True:
            try:
                # Waiting for a pooled connection counts against `retry_for` too.
                timeout = max(0.05, deadline - anyio.current_time())
                async with pool.connection(timeout=timeout) as conn:
                    return await op(conn)
            except psycopg.Error as exc:
                if self._closed:
                    raise StoreClosed from exc
                # Connection-level failures (class 08, 57P0x, a pool timeout) and
                # transaction conflicts (deadlocks, serialisation) are worth another
                # try: every operation is one transaction, safe to run again.
                transient = isinstance(exc, psycopg.OperationalError) and not isinstance(
                    exc, QueryCanceled
                )
                if not transient:
                    raise StorageError(f"PostgreSQL error in {self.url}: {exc}") from exc
                now = anyio.current_time()
                if now >= deadline:
                    raise StorageError(
                        f"lost the connection to {self.url} and could not get it back "
                        f"within {self._retry_for:g} s: {exc}"
                    ) from exc
                if not retrying:
                    retrying = True
                    logger.warning("lost the connection to %s (%s); retrying", self.url, exc)
                    # Other idle connections of the pool are most likely dead too:
                    # replace them now rather than fail on each in turn.
                    with contextlib.suppress(psycopg.Error):
                        await pool.check()
                await anyio.sleep(min(delay, max(0.0, deadline - now)))
                delay = min(delay * 2, 1.0)

    async def _rows(self, query: LiteralString, params: dict[str, Any] | None = None) -> list[Row]:
        async def op(conn: Conn) -> list[Row]:
            return await (await conn.execute(query, params)).fetchall()

        return await self._run(op)

    async def _row(self, query: LiteralString, params: dict[str, Any] | None = None) -> Row | None:
        async def op(conn: Conn) -> Row | None:
            return await (await conn.execute(query, params)).fetchone()

        return await self._run(op)

    def _check(self) -> None:
        if self._closed:
            raise StoreClosed

    # --- videos and stage runs -----------------------------------------------------------

    async def upsert_video(self, video: Video) -> Video:
        video = clean_record(video)
        row = await self._row(_Q["upsert_video"], _video_params(video))
        assert row is not None  # RETURNING of an upsert always has its row
        return _video(row)

    async def get_video(self, video_id: str) -> Video:
        row = await self._row(_Q["get_video"], {"id": video_id}) if _ok(video_id) else None
        if row is None:
            self._check()
            raise NotFound(f"no video with id {video_id!r}")
        return _video(row)

    async def list_videos(
        self, *, status: VideoStatus | None = None, limit: int = 100
    ) -> list[Video]:
        check_limit(limit)
        status_value = None if status is None else VideoStatus(status).value
        rows = await self._rows(_Q["list_videos"], {"status": status_value, "limit": limit})
        return [_video(row) for row in rows]

    async def count_videos(self) -> dict[str, int]:
        counts = {s.value: 0 for s in VideoStatus}
        counts.update({row["status"]: row["n"] for row in await self._rows(_Q["count_videos"])})
        return counts

    async def set_video_status(
        self, video_id: str, status: VideoStatus, *, error: str | None = None
    ) -> None:
        params = {
            "id": video_id,
            "status": VideoStatus(status).value,
            "error": None if error is None else sanitize_text(error),
        }
        row = await self._row(_Q["set_video_status"], params) if _ok(video_id) else None
        if row is None:
            self._check()
            raise NotFound(f"no video with id {video_id!r}")

    async def record_stage_run(self, run: StageRun) -> None:
        from psycopg.types.json import Jsonb

        run = clean_record(run)
        params = run.model_dump()
        params["status"] = run.status.value
        params["detail"] = Jsonb(run.detail)

        async def op(conn: Conn) -> None:
            async with conn.transaction():
                await _require_video(conn, run.video_id)
                await conn.execute(_Q["upsert_stage_run"], params)

        await self._run(op)

    async def get_stage_runs(self, video_id: str) -> dict[str, StageRun]:
        if not _ok(video_id):
            self._check()
            return {}
        rows = await self._rows(_Q["get_stage_runs"], {"video_id": video_id})
        return {row["stage"]: _stage_run(row) for row in rows}

    # --- stage outputs -------------------------------------------------------------------

    async def _replace(
        self, kind: str, video_id: str, rows: Sequence[dict[str, Any]], upsert: str
    ) -> None:
        async def op(conn: Conn) -> None:
            async with conn.transaction():
                await _require_video(conn, video_id)
                await conn.execute(_Q[f"delete_{kind}"], {"video_id": video_id})
                if rows:
                    async with conn.cursor() as cursor:
                        await cursor.executemany(_Q[upsert], rows)

        await self._run(op)

    async def _list(self, kind: str, video_id: str) -> list[Row]:
        if not _ok(video_id):
            self._check()
            return []
        return await self._rows(_Q[f"list_{kind}"], {"video_id": video_id})

    async def save_scenes(self, video_id: str, scenes: Sequence[Scene]) -> None:
        rows = [clean_record(s).model_dump() for s in owned_by(video_id, scenes, what="scene")]
        await self._replace("scenes", video_id, rows, "upsert_scene")

    async def list_scenes(self, video_id: str) -> list[Scene]:
        return [Scene(**row) for row in await self._list("scenes", video_id)]

    async def save_frames(self, video_id: str, frames: Sequence[Frame]) -> None:
        rows = []
        for frame in owned_by(video_id, frames, what="frame"):
            params = clean_record(frame).model_dump()
            params["path"], params["path_raw"] = _path_in(params["path"])
            rows.append(params)
        await self._replace("frames", video_id, rows, "upsert_frame")

    async def list_frames(self, video_id: str) -> list[Frame]:
        return [_frame(row) for row in await self._list("frames", video_id)]

    async def save_segments(self, video_id: str, segments: Sequence[TranscriptSegment]) -> None:
        rows = [clean_record(s).model_dump() for s in owned_by(video_id, segments, what="segment")]
        await self._replace("segments", video_id, rows, "upsert_segment")

    async def list_segments(self, video_id: str) -> list[TranscriptSegment]:
        return [TranscriptSegment(**row) for row in await self._list("segments", video_id)]

    async def save_captions(self, video_id: str, captions: Sequence[FrameCaption]) -> None:
        from psycopg.types.json import Jsonb

        rows = []
        for caption in owned_by(video_id, captions, what="caption"):
            params = clean_record(caption).model_dump()
            params["entities"] = Jsonb(params["entities"])
            params["controls"] = Jsonb(params["controls"])
            rows.append(params)
        await self._replace("captions", video_id, rows, "upsert_caption")

    async def list_captions(self, video_id: str) -> list[FrameCaption]:
        return [FrameCaption(**row) for row in await self._list("captions", video_id)]

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

    # --- cache ---------------------------------------------------------------------------

    async def get_cached(self, keys: Iterable[str]) -> dict[str, str]:
        wanted = sorted({k for k in keys if _ok(k)})
        if not wanted:
            self._check()
            return {}
        rows = await self._rows(_Q["get_cached"], {"keys": wanted})
        return {row["key"]: row["value"] for row in rows}

    async def put_cached(self, items: Mapping[str, str]) -> None:
        rows = [
            {"key": check_text(k, what="cache key"), "value": check_text(v, what="cached value")}
            for k, v in items.items()
        ]
        if not rows:
            self._check()
            return

        async def op(conn: Conn) -> None:
            async with conn.transaction(), conn.cursor() as cursor:
                await cursor.executemany(_Q["put_cached"], rows)

        await self._run(op)

    # --- usage ---------------------------------------------------------------------------

    async def record_usage(self, usage: Usage) -> None:
        params = clean_record(usage).model_dump()
        params["request_id"] = new_id("usage")  # the same for every retry of this write
        await self._execute(_Q["insert_usage"], params)

    async def _execute(self, query: LiteralString, params: dict[str, Any]) -> None:
        async def op(conn: Conn) -> None:
            await conn.execute(query, params)

        await self._run(op)

    async def usage_summary(
        self,
        *,
        video_id: str | None = None,
        job_id: str | None = None,
        batch_id: str | None = None,
    ) -> UsageSummary:
        params = {"video_id": video_id, "job_id": job_id, "batch_id": batch_id}
        if not all(_ok(v) for v in params.values() if v is not None):
            self._check()
            return UsageSummary()
        row = await self._row(_Q["usage_summary"], params)
        assert row is not None  # an aggregate always has its row
        return UsageSummary(**row)

    # --- the job queue -------------------------------------------------------------------

    async def enqueue(
        self,
        video_id: str,
        *,
        queue: str = "default",
        priority: int = 0,
        max_attempts: int = 3,
        batch_id: str | None = None,
        unique: bool = True,
    ) -> Job:
        check_text(queue, what="queue")
        if batch_id is not None:
            check_text(batch_id, what="batch_id")
        params = {
            "id": new_id("job"),
            "video_id": video_id,
            "queue": queue,
            "priority": priority,
            "max_attempts": max_attempts,
            "batch_id": batch_id,
            "dedupe": unique,
        }

        async def op(conn: Conn) -> Job:
            # A retry after a lost connection: the first attempt may have committed.
            mine = await (await conn.execute(_Q["get_job"], params)).fetchone()
            if mine is not None:
                return _job(mine)
            while True:
                live = await (await conn.execute(_Q["video_live_job"], params)).fetchone()
                if live is None:
                    raise NotFound(f"no video with id {video_id!r}")
                if unique and live["id"] is not None:
                    return _job(live)
                row = await (await conn.execute(_Q["insert_job"], params)).fetchone()
                if row is not None:
                    return _job(row)
                # Another enqueue of this video won the race for its unique slot
                # between our look and our insert: look again, and return its job.

        if not _ok(video_id):
            self._check()
            raise NotFound(f"no video with id {video_id!r}")
        return await self._run(op)

    async def claim(
        self,
        worker_id: str,
        *,
        queues: Sequence[str] = ("default",),
        lease: float = DEFAULT_LEASE,
        limit: int = 1,
    ) -> list[Job]:
        check_limit(limit)
        check_text(worker_id, what="worker_id")
        names = [check_text(q, what="queue") for q in queues]
        if limit == 0 or not names:
            self._check()
            return []
        params: dict[str, Any] = {"worker_id": worker_id, "lease": float(lease), "limit": limit}
        if len(names) == 1:
            query, params["queue"] = _Q["claim_queue"], names[0]
        else:
            query, params["queues"] = _Q["claim_queues"], names
        jobs = [_job(row) for row in await self._rows(query, params)]
        # RETURNING comes back in no particular order.
        jobs.sort(key=lambda j: (-j.priority, j.created_at, j.id))
        return jobs

    async def _owned(self, name: str, job_id: str, worker_id: str, **extra: Any) -> Row | None:
        if not (_ok(job_id) and _ok(worker_id)):
            self._check()
            return None
        return await self._row(_Q[name], {"id": job_id, "worker_id": worker_id, **extra})

    async def heartbeat(self, job_id: str, worker_id: str, *, lease: float = DEFAULT_LEASE) -> bool:
        return await self._owned("heartbeat", job_id, worker_id, lease=float(lease)) is not None

    async def complete(self, job_id: str, worker_id: str) -> bool:
        self._check()
        if not (_ok(job_id) and _ok(worker_id)):
            return False
        return await self._complete((job_id, worker_id))

    async def _complete_many(self, keys: list[tuple[str, str]]) -> list[bool]:
        if len(keys) == 1:
            [(job_id, worker_id)] = keys
            return [await self._owned("complete", job_id, worker_id) is not None]
        params = {"ids": [k[0] for k in keys], "worker_ids": [k[1] for k in keys]}
        done = {
            (row["id"], row["worker_id"]) for row in await self._rows(_Q["complete_many"], params)
        }
        return _first_wins(keys, done)

    async def fail(
        self,
        job_id: str,
        worker_id: str,
        error: str,
        *,
        retry_in: float = 0.0,
        max_attempts: int | None = None,
    ) -> Job | None:
        row = await self._owned(
            "fail",
            job_id,
            worker_id,
            error=sanitize_text(error),
            retry_in=float(retry_in),
            notify=retry_in <= 0,
            cap=max_attempts,
        )
        return None if row is None else _job(row)

    async def release(self, job_id: str, worker_id: str) -> bool:
        return await self._owned("release", job_id, worker_id) is not None

    async def replay(self, job_id: str | None = None) -> int:
        if job_id is None:
            row = await self._row(_Q["replay_all"])
        elif _ok(job_id):
            row = await self._row(_Q["replay_one"], {"id": job_id})
        else:
            self._check()
            return 0
        assert row is not None  # an aggregate always has its row
        count: int = row["count"]
        return count

    async def cancel(self, job_id: str) -> bool:
        if not _ok(job_id):
            self._check()
            raise NotFound(f"no job with id {job_id!r}")
        if await self._row(_Q["cancel"], {"id": job_id}) is not None:
            return True
        await self.get_job(job_id)  # NotFound, or a job that is no longer pending
        return False

    async def get_job(self, job_id: str) -> Job:
        row = await self._row(_Q["get_job"], {"id": job_id}) if _ok(job_id) else None
        if row is None:
            self._check()
            raise NotFound(f"no job with id {job_id!r}")
        return _job(row)

    async def peek(self, n: int = 10, *, status: JobStatus = JobStatus.PENDING) -> list[Job]:
        check_limit(n, what="n")
        rows = await self._rows(_Q["peek"], {"status": JobStatus(status).value, "n": n})
        return [_job(row) for row in rows]

    async def stats(self) -> QueueStats:
        row = await self._row(_Q["stats"])
        assert row is not None  # an aggregate always has its row
        oldest = row["oldest"]
        age = None if oldest is None else max(0.0, (row["now"] - oldest).total_seconds())
        return QueueStats(
            counts={s.value: row[s.value] for s in JobStatus},
            oldest_pending_age_sec=age,
            failed_attempts=row["failed"],
        )

    # --- batches -------------------------------------------------------------------------

    async def create_batch(
        self,
        video_ids: Sequence[str],
        *,
        queue: str = "default",
        priority: int = 0,
        max_attempts: int = 3,
    ) -> str:
        check_text(queue, what="queue")
        ids = list(video_ids)
        for video_id in ids:
            if not _ok(video_id):
                self._check()
                raise NotFound(f"no video with id {video_id!r}")
        batch_id = new_id("batch")
        params = {
            "batch_id": batch_id,
            "queue": queue,
            "priority": priority,
            "max_attempts": max_attempts,
            "ids": [new_id("job") for _ in ids],
            "video_ids": ids,
        }

        async def op(conn: Conn) -> str:
            async with conn.transaction():
                # A retry after a lost connection: the first attempt may have committed.
                done = await conn.execute(_Q["batch_exists"], {"id": batch_id})
                if await done.fetchone() is not None:
                    return batch_id
                await _require_videos(conn, ids)
                await conn.execute(_Q["insert_batch"], {"id": batch_id, "total": len(ids)})
                await conn.execute(_Q["insert_batch_jobs"], params)
                if ids:
                    await conn.execute(_Q["notify_jobs"], {"queue": queue})
            return batch_id

        return await self._run(op)

    async def batch_status(self, batch_id: str) -> BatchStatus:
        row = await self._row(_Q["batch_status"], {"id": batch_id}) if _ok(batch_id) else None
        return _batch_status(row, batch_id, self)

    async def batch_results(self, batch_id: str) -> BatchResults:
        if not _ok(batch_id):
            self._check()
            raise NotFound(f"no batch with id {batch_id!r}")

        async def op(conn: Conn) -> tuple[Row | None, list[Row]]:
            async with conn.transaction():
                # One snapshot: the summary and the items agree.
                await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                status = await (await conn.execute(_Q["batch_status"], {"id": batch_id})).fetchone()
                rows = await (await conn.execute(_Q["batch_items"], {"id": batch_id})).fetchall()
            return status, rows

        status_row, rows = await self._run(op)
        status = _batch_status(status_row, batch_id, self)
        items = [
            BatchItem(
                job_id=row["id"],
                video_id=row["video_id"],
                original_path=_path_out(row["original_path"], row["original_path_raw"]),
                status=row["status"],
                attempts=row["attempts"],
                error=row["last_error"],
            )
            for row in rows
        ]
        return BatchResults(
            batch_id=batch_id,
            state=status.state,
            total=status.total,
            successful=status.done,
            failed=status.failed,
            items=items,
        )

    async def cancel_batch(self, batch_id: str) -> int:
        if not _ok(batch_id):
            self._check()
            raise NotFound(f"no batch with id {batch_id!r}")

        async def op(conn: Conn) -> int:
            async with conn.transaction():
                found = await (await conn.execute(_Q["cancel_batch"], {"id": batch_id})).fetchone()
                if found is None:
                    raise NotFound(f"no batch with id {batch_id!r}")
                cursor = await conn.execute(_Q["cancel_batch_jobs"], {"id": batch_id})
                return cursor.rowcount

        return await self._run(op)

    # --- waiting for work ----------------------------------------------------------------

    async def wait_for_jobs(self, timeout: float) -> None:  # noqa: ASYNC109 (an idle wait, not a deadline)
        """Wait up to `timeout` seconds, returning early when a job is enqueued or released.

        Listens on the channel `videopipe_jobs` (PostgreSQL `LISTEN/NOTIFY`)
        with a connection of its own, kept open between calls, so a job
        enqueued between two calls still wakes the next one. If listening
        fails, it sleeps instead: the wake-up only saves polling.
        """
        import psycopg

        self._check()
        deadline = anyio.current_time() + timeout
        async with self._listen_lock:
            try:
                listener = self._listener
                if listener is None:
                    await self._open()  # the schema, and a clear error for a bad URL
                    listener = self._listener = await self._connect()
                    await listener.execute(_Q["listen_jobs"])
                remaining = max(0.0, deadline - anyio.current_time())
                async for _ in listener.notifies(timeout=remaining, stop_after=1):
                    pass
                return
            except psycopg.Error as exc:
                await self._drop_listener()
                if self._closed:
                    raise StoreClosed from exc
                logger.debug("cannot listen for jobs in %s (%s); sleeping instead", self.url, exc)
        await anyio.sleep(max(0.0, deadline - anyio.current_time()))

    async def _drop_listener(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            await listener.close()

    # --- lifecycle -----------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the pool and the listening connection; later calls raise `StoreClosed`."""
        if self._closed:
            return
        self._closed = True
        await self._drop_listener()
        async with self._open_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def __aenter__(self) -> Self:
        if self._closed:
            raise StoreClosed
        await self._open()  # connect and migrate now, so a bad URL fails here
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


# --- schema -----------------------------------------------------------------------------


async def _migrate(conn: Conn) -> None:
    """Bring the schema to the latest version, once, whoever else starts at the same time."""
    migrations = sql.migrations("postgres")
    latest = migrations[-1].version
    async with conn.transaction():
        # Concurrent first uses queue on this lock; it is released at commit.
        await conn.execute(_Q["schema_lock"])
        await conn.execute(_Q["schema_version_table"])
        row = await (await conn.execute(_Q["schema_version"])).fetchone()
        current = 0 if row is None else row["version"]
        if current > latest:
            raise StorageError(
                f"the database's schema is version {current}, newer than this videopipe "
                f"knows ({latest}): upgrade videopipe"
            )
        for migration in migrations[current:]:
            await conn.execute(migration.sql)
            await conn.execute(
                _Q["record_migration"], {"version": migration.version, "name": migration.name}
            )
            logger.info("applied schema migration %04d_%s", migration.version, migration.name)


# --- pgvector ---------------------------------------------------------------------------------

#: The approximate search takes this many times `k` nearest neighbours (at least
#: `_ANN_MIN_FETCH`) and ranks them exactly: the true top `k` is then among them.
_ANN_OVERFETCH = 4
_ANN_MIN_FETCH = 40
#: How widely an HNSW scan looks (`hnsw.ef_search`, pgvector's default is 40). On
#: 2,600 clustered 384-d vectors, 400 finds the exact top 10 even for queries far
#: from every stored vector (80 missed 40% of those), at no cost measurable there.
_HNSW_MIN_EF_SEARCH = 400
#: pgvector's limit on `hnsw.ef_search`, which bounds how many neighbours one scan returns.
_HNSW_MAX_EF_SEARCH = 1000
_ANN_MAX_K = _HNSW_MAX_EF_SEARCH // (2 * _ANN_OVERFETCH)


def hnsw_index_name(model: str, dim: int) -> str:
    """The name of the HNSW index of `model`'s `dim`-dimension vectors (any model name fits)."""
    digest = hashlib.sha256(model.encode()).hexdigest()[:16]
    return f"embeddings_hnsw_{digest}_{dim}"


async def _enable_pgvector(conn: Conn, url: str) -> str | None:
    """Set up pgvector's part of the schema when the server has it; the extension's schema.

    Runs at every open, so a database whose server gains pgvector later gets the
    `vec` column then (filled for the rows already stored). Without the
    extension files on the server, or the right to create the extension,
    nothing changes and search stays exact.
    """
    import psycopg
    from psycopg import sql as pgsql

    row = await (await conn.execute(_Q["pgvector_available"])).fetchone()
    if not (row and row["available"]):
        return None
    async with conn.transaction():
        await conn.execute(_Q["schema_lock"])
        row = await (await conn.execute(_Q["pgvector_schema"])).fetchone()
        if row is None:
            try:
                async with conn.transaction():
                    await conn.execute(_Q["create_pgvector"])
            except psycopg.Error as exc:
                logger.warning(
                    "pgvector is available in %s but not installed in this database, and "
                    "videopipe could not install it (%s): searching exactly. Run "
                    "`CREATE EXTENSION vector` in the database as a superuser to use it.",
                    url,
                    str(exc).strip(),
                )
                return None
            row = await (await conn.execute(_Q["pgvector_schema"])).fetchone()
            assert row is not None  # just created
        schema: str = row["schema"]
        if _version(row["version"]) < (0, 5):
            logger.warning(
                "pgvector %s in %s has no HNSW index (0.5.0 added it): searching exactly. "
                "Upgrade it with `ALTER EXTENSION vector UPDATE` to use it.",
                row["version"],
                url,
            )
            return None
        present = await (await conn.execute(_Q["has_vec_column"])).fetchone()
        if not (present and present["present"]):
            # Checked first: ALTER TABLE would lock the table even when there is nothing to do.
            logger.info("adding pgvector's column to the embeddings in %s", url)
            add = pgsql.SQL(_Q["add_vec_column"]).format(vector=pgsql.Identifier(schema, "vector"))
            await conn.execute(add)
    return schema


def _version(text: str) -> tuple[int, ...]:
    """`0.6.2` as `(0, 6, 2)`; a part that is not a number ends it."""
    parts = []
    for part in text.split("."):
        if not part.isdigit():
            break
        parts.append(int(part))
    return tuple(parts)


# --- vectors ----------------------------------------------------------------------------------
# A 1,536-dimension vector as a Python list costs ~1,500 float objects each way. These
# adapters move `real[]` in PostgreSQL's binary array format straight to and from numpy:
# a header, then each element as a 4-byte length and a big-endian float4.

_FLOAT4_ARRAY_OID = 1021
_FLOAT4_OID = 700
_ELEMENTS = np.dtype([("length", ">i4"), ("value", ">f4")])


def _adapt_vectors(cursor: AsyncCursor[DictRow]) -> None:
    """Send float32 numpy arrays, and read `real[]` results, as packed binary on `cursor`."""
    cursor.adapters.register_dumper(np.ndarray, _vector_dumper())
    cursor.adapters.register_loader(_FLOAT4_ARRAY_OID, _vector_loader())


@cache
def _vector_dumper() -> type[Any]:
    from psycopg.adapt import Dumper
    from psycopg.pq import Format

    class Float4ArrayDumper(Dumper):
        format = Format.BINARY
        oid = _FLOAT4_ARRAY_OID

        def dump(self, obj: Any) -> bytes:
            return _pack_vector(obj)

    return Float4ArrayDumper


@cache
def _vector_loader() -> type[Any]:
    from psycopg.adapt import Loader
    from psycopg.pq import Format

    class Float4ArrayLoader(Loader):
        format = Format.BINARY

        def load(self, data: Any) -> npt.NDArray[np.float32]:
            return _unpack_vector(data)

    return Float4ArrayLoader


def _pack_vector(vector: npt.NDArray[np.float32]) -> bytes:
    elements = np.empty(len(vector), dtype=_ELEMENTS)
    elements["length"] = 4
    elements["value"] = vector
    # ndim, has-nulls, element type, then (size, lower bound) of the one dimension.
    header = np.array([1, 0, _FLOAT4_OID, len(vector), 1], dtype=">i4").tobytes()
    return header + elements.tobytes()


def _unpack_vector(data: Any) -> npt.NDArray[np.float32]:
    ndim, has_nulls, _ = np.frombuffer(data, dtype=">i4", count=3)
    if ndim == 0:
        return np.empty(0, dtype=np.float32)
    if ndim != 1 or has_nulls:
        raise StorageError("an embedding vector is not a one-dimensional real[] without NULLs")
    elements = np.frombuffer(data, dtype=_ELEMENTS, offset=20)
    return elements["value"].astype(np.float32)


# --- values in and out ------------------------------------------------------------------


def redact_url(url: str) -> str:
    """`url` with any password replaced by `***`, for messages and `repr`."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if parts.password is not None:
            user, _, host = netloc.rpartition("@")
            netloc = f"{user.partition(':')[0]}:***@{host}"
        query = parts.query
        if "password" in query:
            pairs = parse_qsl(query, keep_blank_values=True)
            query = urlencode([(k, "***" if k == "password" else v) for k, v in pairs])
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return "<unparsable URL>"


def _first_wins(keys: list[tuple[str, str]], done: set[tuple[str, str]]) -> list[bool]:
    """Each key's answer; a job completed twice in one batch is completed by the first call."""
    answers = []
    for key in keys:
        answers.append(key in done)
        done.discard(key)
    return answers


def _ok(key: str) -> bool:
    """Whether `key` can name a stored row at all (one that cannot is simply not found)."""
    return is_storable(key)


def _utc(dt: datetime) -> datetime:
    return dt.astimezone(UTC)


def _utc_or_none(dt: datetime | None) -> datetime | None:
    return None if dt is None else dt.astimezone(UTC)


def _path_in(path: str | None) -> tuple[str | None, bytes | None]:
    """A path as `(text, raw)`: raw bytes only when the text cannot hold the name."""
    if path is None or is_storable(path):
        return path, None
    return sanitize_text(path), path_to_bytes(path)


def _path_out(text: str | None, raw: bytes | None) -> str | None:
    return path_from_bytes(raw) if raw is not None else text


async def _require_video(conn: Conn, video_id: str) -> None:
    row = None
    if _ok(video_id):
        row = await (await conn.execute(_Q["video_exists"], {"id": video_id})).fetchone()
    if row is None:
        raise NotFound(f"no video with id {video_id!r}")


async def _require_videos(conn: Conn, video_ids: Sequence[str]) -> None:
    if not video_ids:
        return
    for video_id in video_ids:
        if not _ok(video_id):
            raise NotFound(f"no video with id {video_id!r}")
    row = await (await conn.execute(_Q["missing_videos"], {"ids": list(video_ids)})).fetchone()
    if row is not None:
        raise NotFound(f"no video with id {row['id']!r}")


def _video_params(video: Video) -> dict[str, Any]:
    params = video.model_dump()
    for name in ("original_path", "normalized_path", "audio_path"):
        params[name], params[f"{name}_raw"] = _path_in(params[name])
    params["status"] = video.status.value
    return params


def _video(row: Row) -> Video:
    return Video(
        id=row["id"],
        original_path=path_from_bytes(row["original_path_raw"])
        if row["original_path_raw"] is not None
        else row["original_path"],
        normalized_path=_path_out(row["normalized_path"], row["normalized_path_raw"]),
        audio_path=_path_out(row["audio_path"], row["audio_path_raw"]),
        duration_sec=row["duration_sec"],
        width=row["width"],
        height=row["height"],
        has_audio=row["has_audio"],
        status=row["status"],
        error=row["error"],
        created_at=_utc(row["created_at"]),
        updated_at=_utc(row["updated_at"]),
    )


def _stage_run(row: Row) -> StageRun:
    return StageRun(
        video_id=row["video_id"],
        stage=row["stage"],
        status=row["status"],
        attempt=row["attempt"],
        started_at=_utc(row["started_at"]),
        finished_at=_utc_or_none(row["finished_at"]),
        duration_sec=row["duration_sec"],
        error=row["error"],
        detail=row["detail"],
    )


def _frame(row: Row) -> Frame:
    values = dict(row)
    values["path"] = _path_out(values["path"], values.pop("path_raw"))
    return Frame(**values)


def _job(row: Row) -> Job:
    return Job(
        id=row["id"],
        video_id=row["video_id"],
        queue=row["queue"],
        priority=row["priority"],
        status=row["status"],
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        run_after=_utc(row["run_after"]),
        lease_expires_at=_utc_or_none(row["lease_expires_at"]),
        worker_id=row["worker_id"],
        last_error=row["last_error"],
        batch_id=row["batch_id"],
        created_at=_utc(row["created_at"]),
        updated_at=_utc(row["updated_at"]),
    )


def _batch_status(row: Row | None, batch_id: str, store: PostgresStore) -> BatchStatus:
    if row is None:
        store._check()
        raise NotFound(f"no batch with id {batch_id!r}")
    counts = {
        JobStatus.PENDING: row["pending"],
        JobStatus.PROCESSING: row["processing"],
        JobStatus.DONE: row["done"],
        JobStatus.DEAD: row["dead"],
        JobStatus.CANCELLED: row["cancelled_jobs"],
    }
    state = batch_state(counts, total=row["total"], cancelled=row["cancelled"])
    return BatchStatus(
        id=row["id"],
        state=state,
        total=row["total"],
        done=row["done"],
        failed=row["dead"],
        pending=row["pending"],
        processing=row["processing"],
        cancelled=row["cancelled_jobs"],
        created_at=_utc(row["created_at"]),
        finished_at=batch_finished_at(state, _utc_or_none(row["last_update"])),
    )


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
