"""The executor: one run of a pipeline's stages for one video, resuming completed stages.

Independent stages run concurrently (transcription does not wait for scene
detection); each stage's completion is recorded in the store before the stages
that need it start, so a re-run resumes after the last completed stage.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

import anyio

from ._exceptions import ConfigurationError, MediaError, StageError, StageTimeout
from ._files import RunInputs, StageFiles
from ._models import StageRun, StageStatus, Video, VideoStatus, utcnow
from ._progress import (
    ITEM_PROGRESS,
    ProgressListener,
    RunProgress,
    RunTracker,
    StageProgress,
    progress_detail,
    steps,
)
from ._result import StageOutcome, VideoResult
from ._scratch import Scratch
from ._secrets import redact
from ._settings import Settings
from ._stage import MARKERS, LoadsOutput, Marked, Stage, StageContext, StageSkipped, VideoPaths

if TYPE_CHECKING:
    from ._budget import Budget
    from .providers import Provider
    from .storage import Results

__all__ = ["Runnable", "execute"]

logger = logging.getLogger("videopipe.pipeline")

# A running stage's progress is written to its stage run after a move of this much,
# or of `_WRITE_SMALL_STEP` once `_WRITE_INTERVAL` seconds have passed since the last write.
_WRITE_STEP = 0.1
_WRITE_SMALL_STEP = 0.01
_WRITE_INTERVAL = 2.0


class Runnable(Protocol):
    """What the executor needs of a pipeline (`Pipeline` has it all)."""

    stages: tuple[Stage, ...]
    store: Results
    provider: Provider | None
    settings: Settings
    budget: Budget

    def paths(self, video_id: str) -> VideoPaths:
        """Where the video's files go."""
        ...

    def scratch(self) -> Scratch:
        """The scratch area of the running event loop."""
        ...


async def execute(
    pipeline: Runnable,
    video: Video,
    *,
    force: bool | Iterable[str],
    job_id: str | None,
    started: float,
    progress: ProgressListener | None = None,
    prefetched: RunInputs | None = None,
) -> VideoResult:
    """Run `pipeline`'s stages for `video` (registered in the store); see `Pipeline.run`.

    `progress` (by default the listener of the `process_batch` item this run is,
    if any) hears of the stages' progress; the store gets it too, in each
    running stage run's `detail["progress"]`. `prefetched` holds local copies of
    remote media this run already has (the input, downloaded while its ID was
    computed), and keeps the outputs stages publish, so no stage reads them again.
    """
    listener = progress if progress is not None else ITEM_PROGRESS.get()
    return await _Run(pipeline, video, force, job_id, started, listener, prefetched).execute()


class _ProgressWrites:
    """Writes running stages' progress to their stage runs, from one task, throttled.

    A stage's final record waits for a write in flight (`lock`) and stops
    further ones (`close`), so a late progress write never overwrites it.
    """

    def __init__(self, store: Results, stages: int) -> None:
        self.store = store
        self.stages = stages
        self.lock = anyio.Lock()
        self.runs: dict[str, StageRun] = {}
        self.due: dict[str, StageProgress] = {}
        self.written: dict[str, tuple[float, float]] = {}  # stage: (fraction, when)
        self.wake = anyio.Event()

    def open(self, run: StageRun) -> None:
        self.runs[run.stage] = run
        self.written[run.stage] = (0.0, anyio.current_time())

    def offer(self, progress: RunProgress) -> None:
        now = anyio.current_time()
        for stage in progress.running:
            fraction = stage.fraction
            last = self.written.get(stage.stage)
            if fraction is None or last is None:
                continue
            if steps(fraction, _WRITE_STEP) > steps(last[0], _WRITE_STEP) or (
                steps(fraction, _WRITE_SMALL_STEP) > steps(last[0], _WRITE_SMALL_STEP)
                and now - last[1] >= _WRITE_INTERVAL
            ):
                self.written[stage.stage] = (fraction, now)
                self.due[stage.stage] = stage
                self.wake.set()

    async def close(self, stage: str) -> None:
        async with self.lock:
            self.runs.pop(stage, None)
            self.due.pop(stage, None)
            self.written.pop(stage, None)

    async def run(self) -> None:
        while True:
            await self.wake.wait()
            self.wake = anyio.Event()
            while self.due:
                name, stage = self.due.popitem()
                async with self.lock:
                    run = self.runs.get(name)
                    if run is None:
                        continue
                    detail = progress_detail(stage, self.stages)
                    try:
                        # Shielded, so that a write is never half done when the stage ends,
                        # and bounded, so that a stuck store cannot hold the stage's end.
                        with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                            await self.store.record_stage_run(
                                run.model_copy(update={"detail": detail})
                            )
                    except Exception as exc:  # progress is a nicety: the stage goes on
                        logger.warning("could not record %s's progress: %s", name, exc)


