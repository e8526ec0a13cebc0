"""`PostgresStore`'s connections: the pool, retries through lost connections, the schema.

Every part of the store (`_results`, `_vectors`, `_queue`) runs its SQL
through `PostgresConnection._run`, which retries an operation while the
database is unreachable.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any, LiteralString, Self

import anyio

from ..._exceptions import ConfigurationError, StorageError, StoreClosed
from ..._imports import require
from ..._secrets import redact
from .. import sql
from .._fulltext import search_docs
from .._migrate import migrate
from ._pgvector import ANN_MIN_ROWS, _enable_pgvector
from ._values import _Q, Row, T, logger

if TYPE_CHECKING:
    from psycopg.rows import DictRow
    from psycopg_pool import AsyncConnectionPool

    from ._values import Conn

__all__ = ["PostgresConnection"]


class PostgresConnection:
    """The connection pool and lifecycle shared by the parts of a `PostgresStore`."""

    def __init__(
        self, url: str, *, min_size: int = 1, max_size: int = 10, retry_for: float = 30.0
    ) -> None:
        require("psycopg", package="psycopg", extra="postgres", feature="PostgresStore")
        require("psycopg_pool", package="psycopg-pool", extra="postgres", feature="PostgresStore")
        from psycopg.conninfo import conninfo_to_dict

        if not url.lower().startswith(("postgresql://", "postgres://")):
            raise ConfigurationError(
                f"not a PostgreSQL URL: {redact(url)!r}; use postgresql://user@host/dbname"
            )
        try:
            params = conninfo_to_dict(url)
        except Exception as exc:  # psycopg.ProgrammingError, with the parser's reason
            raise ConfigurationError(redact(f"invalid PostgreSQL URL {url!r}: {exc}")) from None
        self.url = redact(url)
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

    def __repr__(self) -> str:
        return f"PostgresStore({self.url!r})"

    # --- plumbing ------------------------------------------------------------------------

    async def _connect(self) -> Conn:
        from psycopg import AsyncConnection
        from psycopg.rows import dict_row

        return await AsyncConnection.connect(self._conninfo, row_factory=dict_row, **self._kwargs)

    async def _set_up(self) -> None:
        """Connect once, and migrate, index and check pgvector on that connection.

        A first connection that fails is most likely a wrong URL or password: it
        fails at once, rather than being retried as a connection lost later. A
        connection lost *during* the set-up (the server restarting, or an
        administrator ending every session) is retried within `retry_for`: every
        step is a transaction of its own, safe to run again.
        """
        import psycopg
        from psycopg.errors import QueryCanceled

        deadline = anyio.current_time() + self._retry_for
        delay = 0.05
        connected = False
        while True:
            try:
                conn = await self._connect()
            except psycopg.Error as exc:
                if not connected or anyio.current_time() >= deadline:
                    raise StorageError(f"cannot connect to {self.url}: {exc}") from exc
                await anyio.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            connected = True
            try:
                async with conn:
                    await migrate(_PostgresSchema(conn), "postgres")
                    await _backfill_search(conn)
                    self._vector_schema = await _enable_pgvector(conn, self.url)
                    self._pgvector = self._vector_schema is not None
                return
            except psycopg.OperationalError as exc:
                # As in `_run`: connection-level failures are worth another try.
                if isinstance(exc, QueryCanceled) or anyio.current_time() >= deadline:
                    raise StorageError(f"cannot set up the schema in {self.url}: {exc}") from exc
                logger.warning(
                    "lost the connection to %s while setting up the schema (%s); retrying",
                    self.url,
                    exc,
                )
                await anyio.sleep(delay)
                delay = min(delay * 2, 1.0)
            except psycopg.Error as exc:
                raise StorageError(f"cannot set up the schema in {self.url}: {exc}") from exc

    async def _open(self) -> AsyncConnectionPool[Conn]:
        from psycopg import AsyncConnection
        from psycopg.rows import DictRow, dict_row
        from psycopg_pool import AsyncConnectionPool

        async with self._open_lock:
            if self._closed:
                raise StoreClosed
            if self._pool is not None:
                return self._pool
            await self._set_up()
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


class _PostgresSchema:
    """The migration runner's `Schema` over one PostgreSQL connection."""

    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    async def peek(self) -> None:
        # Always under the lock: one round trip fewer would not be worth a second path.
        return None

    @asynccontextmanager
    async def locked(self) -> AsyncIterator[None]:
        async with self.conn.transaction():
            # Concurrent first uses queue on this lock; it is released at commit.
            await self.conn.execute(_Q["schema_lock"])
            await self.conn.execute(_Q["schema_version_table"])
            yield

    async def version(self) -> int:
        row = await (await self.conn.execute(_Q["schema_version"])).fetchone()
        return 0 if row is None else int(row["version"])

    async def apply(self, migration: sql.Migration) -> None:
        await self.conn.execute(migration.sql)
        params = {"version": migration.version, "name": migration.name}
        await self.conn.execute(_Q["record_migration"], params)


async def _backfill_search(conn: Conn, page: int = 5000) -> None:
    """Index the segments and captions stored before full-text search (schema version 8).

    Once per database: the migration leaves a row in `search_backfill`, removed here.
    """
    row = await (await conn.execute(_Q["search_backfill_pending"])).fetchone()
    if not (row and row["n"]):
        return
    async with conn.transaction():
        await conn.execute(_Q["search_backfill_lock"])
        row = await (await conn.execute(_Q["search_backfill_pending"])).fetchone()
        if not (row and row["n"]):
            return  # another process did it
        after = ""
        while True:
            params = {"after": after, "page": page}
            rows = await (await conn.execute(_Q["search_backfill_rows"], params)).fetchall()
            if not rows:
                break
            for kind in ("segment", "caption"):
                texts = [
                    {**r, "caption": r["text"], "ocr_text": ""} for r in rows if r["kind"] == kind
                ]
                if texts:
                    async with conn.cursor() as cursor:
                        await cursor.executemany(_Q["upsert_search_doc"], search_docs(kind, texts))
            after = rows[-1]["id"]
        await conn.execute(_Q["search_backfill_done"])
