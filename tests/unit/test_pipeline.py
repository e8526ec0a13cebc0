from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import anyio
import pytest

import videopipe as vp
from videopipe.storage import MemoryStore


class Recorder:
    """A configurable stage that records its calls."""

    def __init__(
        self,
        name: str,
        requires: tuple[str, ...] = (),
        *,
        fail: bool = False,
        skip: str | None = None,
        output: Any = None,
        gate: anyio.Event | None = None,
        signal: anyio.Event | None = None,
        loads: bool = False,
    ) -> None:
        self.name = name
        self.requires = requires
        self.fail = fail
        self.skip_reason = skip
        self.output = output if output is not None else {"stage": name}
        self.gate = gate
        self.signal = signal
        self.calls: list[dict[str, Any]] = []
        self.loaded = 0
        if loads:
            self.load = self._load

    async def run(self, ctx: vp.StageContext) -> Any:
        self.calls.append(dict(ctx.inputs))
        if self.signal is not None:
            self.signal.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise RuntimeError(f"{self.name} broke")
        if self.skip_reason:
            raise ctx.skip(self.skip_reason)
        return self.output

    async def _load(self, ctx: vp.StageContext) -> Any:
        self.loaded += 1
        return {"loaded": self.name}


@pytest.fixture
def video_file(tmp_path: Path) -> Path:
    path = tmp_path / "talk.mp4"
    path.write_bytes(b"not really a video, but the pipeline's own stages here do not care")
    return path


def make(
    stages: list[Any], store: MemoryStore | None = None, tmp: Path | None = None
) -> vp.Pipeline:
    return vp.Pipeline(stages, store=store or MemoryStore(), data_dir=tmp or Path("data"))


async def test_independent_stages_overlap(video_file: Path) -> None:
    """`b` cannot finish until `c` has started: only concurrent execution completes."""
    c_started = anyio.Event()
    a = Recorder("a")
    b = Recorder("b", ("a",), gate=c_started)
    c = Recorder("c", ("a",), signal=c_started)
    d = Recorder("d", ("b", "c"))
    with anyio.fail_after(5):
        result = await make([d, c, b, a]).run(video_file)
    assert result.ok
    assert set(result.stages) == {"a", "b", "c", "d"}
    assert d.calls == [{"b": {"stage": "b"}, "c": {"stage": "c"}}]


@pytest.mark.parametrize(
    ("stages", "message"),
    [
        ([Recorder("a"), Recorder("a")], "two stages are named 'a'"),
        ([Recorder("a", ("zzz",))], "requires 'zzz', which is not in the pipeline"),
        ([Recorder("a", ("b",)), Recorder("b", ("a",))], "cycle among: a, b"),
    ],
)
def test_invalid_graphs_are_rejected_when_built(stages: list[Any], message: str) -> None:
    with pytest.raises(vp.ConfigurationError, match=message):
        make(stages)


async def test_add_remove_and_replace_stages(video_file: Path) -> None:
    base = make([Recorder("a"), Recorder("b", ("a",))])
    extra = Recorder("extra", ("b",))
    added = base.add(extra)
    assert [s.name for s in added.stages] == ["a", "b", "extra"]
    assert [s.name for s in base.stages] == ["a", "b"]  # pipelines are immutable
    assert [s.name for s in added.remove("extra").stages] == ["a", "b"]
    with pytest.raises(vp.ConfigurationError, match="requires 'b'"):
        added.remove("b")
    new_b = Recorder("b", ("a",), output={"new": True})
    replaced = added.replace(new_b)
    result = await replaced.run(video_file)
    assert result.ok
    assert new_b.calls
    assert extra.calls == [{"b": {"new": True}}]
    with pytest.raises(vp.ConfigurationError, match="no stage named 'nope'"):
        base.replace(Recorder("nope"))


async def test_a_rerun_skips_completed_stages_and_loads_their_outputs(video_file: Path) -> None:
    a = Recorder("a", loads=True)
    b = Recorder("b", ("a",), output={"n": 3})
    c = Recorder("c", ("a", "b"))
    pipeline = make([a, b, c])
    first = await pipeline.run(video_file)
    assert [len(s.calls) for s in (a, b, c)] == [1, 1, 1]
    second = await pipeline.run(video_file)
    assert [len(s.calls) for s in (a, b, c)] == [1, 1, 1]  # no stage ran again
    assert all(o.resumed for o in second.stages.values())
    assert not any(o.resumed for o in first.stages.values())
    assert first.video_id == second.video_id
    assert second.ok


