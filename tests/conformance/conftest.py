from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.integration.postgres import pg_schema_url, pg_schemas_database  # noqa: F401 (fixtures)
from videopipe.storage import MemoryStore, PostgresStore, SQLiteStore, Store

BACKENDS = ["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.integration)]


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[Store]:
    """Each backend in turn, empty, with the latest schema."""
    backend: Store
    if request.param == "memory":
        backend = MemoryStore()
    elif request.param == "sqlite":
        backend = SQLiteStore(tmp_path / "store.db")
    else:
        backend = PostgresStore(request.getfixturevalue("pg_schema_url"), max_size=4)
    async with backend:
        yield backend
