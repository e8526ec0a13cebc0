"""Progress inside a video: what a stage reports, and how it reaches a listener.

A stage says how far it is with `StageContext.report_progress(done, total)`
(media seconds, frames, items): from the event loop or from the worker thread
it decodes in. A `RunTracker` keeps the latest figure of each running stage
and tells its listener on the event loop, only when a stage starts, ends, or
moves by a step (1 % by default), so a report costs a few arithmetic
operations and a lock.

`process_batch` hands each item a listener through `ITEM_PROGRESS` (a context
variable, inherited by the tasks the item starts), which is how a pipeline run
inside a batch reaches the batch's bar without a parameter in between.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import anyio.from_thread

from ._models import StageRun, StageStatus

__all__ = [
    "ITEM_PROGRESS",
    "PROGRESS_KEY",
    "ProgressListener",
    "RunProgress",
    "RunTracker",
    "StageProgress",
    "progress_detail",
    "steps",
    "stored_progress",
]

PROGRESS_KEY = "progress"
"""The key of a running stage run's `detail` that holds the stage's progress in the store."""


@dataclass(frozen=True, slots=True)
class StageProgress:
    """How far one running stage is: `done` of `total` (media seconds, frames, items).

    Note:
        Added in 0.2.0.
    """

    stage: str
    """The stage's name."""
    done: float = 0.0
    """What is done, in the stage's unit."""
    total: float | None = None
    """What there is to do in that unit, or `None` when the stage has not said (yet)."""

    @property
    def fraction(self) -> float | None:
        """`done / total` within [0, 1], or `None` when the total is unknown."""
        if self.total is None or self.total <= 0:
            return None
        return min(1.0, max(0.0, self.done / self.total))

    @property
    def percent(self) -> float | None:
        """The fraction as a percentage, or `None` when the total is unknown."""
        fraction = self.fraction
        return None if fraction is None else 100.0 * fraction

    def __str__(self) -> str:
        percent = self.percent
        return self.stage if percent is None else f"{self.stage} {percent:.0f}%"


@dataclass(frozen=True, slots=True)
class RunProgress:
    """How far one video's run is: its running stages and how many stages are behind it.

    Each stage of the pipeline weighs the same: a video whose six stages
    include two finished ones and a third at 50 % is at 2.5 / 6.

    Note:
        Added in 0.2.0.
    """

    video_id: str
    """The video."""
    running: tuple[StageProgress, ...]
    """The stages running now, in the order they started."""
    completed: int
    """Stages finished in this run (done, skipped, failed or resumed as complete)."""
    total: int
    """Stages in the pipeline."""

    @property
    def fraction(self) -> float:
        """The video's progress in [0, 1]; a running stage without a total counts as 0."""
        if self.total <= 0:
            return 1.0
        partial = sum(s.fraction or 0.0 for s in self.running)
        return min(1.0, (self.completed + partial) / self.total)

    @property
    def percent(self) -> float:
        """The video's progress as a percentage."""
        return 100.0 * self.fraction

    @property
    def stage(self) -> str | None:
        """The first running stage's name, or `None` between stages."""
        return self.running[0].stage if self.running else None

    def __str__(self) -> str:
        if not self.running:
            return f"{self.percent:.0f}%"
        return ", ".join(str(s) for s in self.running)


ProgressListener = Callable[[RunProgress], object]
"""Called with a run's progress, on the event loop."""

ITEM_PROGRESS: ContextVar[ProgressListener | None] = ContextVar(
    "videopipe_item_progress", default=None
)
"""Where the item `process_batch` is running reports its progress, if anywhere."""


