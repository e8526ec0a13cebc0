from __future__ import annotations

import asyncio
import sqlite3

import pytest

from videopipe.storage import sql
from videopipe.storage._migrate import migrate, run_sync
from videopipe.storage._sqlite._connection import _SQLiteSchema


async def _answer() -> int:
    return 42


async def _suspends() -> int:
    await asyncio.sleep(0)
    return 42


def test_run_sync_runs_a_coroutine_that_never_waits() -> None:
    assert run_sync(_answer()) == 42


def test_run_sync_refuses_a_coroutine_that_waits() -> None:
    """A `Schema` that suspended would otherwise leave its migration half run, silently."""
    with pytest.raises(RuntimeError, match="suspended"):
        run_sync(_suspends())


def test_the_runner_applies_each_migration_once() -> None:
    """The second run finds the schema current and applies nothing."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        applied = run_sync(migrate(_SQLiteSchema(conn), "sqlite"))
        assert [m.version for m in applied] == [m.version for m in sql.migrations("sqlite")]
        assert run_sync(migrate(_SQLiteSchema(conn), "sqlite")) == []
    finally:
        conn.close()
