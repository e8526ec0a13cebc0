"""Progress inside a video (#15 point 3): stages report, bars, `/stats` and `status` show it."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel
import anyio.to_thread
import httpx
import pytest

import videopipe as vp
from videopipe._batch import _ProgressReporter
from videopipe._cli import main
from videopipe._progress import RunTracker, stored_progress
from videopipe.storage import MemoryStore


class Steps:
    """A stage that reports `steps` steps of progress, from the loop or a worker thread.

    With `gate`, it stops after `pause` steps, sets `reached` and waits for the gate.
    """

    def __init__(
        self,
        name: str,
        requires: tuple[str, ...] = (),
        *,
        steps: int = 10,
        thread: bool = False,
        gate: anyio.Event | None = None,
        pause: int = 0,
    ) -> None:
        self.name = name
        self.requires = requires
        self.steps = steps
        self.thread = thread
        self.gate = gate
        self.pause = pause
        self.reached = anyio.Event()

    async def run(self, ctx: vp.StageContext) -> dict[str, Any]:
        if self.thread:

            def work() -> None:
                for i in range(1, self.steps + 1):
                    ctx.report_progress(i, self.steps)

            await anyio.to_thread.run_sync(work)
            return {}
        for i in range(1, self.steps + 1):
            ctx.report_progress(i, self.steps)
            if self.gate is not None and i == self.pause:
                self.reached.set()
                await self.gate.wait()
            await anyio.lowlevel.checkpoint()
        return {}


class Silent:
    """A third-party stage that never reports its progress."""

    def __init__(self, name: str, requires: tuple[str, ...] = ()) -> None:
        self.name = name
        self.requires = requires

    async def run(self, ctx: vp.StageContext) -> dict[str, Any]:
        return {}


def _video(tmp_path: Path, name: str = "v.mp4") -> Path:
    path = tmp_path / name
    path.write_bytes(name.encode())
    return path


async def until(predicate: Any, seconds: float = 10.0) -> None:
    """Wait for a condition another task makes true; fail (a hang) after `seconds`."""
    with anyio.fail_after(seconds):
        while True:
            value = predicate()
            if hasattr(value, "__await__"):
                value = await value
            if value:
                return
            await anyio.sleep(0.005)


def test_a_stage_without_a_total_counts_as_started_only() -> None:
    """A stage that has not said its total is 0 % of itself; the video counts stages."""
    progress = vp.RunProgress("v", (vp.StageProgress("scenes"),), completed=1, total=4)
    assert progress.fraction == 0.25
    assert progress.stage == "scenes"
    assert str(progress) == "scenes"
    half = vp.RunProgress("v", (vp.StageProgress("scenes", 30.0, 60.0),), completed=1, total=4)
    assert half.percent == pytest.approx(37.5)
    assert str(half) == "scenes 50%"


def test_the_tracker_passes_on_moves_of_one_percent_and_never_back() -> None:
    """Cheap reports: 1,000 of them reach the listener about 100 times, rising."""
    told: list[vp.RunProgress] = []
    tracker = RunTracker("v", 1, told.append)
    tracker.start("work")
    for i in range(1, 1001):
        tracker.report("work", i, 1000)
    tracker.report("work", 10, 1000)  # late and lower: ignored
    tracker.finish("work")
    fractions = [p.fraction for p in told]
    assert fractions == sorted(fractions)
    assert 100 <= len(told) <= 103
    assert told[-1].fraction == 1.0
    assert told[-1].running == ()


async def test_a_run_reports_each_stage_rising_to_100_percent(tmp_path: Path) -> None:
    """Stages that report and one that does not: names, monotonic, 100 % at the end."""
    store = MemoryStore()
    pipeline = vp.Pipeline(
        [Steps("a"), Steps("b", ("a",), steps=4), Silent("c", ("b",))],
        store=store,
        data_dir=tmp_path,
    )
    seen: list[vp.RunProgress] = []
    await pipeline.run(_video(tmp_path), progress=seen.append)
    fractions = [p.fraction for p in seen]
    assert fractions == sorted(fractions)
    assert fractions[-1] == 1.0
    assert {p.stage for p in seen} == {"a", "b", "c", None}
    # Half of `a` is half of the first of three stages.
    assert any(p.stage == "a" and p.fraction == pytest.approx(0.5 / 3) for p in seen)
    # The silent stage shows as running, without a percentage.
    assert any(p.stage == "c" and p.running[0].percent is None for p in seen)


async def test_reports_from_a_worker_thread_reach_the_listener_on_the_loop(
    tmp_path: Path,
) -> None:
    """A stage decoding in a thread reports from there; the listener runs on the loop."""
    pipeline = vp.Pipeline(
        [Steps("decode", thread=True, steps=50)], store=MemoryStore(), data_dir=tmp_path
    )
    threads: set[int] = set()
    seen: list[float] = []

    def listen(progress: vp.RunProgress) -> None:
        threads.add(threading.get_ident())
        seen.append(progress.fraction)

    await pipeline.run(_video(tmp_path), progress=listen)
    assert threads == {threading.get_ident()}
    assert seen == sorted(seen)
    assert len([f for f in seen if 0 < f < 1]) >= 40  # one per 2 % step of 50
    assert seen[-1] == 1.0


async def test_batch_progress_counts_running_videos_in_fractions(tmp_path: Path) -> None:
    """`run_many`'s snapshots move within a video, not only when one finishes."""
    pipeline = vp.Pipeline([Steps("a"), Steps("b", ("a",))], store=MemoryStore(), data_dir=tmp_path)
    snapshots: list[vp.Progress] = []
    paths = [_video(tmp_path, "one.mp4"), _video(tmp_path, "two.mp4")]
    results = await pipeline.run_many(paths, concurrency=1, progress=snapshots.append)
    assert all(r.ok for r in results)
    completed = [s.completed for s in snapshots]
    assert completed == sorted(completed)
    assert completed[-1] == 2
    assert snapshots[-1].percent == 100.0
    # Before the first video is done, the batch is already a quarter of the way.
    assert any(s.done == 0 and s.completed == pytest.approx(0.25) for s in snapshots)
    assert any(s.running and s.running[0].stage == "b" for s in snapshots)
    done, total, failed = snapshots[-1]  # still unpacks as before
    assert (done, total, failed) == (2, 2, 0)