class _Run:
    """One execution of a pipeline for one video."""

    def __init__(
        self,
        pipeline: Runnable,
        video: Video,
        force: bool | Iterable[str],
        job_id: str | None,
        started: float,
        listener: ProgressListener | None = None,
        prefetched: RunInputs | None = None,
    ) -> None:
        self.p = pipeline
        self.prefetched = prefetched
        self.video = video
        self.job_id = job_id
        self.started = started
        self.paths = pipeline.paths(video.id)
        self.outputs: dict[str, Any] = {}
        self.outcomes: dict[str, StageOutcome] = {}
        self.errors: dict[str, BaseException] = {}
        self.blocked: set[str] = set()
        self.done = {s.name: anyio.Event() for s in pipeline.stages}
        names = {s.name for s in pipeline.stages}
        if force is True:
            self.forced = set(names)
        elif force is False:
            self.forced = set()
        else:
            self.forced = set(force)
            unknown = self.forced - names
            if unknown:
                raise ConfigurationError(
                    f"force names unknown stages: {', '.join(sorted(unknown))}"
                )
        self.log = logging.LoggerAdapter(logger, {"video_id": video.id})
        self.listener = listener
        self.tracker = RunTracker(video.id, len(pipeline.stages), self._on_progress)
        self.writes = _ProgressWrites(pipeline.store, len(pipeline.stages))

    def _on_progress(self, progress: RunProgress) -> None:
        self.writes.offer(progress)
        if self.listener is None:
            return
        try:
            self.listener(progress)
        except Exception as exc:  # a broken progress display must not fail the video
            self.listener = None
            self.log.warning("progress listener failed, no longer called for this run: %r", exc)

    async def execute(self) -> VideoResult:
        store = self.p.store
        runs = await store.get_stage_runs(self.video.id)
        # A stage is redone when forced, not complete, or when a stage it needs is redone.
        redo: set[str] = set()
        for stage in self.p.stages:  # topological order
            complete = runs.get(stage.name)
            if (
                stage.name in self.forced
                or complete is None
                or complete.status not in (StageStatus.DONE, StageStatus.SKIPPED)
                or any(need in redo for need in stage.requires)
            ):
                redo.add(stage.name)
        if redo:
            await store.set_video_status(self.video.id, VideoStatus.PROCESSING)
            # The stages' own updates of the record (`ctx.update_video`) must keep the status.
            self.video = self.video.model_copy(
                update={"status": VideoStatus.PROCESSING, "error": None}
            )
        try:
            async with anyio.create_task_group() as writing:
                writing.start_soon(self.writes.run)
                async with anyio.create_task_group() as tg:
                    for stage in self.p.stages:
                        tg.start_soon(self._stage, stage, stage.name in redo, runs.get(stage.name))
                writing.cancel_scope.cancel()
        except BaseException:
            # Stopped mid-run (a worker's stop, Ctrl-C, a timeout around the run): nothing
            # runs the video now, so it is `pending` again, not `processing` for ever; the
            # next run resumes from its completed stages.
            if redo:
                with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                    try:
                        await store.set_video_status(self.video.id, VideoStatus.PENDING)
                    except Exception as exc:  # the store may be what failed
                        self.log.warning(
                            "could not set video %s back to pending: %s", self.video.id, exc
                        )
            raise
        failed = [name for name in (s.name for s in self.p.stages) if name in self.errors]
        elapsed = time.perf_counter() - self.started
        if failed:
            first = failed[0]
            cause = self.errors[first]
            message = f"stage {first!r} failed for video {self.video.id}: {_describe(cause)}"
            await store.set_video_status(self.video.id, VideoStatus.FAILED, error=message)
            self.log.error("FAILED: video %s in %.2fs: %s", self.video.id, elapsed, message)
        else:
            await store.set_video_status(self.video.id, VideoStatus.READY)
            self.log.info("READY: video %s in %.2fs", self.video.id, elapsed)
        result = VideoResult(
            video=await store.get_video(self.video.id),
            stages={
                s.name: self.outcomes[s.name] for s in self.p.stages if s.name in self.outcomes
            },
            usage=await store.usage_summary(video_id=self.video.id),
            duration_sec=elapsed,
        )
        if failed:
            error = StageError(message, stage=failed[0], item_key=self.video.id, result=result)
            raise error from self.errors[failed[0]]
        return result

    def _context(self, stage: Stage) -> StageContext:
        return StageContext(
            stage=stage.name,
            video=self.video,
            store=self.p.store,
            provider=self.p.provider,
            settings=self.p.settings,
            paths=self.paths,
            inputs={need: self.outputs.get(need) for need in stage.requires},
            log=logging.LoggerAdapter(logger, {"video_id": self.video.id, "stage": stage.name}),
            job_id=self.job_id,
            budget=self.p.budget,
            tracker=self.tracker,
        )

    @asynccontextmanager
    async def _files(self) -> AsyncIterator[tuple[StageFiles, VideoPaths]]:
        """The stage's files, and its paths: under a staging directory when `DATA_DIR` is remote.

        Whatever the stage downloaded or staged is removed when it ends, also on
        failure or cancellation.
        """
        scratch = self.p.scratch()
        options = self.p.settings.storage_options
        if self.paths.remote is None:
            files = StageFiles(scratch, options, run=self.prefetched)
            try:
                yield files, self.paths
            finally:
                await files.aclose()
            return
        async with scratch.directory() as staging:
            files = StageFiles(scratch, options, run=self.prefetched, staging=staging)
            try:
                yield files, replace(self.paths, root=staging / "data")
            finally:
                await files.aclose()

    async def _bounded(self, stage: Stage, ctx: StageContext) -> Any:
        """`stage.run(ctx)`, cancelled and failed with `StageTimeout` past `STAGE_TIMEOUT_SEC`.

        The stage's scratch files (downloads, staged outputs) exist for the run
        only; setting them up is part of the stage, so a scratch space that
        cannot be used fails the stage, as any error of its own would.
        """
        limit = self.p.settings.stage_timeout_sec
        async with self._files() as (files, paths):
            ctx.files, ctx.paths = files, paths
            with anyio.move_on_after(limit) as scope:
                return await stage.run(ctx)
        assert scope.cancelled_caught
        raise StageTimeout(
            f"stage {stage.name!r} ran longer than {limit:g} s on video {self.video.id}, "
            "and was stopped: raise STAGE_TIMEOUT_SEC to give it more time.",
            setting="STAGE_TIMEOUT_SEC",
            limit=limit,
            path=self.video.original_path,
        )

    async def _stage(self, stage: Stage, redo: bool, previous: StageRun | None) -> None:
        try:
            for need in stage.requires:
                await self.done[need].wait()
            blocked = [n for n in stage.requires if n in self.errors or n in self.blocked]
            if blocked:
                self.outcomes[stage.name] = StageOutcome(
                    StageStatus.FAILED, error=f"not run: {', '.join(blocked)} failed"
                )
                self.blocked.add(stage.name)
                self.tracker.finish(None)
                return
            if redo:
                await self._run_stage(stage, previous)
            else:
                await self._resume_stage(stage, previous)
        finally:
            self.done[stage.name].set()

    async def _resume_stage(self, stage: Stage, previous: StageRun | None) -> None:
        assert previous is not None
        ctx = self._context(stage)
        if previous.status is StageStatus.SKIPPED:
            output = None
        elif isinstance(stage, LoadsOutput):
            output = await stage.load(ctx)
        else:
            output = previous.detail
        self.outputs[stage.name] = output
        self.outcomes[stage.name] = StageOutcome(
            previous.status,
            resumed=True,
            duration_sec=previous.duration_sec or 0.0,
            detail=previous.detail,
        )
        self.tracker.finish(None)

    async def _run_stage(self, stage: Stage, previous: StageRun | None) -> None:
        store = self.p.store
        ctx = self._context(stage)
        attempt = 1 if previous is None else previous.attempt + 1
        run = StageRun(
            video_id=self.video.id, stage=stage.name, status=StageStatus.RUNNING, attempt=attempt
        )
        # The running row says from the start how many stages there are, for `status`.
        detail = progress_detail(StageProgress(stage.name), len(self.p.stages))
        await store.record_stage_run(run.model_copy(update={"detail": detail}))
        self.writes.open(run)
        self.tracker.start(stage.name)
        t0 = time.perf_counter()
        try:
            try:
                output = await self._bounded(stage, ctx)
            finally:
                with anyio.CancelScope(shield=True):
                    await self.writes.close(stage.name)
                self.tracker.finish(stage.name)
        except StageSkipped as skip:
            took = time.perf_counter() - t0
            detail = {"skipped": skip.reason}
            await store.record_stage_run(
                run.model_copy(
                    update={
                        "status": StageStatus.SKIPPED,
                        "finished_at": utcnow(),
                        "duration_sec": took,
                        "detail": detail,
                    }
                )
            )
            ctx.log.info("%s skipped for video %s: %s", stage.name, self.video.id, skip.reason)
            self.outputs[stage.name] = None
            self.outcomes[stage.name] = StageOutcome(StageStatus.SKIPPED, False, took, detail)
            return
        except Exception as exc:
            took = time.perf_counter() - t0
            self.errors[stage.name] = exc
            await store.record_stage_run(
                run.model_copy(
                    update={
                        "status": StageStatus.FAILED,
                        "finished_at": utcnow(),
                        "duration_sec": took,
                        "error": _describe(exc),
                    }
                )
            )
            ctx.log.warning("stage %s failed for video %s: %s", stage.name, self.video.id, exc)
            self.outcomes[stage.name] = StageOutcome(
                StageStatus.FAILED, False, took, error=_describe(exc)
            )
            return
        except BaseException:
            # Cancelled mid-stage: say so in the store, then let the cancellation go on.
            with anyio.CancelScope(shield=True), anyio.move_on_after(5):
                await store.record_stage_run(
                    run.model_copy(
                        update={
                            "status": StageStatus.FAILED,
                            "finished_at": utcnow(),
                            "duration_sec": time.perf_counter() - t0,
                            "error": "cancelled",
                        }
                    )
                )
            raise
        took = time.perf_counter() - t0
        if ctx.video is not self.video:
            self.video = ctx.video
        detail = output if isinstance(output, dict) and _jsonable(output) else _summary(output)
        await store.record_stage_run(
            run.model_copy(
                update={
                    "status": StageStatus.DONE,
                    "finished_at": utcnow(),
                    "duration_sec": took,
                    "detail": detail,
                }
            )
        )
        marker = (
            stage.marker
            if isinstance(stage, Marked)
            else MARKERS.get(stage.name, stage.name.upper())
        )
        ctx.log.info("%s: video %s in %.2fs", marker, self.video.id, took)
        self.outputs[stage.name] = output
        self.outcomes[stage.name] = StageOutcome(StageStatus.DONE, False, took, detail)


def _describe(exc: BaseException) -> str:
    """The error as stored and shown: no password or key survives (`_secrets.redact`)."""
    text = redact(str(exc)) or type(exc).__name__
    if isinstance(exc, MediaError):
        return text
    return f"{type(exc).__name__}: {text}"


def _jsonable(value: object) -> bool:

    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _summary(output: object) -> dict[str, Any]:
    if isinstance(output, list | tuple):
        return {"count": len(output)}
    return {}
