"""`PostgresStore`'s `RateBuckets`: one atomic upsert of a bucket row per take."""

from __future__ import annotations

from .._buckets import bucket_wait, check_bucket
from ._connection import PostgresConnection
from ._values import _Q

__all__ = ["PostgresBuckets"]


class PostgresBuckets(PostgresConnection):
    """The [`RateBuckets`][videopipe.storage.RateBuckets] of a `PostgresStore`.

    A take is one `INSERT … ON CONFLICT DO UPDATE … RETURNING` (one round
    trip, the row locked only for the statement), on the database's clock,
    which every worker on every machine shares.
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
        self._check()
        check_bucket(key, capacity=capacity, rate=rate, amount=amount, now=now)
        params = {"key": key, "capacity": capacity, "rate": rate, "amount": amount, "now": now}
        row = await self._row(_Q["take_tokens"], params)
        assert row is not None  # an upsert with RETURNING always returns its row
        return bucket_wait(float(row["level"]), rate)
