"""The engines' full-text indexes: filled for rows stored before them, kept in step after."""

from __future__ import annotations

import pytest

from tests.conformance import records
from tests.conformance.records import embedding
from tests.integration.postgres import pg_schema_url, pg_schemas_database  # noqa: F401 (fixtures)
from videopipe._models import segment_id
from videopipe.storage import PostgresStore, SQLiteStore

TEXTS = ["order ZX-4471 shipped", "revenue in Q3", "nothing else"]
SQLITE_MATCHES = """SELECT count(*) FROM search_fts WHERE search_fts MATCH '"zx-4471" OR "q3"'"""
PG_MATCHES = """SELECT count(*) AS n FROM search_docs WHERE tsv @@ '''zx-4471'' | q3'::tsquery"""


async def _fill(store) -> None:
    await store.upsert_video(records.video("talk"))
    await store.save_segments("talk", records.segments("talk", TEXTS))
    await store.save_embeddings(
        [embedding(segment_id("talk", i), "talk", "segment", [0.5, 0.5]) for i in range(3)]
    )


def _sqlite_matches(conn) -> int:
    return conn.execute(SQLITE_MATCHES).fetchone()[0]


async def _pg_matches(conn) -> int:
    return (await (await conn.execute(PG_MATCHES)).fetchone())["n"]


async def test_sqlite_indexes_the_rows_stored_before_full_text_search(tmp_path) -> None:
    """A database from before schema version 6: its segments are indexed when it opens."""
    path = tmp_path / "v.db"
    async with SQLiteStore(path) as store:
        await _fill(store)
        assert await store._run(_sqlite_matches) == 2

        def forget(conn) -> None:  # as the migration leaves an older database
            conn.execute("DELETE FROM search_docs")
            conn.execute("INSERT INTO search_backfill (pending) VALUES (1)")

        await store._write(forget)
        assert await store._run(_sqlite_matches) == 0
    async with SQLiteStore(path) as store:
        assert await store._run(_sqlite_matches) == 2
        # 0.9 x cosine alone (0.64) is below 0.7; with the matched code, 0.82 is above.
        hits = await store.search([1.0, 0.0], model="m", keywords="zx-4471", min_score=0.7)
        assert [h.id for h in hits] == [segment_id("talk", 0)]


async def test_sqlite_keeps_the_index_in_step_with_replaced_rows(tmp_path) -> None:
    async with SQLiteStore(tmp_path / "v.db") as store:
        await _fill(store)
        await store.save_segments("talk", records.segments("talk", ["order ZX-9999"]))
        assert await store._run(_sqlite_matches) == 0
        hits = await store.search([1.0, 0.0], model="m", keywords="zx-9999")
        assert hits[0].matched == ["zx-9999"]


@pytest.mark.integration
async def test_postgres_indexes_the_rows_stored_before_full_text_search(
    pg_schema_url: str,  # noqa: F811 (fixture)
) -> None:
    async with PostgresStore(pg_schema_url) as store:
        await _fill(store)
        assert await store._run(_pg_matches) == 2

        async def forget(conn) -> None:
            await conn.execute("DELETE FROM search_docs")
            await conn.execute("INSERT INTO search_backfill (pending) VALUES (1)")

        await store._run(forget)
        assert await store._run(_pg_matches) == 0
    async with PostgresStore(pg_schema_url) as store:
        assert await store._run(_pg_matches) == 2
