"""The IVF vector index in the engines' own tables: built, kept in step, trained again."""

from __future__ import annotations

import numpy as np

from tests.conformance import records
from tests.conformance.records import embedding
from videopipe._models import segment_id
from videopipe.storage import SQLiteStore
from videopipe.storage._ivf import GROWTH, list_count

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
