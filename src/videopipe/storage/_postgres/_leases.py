"""`PostgresStore`'s `RunLeases`: one atomic conditional upsert, on the database's clock."""

from __future__ import annotations

from .._leases import check_lease
from ._connection import PostgresConnection
from ._values import _Q

__all__ = ["PostgresLeases"]


class PostgresLeases(PostgresConnection):
    """The [`RunLeases`][videopipe.storage.RunLeases] of a `PostgresStore`.

    A take is one `INSERT … ON CONFLICT DO UPDATE … WHERE … RETURNING`: it
    returns a row exactly when the lease is now the caller's, on the
    database's clock, which every worker on every machine shares.
    """

    async def take_lease(
        self, key: str, owner: str, *, ttl: float, now: float | None = None
    ) -> bool:
        self._check()
        check_lease(key, owner, ttl=ttl, now=now)
        params = {"key": key, "owner": owner, "ttl": ttl, "now": now}
        return await self._row(_Q["take_lease"], params) is not None

    async def drop_lease(self, key: str, owner: str) -> None:
        self._check()
        await self._rows(_Q["drop_lease"], {"key": key, "owner": owner})
