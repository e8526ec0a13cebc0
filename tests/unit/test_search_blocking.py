"""`vp.search_blocking`: DESIGN's "user's view", from synchronous code and inside a loop."""

from __future__ import annotations

from pathlib import Path

import pytest

import videopipe as vp
from tests.conformance import records
from tests.conformance.records import embedding
from videopipe import run_blocking
from videopipe._models import segment_id, text_hash
from videopipe.testing import FakeProvider, fake_vector

TEXTS = ["the budget meeting starts at nine", "sales grew by twelve percent", "see you next week"]


def _index(store, provider: FakeProvider) -> None:
    async def fill() -> None:
        await store.upsert_video(records.video("talk"))
        await store.save_segments("talk", records.segments("talk", TEXTS))
        await store.save_embeddings(
            [
                embedding(
                    segment_id("talk", i),
                    "talk",
                    "segment",
                    fake_vector(text, provider.dimensions),
                    model=provider.embedding_model,
                    text=text_hash(text),
                )
                for i, text in enumerate(TEXTS)
            ]
        )

    run_blocking(fill)


@pytest.mark.parametrize("url", ["memory://", "sqlite:///{tmp}/v.db"])
def test_search_blocking_from_a_script(url: str, tmp_path: Path) -> None:
    provider = FakeProvider()
    store = vp.open_store(url.format(tmp=tmp_path))
    _index(store, provider)
    hits = vp.search_blocking(store, "who mentions the budget?", provider=provider, k=2)
    assert hits[0].id == segment_id("talk", 0)
    assert hits[0].matched == ["budget"]
    vector = fake_vector("sales grew", provider.dimensions)
    by_vector = vp.search_blocking(store, vector, model=provider.embedding_model, k=1)
    assert by_vector[0].id == segment_id("talk", 1)
    run_blocking(store.aclose)


def test_without_a_provider_it_uses_the_configured_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = vp.open_store(f"sqlite:///{tmp_path / 'v.db'}")
    provider = FakeProvider()
    _index(store, provider)
    with monkeypatch.context() as patched:
        patched.setattr("videopipe._search.default_provider", lambda settings: provider)
        assert vp.search_blocking(store, "budget meeting", k=1)[0].id == segment_id("talk", 0)
    # Nothing configured (the tests set VIDEOPIPE_PROVIDER=none): a clear error.
    with pytest.raises(vp.ConfigurationError, match="OPENAI_API_KEY or the local extra"):
        vp.search_blocking(store, "budget meeting")
    run_blocking(store.aclose)


async def test_search_blocking_inside_a_running_loop(tmp_path: Path) -> None:
    """As in Jupyter: a loop is running, the blocking call runs in a thread of its own."""
    store = vp.open_store(f"sqlite:///{tmp_path / 'v.db'}")
    provider = FakeProvider()
    await store.upsert_video(records.video("talk"))
    await store.save_segments("talk", records.segments("talk", TEXTS))
    vectors = await provider.embed(TEXTS)
    await store.save_embeddings(
        [
            embedding(segment_id("talk", i), "talk", "segment", v, model=provider.embedding_model)
            for i, v in enumerate(vectors.vectors)
        ]
    )
    hits = vp.search_blocking(store, "twelve percent", provider=provider, k=1)
    assert hits[0].id == segment_id("talk", 1)
    await store.aclose()
