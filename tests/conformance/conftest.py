from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.integration.pgvector import (  # noqa: F401 (fixtures)
    pgvector_schema_url,
    pgvector_schemas_database,
    pgvector_server,
)
from tests.integration.postgres import pg_schema_url, pg_schemas_database  # noqa: F401 (fixtures)
from videopipe.storage import MemoryStore, PostgresStore, SQLiteStore, Store

BACKENDS = [
    "memory",
    "sqlite",
    pytest.param("postgres", marks=pytest.mark.integration),
    pytest.param("postgres-pgvector", marks=pytest.mark.integration),
]


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[Store]:
    """Each backend in turn, empty, with the latest schema."""
    backend: Store
    if request.param == "memory":
        backend = MemoryStore()
    elif request.param == "sqlite":
        backend = SQLiteStore(tmp_path / "store.db")
    elif request.param == "postgres":
        backend = PostgresStore(request.getfixturevalue("pg_schema_url"), max_size=4)
    else:
        backend = PostgresStore(request.getfixturevalue("pgvector_schema_url"), max_size=4)
        # Through the HNSW index however few vectors a test stores: the suite's small
        # data sets would otherwise be searched exactly.
        backend._ann_min_rows = 0
    async with backend:
        yield backend
