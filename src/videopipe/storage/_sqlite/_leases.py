"""`SQLiteStore`'s `RunLeases`: one conditional upsert under SQLite's write lock."""

from __future__ import annotations

import sqlite3
import time

from .._leases import check_lease
from ._connection import _Q, SQLiteConnection

__all__ = ["SQLiteLeases"]


class SQLiteLeases(SQLiteConnection):
    """The [`RunLeases`][videopipe.storage.RunLeases] of a `SQLiteStore`.

    Every process using the file shares the leases; the clock is the machine's
    (`time.time()`), which every process on it shares.
    """

    async def take_lease(
        self, key: str, owner: str, *, ttl: float, now: float | None = None
    ) -> bool:
        check_lease(key, owner, ttl=ttl, now=now)

        def op(conn: sqlite3.Connection) -> bool:
            at = time.time() if now is None else now
            params = {"key": key, "owner": owner, "now": at, "expires": at + ttl}
            return bool(conn.execute(_Q["take_lease"], params).fetchall())

        return await self._write(op)

    async def drop_lease(self, key: str, owner: str) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute(_Q["drop_lease"], {"key": key, "owner": owner})

        await self._write(op)
