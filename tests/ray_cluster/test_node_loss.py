"""A whole node lost mid-run: its actor dies with it, and the run ends on the nodes left.

The test joins a third raylet (`doomed_node`) and asks each of two actors for one
`vp_node`, so one actor runs on the second node and one on the doomed node. The
video the doomed node's actor starts is held after `normalize` (`HoldOnDoomed`);
the test kills the doomed node's whole process group (raylet, its workers, the
actor) then. Ray cannot restart that actor (no `vp_node` is free), so the job comes
back through its lease: the other actor claims it once it has run out and resumes
the video after `normalize`.
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import anyio
import pytest
import ray

import videopipe as vp
from tests.ray_cluster.clips import make_clips
from tests.ray_cluster.pipelines import Default, runs
from videopipe import ray as vp_ray

pytestmark = pytest.mark.timeout(600)

LEASE = 3.0  # seconds: how long the lost node's job stays blocked


async def _held(side: Path) -> str:
    """The ID of the video held on the doomed node (waits for its `.held` file)."""
    with anyio.fail_after(300):  # a hang detector: a loaded machine starts actors slowly
        while True:
            for path in await anyio.to_thread.run_sync(lambda: list(side.glob("*.held"))):
                if path.read_text().strip():
                    return path.name.removesuffix(".held")
            await anyio.sleep(0.05)


def _descends(pid: int, ancestor: int) -> bool:
    """Whether process `pid` is `ancestor` or one of its descendants (through /proc)."""
    while pid > 1:
        if pid == ancestor:
            return True
        stat = Path(f"/proc/{pid}/stat").read_text()
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return False


async def test_a_node_lost_mid_video_the_run_ends_on_the_rest_and_pays_nothing_twice(
    ray_cluster: str, doomed_node: subprocess.Popen[bytes], pg_url: str, tmp_path: Path
) -> None:
    """The doomed node killed mid-video: each video done once, no job left `processing`."""
    clips = make_clips(tmp_path / "clips", 2)
    side = tmp_path / "side"
    side.mkdir()
    factory = Default(side=str(side), data_dir=str(tmp_path / "data"), hold_on_doomed=True)
    finished: list[vp_ray.RayRun] = []

    async def run() -> None:
        finished.append(
            await vp_ray.process(
                clips,
                store=pg_url,
                pipeline=factory,
                num_workers=2,
                resources={"vp_node": 1},
                lease=LEASE,
                progress=False,
            )
        )

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        held = await _held(side)
        pid_text, task_name = (side / f"{held}.held").read_text().split()
        pid = int(pid_text)
        assert task_name == f"videopipe:{held}"  # the name the Ray dashboard shows
        assert _descends(pid, doomed_node.pid)  # the held video runs on the doomed node
        # The whole node at once: `ray start`, the raylet and the rest of its process group,
        # and the actor's worker (Ray puts each worker in a process group of its own).
        os.killpg(doomed_node.pid, signal.SIGKILL)
        os.kill(pid, signal.SIGKILL)

    (result,) = finished
    assert result.completed == 2
    assert result.status is not None
    assert (result.status.done, result.status.total) == (2, 2)
    async with vp.open_store(pg_url) as store:
        stats = await store.stats()
        assert stats.counts["processing"] == 0
        assert stats.counts["done"] == 2
        for video in await store.list_videos():
            assert video.status is vp.VideoStatus.READY
            assert runs(side, video.id, "normalize") == 1  # finished before the kill: not redone
        assert runs(side, held, "hold-runs") == 2  # the lost attempt, and the one that ended it
        (job,) = [j for j in await store.peek(10, status=vp.JobStatus.DONE) if j.video_id == held]
        assert job.attempts in (1, 2)  # given back when Ray gave up, or once its lease ran out
        (survivor,) = [name for name, p in result.actors.items() if p != pid]
        assert job.worker_id == survivor
    assert not [
        a["name"]
        for a in ray.util.list_named_actors(all_namespaces=True)
        if a["name"].startswith("videopipe-")
    ]