async def test_loaded_outputs_feed_a_stage_that_is_redone(video_file: Path) -> None:
    a = Recorder("a", loads=True)
    b = Recorder("b", ("a",), output={"n": 3})
    c = Recorder("c", ("a", "b"))
    pipeline = make([a, b, c])
    await pipeline.run(video_file)
    await pipeline.run(video_file, force={"c"})
    assert len(c.calls) == 2
    # `a` has a `load`, `b` does not: its recorded JSON detail stands in.
    assert c.calls[1] == {"a": {"loaded": "a"}, "b": {"n": 3}}
    assert len(a.calls) == len(b.calls) == 1


async def test_force_redoes_a_stage_and_everything_that_needs_it(video_file: Path) -> None:
    a, b, c, d = Recorder("a"), Recorder("b", ("a",)), Recorder("c", ("b",)), Recorder("d", ("a",))
    pipeline = make([a, b, c, d])
    await pipeline.run(video_file)
    await pipeline.run(video_file, force={"b"})
    assert [len(s.calls) for s in (a, b, c, d)] == [1, 2, 2, 1]
    await pipeline.run(video_file, force=True)
    assert [len(s.calls) for s in (a, b, c, d)] == [2, 3, 3, 2]
    with pytest.raises(vp.ConfigurationError, match="unknown stages: x"):
        await pipeline.run(video_file, force={"x"})


async def test_a_failed_stage_fails_the_video_but_independent_stages_finish(
    video_file: Path,
) -> None:
    store = MemoryStore()
    a = Recorder("a")
    broken = Recorder("b", ("a",), fail=True)
    needs_b = Recorder("c", ("b",))
    independent = Recorder("d", ("a",))
    pipeline = make([a, broken, needs_b, independent], store)
    with pytest.raises(vp.StageError) as info:
        await pipeline.run(video_file)
    error = info.value
    assert error.stage == "b"
    assert isinstance(error.__cause__, RuntimeError)
    assert "stage 'b' failed" in str(error)
    assert "b broke" in str(error)
    result = error.result
    assert result.status is vp.VideoStatus.FAILED
    assert result.stages["d"].status is vp.StageStatus.DONE
    assert result.stages["c"].status is vp.StageStatus.FAILED
    assert result.stages["c"].error == "not run: b failed"
    assert needs_b.calls == []
    video = await store.get_video(error.item_key or "")
    assert video.status is vp.VideoStatus.FAILED
    assert video.error is not None
    assert "b broke" in video.error
    runs = await store.get_stage_runs(video.id)
    assert runs["b"].status is vp.StageStatus.FAILED
    assert runs["d"].status is vp.StageStatus.DONE
    # Fixed: the re-run redoes only the failed stage and what needs it.
    broken.fail = False
    result = await pipeline.run(video_file)
    assert result.ok
    assert [len(s.calls) for s in (a, broken, needs_b, independent)] == [1, 2, 1, 1]
    assert runs["b"].attempt == 1
    assert (await store.get_stage_runs(video.id))["b"].attempt == 2


async def test_a_skipped_stage_records_its_reason_and_dependents_get_none(video_file: Path) -> None:
    store = MemoryStore()
    skipper = Recorder("transcribe", skip="the video has no audio track")
    after = Recorder("embed", ("transcribe",))
    result = await make([skipper, after], store).run(video_file)
    assert result.ok
    assert result.stages["transcribe"].status is vp.StageStatus.SKIPPED
    assert result.stages["transcribe"].detail == {"skipped": "the video has no audio track"}
    assert after.calls == [{"transcribe": None}]
    again = await make([skipper, after], store).run(video_file)
    assert again.stages["transcribe"].resumed
    assert len(skipper.calls) == 1


