"""Pipelines the Ray tests hand to `videopipe.ray`: pickled to the actors, imported there.

The raylets of the test cluster run with the repository on `PYTHONPATH`, so an
actor unpickles these factories by reference, as it would a user's module.

- `Counted` wraps a stage and appends `pid job_id` to `SIDE/{video}.{stage}`
  each time the stage really runs (a resumed stage is loaded, not run), so one
  line means "paid once".
- `Hold` (after `normalize`) stops a video whose `SIDE/{video}.hold` exists, on
  its first attempt only: it writes its process ID and its Ray task's name to
  `SIDE/{video}.held` and
  waits for ever, for the test to kill that process or cancel the run. Any
  later attempt passes. `HoldOnDoomed` holds every video whose first attempt
  runs on the doomed node (see `doomed_node` in the conftest), and only those.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import ray

import videopipe as vp
from videopipe.stages import Normalize
from videopipe.testing import FakeProvider


def append(path: Path, line: str) -> None:
    # One write with O_APPEND: lines from several processes never interleave.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


def runs(side: Path, video_id: str, stage: str) -> int:
    """How many times `stage` really ran for the video."""
    path = side / f"{video_id}.{stage}"
    return len(path.read_text().splitlines()) if path.exists() else 0


class Counted:
    """`inner`, recording each run in SIDE (its `load` and the rest are `inner`'s)."""

    def __init__(self, inner: Any, side: Path) -> None:
        self.inner = inner
        self.side = side

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    @property
    def name(self) -> str:
        return str(self.inner.name)

    @property
    def requires(self) -> tuple[str, ...]:
        return tuple(self.inner.requires)

    async def run(self, ctx: vp.StageContext) -> Any:
        append(self.side / f"{ctx.video.id}.{self.name}", f"{os.getpid()} {ctx.job_id}")
        return await self.inner.run(ctx)


class Hold:
    """Waits for ever on a held video's first attempt (see the module docstring)."""

    name = "hold"
    requires = ("normalize",)

    def __init__(self, side: Path) -> None:
        self.side = side

    async def run(self, ctx: vp.StageContext) -> dict[str, int]:
        vid = ctx.video.id
        append(self.side / f"{vid}.hold-runs", str(os.getpid()))
        held = self.side / f"{vid}.held"
        if (self.side / f"{vid}.hold").exists() and not held.exists():
            # The task's name as the dashboard shows it (`ray.util.state` needs the dashboard,
            # which the test cluster runs without): `PID NAME`.
            append(held, f"{os.getpid()} {ray.get_runtime_context().get_task_name()}")
            await anyio.sleep_forever()
        return {"held": 0}


class HoldOnDoomed(Hold):
    """`Hold`, but only in a process of the doomed node (`VIDEOPIPE_TEST_DOOMED=1`)."""

    async def run(self, ctx: vp.StageContext) -> dict[str, int]:
        if os.environ.get("VIDEOPIPE_TEST_DOOMED") == "1":
            await anyio.Path(self.side / f"{ctx.video.id}.hold").touch()
        return await super().run(ctx)


@dataclass(frozen=True)
class Default:
    """The default pipeline under `data_dir`, `normalize` counted, plus `Hold`.

    `provider="fake"` answers with `FakeProvider`; `"local"` leaves the choice to
    `Pipeline.default` (the `LocalProvider`, offline, when no API key is set).
    """

    side: str
    data_dir: str
    provider: str = "fake"
    hold_on_doomed: bool = False

    def __call__(self, store: vp.Store) -> vp.Pipeline:
        side = Path(self.side)
        chosen = FakeProvider() if self.provider == "fake" else None
        pipeline = vp.Pipeline.default(store=store, provider=chosen, data_dir=self.data_dir)
        hold = HoldOnDoomed(side) if self.hold_on_doomed else Hold(side)
        return pipeline.replace(Counted(Normalize(), side)).add(hold)  # type: ignore[arg-type]
