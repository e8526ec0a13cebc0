"""`SQLiteStore`: one file, no server; the embedded default, shared safely by several processes."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any, Self, TypeVar

import anyio
import anyio.to_thread
import numpy as np

from .._exceptions import NotFound, StorageError, StoreClosed
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
    utcnow,
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
    vector_blob,
)
from ._queue import DEFAULT_LEASE

__all__ = ["SQLiteStore"]

T = TypeVar("T")
Row = sqlite3.Row

_Q = sql.queries("sqlite")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SUMMARY_FIELDS = tuple(UsageSummary.model_fields)
_US = timedelta(microseconds=1)


class SQLiteStore:
    """A [`Store`][videopipe.storage.Store] in one SQLite file.

    The standard library's `sqlite3` runs on a worker thread, never on the event
    loop: each store owns one connection, and its calls run one at a time on
    that thread. The file is in WAL mode, so readers never block the writer,
    and every write takes the database's write lock up front (`BEGIN
    IMMEDIATE`): several processes can share one file, and no two of them ever
    claim the same job. The schema is created and upgraded on first use.

    Embeddings are stored as float32 blobs and searched exactly (cosine
    similarity with numpy), which is fast up to some hundred thousand vectors.

    Args:
        path: The database file, created if missing; `":memory:"` for a
            private, temporary database.
        busy_timeout: Seconds a write waits for another process's write to
            finish before failing with `StorageError`.

    Examples:
        ```python
        async with vp.storage.SQLiteStore("videos.db") as store:
            await store.upsert_video(vp.Video(id="talk", original_path="talk.mp4"))
        ```

    Note:
        Added in 0.1.0.
    """

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 30.0) -> None:
        self.path = os.fspath(path)
        self.url = f"sqlite:///{self.path}"
        self._busy_timeout = busy_timeout
        self._conn: sqlite3.Connection | None = None
        # One token: calls queue on the event loop, not on threads, and reach the
        # connection one at a time.
        self._limiter = anyio.CapacityLimiter(1)
        self._closed = False
        # Completions arriving together share one write transaction.
        self._complete = Coalescer(self._complete_many)

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    # --- plumbing ------------------------------------------------------------------------

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._closed:
            raise StoreClosed
        return await anyio.to_thread.run_sync(self._call, fn, limiter=self._limiter)

    def _call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        # Runs on the worker thread, holding the limiter's one token.
        if self._closed:
            raise StoreClosed
        try:
            conn = self._conn if self._conn is not None else self._connect()
            return fn(conn)
        except sqlite3.Error as exc:
            raise StorageError(f"SQLite error in {self.url}: {exc}") from exc

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            timeout=self._busy_timeout,
            isolation_level=None,  # we issue BEGIN/COMMIT ourselves
            check_same_thread=False,  # the limiter serialises use across pool threads
        )
        try:
            conn.row_factory = sqlite3.Row
            _enable_wal(conn, self._busy_timeout)
            # In WAL mode NORMAL survives a crash or kill -9 of any process; only an OS
            # crash or power cut may undo the last commits (never corrupt the file).
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            _migrate(conn)
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        return conn

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def in_transaction(conn: sqlite3.Connection) -> T:
            with _immediate(conn):
                return fn(conn)

        return await self._run(in_transaction)

    # --- videos and stage runs -----------------------------------------------------------

    async def upsert_video(self, video: Video) -> Video:
        video = clean_record(video)
        params = _video_params(video)
        params["now"] = _us(utcnow())

        def op(conn: sqlite3.Connection) -> Video:
            return _video(conn.execute(_Q["upsert_video"], params).fetchone())

        return await self._write(op)

    async def get_video(self, video_id: str) -> Video:
        def op(conn: sqlite3.Connection) -> Video:
            row = (
                conn.execute(_Q["get_video"], {"id": video_id}).fetchone()
                if _ok(video_id)
                else None
            )
            if row is None:
                raise NotFound(f"no video with id {video_id!r}")
            return _video(row)

        return await self._run(op)

    async def list_videos(
        self, *, status: VideoStatus | None = None, limit: int = 100
    ) -> list[Video]:
        check_limit(limit)
        params = {"status": None if status is None else VideoStatus(status).value, "limit": limit}

        def op(conn: sqlite3.Connection) -> list[Video]:
            return [_video(row) for row in conn.execute(_Q["list_videos"], params)]

        return await self._run(op)

    async def count_videos(self) -> dict[str, int]:
        def op(conn: sqlite3.Connection) -> dict[str, int]:
            counts = {s.value: 0 for s in VideoStatus}
            counts.update({row["status"]: row["n"] for row in conn.execute(_Q["count_videos"])})
            return counts

        return await self._run(op)

    async def set_video_status(
        self, video_id: str, status: VideoStatus, *, error: str | None = None
    ) -> None:
        params = {
            "id": video_id,
            "status": VideoStatus(status).value,
            "error": None if error is None else sanitize_text(error),
            "now": _us(utcnow()),
        }

        def op(conn: sqlite3.Connection) -> None:
            if not _ok(video_id) or conn.execute(_Q["set_video_status"], params).fetchone() is None:
                raise NotFound(f"no video with id {video_id!r}")

        await self._write(op)

    async def record_stage_run(self, run: StageRun) -> None:
        run = clean_record(run)
        params = {
            "video_id": run.video_id,
            "stage": run.stage,
            "status": run.status.value,
            "attempt": run.attempt,
            "started_at": _us(run.started_at),
            "finished_at": _us_or_none(run.finished_at),
            "duration_sec": run.duration_sec,
            "error": run.error,
            "detail": json.dumps(run.detail, ensure_ascii=False),
        }

        def op(conn: sqlite3.Connection) -> None:
            _require_video(conn, run.video_id)
            conn.execute(_Q["upsert_stage_run"], params)

        await self._write(op)

    async def get_stage_runs(self, video_id: str) -> dict[str, StageRun]:
        def op(conn: sqlite3.Connection) -> dict[str, StageRun]:
            if not _ok(video_id):
                return {}
            rows = conn.execute(_Q["get_stage_runs"], {"video_id": video_id})
            return {row["stage"]: _stage_run(row) for row in rows}

        return await self._run(op)

    # --- stage outputs -------------------------------------------------------------------

    async def _replace(
        self, kind: str, video_id: str, rows: Sequence[dict[str, Any]], upsert: str
    ) -> None:
        def op(conn: sqlite3.Connection) -> None:
            _require_video(conn, video_id)
            conn.execute(_Q[f"delete_{kind}"], {"video_id": video_id})
            conn.executemany(_Q[upsert], rows)

        await self._write(op)

    async def _list(self, kind: str, video_id: str, convert: Callable[[Row], T]) -> list[T]:
        def op(conn: sqlite3.Connection) -> list[T]:
            if not _ok(video_id):
                return []
            return [
                convert(row) for row in conn.execute(_Q[f"list_{kind}"], {"video_id": video_id})
            ]

        return await self._run(op)

    async def save_scenes(self, video_id: str, scenes: Sequence[Scene]) -> None:
        rows = [clean_record(s).model_dump() for s in owned_by(video_id, scenes, what="scene")]
        await self._replace("scenes", video_id, rows, "upsert_scene")

    async def list_scenes(self, video_id: str) -> list[Scene]:
        return await self._list("scenes", video_id, lambda row: Scene(**dict(row)))

    async def save_frames(self, video_id: str, frames: Sequence[Frame]) -> None:
        rows = []
        for frame in owned_by(video_id, frames, what="frame"):
            params = clean_record(frame).model_dump()
            params["path"] = _path_in(params["path"])
            rows.append(params)
        await self._replace("frames", video_id, rows, "upsert_frame")

    async def list_frames(self, video_id: str) -> list[Frame]:
        return await self._list("frames", video_id, _frame)

    async def save_segments(self, video_id: str, segments: Sequence[TranscriptSegment]) -> None:
        rows = [clean_record(s).model_dump() for s in owned_by(video_id, segments, what="segment")]
        await self._replace("segments", video_id, rows, "upsert_segment")

    async def list_segments(self, video_id: str) -> list[TranscriptSegment]:
        return await self._list("segments", video_id, lambda row: TranscriptSegment(**dict(row)))

    async def save_captions(self, video_id: str, captions: Sequence[FrameCaption]) -> None:
        rows = []
        for caption in owned_by(video_id, captions, what="caption"):
            params = clean_record(caption).model_dump()
            params["entities"] = json.dumps(params["entities"], ensure_ascii=False)
            params["controls"] = json.dumps(params["controls"], ensure_ascii=False)
            rows.append(params)
        await self._replace("captions", video_id, rows, "upsert_caption")

    async def list_captions(self, video_id: str) -> list[FrameCaption]:
        return await self._list("captions", video_id, _caption)

    # --- embeddings and search -----------------------------------------------------------

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

    # --- cache ---------------------------------------------------------------------------

    async def get_cached(self, keys: Iterable[str]) -> dict[str, str]:
        params = {"keys": _json_keys(keys)}

        def op(conn: sqlite3.Connection) -> dict[str, str]:
            return {row["key"]: row["value"] for row in conn.execute(_Q["get_cached"], params)}

        return await self._run(op)

    async def put_cached(self, items: Mapping[str, str]) -> None:
        rows = [
            {"key": check_text(k, what="cache key"), "value": check_text(v, what="cached value")}
            for k, v in items.items()
        ]
        await self._write(lambda conn: conn.executemany(_Q["put_cached"], rows))

    # --- usage ---------------------------------------------------------------------------

    async def record_usage(self, usage: Usage) -> None:
        params = clean_record(usage).model_dump()
        params["created_at"] = _us(params["created_at"])
        await self._write(lambda conn: conn.execute(_Q["insert_usage"], params))

    async def usage_summary(
        self,
        *,
        video_id: str | None = None,
        job_id: str | None = None,
        batch_id: str | None = None,
    ) -> UsageSummary:
        params = {"video_id": video_id, "job_id": job_id, "batch_id": batch_id}

        def op(conn: sqlite3.Connection) -> UsageSummary:
            if not all(_ok(v) for v in params.values() if v is not None):
                return UsageSummary()
            row = conn.execute(_Q["usage_summary"], params).fetchone()
            return UsageSummary(**{k: row[k] for k in _SUMMARY_FIELDS})

        return await self._run(op)

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
        now = _us(utcnow())
        params = {
            "id": new_id("job"),
            "video_id": video_id,
            "queue": queue,
            "priority": priority,
            "max_attempts": max_attempts,
            "batch_id": batch_id,
            "now": now,
            "created_at": now,
            "dedupe": int(unique),
        }

        def op(conn: sqlite3.Connection) -> Job:
            _require_video(conn, video_id)
            if unique:
                # The write lock is held: nobody can add a live job between this
                # look and the insert.
                row = conn.execute(_Q["live_job"], {"video_id": video_id}).fetchone()
                if row is not None:
                    return _job(row)
            return _job(conn.execute(_Q["insert_job"], params).fetchone())

        return await self._write(op)

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
            await self._run(lambda conn: None)
            return []
        now = utcnow()
        params: dict[str, Any] = {
            "worker_id": worker_id,
            "now": _us(now),
            "lease_until": _us(now + timedelta(seconds=lease)),
            "limit": limit,
        }
        if len(names) == 1:
            query, params["queue"] = _Q["claim_queue"], names[0]
        else:
            query, params["queues"] = _Q["claim_queues"], json.dumps(names)

        def op(conn: sqlite3.Connection) -> list[Job]:
            conn.execute(_Q["reap_expired"], {"now": params["now"]})
            return [_job(row) for row in conn.execute(query, params).fetchall()]

        jobs = await self._write(op)
        # RETURNING comes back in no particular order.
        jobs.sort(key=lambda j: (-j.priority, j.created_at, j.id))
        return jobs

    async def _owned_update(
        self, name: str, job_id: str, worker_id: str, **extra: Any
    ) -> Row | None:
        if not (_ok(job_id) and _ok(worker_id)):
            await self._run(lambda conn: None)
            return None
        now = utcnow()
        params = {"id": job_id, "worker_id": worker_id, "now": _us(now), **extra}
        for key, value in extra.items():
            if isinstance(value, timedelta):
                params[key] = _us(now + value)

        def op(conn: sqlite3.Connection) -> Row | None:
            row: Row | None = conn.execute(_Q[name], params).fetchone()
            return row

        return await self._write(op)

    async def heartbeat(self, job_id: str, worker_id: str, *, lease: float = DEFAULT_LEASE) -> bool:
        row = await self._owned_update(
            "heartbeat", job_id, worker_id, lease_until=timedelta(seconds=lease)
        )
        return row is not None

    async def complete(self, job_id: str, worker_id: str) -> bool:
        if self._closed:
            raise StoreClosed
        if not (_ok(job_id) and _ok(worker_id)):
            return False
        return await self._complete((job_id, worker_id))

    async def _complete_many(self, keys: list[tuple[str, str]]) -> list[bool]:
        now = _us(utcnow())

        def op(conn: sqlite3.Connection) -> list[bool]:
            return [
                conn.execute(
                    _Q["complete"], {"id": job_id, "worker_id": worker_id, "now": now}
                ).fetchone()
                is not None
                for job_id, worker_id in keys
            ]

        return await self._write(op)

    async def fail(
        self,
        job_id: str,
        worker_id: str,
        error: str,
        *,
        retry_in: float = 0.0,
        max_attempts: int | None = None,
    ) -> Job | None:
        row = await self._owned_update(
            "fail",
            job_id,
            worker_id,
            error=sanitize_text(error),
            retry_at=timedelta(seconds=retry_in),
            cap=max_attempts,
        )
        return None if row is None else _job(row)

    async def release(self, job_id: str, worker_id: str) -> bool:
        return await self._owned_update("release", job_id, worker_id) is not None

    async def replay(self, job_id: str | None = None) -> int:
        now = _us(utcnow())
        if job_id is not None and not _ok(job_id):
            await self._run(lambda conn: None)
            return 0

        def op(conn: sqlite3.Connection) -> int:
            if job_id is None:
                return conn.execute(_Q["replay_all"], {"now": now}).rowcount
            return conn.execute(_Q["replay_one"], {"id": job_id, "now": now}).rowcount

        return await self._write(op)

    async def cancel(self, job_id: str) -> bool:
        now = _us(utcnow())

        def op(conn: sqlite3.Connection) -> bool:
            _get_job(conn, job_id)
            return conn.execute(_Q["cancel"], {"id": job_id, "now": now}).rowcount == 1

        return await self._write(op)

    async def get_job(self, job_id: str) -> Job:
        return await self._run(lambda conn: _get_job(conn, job_id))

    async def peek(self, n: int = 10, *, status: JobStatus = JobStatus.PENDING) -> list[Job]:
        check_limit(n, what="n")
        params = {"status": JobStatus(status).value, "n": n}
        return await self._run(lambda conn: [_job(row) for row in conn.execute(_Q["peek"], params)])

    async def stats(self) -> QueueStats:
        def op(conn: sqlite3.Connection) -> QueueStats:
            now = utcnow()
            row = conn.execute(_Q["stats"], {"now": _us(now)}).fetchone()
            oldest = row["oldest"]
            return QueueStats(
                counts={s.value: row[s.value] for s in JobStatus},
                oldest_pending_age_sec=(
                    None if oldest is None else (now - _dt(oldest)).total_seconds()
                ),
                failed_attempts=row["failed"],
            )

        return await self._run(op)

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
        batch_id = new_id("batch")
        now = _us(utcnow())
        ids = list(video_ids)
        rows = [
            {
                "id": new_id("job"),
                "video_id": video_id,
                "queue": queue,
                "priority": priority,
                "max_attempts": max_attempts,
                "batch_id": batch_id,
                "now": now,
                # One microsecond apart: the batch runs in the order it was given.
                "created_at": now + i,
                "dedupe": 0,
            }
            for i, video_id in enumerate(ids)
        ]

        def op(conn: sqlite3.Connection) -> str:
            _require_videos(conn, ids)
            conn.execute(_Q["insert_batch"], {"id": batch_id, "total": len(ids), "now": now})
            conn.executemany(_Q["insert_batch_job"], rows)
            return batch_id

        return await self._write(op)

    async def batch_status(self, batch_id: str) -> BatchStatus:
        return await self._run(lambda conn: _batch_status(conn, batch_id))

    async def batch_results(self, batch_id: str) -> BatchResults:
        def op(conn: sqlite3.Connection) -> BatchResults:
            with _snapshot(conn):  # the summary and the items agree
                status = _batch_status(conn, batch_id)
                rows = conn.execute(_Q["batch_items"], {"id": batch_id}).fetchall()
            items = [
                BatchItem(
                    job_id=row["id"],
                    video_id=row["video_id"],
                    original_path=_path_out(row["original_path"]),
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

        return await self._run(op)

    async def cancel_batch(self, batch_id: str) -> int:
        now = _us(utcnow())

        def op(conn: sqlite3.Connection) -> int:
            if (
                not _ok(batch_id)
                or conn.execute(_Q["cancel_batch"], {"id": batch_id}).fetchone() is None
            ):
                raise NotFound(f"no batch with id {batch_id!r}")
            return conn.execute(_Q["cancel_batch_jobs"], {"id": batch_id, "now": now}).rowcount

        return await self._write(op)

    async def wait_for_jobs(self, timeout: float) -> None:  # noqa: ASYNC109 (an idle wait, not a deadline)
        """Sleep `timeout` seconds: SQLite has no way to hear of other processes' jobs."""
        if self._closed:
            raise StoreClosed
        await anyio.sleep(timeout)

    # --- lifecycle -----------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the store; later calls raise `StoreClosed`. Closing twice is harmless."""
        if self._closed:
            return

        def close() -> None:
            # Holding the limiter: calls already queued have run; later ones see _closed.
            self._closed = True
            if self._conn is not None:
                self._conn.close()
                self._conn = None

        await anyio.to_thread.run_sync(close, limiter=self._limiter)

    async def __aenter__(self) -> Self:
        await self._run(lambda conn: None)  # connect now, so a bad path fails here
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


# --- schema -----------------------------------------------------------------------------


@contextmanager
def _immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """A write transaction holding the write lock from the start (so reads see the latest)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextmanager
def _snapshot(conn: sqlite3.Connection) -> Iterator[None]:
    """A read transaction: its queries all see the database as of its first read."""
    conn.execute("BEGIN")
    try:
        yield
    finally:
        conn.execute("COMMIT")


def _enable_wal(conn: sqlite3.Connection, patience: float) -> None:
    """Switch the database to WAL mode (once per file; later connections find it on).

    Switching needs the database to itself, and SQLite answers "database is
    locked" at once, busy timeout or not, when other processes open a new file
    at the same moment: try again for up to `patience` seconds.
    """
    deadline = time.monotonic() + patience
    delay = 0.005
    while True:
        try:
            # An in-memory database answers "memory": it has no WAL, and needs none.
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring the schema to the latest version, once, whoever else starts at the same time."""
    latest = sql.migrations("sqlite")[-1].version
    try:
        current = conn.execute(_Q["schema_version"]).fetchone()[0]
    except sqlite3.OperationalError:  # no schema_version table yet
        current = 0
    if current == latest:
        return
    with _immediate(conn):
        # Re-read under the write lock: another process may have just migrated.
        conn.execute(_Q["schema_version_table"])
        current = conn.execute(_Q["schema_version"]).fetchone()[0]
        if current > latest:
            raise StorageError(
                f"the database's schema is version {current}, newer than this videopipe "
                f"knows ({latest}): upgrade videopipe"
            )
        for migration in sql.migrations("sqlite")[current:]:
            for statement in _statements(migration.sql):
                conn.execute(statement)
            conn.execute(
                _Q["record_migration"],
                {"version": migration.version, "name": migration.name, "applied_at": _us(utcnow())},
            )


def _statements(script: str) -> Iterator[str]:
    """The statements of a script, for running one by one inside a transaction.

    (`executescript` would commit the transaction first.)
    """
    buffer = ""
    for line in script.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            yield buffer.strip()
            buffer = ""
    if any(line.strip() and not line.strip().startswith("--") for line in buffer.splitlines()):
        yield buffer.strip()


# --- values in and out ------------------------------------------------------------------


def _ok(key: str) -> bool:
    """Whether `key` can name a stored row at all (one that cannot is simply not found)."""
    return is_storable(key)


def _us(dt: datetime) -> int:
    return (dt - _EPOCH) // _US


def _us_or_none(dt: datetime | None) -> int | None:
    return None if dt is None else _us(dt)


def _dt(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def _dt_or_none(us: int | None) -> datetime | None:
    return None if us is None else _dt(us)


def _path_in(path: str | None) -> str | bytes | None:
    # Valid text stays readable TEXT; a name that is not UTF-8 goes in as its bytes.
    if path is None or is_storable(path):
        return path
    return path_to_bytes(path)


def _path_out(value: str | bytes | None) -> str | None:
    return None if value is None else _path_from_db(value)


def _path_from_db(value: str | bytes) -> str:
    return path_from_bytes(value) if isinstance(value, bytes) else value


def _floats(blob: bytes) -> list[float]:
    values: list[float] = np.frombuffer(blob, dtype="<f4").tolist()
    return values


def _json_keys(keys: Iterable[str]) -> str:
    return json.dumps(sorted({k for k in keys if _ok(k)}))


def _require_video(conn: sqlite3.Connection, video_id: str) -> None:
    if not _ok(video_id) or conn.execute(_Q["video_exists"], {"id": video_id}).fetchone() is None:
        raise NotFound(f"no video with id {video_id!r}")


def _require_videos(conn: sqlite3.Connection, video_ids: Sequence[str]) -> None:
    for video_id in video_ids:
        if not _ok(video_id):
            raise NotFound(f"no video with id {video_id!r}")
    if video_ids:
        row = conn.execute(_Q["missing_videos"], {"ids": json.dumps(list(video_ids))}).fetchone()
        if row is not None:
            raise NotFound(f"no video with id {row[0]!r}")


def _video_params(video: Video) -> dict[str, Any]:
    return {
        "id": video.id,
        "original_path": _path_in(video.original_path),
        "normalized_path": _path_in(video.normalized_path),
        "audio_path": _path_in(video.audio_path),
        "duration_sec": video.duration_sec,
        "width": video.width,
        "height": video.height,
        "has_audio": None if video.has_audio is None else int(video.has_audio),
        "status": video.status.value,
        "error": video.error,
        "created_at": _us(video.created_at),
        "updated_at": _us(video.updated_at),
    }


def _video(row: Row) -> Video:
    return Video(
        id=row["id"],
        original_path=_path_from_db(row["original_path"]),
        normalized_path=_path_out(row["normalized_path"]),
        audio_path=_path_out(row["audio_path"]),
        duration_sec=row["duration_sec"],
        width=row["width"],
        height=row["height"],
        has_audio=None if row["has_audio"] is None else bool(row["has_audio"]),
        status=row["status"],
        error=row["error"],
        created_at=_dt(row["created_at"]),
        updated_at=_dt(row["updated_at"]),
    )


def _stage_run(row: Row) -> StageRun:
    return StageRun(
        video_id=row["video_id"],
        stage=row["stage"],
        status=row["status"],
        attempt=row["attempt"],
        started_at=_dt(row["started_at"]),
        finished_at=_dt_or_none(row["finished_at"]),
        duration_sec=row["duration_sec"],
        error=row["error"],
        detail=json.loads(row["detail"]),
    )


def _frame(row: Row) -> Frame:
    values = dict(row)
    values["path"] = _path_out(values["path"])
    return Frame(**values)


def _caption(row: Row) -> FrameCaption:
    values = dict(row)
    values["entities"] = json.loads(values["entities"])
    values["controls"] = json.loads(values["controls"])
    return FrameCaption(**values)


def _job(row: Row) -> Job:
    return Job(
        id=row["id"],
        video_id=row["video_id"],
        queue=row["queue"],
        priority=row["priority"],
        status=row["status"],
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        run_after=_dt(row["run_after"]),
        lease_expires_at=_dt_or_none(row["lease_expires_at"]),
        worker_id=row["worker_id"],
        last_error=row["last_error"],
        batch_id=row["batch_id"],
        created_at=_dt(row["created_at"]),
        updated_at=_dt(row["updated_at"]),
    )


def _get_job(conn: sqlite3.Connection, job_id: str) -> Job:
    row = conn.execute(_Q["get_job"], {"id": job_id}).fetchone() if _ok(job_id) else None
    if row is None:
        raise NotFound(f"no job with id {job_id!r}")
    return _job(row)


def _batch_status(conn: sqlite3.Connection, batch_id: str) -> BatchStatus:
    row = conn.execute(_Q["batch_status"], {"id": batch_id}).fetchone() if _ok(batch_id) else None
    if row is None:
        raise NotFound(f"no batch with id {batch_id!r}")
    counts = {
        JobStatus.PENDING: row["pending"],
        JobStatus.PROCESSING: row["processing"],
        JobStatus.DONE: row["done"],
        JobStatus.DEAD: row["dead"],
        JobStatus.CANCELLED: row["cancelled_jobs"],
    }
    state = batch_state(counts, total=row["total"], cancelled=bool(row["cancelled"]))
    return BatchStatus(
        id=row["id"],
        state=state,
        total=row["total"],
        done=row["done"],
        failed=row["dead"],
        pending=row["pending"],
        processing=row["processing"],
        cancelled=row["cancelled_jobs"],
        created_at=_dt(row["created_at"]),
        finished_at=batch_finished_at(state, _dt_or_none(row["last_update"])),
    )


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