async def test_process_batch_with_pipeline_run_as_the_worker_shows_progress(
    tmp_path: Path,
) -> None:
    """`process_batch(paths, pipeline.run)` gets the same progress as `run_many`."""
    pipeline = vp.Pipeline([Steps("a", steps=4)], store=MemoryStore(), data_dir=tmp_path)
    snapshots: list[vp.Progress] = []
    await vp.process_batch([_video(tmp_path)], pipeline.run, progress=snapshots.append)
    assert [round(s.completed, 2) for s in snapshots] == [0.0, 0.25, 0.5, 0.75, 1.0, 1.0, 1.0]


def test_the_bar_counts_fractions_and_names_the_running_stage(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The tqdm bar: `0.2/2` done and the postfix `scenes 40%`."""
    reporter = _ProgressReporter(2, None, bar=True)
    reporter.bar.mininterval = 0  # draw every update: what is drawn, not when
    running = vp.RunProgress("v", (vp.StageProgress("scenes", 4, 10),), completed=0, total=2)
    reporter.partial(object(), running)
    reporter.close()
    text = capsys.readouterr().err
    assert "0.2/2" in text
    assert "scenes 40%" in text


async def test_the_store_holds_a_running_stage_s_progress(tmp_path: Path) -> None:
    """Another process reads how far a running stage is from its stage run."""
    store = MemoryStore()
    gate = anyio.Event()
    stage = Steps("work", ("first",), gate=gate, pause=5)
    pipeline = vp.Pipeline([Silent("first"), stage], store=store, data_dir=tmp_path)
    video = await pipeline.register(_video(tmp_path))

    async def stored() -> vp.RunProgress:
        return stored_progress(video.id, await store.get_stage_runs(video.id))

    async with anyio.create_task_group() as tg:
        tg.start_soon(pipeline.run, video)
        await stage.reached.wait()
        await until(lambda: _percent_is(stored, 50.0))
        progress = await stored()
        assert progress.stage == "work"
        assert progress.total == 2
        assert progress.percent == pytest.approx(75.0)
        gate.set()
    runs = await store.get_stage_runs(video.id)
    assert runs["work"].status is vp.StageStatus.DONE
    assert "progress" not in runs["work"].detail


async def _percent_is(stored: Any, percent: float) -> bool:
    progress = await stored()
    return bool(progress.running) and progress.running[0].percent == percent


async def test_stats_shows_a_running_job_s_stage_and_percentage(tmp_path: Path) -> None:
    """`/stats` lists the worker's running jobs with their stage and how far it is."""
    store = MemoryStore()
    path = _video(tmp_path)
    video = await store.upsert_video(vp.Video(id="vid0", original_path=str(path)))
    job = await store.enqueue(video.id)
    gate = anyio.Event()
    stage = Steps("work", gate=gate, pause=3)
    pipeline = vp.Pipeline([stage], store=store, data_dir=tmp_path)
    worker = vp.Worker(pipeline, http_port=0, handle_signals=False, poll_interval=0.01)
    async with anyio.create_task_group() as tg:
        tg.start_soon(worker.run)
        await stage.reached.wait()
        assert worker.bound_port is not None
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{worker.bound_port}") as client:
            stats = (await client.get("/stats")).json()
        assert stats["running"] == [
            {
                "job_id": job.id,
                "video_id": "vid0",
                "stage": "work",
                "stage_percent": pytest.approx(30.0),
                "percent": pytest.approx(30.0),
                "stages": {"work": pytest.approx(30.0)},
            }
        ]
        gate.set()
        await until(lambda: worker.completed == 1)
        worker.stop()


async def test_status_json_shows_a_running_video_s_stage_and_percentage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`videopipe status --json`, another store connection, sees the running stage and percent."""
    url = f"sqlite:///{tmp_path / 'videos.db'}"
    gate = anyio.Event()
    stage = Steps("work", ("first",), gate=gate, pause=4)
    async with vp.open_store(url) as store:
        pipeline = vp.Pipeline([Silent("first"), stage], store=store, data_dir=tmp_path)
        video = await pipeline.register(_video(tmp_path))
        job = await store.enqueue(video.id)
        await store.claim("w1")
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: pipeline.run(video, job_id=job.id))
            await stage.reached.wait()

            async def written() -> bool:
                runs = await store.get_stage_runs(video.id)
                return runs["work"].detail.get("progress", {}).get("percent") == 40.0

            await until(written)
            capsys.readouterr()
            code = await anyio.to_thread.run_sync(main, ["status", "--json", "--db", url])
            assert code == 0
            queue = json.loads(capsys.readouterr().out)
            code = await anyio.to_thread.run_sync(main, ["status", "--json", "--db", url, video.id])
            assert code == 0
            one = json.loads(capsys.readouterr().out)
            code = await anyio.to_thread.run_sync(main, ["status", "--db", url])
            text = capsys.readouterr().out
            gate.set()
    assert queue["running"] == [
        {
            "video_id": video.id,
            "job_id": job.id,
            "file": video.original_path,
            "stage": "work",
            "stage_percent": 40.0,
            "percent": 70.0,
            "stages": {"work": 40.0},
        }
    ]
    assert one["status"] == "processing"
    assert one["stages"]["work"] == {
        "status": "running",
        "seconds": None,
        "error": None,
        "percent": 40.0,
    }
    assert one["progress"]["stage"] == "work"
    assert one["progress"]["percent"] == 70.0
    assert f"running {video.id}: 70% (work 40%)" in text


async def test_a_report_from_a_thread_anyio_did_not_start_goes_out_with_the_next_one() -> None:
    """A stage's own thread pool cannot reach the loop: its figure is kept, not lost."""
    told: list[vp.RunProgress] = []
    tracker = RunTracker("v", 1, told.append)
    tracker.start("work")
    thread = threading.Thread(target=tracker.report, args=("work", 5, 10))
    thread.start()
    thread.join()
    assert len(told) == 1  # only the start: the thread could not call the listener
    tracker.report("work", 6, 10)  # from the loop
    assert [str(p) for p in told] == ["work", "work 60%"]


async def test_a_failing_progress_listener_does_not_fail_the_video(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Progress is a display: its error is logged once and the run goes on."""
    calls: list[vp.RunProgress] = []

    def broken(progress: vp.RunProgress) -> None:
        calls.append(progress)
        raise ValueError("display gone")

    pipeline = vp.Pipeline([Steps("a"), Steps("b", ("a",))], store=MemoryStore(), data_dir=tmp_path)
    result = await pipeline.run(_video(tmp_path), progress=broken)
    assert result.video.status is vp.VideoStatus.READY
    assert len(calls) == 1
    assert "progress listener failed" in caplog.text
