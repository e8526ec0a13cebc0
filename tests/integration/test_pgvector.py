"""pgvector on PostgreSQL 16 (the `pgserver` wheel): HNSW search answers as exact search does."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from tests.conformance import records
from tests.conformance.records import embedding
from videopipe import ConfigurationError
from videopipe._models import caption_id, frame_id, segment_id
from videopipe.storage import PostgresStore, Store
from videopipe.storage._postgres._pgvector import ANN_MIN_ROWS, _adapt_vectors, hnsw_index_name
from videopipe.storage._postgres._values import _Q
from videopipe.storage._ranking import cosine_top_k

pytestmark = pytest.mark.integration

N_SEGMENTS = 2400
N_CAPTIONS = 200
LOG = "videopipe.storage._postgres"


def _clustered(rng: np.random.Generator, n: int, dim: int, clusters: int) -> np.ndarray:
    """`n` vectors around `clusters` centres, as embeddings of related sentences are."""
    centres = rng.normal(size=(clusters, dim))
    members = rng.integers(0, clusters, size=n)
    return (centres[members] + rng.normal(scale=0.6, size=(n, dim))).astype(np.float32)


def _texts(n: int, word: str) -> list[str]:
    return [f"{word} {i} about topic {i % 37} code ZX-{i}" for i in range(n)]


async def _load(stores: list[Store], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The same video in every store: 2,400 segments and 200 captions, three models."""
    vectors = {
        "minilm": _clustered(rng, N_SEGMENTS + N_CAPTIONS, 384, 40),
        "small": _clustered(rng, N_SEGMENTS + N_CAPTIONS, 64, 12),
        # Too long for an HNSW index (2,000 dimensions at most): always exact.
        "large": _clustered(rng, 30, 2048, 3),
    }
    owners = [("segment", segment_id("v", i)) for i in range(N_SEGMENTS)]
    owners += [("caption", caption_id(frame_id("v", i))) for i in range(N_CAPTIONS)]
    for store in stores:
        await store.upsert_video(records.video("v"))
        await store.save_scenes("v", records.scenes("v", N_CAPTIONS))
        await store.save_frames("v", records.frames("v", N_CAPTIONS))
        await store.save_segments("v", records.segments("v", _texts(N_SEGMENTS, "segment")))
        await store.save_captions("v", records.captions("v", _texts(N_CAPTIONS, "caption")))
        for model, matrix in vectors.items():
            await store.save_embeddings(
                [
                    embedding(owner, "v", kind, matrix[i], model=model)
                    for i, (kind, owner) in enumerate(owners[: len(matrix)])
                ]
            )
    return vectors


async def _plan(store: PostgresStore, model: str, query: np.ndarray) -> str:
    """The plan of the nearest-neighbour query, run as the store runs it."""
    from psycopg import sql

    async def op(conn) -> str:
        async with conn.transaction(), conn.cursor(binary=True) as cursor:
            await store._ann_settings(conn, 40)
            _adapt_vectors(cursor)
            explain = sql.SQL("EXPLAIN ") + store._ann_query(model, len(query))
            await cursor.execute(explain, {"query": query, "fetch": 40})
            return "\n".join(row["QUERY PLAN"] for row in await cursor.fetchall())

    return await store._run(op)


async def _exact(store: PostgresStore, query: list[float], **options):
    """The same search on the same store, by its exact path."""
    store._ann_min_rows = 10**9
    try:
        return await store.search(query, **options)
    finally:
        store._ann_min_rows = ANN_MIN_ROWS


def _same_hits(got, want) -> None:
    assert [(h.kind, h.id, h.matched) for h in got] == [(h.kind, h.id, h.matched) for h in want]
    assert [h.score for h in got] == pytest.approx([h.score for h in want], abs=1e-5)
    assert [h.model_copy(update={"score": 0.0}) for h in got] == [
        h.model_copy(update={"score": 0.0}) for h in want
    ]


