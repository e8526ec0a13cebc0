from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import videopipe as vp
from videopipe.stages import Embed
from videopipe.storage import (
    JobQueue,
    MemoryStore,
    RateBuckets,
    Results,
    RunLeases,
    Store,
    Vectors,
)
from videopipe.testing import FakeProvider


def _methods(protocol: type) -> set[str]:
    """The public methods of `protocol`, its bases' included."""
    ours = [c for c in protocol.__mro__ if c.__module__.split(".")[0] == "videopipe"]
    return {n for c in ours for n, v in vars(c).items() if callable(v) and not n.startswith("_")}


class ResultsOnly:
    """A store that keeps results but no vectors and no queue, built over a `MemoryStore`."""

    def __init__(self, store: MemoryStore) -> None:
        for name in _methods(Results):
            setattr(self, name, getattr(store, name))


class Segments:
    """Stands in for transcription: one transcript segment."""

    name = "transcribe"
    requires = ()

    async def run(self, ctx: vp.StageContext) -> None:
        segment = vp.TranscriptSegment(
            id=f"{ctx.video.id}_segment_000", video_id=ctx.video.id, idx=0, t_start=0.0,
            t_end=1.0, text="hello",
        )  # fmt: skip
        await ctx.store.save_segments(ctx.video.id, [segment])


class NoVision:
    name = "vision"
    requires = ()

    async def run(self, ctx: vp.StageContext) -> None:
        return None


def test_store_is_the_union_of_the_five_protocols() -> None:
    """Each consumer depends on one part; a backend implements all of them, and nothing else."""
    parts = [
        _methods(Results),
        _methods(Vectors),
        _methods(JobQueue),
        _methods(RateBuckets),
        _methods(RunLeases),
    ]
    assert not set.intersection(*parts)
    assert _methods(Store) == set.union(*parts) | {"aclose"}
    assert len(set.union(*parts)) == 42


def test_every_backend_is_each_protocol() -> None:
    store = MemoryStore()
    assert isinstance(store, Vectors)
    assert isinstance(store, JobQueue)
    assert isinstance(store, RateBuckets)
    assert isinstance(store, RunLeases)
    assert not isinstance(ResultsOnly(store), Vectors)


async def test_a_pipeline_runs_on_results_and_the_embeddings_stage_asks_for_vectors(
    tmp_path: Path,
) -> None:
    """A store without vectors fails the embeddings stage with a message naming what is missing."""
    memory = MemoryStore()
    pipeline = vp.Pipeline(
        [Segments(), NoVision(), Embed()],
        store=ResultsOnly(memory),
        provider=FakeProvider(),
        data_dir=tmp_path,
    )
    source = tmp_path / "v.mp4"
    source.write_bytes(b"video")
    with pytest.raises(vp.StageError, match=r"videopipe\.storage\.Vectors") as caught:
        await pipeline.run(source)
    assert caught.value.stage == "embeddings"
    assert (await memory.list_segments(caught.value.item_key or "")) != []


def test_a_worker_needs_a_queue(tmp_path: Path) -> None:
    """The worker's queue defaults to the pipeline's store, which must then be a `JobQueue`."""
    results: Any = ResultsOnly(MemoryStore())
    pipeline = vp.Pipeline([NoVision()], store=results, data_dir=tmp_path)
    with pytest.raises(vp.ConfigurationError, match="no job queue"):
        vp.Worker(pipeline, handle_signals=False)
    queue = MemoryStore()
    assert vp.Worker(pipeline, queue, handle_signals=False).store is queue