async def test_cancelling_mid_stage_leaves_it_to_be_redone(video_file: Path) -> None:
    store = MemoryStore()
    started = anyio.Event()
    never = anyio.Event()
    slow = Recorder("slow", gate=never, signal=started)
    pipeline = make([slow], store)
    async with anyio.create_task_group() as tg:
        tg.start_soon(pipeline.run, video_file)
        await started.wait()
        tg.cancel_scope.cancel()
    [video] = await store.list_videos()
    # Nothing runs it now: pending, not `processing` for ever (`status` counted it so).
    assert video.status is vp.VideoStatus.PENDING
    runs = await store.get_stage_runs(video.id)
    assert runs["slow"].status is vp.StageStatus.FAILED
    assert runs["slow"].error == "cancelled"
    slow.gate = None
    result = await pipeline.run(video_file)
    assert result.ok
    assert len(slow.calls) == 2


async def test_a_video_reads_processing_while_its_stages_run(video_file: Path) -> None:
    """A stage updating the record (as normalize does) keeps the status `processing`."""

    class Measure(Recorder):
        async def run(self, ctx: vp.StageContext) -> Any:
            await ctx.update_video(duration_sec=12.5)
            return await super().run(ctx)

    store = MemoryStore()
    started = anyio.Event()
    gate = anyio.Event()
    pipeline = make(
        [Measure("measure"), Recorder("slow", ("measure",), gate=gate, signal=started)], store
    )
    async with anyio.create_task_group() as tg:
        tg.start_soon(pipeline.run, video_file)
        await started.wait()
        [video] = await store.list_videos()
        assert (video.status, video.duration_sec) == (vp.VideoStatus.PROCESSING, 12.5)
        gate.set()
    [video] = await store.list_videos()
    assert video.status is vp.VideoStatus.READY


async def test_log_markers_name_the_video_and_the_duration(
    video_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class Scenes(Recorder):
        pass

    caplog.set_level(logging.INFO, logger="videopipe")
    pipeline = make([Recorder("normalize"), Scenes("scenes", ("normalize",))])
    result = await pipeline.run(video_file)
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith(f"NORMALIZED: video {result.video_id} in ") for m in messages)
    assert any(m.startswith(f"SCENES: video {result.video_id} in ") for m in messages)
    assert any(m.startswith(f"READY: video {result.video_id} in ") for m in messages)
    records = [r for r in caplog.records if r.getMessage().startswith("SCENES")]
    assert records[0].video_id == result.video_id  # type: ignore[attr-defined]
    assert records[0].stage == "scenes"  # type: ignore[attr-defined]
    caplog.clear()
    with pytest.raises(vp.StageError):
        await make([Recorder("x", fail=True)]).run(video_file)
    assert any(r.getMessage().startswith("FAILED: video ") for r in caplog.records)


