"""The IVF vector index in the engines' own tables: built, kept in step, trained again."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conformance import records
from tests.conformance.records import embedding
from tests.integration.postgres import pg_schema_url, pg_schemas_database  # noqa: F401 (fixtures)
from videopipe._models import segment_id
from videopipe.storage import PostgresStore, SQLiteStore
from videopipe.storage._ivf import GROWTH, list_count
from videopipe.storage._postgres import _vectors as pg_vectors

DIM = 16


async def _save(store, video: str, n: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    await store.upsert_video(records.video(video))
    await store.save_segments(video, records.segments(video, [f"t{i}" for i in range(n)]))
    await store.save_embeddings(
        [embedding(segment_id(video, i), video, "segment", vectors[i]) for i in range(n)]
    )
    return vectors


def _sqlite_state(conn) -> dict[str, int]:
    one = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
    return {
        "lists": one("SELECT count(*) FROM vector_lists"),
        "first_list": one("SELECT coalesce(min(list_id), 0) FROM vector_lists"),
        "postings": one("SELECT count(*) FROM vector_postings"),
        "embeddings": one("SELECT count(*) FROM embeddings"),
        "unlisted": one("SELECT count(*) FROM embeddings WHERE list_id IS NULL"),
        "trained_rows": one("SELECT coalesce(max(trained_rows), 0) FROM vector_index"),
        # Each posting lies in its embedding's list, and holds its vector.
        "misplaced": one(
            "SELECT count(*) FROM vector_postings AS p JOIN embeddings AS e "
            "ON e.owner_id = p.owner_id AND e.model = p.model "
            "WHERE p.id / (1 << 40) != e.list_id OR p.vector != e.vector"
        ),
    }


async def test_sqlite_indexes_a_model_from_the_threshold_on(tmp_path) -> None:
    async with SQLiteStore(tmp_path / "v.db") as store:
        store._ivf_min_rows = 400
        await _save(store, "a", 300, seed=1)
        state = await store._run(_sqlite_state)
        assert state["lists"] == 0
        assert state["postings"] == 0
        assert state["unlisted"] == 300
        await _save(store, "b", 200, seed=2)
        state = await store._run(_sqlite_state)
        assert state["lists"] == list_count(500)
        assert state["trained_rows"] == 500
        assert state["postings"] == state["embeddings"] == 500
        assert state["unlisted"] == 0
        assert state["misplaced"] == 0


async def test_sqlite_search_reads_only_the_nearest_lists(tmp_path) -> None:
    async with SQLiteStore(tmp_path / "v.db") as store:
        store._ivf_min_rows = 400
        vectors = await _save(store, "a", 900, seed=3)
        statements: list[str] = []

        def trace(conn) -> None:
            conn.set_trace_callback(statements.append)

        await store._run(trace)
        hits = await store.search(vectors[5].tolist(), model="m", k=3)
        assert hits[0].id == segment_id("a", 5)
        scans = [s for s in statements if "FROM vector_postings" in s]
        lists = list_count(900)
        assert 0 < len(scans) < lists  # a few lists, not the model
        assert not any("FROM embeddings AS e" in s and "e.model" in s for s in statements)


async def test_sqlite_keeps_the_lists_in_step_and_trains_them_again(tmp_path) -> None:
    async with SQLiteStore(tmp_path / "v.db") as store:
        store._ivf_min_rows = 400
        vectors = await _save(store, "a", 400, seed=4)
        first = await store._run(_sqlite_state)
        # Upserted vectors move to their new list; the lists are not trained again.
        await store.save_embeddings(
            [embedding(segment_id("a", i), "a", "segment", -vectors[i]) for i in range(50)]
        )
        state = await store._run(_sqlite_state)
        assert state["first_list"] == first["first_list"]
        assert state["postings"] == 400
        assert state["misplaced"] == 0
        # Grown GROWTH times over: trained again, with more lists.
        await _save(store, "b", (GROWTH - 1) * 400, seed=5)
        state = await store._run(_sqlite_state)
        assert state["first_list"] > first["first_list"]
        assert state["lists"] == list_count(GROWTH * 400)
        assert state["trained_rows"] == GROWTH * 400
        assert state["postings"] == state["embeddings"] == GROWTH * 400
        assert state["unlisted"] == 0
        assert state["misplaced"] == 0
        # Another store on the same file sees the new lists, and its saves use them.
        async with SQLiteStore(tmp_path / "v.db") as other:
            other._ivf_min_rows = 400
            await _save(other, "c", 10, seed=6)
        state = await store._run(_sqlite_state)
        assert state["postings"] == state["embeddings"]
        assert state["misplaced"] == 0


async def _pg_state(conn) -> dict[str, int]:
    async def one(sql: str) -> int:
        return (await (await conn.execute(sql)).fetchone())["n"]

    return {
        "lists": await one("SELECT count(*) AS n FROM vector_lists"),
        "first_list": await one("SELECT coalesce(min(list_id), 0) AS n FROM vector_lists"),
        "unlisted": await one("SELECT count(*) AS n FROM embeddings WHERE list_id IS NULL"),
        "trained_rows": await one("SELECT coalesce(max(trained_rows), 0) AS n FROM vector_index"),
        # Each vector lies in the list of its nearest centroid (cosine).
        "misplaced": await one(
            "SELECT count(*) AS n FROM embeddings AS e WHERE e.list_id IS DISTINCT FROM ("
            " SELECT l.list_id FROM vector_lists AS l WHERE l.model = e.model"
            " ORDER BY (SELECT sum(a * b) FROM unnest(l.centroid, e.vector) AS x (a, b))"
            " / sqrt((SELECT sum(b * b) FROM unnest(e.vector) AS y (b))) DESC LIMIT 1)"
        ),
    }


@pytest.mark.integration
async def test_postgres_without_pgvector_keeps_ivf_lists(
    pg_schema_url: str,  # noqa: F811 (fixture)
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with PostgresStore(pg_schema_url) as store:
        store._ivf_min_rows = 400
        await _save(store, "a", 300, seed=1)
        state = await store._run(_pg_state)
        assert state["lists"] == 0
        assert state["unlisted"] == 300
        vectors = await _save(store, "b", 100, seed=2)
        state = await store._run(_pg_state)
        assert state["lists"] == list_count(400)
        assert state["trained_rows"] == 400
        assert state["unlisted"] == 0
        assert state["misplaced"] == 0
        first = state["first_list"]
        # Upserted and new vectors join their nearest list.
        await store.save_embeddings(
            [embedding(segment_id("b", i), "b", "segment", -vectors[i]) for i in range(20)]
        )
        await _save(store, "c", 30, seed=3)
        state = await store._run(_pg_state)
        assert state["first_list"] == first
        assert state["misplaced"] == 0
        # The search reads the nearest lists, never the whole model.
        scanned: list[str] = []

        async def no_scan(*args, **kwargs):
            scanned.append("scan")
            raise AssertionError("an indexed model was scanned")

        monkeypatch.setattr(pg_vectors, "_scan_nearest", no_scan)
        hits = await store.search((-vectors[3]).tolist(), model="m", k=3)
        assert hits[0].id == segment_id("b", 3)
        # One list per read: the same hits.
        monkeypatch.setattr(pg_vectors, "_READ_FLOATS", 1)
        assert await store.search((-vectors[3]).tolist(), model="m", k=3) == hits
        assert scanned == []
        # Grown GROWTH times over: trained again, with more lists.
        await _save(store, "d", GROWTH * 400, seed=4)
        state = await store._run(_pg_state)
        assert state["first_list"] > first
        assert state["lists"] == list_count(GROWTH * 400 + 430)
        assert state["unlisted"] == 0
        assert state["misplaced"] == 0
