"""A cluster stopped under a run (what `ray stop` does): its jobs stay claimable.

Plain `ray stop` would stop every Ray on the machine (other tests' clusters too),
so the test starts a small cluster of its own (one head node, in a process group
of its own) and a driver process for it, and kills the head's process group and
the actor's worker (Ray gives each worker a group of its own) while the actor
holds a video: every Ray process of that cluster is gone, as after `ray stop`.
The driver is frozen first and killed after (the worst case, and no race: nothing
of the run is left to give the job back). The job becomes claimable once its lease runs out.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import anyio
import pytest

import videopipe as vp
from tests.ray_cluster.conftest import ROOT, _launch, _started, _stop, free_ports, unavailable
from tests.ray_cluster.pipelines import Default
from tests.ray_cluster.test_faults import _held_pid, _setup

pytestmark = pytest.mark.timeout(600)


def _driver(
    address: str, url: str, factory: Default, clips: list[Path], log: Path
) -> subprocess.Popen[bytes]:
    """`tests.ray_cluster.driver` on the cluster at `address`, output into `log`."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_ADDRESS": address}
    args = [address, url, factory.side, factory.data_dir, *map(str, clips)]
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.ray_cluster.driver", *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def test_a_cluster_stopped_mid_video_leaves_its_job_claimable(
    ray_cluster: str, tmp_path: Path
) -> None:
    """Every Ray process killed mid-video, the driver too: the job is claimed again."""
    clips, side, factory, held = await _setup(tmp_path, 1)
    url = f"sqlite:///{tmp_path / 'videos.db'}"
    temp = Path(tempfile.mkdtemp(prefix="vpstop-", dir="/tmp"))  # short: Ray's sockets
    (gcs,) = free_ports(1)
    head = _launch(
        ["--head", f"--port={gcs}", "--include-dashboard=false", f"--temp-dir={temp}"],
        tmp_path / "head.log",
    )
    driver: subprocess.Popen[bytes] | None = None
    try:
        if not _started(head, tmp_path / "head.log"):
            unavailable("the cluster to stop did not start")
        driver = _driver(f"127.0.0.1:{gcs}", url, factory, clips, tmp_path / "driver.log")
        pid = await _held_pid(side, held)
        driver.send_signal(signal.SIGSTOP)  # frozen: it cannot give the job back meanwhile
        os.killpg(head.pid, signal.SIGKILL)  # the cluster, as `ray stop --force` does
        os.kill(pid, signal.SIGKILL)
        driver.kill()
        driver.wait()
    finally:
        if driver is not None and driver.poll() is None:
            driver.kill()
        _stop([head])
        shutil.rmtree(temp, ignore_errors=True)

    async with vp.open_store(url) as store:
        (job,) = await store.peek(10, status=vp.JobStatus.PROCESSING)
        assert job.video_id == held  # nobody gave it back: only its lease can
        with anyio.fail_after(120):  # a hang detector: the lease is 3 s
            while not (claimed := await store.claim("after-stop", lease=60)):
                await store.wait_for_jobs(0.5)
        (again,) = claimed
        assert again.id == job.id
        assert again.attempts == 2  # the stopped attempt counts; the job has more
        assert (await store.stats()).counts["processing"] == 1  # ours, and only ours