@pytest.mark.timeout(300)
async def test_hnsw_search_returns_the_exact_top_hits(
    pgvector_schema_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """On 2,600 clustered 384-d vectors (and two other models beside them) the index finds
    the exact top 10, with the exact scores, for plain and keyword queries."""
    rng = np.random.default_rng(20240607)
    async with PostgresStore(pgvector_schema_url, max_size=4) as store:
        vectors = await _load([store], rng)
        near = [vectors["minilm"][i] + rng.normal(scale=0.3, size=384) for i in range(0, 2600, 26)]
        queries = {
            "minilm": [*near, *(rng.normal(size=384) for _ in range(20))],
            "small": [
                vectors["small"][i] + rng.normal(scale=0.3, size=64) for i in range(0, 2600, 87)
            ],
            "large": [vectors["large"][i] + rng.normal(scale=0.3, size=2048) for i in range(3)],
        }
        owners = [segment_id("v", i) for i in range(N_SEGMENTS)]
        owners += [caption_id(frame_id("v", i)) for i in range(N_CAPTIONS)]
        through_index = 0
        with caplog.at_level(logging.DEBUG, logger=LOG):
            for model, model_queries in queries.items():
                for n, q in enumerate(model_queries):
                    query = np.asarray(q, dtype=np.float32).tolist()
                    got = await store.search(query, model=model, k=10)
                    top = cosine_top_k(query, vectors[model], 10)
                    assert [h.id for h in got] == [owners[i] for i, _ in top]
                    assert [h.score for h in got] == pytest.approx([s for _, s in top], abs=1e-5)
                    if n % 10 == 0:  # the exact path reads every vector: slower
                        _same_hits(got, await _exact(store, query, model=model, k=10))
                    through_index += model != "large"
            # A query far from every vector, so that the words decide the top.
            query = queries["minilm"][-1].astype(np.float32).tolist()
            for keywords in ["zx-17 caption", "caption 12", "zx-2399 zx-5", "nothing matches"]:
                got = await store.search(query, model="minilm", k=10, keywords=keywords)
                want = await _exact(store, query, model="minilm", k=10, keywords=keywords)
                _same_hits(got, want)
                assert any(h.matched for h in got) is (keywords != "nothing matches")
                through_index += 1
            # Filters are searched exactly, and agree too.
            got = await store.search(query, model="minilm", k=5, kinds=["caption"])
            _same_hits(got, await _exact(store, query, model="minilm", k=5, kinds=["caption"]))
        searched = [r for r in caplog.records if r.getMessage().startswith("searched ")]
        assert len(searched) == through_index

        plan = await _plan(store, "minilm", vectors["minilm"][0])
        assert f"Index Scan using {hnsw_index_name('minilm', 384)}" in plan
        plan = await _plan(store, "small", vectors["small"][0])
        assert f"Index Scan using {hnsw_index_name('small', 64)}" in plan
        with pytest.raises(ConfigurationError, match="64 dimensions"):
            await store.search([1.0] * 64, model="minilm")


async def test_a_store_made_without_pgvector_gets_it_when_reopened(
    pgvector_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server gained pgvector after the store was made: reopening adds the column,
    filled for the vectors already there, and the index is built on the first search."""
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(50, 16)).astype(np.float32)
    with monkeypatch.context() as patch:
        # A server without pgvector, as far as this store can tell.
        patch.setitem(_Q, "pgvector_available", "SELECT false AS available")
        async with PostgresStore(pgvector_url) as store:
            assert store._pgvector is False
            await store.upsert_video(records.video("v"))
            await store.save_segments("v", records.segments("v", _texts(50, "s")))
            await store.save_embeddings(
                [embedding(segment_id("v", i), "v", "segment", vectors[i]) for i in range(50)]
            )
            before = await store.search(vectors[7].tolist(), model="m", k=5)

    async with PostgresStore(pgvector_url) as store:
        assert store._pgvector is True
        store._ann_min_rows = 0
        row = await store._row("SELECT count(*) AS n, count(vec) AS filled FROM embeddings")
        assert row == {"n": 50, "filled": 50}
        after = await store.search(vectors[7].tolist(), model="m", k=5)
        _same_hits(after, before)
        assert ("m", 16) in store._hnsw
        plan = await _plan(store, "m", vectors[0])
        assert hnsw_index_name("m", 16) in plan


async def test_without_the_right_to_create_pgvector_search_stays_exact(
    pgvector_server: str, caplog: pytest.LogCaptureFixture
) -> None:
    """pgvector is on the server but not in the database, and the role cannot install it."""
    import uuid

    import psycopg
    from psycopg import sql

    from tests.integration.postgres import with_database

    role = f"u_{uuid.uuid4().hex[:8]}"
    name = f"videopipe_test_{role}"
    with psycopg.connect(pgvector_server, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        admin.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(role)
            )
        )
    url = with_database(pgvector_server, name).replace("postgres@", f"{role}@")
    try:
        with caplog.at_level(logging.WARNING, logger=LOG):
            async with PostgresStore(url) as store:
                await store.upsert_video(records.video("v"))
                await store.save_segments("v", records.segments("v", ["a", "b"]))
                await store.save_embeddings(
                    [
                        embedding(segment_id("v", 0), "v", "segment", [1.0, 0.0]),
                        embedding(segment_id("v", 1), "v", "segment", [0.0, 1.0]),
                    ]
                )
                hits = await store.search([1.0, 0.1], model="m")
                assert [h.id for h in hits] == [segment_id("v", 0), segment_id("v", 1)]
                assert store._pgvector is False
        assert "CREATE EXTENSION vector" in caplog.text
    finally:
        with psycopg.connect(pgvector_server, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
            admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