class RunTracker:
    """Collects the progress of one run's stages and passes it on, throttled.

    The listener is called on the event loop (the thread that made the
    tracker): directly when a report comes from the loop, through
    `anyio.from_thread.run_sync` when it comes from an anyio worker thread. A
    report from any other thread is kept and goes out with the next one.

    Args:
        video_id: The video the run is for.
        total: The number of stages in the pipeline.
        listener: What is told.
        step: The smallest move of a stage's fraction that is passed on.
    """

    def __init__(
        self, video_id: str, total: int, listener: ProgressListener, *, step: float = 0.01
    ) -> None:
        self.video_id = video_id
        self.total = total
        self._listener = listener
        self._step = step
        self._lock = threading.Lock()
        self._loop_thread = threading.get_ident()
        self._running: dict[str, StageProgress] = {}
        self._told: dict[str, int] = {}  # the last step passed on, by stage
        self._completed = 0

    def snapshot(self) -> RunProgress:
        """The run's progress now."""
        with self._lock:
            return self._snapshot()

    def _snapshot(self) -> RunProgress:
        return RunProgress(
            self.video_id, tuple(self._running.values()), self._completed, self.total
        )

    def start(self, stage: str) -> None:
        """`stage` started (call on the event loop)."""
        with self._lock:
            self._running[stage] = StageProgress(stage)
            self._told[stage] = 0
            snapshot = self._snapshot()
        self._listener(snapshot)

    def finish(self, stage: str | None) -> None:
        """`stage` ended, or (with `None`) a stage was resumed as complete (on the event loop)."""
        with self._lock:
            if stage is not None:
                self._running.pop(stage, None)
                self._told.pop(stage, None)
            self._completed += 1
            snapshot = self._snapshot()
        self._listener(snapshot)

    def report(self, stage: str, done: float, total: float | None) -> None:
        """`stage` has done `done` of `total`; from any thread.

        A figure lower than the last one of the same total is ignored, so what
        listeners see never goes back.
        """
        with self._lock:
            previous = self._running.get(stage)
            if previous is None:  # not running (ended already): nothing to say
                return
            if previous.total == total and done <= previous.done:
                return
            current = StageProgress(stage, done, total)
            self._running[stage] = current
            fraction = current.fraction
            if fraction is None:
                return
            step = steps(fraction, self._step)
            if step <= self._told.get(stage, 0):
                return
            self._told[stage] = step
            snapshot = self._snapshot()
        if threading.get_ident() == self._loop_thread:
            self._listener(snapshot)
            return
        try:
            anyio.from_thread.run_sync(self._listener, snapshot)
        except RuntimeError:  # a thread anyio did not start: the next report carries it
            with self._lock:
                self._told[stage] = 0


def steps(fraction: float, step: float) -> int:
    """How many whole `step`s `fraction` has passed (0.5 is 5 steps of 0.1, not 4.999...)."""
    return int(fraction / step + 1e-9)


def progress_detail(stage: StageProgress, stages: int) -> dict[str, Any]:
    """The `detail` of a running stage run that records `stage`'s progress in the store."""
    return {
        PROGRESS_KEY: {
            "done": stage.done,
            "total": stage.total,
            "percent": stage.percent,
            "stages": stages,
        }
    }


def stored_progress(video_id: str, runs: Mapping[str, StageRun]) -> RunProgress:
    """A video's progress as its stage runs in the store tell it (for another process).

    Running stages give their recorded `detail["progress"]` (none yet: 0 %); done
    and skipped ones count whole. The pipeline's stage count is the one the
    running stages recorded, else the number of stage runs.
    """
    running = []
    stages = 0
    for name, run in runs.items():
        if run.status is not StageStatus.RUNNING:
            continue
        recorded = run.detail.get(PROGRESS_KEY)
        if isinstance(recorded, dict):
            stages = max(stages, int(recorded.get("stages") or 0))
            running.append(
                StageProgress(name, float(recorded.get("done") or 0.0), recorded.get("total"))
            )
        else:
            running.append(StageProgress(name))
    completed = sum(
        1 for run in runs.values() if run.status in (StageStatus.DONE, StageStatus.SKIPPED)
    )
    return RunProgress(video_id, tuple(running), completed, max(stages, len(runs)))
