"""Search through a vector index (IVF lists on SQLite and PostgreSQL): the same hits as exact.

Each test lowers the store's threshold so a few thousand vectors are indexed (a
real store indexes a model from `IVF_MIN_ROWS` vectors on). The data is
clustered, as embeddings are, so the exact top hits are well defined and lie in
the lists a search reads. `MemoryStore` searches exactly: it must agree.
"""

from __future__ import annotations

import numpy as np

from tests.conformance import records
from tests.conformance.records import embedding
from videopipe._models import caption_id, frame_id, segment_id

DIM = 32
VIDEOS = 6
PER_VIDEO = 100  # 600 segments
CLUSTERS = 12


def _index_from(store, rows: int) -> None:
    """Index the store's vectors from `rows` of them on (a no-op for `MemoryStore`)."""
    if hasattr(store, "_ivf_min_rows"):
        store._ivf_min_rows = rows


def _clustered(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = np.random.default_rng(1).normal(size=(CLUSTERS, DIM))
    vectors = centers[rng.integers(0, CLUSTERS, size=n)] + rng.normal(scale=0.25, size=(n, DIM))
    return vectors.astype(np.float32)


async def _videos(store, vectors: np.ndarray) -> dict[str, np.ndarray]:
    """`VIDEOS` videos of `PER_VIDEO` segments each, embedded with `vectors`; by owner."""
    by_owner: dict[str, np.ndarray] = {}
    for v in range(VIDEOS):
        video = f"v{v}"
        await store.upsert_video(records.video(video))
        texts = [f"segment {i} of {video}" for i in range(PER_VIDEO)]
        await store.save_segments(video, records.segments(video, texts))
        rows = vectors[v * PER_VIDEO : (v + 1) * PER_VIDEO]
        await store.save_embeddings(
            [embedding(segment_id(video, i), video, "segment", rows[i]) for i in range(len(rows))]
        )
        by_owner.update({segment_id(video, i): rows[i] for i in range(len(rows))})
    return by_owner


def _exact(by_owner: dict[str, np.ndarray], query: np.ndarray, k: int) -> list[str]:
    owners = list(by_owner)
    matrix = np.stack([by_owner[o] for o in owners])
    scores = matrix @ query / (np.linalg.norm(matrix, axis=1) * np.linalg.norm(query))
    return [owners[i] for i in np.argsort(-scores, kind="stable")[:k]]


async def test_indexed_search_returns_the_exact_top_hits(store) -> None:
    _index_from(store, 300)
    by_owner = await _videos(store, _clustered(2, VIDEOS * PER_VIDEO))
    queries = _clustered(3, 12)
    for query in queries:
        hits = await store.search(query.tolist(), model="m", k=10)
        assert [h.id for h in hits] == _exact(by_owner, query, 10)


async def test_vectors_saved_after_the_index_was_built_are_found(store) -> None:
    _index_from(store, 300)
    by_owner = await _videos(store, _clustered(2, VIDEOS * PER_VIDEO))
    await store.upsert_video(records.video("late"))
    await store.save_segments("late", records.segments("late", ["late words", "more words"]))
    late = _clustered(4, 2)
    await store.save_embeddings(
        [embedding(segment_id("late", i), "late", "segment", late[i]) for i in range(2)]
    )
    by_owner.update({segment_id("late", i): late[i] for i in range(2)})
    for i in range(2):
        hits = await store.search(late[i].tolist(), model="m", k=10)
        assert hits[0].id == segment_id("late", i)
        assert [h.id for h in hits] == _exact(by_owner, late[i], 10)


async def test_replaced_vectors_and_rows_leave_nothing_stale(store) -> None:
    _index_from(store, 300)
    by_owner = await _videos(store, _clustered(2, VIDEOS * PER_VIDEO))
    # A vector replaced by a far one: found at its new place only.
    moved = segment_id("v3", 7)
    old = by_owner[moved]
    new = -old
    await store.save_embeddings([embedding(moved, "v3", "segment", new)])
    assert (await store.search(new.tolist(), model="m", k=1))[0].id == moved
    hits = await store.search(old.tolist(), model="m", k=10)
    assert moved not in [h.id for h in hits]
    # A re-run replaced v0's segments: its old vectors are never hits.
    await store.save_segments("v0", [])
    for query in _clustered(3, 4):
        hits = await store.search(query.tolist(), model="m", k=10)
        assert hits
        assert all(h.video_id != "v0" for h in hits)
        rest = {o: v for o, v in by_owner.items() if not o.startswith("v0_")}
        rest[moved] = new
        assert [h.id for h in hits] == _exact(rest, query, 10)


async def test_filters_hold_on_indexed_vectors(store) -> None:
    _index_from(store, 300)
    by_owner = await _videos(store, _clustered(2, VIDEOS * PER_VIDEO))
    await store.save_scenes("v5", records.scenes("v5", 2))
    await store.save_frames("v5", records.frames("v5", 2))
    await store.save_captions("v5", records.captions("v5", ["a chart", "a slide"]))
    captions = _clustered(5, 2)
    await store.save_embeddings(
        [embedding(caption_id(frame_id("v5", i)), "v5", "caption", captions[i]) for i in range(2)]
    )
    query = _clustered(3, 1)[0]
    only = await store.search(query.tolist(), model="m", kinds=["caption"], k=10)
    assert [h.id for h in only] == _exact(
        {caption_id(frame_id("v5", i)): captions[i] for i in range(2)}, query, 10
    )
    three = ["v1", "v3", "v4"]
    hits = await store.search(query.tolist(), model="m", video_ids=three, k=10)
    mine = {o: v for o, v in by_owner.items() if o.split("_")[0] in three}
    assert {h.video_id for h in hits} <= set(three)
    assert [h.id for h in hits] == _exact(mine, query, 10)
    segments = await store.search(query.tolist(), model="m", kinds=["segment"], k=10)
    assert [h.id for h in segments] == _exact(by_owner, query, 10)


async def test_a_search_finds_k_hits_when_most_nearest_vectors_are_of_replaced_rows(
    store,
) -> None:
    """Re-runs replaced most segments: their vectors stay (a cache) but never crowd out hits."""
    _index_from(store, 300)
    by_owner = await _videos(store, _clustered(2, VIDEOS * PER_VIDEO))
    for v in range(VIDEOS - 1):
        await store.save_segments(f"v{v}", [])
    last = {o: vec for o, vec in by_owner.items() if o.startswith(f"v{VIDEOS - 1}_")}
    for query in _clustered(3, 3):
        hits = await store.search(query.tolist(), model="m", k=10)
        assert [h.id for h in hits] == _exact(last, query, 10)
