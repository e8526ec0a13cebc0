"""One migration runner for both SQL backends: which migrations run, in what order, once.

A backend supplies the I/O as a `Schema`:
how to read the schema's version, how to hold the lock under which one
process migrates while the others wait, and how to run one migration's SQL
and record it. The runner decides the rest, the same way for SQLite and
PostgreSQL. SQLite's connection is synchronous, on a worker thread: its
`Schema` does its work without ever suspending, and `run_sync` drives the
runner there.
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol, TypeVar

from .._exceptions import StorageError
from .sql import Backend, Migration, migrations

__all__ = ["Schema", "migrate", "run_sync"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Schema(Protocol):
    """**Protocol:** what the migration runner needs of one database connection."""

    async def peek(self) -> int | None:
        """The schema's version read without the lock (0 for none), or `None` to always lock."""
        ...

    def locked(self) -> AbstractAsyncContextManager[None]:
        """A transaction holding the schema lock, with the `schema_version` table in place."""
        ...

    async def version(self) -> int:
        """The schema's version, read under the lock (0 for a new database)."""
        ...

    async def apply(self, migration: Migration) -> None:
        """Run `migration`'s SQL and record it in `schema_version`, under the lock."""
        ...


async def migrate(schema: Schema, backend: Backend) -> list[Migration]:
    """Bring `schema` to the latest version of `backend`, once, whoever else starts with it.

    Returns:
        The migrations applied, in order: none when another process got there first.

    Raises:
        StorageError: The database's schema is newer than this videopipe knows.
    """
    known = migrations(backend)
    latest = known[-1].version
    if await schema.peek() == latest:
        return []
    async with schema.locked():
        # Read under the lock: another process may have just migrated.
        current = await schema.version()
        if current > latest:
            raise StorageError(
                f"the database's schema is version {current}, newer than this videopipe "
                f"knows ({latest}): upgrade videopipe"
            )
        pending = list(known[current:])
        for migration in pending:
            await schema.apply(migration)
            logger.info("applied schema migration %04d_%s", migration.version, migration.name)
    return pending


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends, such as `migrate` over a synchronous `Schema`.

    Raises:
        RuntimeError: The coroutine waited for something after all.
    """
    try:
        coro.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    coro.close()
    raise RuntimeError(f"{coro!r} suspended: run_sync only runs coroutines that never wait")
