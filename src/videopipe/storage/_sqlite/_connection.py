"""`SQLiteStore`'s connection: one `sqlite3` connection on a worker thread, the schema, values.

Every part of the store (`_results`, `_vectors`, `_queue`) runs its SQL
through `SQLiteConnection._run` (a read) or `_write` (a write transaction).
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Self, TypeVar

import anyio
import anyio.to_thread
import numpy as np
from pydantic import BaseModel

from ..._exceptions import NotFound, StorageError, StoreClosed
from ..._models import utcnow
from .. import sql
from .._common import PATH_FIELDS, fields_holding, is_storable, path_from_bytes, path_to_bytes
from .._fulltext import search_docs
from .._migrate import migrate, run_sync

__all__ = ["SQLiteConnection"]

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
Row = sqlite3.Row

_Q = sql.queries("sqlite")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


class SQLiteConnection:
    """The connection and lifecycle shared by the parts of a `SQLiteStore`."""

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 30.0) -> None:
        self.path = os.fspath(path)
        self.url = f"sqlite:///{self.path}"
        self._busy_timeout = busy_timeout
        self._conn: sqlite3.Connection | None = None
        # One token: calls queue on the event loop, not on threads, and reach the
        # connection one at a time.
        self._limiter = anyio.CapacityLimiter(1)
        self._closed = False

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
            run_sync(migrate(_SQLiteSchema(conn), "sqlite"))
            _backfill_search(conn)
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


class _SQLiteSchema:
    """The migration runner's `Schema` over one `sqlite3` connection.

    Its methods never suspend (`sqlite3` is synchronous, and this runs on the
    store's worker thread), so `run_sync` runs `migrate` over it.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    async def peek(self) -> int | None:
        try:
            return self._read()
        except sqlite3.OperationalError:  # no schema_version table yet
            return 0

    @asynccontextmanager
    async def locked(self) -> AsyncIterator[None]:
        with _immediate(self.conn):
            self.conn.execute(_Q["schema_version_table"])
            yield

    async def version(self) -> int:
        return self._read()

    async def apply(self, migration: sql.Migration) -> None:
        # One by one inside the transaction: `executescript` would commit it first.
        for statement in _statements(migration.sql):
            self.conn.execute(statement)
        params = {"version": migration.version, "name": migration.name}
        self.conn.execute(_Q["record_migration"], {**params, "applied_at": _us(utcnow())})

    def _read(self) -> int:
        version: int = self.conn.execute(_Q["schema_version"]).fetchone()[0]
        return version


def _backfill_search(conn: sqlite3.Connection, page: int = 5000) -> None:
    """Index the segments and captions stored before full-text search (schema version 6).

    Once per database: the migration leaves a row in `search_backfill`, removed here.
    """
    if not conn.execute(_Q["search_backfill_pending"]).fetchone()["n"]:
        return
    with _immediate(conn):
        if not conn.execute(_Q["search_backfill_pending"]).fetchone()["n"]:
            return  # another connection did it
        after = ""
        while rows := conn.execute(
            _Q["search_backfill_rows"], {"after": after, "page": page}
        ).fetchall():
            for kind in ("segment", "caption"):
                texts = [
                    {
                        "id": r["id"],
                        "video_id": r["video_id"],
                        "text": r["text"],
                        "caption": r["text"],
                        "ocr_text": "",
                    }
                    for r in rows
                    if r["kind"] == kind
                ]
                conn.executemany(_Q["upsert_search_doc"], search_docs(kind, texts))
            after = rows[-1]["id"]
        conn.execute(_Q["search_backfill_done"])


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


def _record(model: type[M], row: Row) -> M:
    """The `model` that `row` holds, validated by the model itself.

    SQLite keeps times as integer microseconds since the epoch, JSON as text,
    and a file name that is not UTF-8 as its bytes: those columns are
    converted, the model validates the rest (a boolean's 0 or 1, an enum's
    value). Columns that are not fields of `model` are left out.
    """
    values = {name: row[name] for name in row.keys() if name in model.model_fields}  # noqa: SIM118 (a Row)
    for name in values.keys() & fields_holding(model, datetime):
        values[name] = _dt_or_none(values[name])
    for name in values.keys() & (fields_holding(model, dict) | fields_holding(model, list)):
        values[name] = json.loads(values[name])
    for name in values.keys() & PATH_FIELDS:
        values[name] = _path_out(values[name])
    return model.model_validate(values)
