"""The `RunLeases` protocol: who runs a video now, kept in the store for every process."""

from __future__ import annotations

import math
from typing import Protocol, runtime_checkable

from .._exceptions import ConfigurationError
from ._common import check_text

__all__ = ["RunLeases", "check_lease"]


# Runtime-checkable: a pipeline asks whether its store can hold runs for other processes.
@runtime_checkable
class RunLeases(Protocol):
    """**Protocol:** leases on keys kept in the store, so that one process at a time holds each.

    A [`Pipeline`][videopipe.Pipeline] holds the lease `video:{id}` while it runs
    a video, so that two processes given the same content (the same video ID)
    never run it at once: the second waits, then finds the stages done. A lease
    lapses `ttl` seconds after it was last taken, so a killed process holds
    nothing for long; its holder takes it again to keep it. Every backend of
    [`Store`][videopipe.storage.Store] implements it: in process (memory), under
    SQLite's write lock, or in one atomic upsert (PostgreSQL, on the database's
    clock).

    Note:
        Added in 0.2.0.
    """

    async def take_lease(
        self, key: str, owner: str, *, ttl: float, now: float | None = None
    ) -> bool:
        """Hold `key` for `owner` until `ttl` seconds from now, if no one else holds it.

        Returns:
            Whether `owner` holds it now: `True` when it was free, had lapsed, or
            was already `owner`'s (then it is extended); `False` while another
            owner's lease runs.

        Args:
            key: What is leased, such as `"video:v1a2b3"`.
            owner: Who takes it: unique per holder (host, process, object).
            ttl: Seconds the lease lasts unless taken again; positive.
            now: Seconds on the store's clock; by default the store reads its
                own (the database's, for PostgreSQL). Tests pass their own.

        Raises:
            ConfigurationError: `ttl` is not positive and finite, or a text
                cannot be stored.
        """
        ...

    async def drop_lease(self, key: str, owner: str) -> None:
        """Give `key` up, if `owner` holds it; another owner's lease is left alone."""
        ...


def check_lease(key: str, owner: str, *, ttl: float, now: float | None) -> None:
    """Reject a lease no backend could honour, before anything is written."""
    check_text(key, what="lease key")
    check_text(owner, what="lease owner")
    if not (math.isfinite(ttl) and ttl > 0):
        raise ConfigurationError(f"a lease's ttl must be a positive number of seconds, not {ttl}")
    if now is not None and not math.isfinite(now):
        raise ConfigurationError(f"now must be a finite number of seconds, not {now}")
