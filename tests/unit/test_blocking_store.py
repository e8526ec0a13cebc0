"""`vp.BlockingStore`: a store's queries from synchronous code, on every backend."""

from __future__ import annotations

import inspect
import threading
from pathlib import Path

import pytest

import videopipe as vp
from tests.conformance import records
from tests.conformance.records import embedding
from tests.integration.postgres import pg_template, pg_url  # noqa: F401 (fixtures)
from videopipe._models import segment_id, text_hash
from videopipe.testing import FakeProvider, fake_vector

TEXTS = ["the budget meeting starts at nine", "sales grew by twelve percent"]


@pytest.fixture(
    params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.integration)]
)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "memory":
        return "memory://"
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'videos.db'}"
    return request.getfixturevalue("pg_url")


def fill(store: vp.BlockingStore, provider: FakeProvider) -> None:
    store.upsert_video(records.video("talk"))
    store.save_scenes("talk", records.scenes("talk", 3))
    store.save_segments("talk", records.segments("talk", TEXTS))
    store.save_embeddings(
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


def test_every_query_runs_without_await(url: str) -> None:
    """A script writes, reads and searches a store with plain calls, then closes it."""
    provider = FakeProvider()
    with vp.BlockingStore(url) as store:
        fill(store, provider)
        assert [s.idx for s in store.list_scenes("talk")] == [0, 1, 2]
        assert [s.text for s in store.list_segments("talk")] == TEXTS
        assert store.get_video("talk").id == "talk"
        assert [v.id for v in store.list_videos()] == ["talk"]
        assert store.count_videos()["pending"] == 1
        assert store.list_captions("talk") == []
        hits = store.search("who mentions the budget?", provider=provider, k=1)
        assert hits[0].id == segment_id("talk", 0)
        # min_score reaches the search (and is checked there).
        with pytest.raises(vp.ConfigurationError, match=r"min_score=1\.01"):
            store.search("who mentions the budget?", provider=provider, min_score=1.01)
        vector = fake_vector("sales grew", provider.dimensions)
        assert store.search(vector, model=provider.embedding_model, k=1)[0].id == segment_id(
            "talk", 1
        )
        assert store.usage_summary(video_id="talk").requests == 0
        with pytest.raises(vp.NotFound):
            store.get_video("missing")  # the store's own errors, unchanged
    assert "closed" in repr(store)
    with pytest.raises(vp.StoreClosed, match="closed"):
        store.list_scenes("talk")
    store.close()  # a second close does nothing


def test_it_reads_what_an_async_store_wrote(tmp_path: Path) -> None:
    """Results written by `await`-style code (the pipeline) are read back without await."""
    url = f"sqlite:///{tmp_path / 'videos.db'}"

    async def write() -> None:
        async with vp.open_store(url) as store:
            await store.upsert_video(records.video("talk"))
            await store.save_scenes("talk", records.scenes("talk", 2))

    vp.run_blocking(write)
    with vp.BlockingStore(url) as store:
        assert len(store.list_scenes("talk")) == 2


def test_calls_from_several_threads_share_its_loop(tmp_path: Path) -> None:
    """One BlockingStore serves threads: each call runs on the store's own loop."""
    with vp.BlockingStore(f"sqlite:///{tmp_path / 'videos.db'}") as store:
        store.upsert_video(records.video("talk"))
        store.save_scenes("talk", records.scenes("talk", 4))
        found: list[int] = []

        def read() -> None:
            found.append(len(store.list_scenes("talk")))

        threads = [threading.Thread(target=read) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert found == [4, 4, 4, 4]


async def test_it_works_inside_a_running_loop(tmp_path: Path) -> None:
    """As in Jupyter: the portal's loop runs in its own thread, so no 'loop already running'."""
    with vp.BlockingStore(f"sqlite:///{tmp_path / 'videos.db'}") as store:
        store.upsert_video(records.video("talk"))
        assert store.get_video("talk").id == "talk"


def test_it_takes_a_store_object_and_closes_it() -> None:
    memory = vp.storage.MemoryStore()
    with vp.BlockingStore(memory) as store:
        assert store.store is memory
        store.upsert_video(records.video("talk"))
    with pytest.raises(vp.StoreClosed):
        vp.run_blocking(memory.list_scenes, "talk")


def test_a_coroutine_passed_to_run_blocking_says_what_to_write() -> None:
    """The mistake `run_blocking(store.list_scenes(id))` gets a message, not a bare TypeError."""
    store = vp.storage.MemoryStore()
    with pytest.raises(TypeError) as caught:
        vp.run_blocking(store.list_scenes("talk"))  # type: ignore[arg-type]
    message = str(caught.value)
    assert "not a coroutine" in message
    assert "run_blocking(list_scenes, *args) instead of run_blocking(list_scenes(*args))" in message
    assert "videopipe.BlockingStore" in message
    # The coroutine was closed: no "never awaited" RuntimeWarning (warnings are errors here).
    with pytest.raises(TypeError, match="not 'int'"):
        vp.run_blocking(42)  # type: ignore[arg-type]


def test_an_unknown_url_fails_before_any_thread_starts() -> None:
    before = threading.active_count()
    with pytest.raises(vp.ConfigurationError):
        vp.BlockingStore("nosuch://x")
    assert threading.active_count() == before


def test_blocking_search_signatures_follow_the_async_one() -> None:
    """`search_blocking` and `BlockingStore.search` take exactly `videopipe.search`'s options.

    They repeat its signature for readable help and types; this keeps the copies from drifting
    (`min_score` was once missing from `BlockingStore.search`).
    """

    def options(function: object, skip: int) -> list[tuple[str, object, object]]:
        parameters = list(inspect.signature(function).parameters.values())[skip:]  # type: ignore[arg-type]
        return [(p.name, p.kind, p.default) for p in parameters]

    wanted = options(vp.search, 1)  # without `store`
    assert options(vp.search_blocking, 1) == wanted
    assert options(vp.BlockingStore.search, 1) == wanted  # without `self`