async def test_a_stage_can_name_its_own_log_marker(
    video_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A stage with `marker` (the `Marked` protocol) logs it; others log their name in capitals."""

    class Words(Recorder):
        marker = "WORDS_COUNTED"

    caplog.set_level(logging.INFO, logger="videopipe")
    result = await make([Words("words"), Recorder("extra")]).run(video_file)
    messages = [r.getMessage() for r in caplog.records]
    assert isinstance(Words("words"), vp.Marked)
    assert any(m.startswith(f"WORDS_COUNTED: video {result.video_id} in ") for m in messages)
    assert any(m.startswith(f"EXTRA: video {result.video_id} in ") for m in messages)


async def test_video_ids_come_from_content(tmp_path: Path) -> None:
    one = tmp_path / "one.mp4"
    same = tmp_path / "copy.mp4"
    other = tmp_path / "other.mp4"
    one.write_bytes(b"abc" * 1000)
    same.write_bytes(b"abc" * 1000)
    other.write_bytes(b"abd" * 1000)
    assert await vp.video_id_for(one) == await vp.video_id_for(same)
    assert await vp.video_id_for(one) != await vp.video_id_for(other)
    vid = await vp.video_id_for(one)
    assert vid.startswith("v")
    assert len(vid) == 21


@pytest.mark.parametrize(
    "bad_id", ["../etc", "a/b", "", ".hidden", "x" * 129, "naïve", "a b", "a..b", "-rf"]
)
async def test_hostile_video_ids_are_rejected(video_file: Path, bad_id: str) -> None:
    with pytest.raises(vp.ConfigurationError, match="invalid video id"):
        await make([Recorder("a")]).run(video_file, video_id=bad_id)


async def test_a_given_video_id_is_used(video_file: Path) -> None:
    result = await make([Recorder("a")]).run(video_file, video_id="lecture-01")
    assert result.video_id == "lecture-01"


async def test_a_title_is_stored_with_the_video_and_kept_by_later_runs(video_file: Path) -> None:
    store = MemoryStore()
    pipeline = make([Recorder("a")], store)
    result = await pipeline.run(video_file, title="  Q3   all-hands\n")
    assert (await store.get_video(result.video_id)).title == "Q3 all-hands"
    await pipeline.run(video_file)  # no title given: the stored one stays
    assert (await store.get_video(result.video_id)).title == "Q3 all-hands"
    await pipeline.run(video_file, title="Q3 all-hands (final)")
    assert (await store.get_video(result.video_id)).title == "Q3 all-hands (final)"
    video = vp.Video(id="given", original_path=str(video_file))
    assert (await pipeline.register(video, title="Given")).title == "Given"
    with pytest.raises(vp.ConfigurationError, match="at most 500"):
        await pipeline.run(video_file, title="x" * 501)


async def test_missing_and_empty_inputs_fail_with_typed_errors(tmp_path: Path) -> None:
    pipeline = make([Recorder("a")])
    with pytest.raises(vp.InputNotFound, match="not found"):
        await pipeline.run(tmp_path / "nope.mp4")
    empty = tmp_path / "empty.mp4"
    empty.touch()
    with pytest.raises(vp.EmptyInput, match="empty"):
        await pipeline.run(empty)
    with pytest.raises(vp.InputNotFound, match="not a regular file"):
        await pipeline.run(tmp_path)


async def test_run_many_isolates_bad_items(video_file: Path, tmp_path: Path) -> None:
    other = tmp_path / "b.mp4"
    other.write_bytes(b"second")
    results = await make([Recorder("a")]).run_many([video_file, tmp_path / "missing.mp4", other])
    assert [r.ok for r in results] == [True, False, True]
    assert isinstance(results[1], vp.Err)
    assert isinstance(results[1].error, vp.InputNotFound)


def test_run_blocking_works_inside_a_running_loop(video_file: Path) -> None:
    pipeline = make([Recorder("a")])

    async def notebook_cell() -> vp.VideoResult:
        return pipeline.run_blocking(video_file)

    assert asyncio.run(notebook_cell()).ok


def test_paths_follow_the_data_dir_layout(tmp_path: Path) -> None:
    paths = make([Recorder("a")], tmp=tmp_path).paths("vid1")
    assert paths.normalized == tmp_path / "processed" / "vid1" / "normalized.mp4"
    assert paths.audio == tmp_path / "processed" / "vid1" / "audio.wav"
    assert paths.srt == tmp_path / "subs" / "vid1.srt"
    assert paths.frame(3) == tmp_path / "frames" / "vid1" / "scene_003.jpg"
    with pytest.raises(vp.ConfigurationError):
        make([Recorder("a")]).paths("../../etc")


async def test_two_copies_of_one_file_in_a_batch_run_once(tmp_path: Path) -> None:
    """Same content, same video: the second run waits for the first, then has nothing to do."""

    class Counted:
        name = "counted"
        requires = ()

        def __init__(self) -> None:
            self.runs = 0
            self.now = 0
            self.peak = 0

        async def run(self, ctx: vp.StageContext) -> dict[str, Any]:
            self.runs += 1
            self.now += 1
            self.peak = max(self.peak, self.now)
            try:
                await anyio.sleep(0.05)
            finally:
                self.now -= 1
            return {"ok": True}

    a, b = tmp_path / "a.mp4", tmp_path / "copy of a.mp4"
    a.write_bytes(b"the same content")
    b.write_bytes(b"the same content")
    stage = Counted()
    pipeline = vp.Pipeline([stage], store=MemoryStore(), data_dir=tmp_path / "data")
    results = await vp.process_batch([a, b, a], pipeline.run, concurrency=3)
    assert all(r.ok for r in results)
    assert (stage.runs, stage.peak) == (1, 1)
    assert len({r.unwrap().video_id for r in results}) == 1
