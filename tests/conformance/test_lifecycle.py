"""Opening and closing stores: `open_store` URLs, `async with`, `StoreClosed`."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

import videopipe.storage
from tests.conformance import records
from videopipe import ConfigurationError, StorageError, StoreClosed
from videopipe._models import Embedding, StageRun, StageStatus, Usage
from videopipe.storage import MemoryStore, PostgresStore, SQLiteStore, Store, open_store

CALLS = {
    "upsert_video": lambda s: s.upsert_video(records.video("x")),
    "get_video": lambda s: s.get_video("x"),
    "list_videos": lambda s: s.list_videos(),
    "count_videos": lambda s: s.count_videos(),
    "set_video_status": lambda s: s.set_video_status("x", "ready"),
    "record_stage_run": lambda s: s.record_stage_run(
        StageRun(video_id="x", stage="s", status=StageStatus.DONE)
    ),
    "get_stage_runs": lambda s: s.get_stage_runs("x"),
    "save_scenes": lambda s: s.save_scenes("x", []),
    "list_scenes": lambda s: s.list_scenes("x"),
    "save_frames": lambda s: s.save_frames("x", []),
    "list_frames": lambda s: s.list_frames("x"),
    "save_segments": lambda s: s.save_segments("x", []),
    "list_segments": lambda s: s.list_segments("x"),
    "save_captions": lambda s: s.save_captions("x", []),
    "list_captions": lambda s: s.list_captions("x"),
    "find_videos_by_path": lambda s: s.find_videos_by_path("x"),
    "save_embeddings": lambda s: s.save_embeddings(
        [
            Embedding(
                owner_id="o", video_id="x", kind="segment", model="m", vector=[1.0], text_hash="h"
            )
        ]
    ),
    "find_embeddings": lambda s: s.find_embeddings(["h"], model="m"),
    "search": lambda s: s.search([1.0], model="m"),
    "get_cached": lambda s: s.get_cached(["k"]),
    "put_cached": lambda s: s.put_cached({"k": "v"}),
    "record_usage": lambda s: s.record_usage(
        Usage(video_id="x", stage="s", provider="p", model="m")
    ),
    "usage_summary": lambda s: s.usage_summary(),
    "enqueue": lambda s: s.enqueue("x"),
    "claim": lambda s: s.claim("w"),
    "heartbeat": lambda s: s.heartbeat("j", "w"),
    "complete": lambda s: s.complete("j", "w"),
    "fail": lambda s: s.fail("j", "w", "e"),
    "release": lambda s: s.release("j", "w"),
    "replay": lambda s: s.replay(),
    "cancel": lambda s: s.cancel("j"),
    "get_job": lambda s: s.get_job("j"),
    "peek": lambda s: s.peek(),
    "stats": lambda s: s.stats(),
    "create_batch": lambda s: s.create_batch([]),
    "batch_status": lambda s: s.batch_status("b"),
    "batch_results": lambda s: s.batch_results("b"),
    "cancel_batch": lambda s: s.cancel_batch("b"),
    "wait_for_jobs": lambda s: s.wait_for_jobs(0.01),
    "take_tokens": lambda s: s.take_tokens("k", capacity=1, rate=1, amount=1),
    "take_lease": lambda s: s.take_lease("k", "owner", ttl=1),
    "drop_lease": lambda s: s.drop_lease("k", "owner"),
}


def test_the_closed_store_table_covers_the_whole_protocol() -> None:
    methods = {
        name
        for name, _ in inspect.getmembers(Store, predicate=inspect.isfunction)
        if not name.startswith("_")
    }
    assert methods - {"aclose"} == set(CALLS)


async def test_every_method_of_a_closed_store_raises_store_closed(store) -> None:
    await store.upsert_video(records.video("x"))
    await store.aclose()
    await store.aclose()  # closing twice is harmless
    for name, call in CALLS.items():
        with pytest.raises(StoreClosed):  # noqa: PT012 (names the method that did not raise)
            await call(store)
            pytest.fail(f"{name} did not raise StoreClosed")
    with pytest.raises(StoreClosed):
        async with store:
            pass


async def test_a_store_closed_before_first_use_raises_store_closed(store) -> None:
    await store.aclose()
    with pytest.raises(StoreClosed, match="open a new one"):
        await store.get_video("x")


async def test_async_with_closes_the_store(tmp_path) -> None:
    async with SQLiteStore(tmp_path / "a.db") as store:
        await store.upsert_video(records.video("x"))
    with pytest.raises(StoreClosed):
        await store.get_video("x")
    async with MemoryStore() as memory:
        pass
    with pytest.raises(StoreClosed):
        await memory.stats()


def test_store_closed_is_a_storage_error() -> None:
    assert issubclass(StoreClosed, StorageError)


def test_an_unknown_scheme_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigurationError) as info:
        open_store("mysql://localhost/videos")
    message = str(info.value)
    for scheme in ("'memory://'", "'postgres://'", "'postgresql://'", "'sqlite://'"):
        assert scheme in message
    with pytest.raises(ConfigurationError):
        open_store("videos.db")


def test_open_store_picks_the_backend_from_the_scheme(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert isinstance(open_store("memory://"), MemoryStore)
    relative = open_store("sqlite:///videos.db")
    assert isinstance(relative, SQLiteStore)
    assert relative.path == "videos.db"
    absolute = open_store(f"sqlite:///{tmp_path}/abs.db")  # sqlite:////tmp/...
    assert absolute.path == f"{tmp_path}/abs.db"
    assert open_store("SQLite:///:memory:").path == ":memory:"
    postgres = open_store("postgresql://user:secret@db.example:5432/videos")
    assert isinstance(postgres, PostgresStore)
    assert "secret" not in postgres.url
    assert "secret" not in repr(postgres)
    assert isinstance(open_store("postgres://db.example/videos"), PostgresStore)


def test_malformed_urls_are_configuration_errors() -> None:
    for url in ("memory://x", "sqlite://", "sqlite:///", "sqlite://relative.db"):
        with pytest.raises(ConfigurationError):
            open_store(url)


async def test_a_relative_sqlite_url_is_relative_to_the_working_directory(
    tmp_path, monkeypatch
) -> None:
    monkeypatch.chdir(tmp_path)
    async with open_store("sqlite:///videos.db") as store:
        await store.upsert_video(records.video("x"))
    assert (Path(tmp_path) / "videos.db").exists()


async def test_an_in_memory_sqlite_store_works() -> None:
    async with open_store("sqlite:///:memory:") as store:
        await store.upsert_video(records.video("x"))
        assert (await store.get_video("x")).id == "x"


def test_the_storage_namespace_exports_a_sorted_explicit_api() -> None:
    exported = videopipe.storage.__all__
    assert exported == sorted(exported)
    for name in ("MemoryStore", "PostgresStore", "SQLiteStore", "Store", "open_store"):
        assert name in exported
