"""`SQLiteStore`'s `RateBuckets`: token buckets updated under SQLite's write lock."""

from __future__ import annotations

import sqlite3
import time

from .._buckets import bucket_wait, check_bucket
from ._connection import _Q, SQLiteConnection

__all__ = ["SQLiteBuckets"]


class SQLiteBuckets(SQLiteConnection):
    """The [`RateBuckets`][videopipe.storage.RateBuckets] of a `SQLiteStore`.

    Every process using the file shares the buckets: a take is one upsert
    inside `BEGIN IMMEDIATE`, so no two processes ever read the same level.
    The clock is the machine's (`time.time()`), which every process on it shares.
    """

    async def take_tokens(
        self,
        key: str,
        *,
        capacity: float,
        rate: float,
        amount: float,
        now: float | None = None,
    ) -> float:
        check_bucket(key, capacity=capacity, rate=rate, amount=amount, now=now)
        params = {"key": key, "capacity": capacity, "rate": rate, "amount": amount}

        def op(conn: sqlite3.Connection) -> float:
            # Read the clock under the lock, so takes are in the order of their times.
            at = time.time() if now is None else now
            [row] = conn.execute(_Q["take_tokens"], {**params, "now": at}).fetchall()
            level: float = row[0]
            return level

        return bucket_wait(await self._write(op), rate)
