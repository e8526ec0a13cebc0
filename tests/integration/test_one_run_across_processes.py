"""One run of a video at a time across processes: two pipelines sharing only the database.

Each pipeline has its own store connection and its own lease owner, as two
processes would; the second run of the same content waits for the first (its
log says so), then finds the stage done and runs nothing.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

import videopipe as vp
from videopipe.storage import SQLiteStore, Store

WAITING = "is being processed elsewhere: waiting for that run"


class Gate:
    """A stage that records its runs in a list shared by both pipelines, and waits to be let go."""

    name = "gate"
    requires = ()

    def __init__(self, runs: list[str], release: anyio.Event, started: anyio.Event) -> None:
        self.runs = runs
        self.release = release
        self.started = started

    async def run(self, ctx: vp.StageContext) -> dict[str, Any]:
        self.runs.append(ctx.video.id)
        self.started.set()
        await self.release.wait()
        return {"ok": True}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.integration)])
async def two_stores(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Store, Store]]:
    """Two stores on one database, as two processes would open it."""
    make: Callable[[], Store]
    if request.param == "sqlite":
        path = tmp_path / "shared.db"
        make = lambda: SQLiteStore(path)  # noqa: E731
    else:
        url = request.getfixturevalue("pg_url")
        make = lambda: vp.open_store(url)  # noqa: E731
    async with make() as first, make() as second:
        yield first, second


async def until_logged(caplog: pytest.LogCaptureFixture, text: str) -> None:
    for _ in range(2000):  # polled, not timed: ends as soon as the line is there
        if text in caplog.text:
            return
        await anyio.sleep(0.01)
    raise AssertionError(f"never logged: {text}")


async def test_the_same_content_in_two_processes_runs_once(
    two_stores: tuple[Store, Store], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="videopipe")
    first_store, second_store = two_stores
    original, copy = tmp_path / "talk.mp4", tmp_path / "talk (copy).mp4"
    original.write_bytes(b"the same content")
    copy.write_bytes(b"the same content")
    runs: list[str] = []
    release, started = anyio.Event(), anyio.Event()
    gates = [Gate(runs, release, started) for _ in range(2)]
    first = vp.Pipeline([gates[0]], store=first_store, data_dir=tmp_path / "d1")
    second = vp.Pipeline([gates[1]], store=second_store, data_dir=tmp_path / "d2")
    results: dict[str, vp.VideoResult] = {}

    async def run(name: str, pipeline: vp.Pipeline, path: Path) -> None:
        results[name] = await pipeline.run(path)

    with anyio.fail_after(60):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run, "first", first, original)
            await started.wait()
            tg.start_soon(run, "second", second, copy)
            await until_logged(caplog, WAITING)
            assert len(runs) == 1  # the second is waiting, not running
            release.set()
    assert len(runs) == 1
    assert results["first"].video_id == results["second"].video_id
    assert results["first"].ok
    assert results["second"].ok
    assert results["second"].stages["gate"].status is vp.StageStatus.DONE
    # Both gave the lease back: a third run takes it at once and has nothing to do.
    assert await first_store.take_lease(f"video:{results['first'].video_id}", "x", ttl=5)


async def test_a_lease_left_by_a_killed_process_lapses(
    two_stores: tuple[Store, Store], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The holder died without dropping it: the next run waits its ttl out, then runs."""
    caplog.set_level(logging.INFO, logger="videopipe")
    store, _ = two_stores
    source = tmp_path / "v.mp4"
    source.write_bytes(b"content")
    runs: list[str] = []
    release = anyio.Event()
    release.set()
    gate = Gate(runs, release, anyio.Event())
    pipeline = vp.Pipeline([gate], store=store, data_dir=tmp_path / "d")
    video = await pipeline.register(source)
    assert await store.take_lease(f"video:{video.id}", "killed:1234", ttl=0.5)
    with anyio.fail_after(60):
        result = await pipeline.run(source)
    assert result.ok
    assert runs == [video.id]
    assert WAITING in caplog.text
