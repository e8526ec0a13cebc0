"""Faults on a real Ray cluster: an actor's process killed mid-video, a driver interrupted.

The held video (see `tests.ray_cluster.pipelines.Hold`) stops after `normalize` on its
first attempt, so the test knows a video is mid-run, and in which process.
"""

from __future__ import annotations

import os
import signal
import socket
from pathlib import Path

import anyio
import httpx
import pytest
import ray

import videopipe as vp
from tests.ray_cluster.clips import make_clips
from tests.ray_cluster.pipelines import Default, runs
from videopipe import ray as vp_ray

pytestmark = pytest.mark.timeout(600)

LEASE = 4.0  # seconds: how long a killed holder blocks its job and its video


async def _held_pid(side: Path, video_id: str) -> int:
    """The process ID the held video's first attempt wrote (waits for it)."""
    held = anyio.Path(side / f"{video_id}.held")
    with anyio.fail_after(300):  # a hang detector: a loaded machine starts actors slowly
        while True:
            if await held.exists() and (text := (await held.read_text()).strip()):
                return int(text.split()[0])
            await anyio.sleep(0.05)


def _two_free_ports() -> int:
    """A port `p` such that `p` and `p + 1` are both free now."""
    for _ in range(100):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
                return int(port)
    raise RuntimeError("no two consecutive free ports")


async def _scrape(port: int) -> str:
    """GET /metrics on `port`, retried while the actor's server is starting."""
    with anyio.fail_after(120):  # a hang detector
        while True:
            try:
                async with httpx.AsyncClient() as client:
                    response = await client.get(f"http://127.0.0.1:{port}/metrics")
                return response.text
            except httpx.TransportError:
                await anyio.sleep(0.1)


def _value(text: str, name: str) -> float:
    (line,) = [line for line in text.splitlines() if line.startswith(name + " ")]
    return float(line.split()[1])


def _our_actors() -> list[str]:
    return [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)]


async def _setup(tmp_path: Path, n: int) -> tuple[list[Path], Path, Default, str]:
    clips = make_clips(tmp_path / "clips", n)
    side = tmp_path / "side"
    side.mkdir()
    held = await vp.video_id_for(clips[0])
    await anyio.Path(side / f"{held}.hold").touch()
    return clips, side, Default(side=str(side), data_dir=str(tmp_path / "data")), held


async def test_an_actor_killed_mid_video_is_retried_and_finished_stages_are_not_paid_again(
    ray_cluster: str, pg_url: str, tmp_path: Path
) -> None:
    """kill -9 of the actor running a video: Ray restarts it, the video resumes and ends once."""
    clips, side, factory, held = await _setup(tmp_path, 2)
    finished: list[vp_ray.RayRun] = []
    metrics_port = _two_free_ports()

    async def run() -> None:
        finished.append(
            await vp_ray.process(
                clips,
                store=pg_url,
                pipeline=factory,
                num_workers=2,
                lease=LEASE,
                progress=False,
                metrics_port=metrics_port,
            )
        )

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        pid = await _held_pid(side, held)
        # The dashboard's names: the actors are found by them while they run.
        names = [n for n in _our_actors() if n.startswith("videopipe-")]
        assert len(names) == 2
        # Handles held in a list: Ray 2.45 loses a temporary handle before its call is sent.
        handles = [ray.get_actor(n) for n in names]
        assert pid in [await handle.ready.remote() for handle in handles]
        # Each actor's live metrics, under a worker's names: the held video is in flight.
        scraped = [await _scrape(port) for port in (metrics_port, metrics_port + 1)]
        assert sorted(_value(text, "videopipe_jobs_in_flight") for text in scraped)[-1] == 1.0
        os.kill(pid, signal.SIGKILL)

    (result,) = finished
    assert result.completed == 2
    assert result.released == 0
    assert result.status is not None
    assert (result.status.done, result.status.total) == (2, 2)
    async with vp.open_store(pg_url) as store:
        stats = await store.stats()
        assert stats.counts["processing"] == 0
        assert stats.counts["done"] == 2
        for video in await store.list_videos():
            assert video.status is vp.VideoStatus.READY
            assert runs(side, video.id, "normalize") == 1  # finished before the kill: not redone
        assert runs(side, held, "hold-runs") == 2  # the killed attempt, and its retry
        (job,) = [j for j in await store.peek(10, status=vp.JobStatus.DONE) if j.video_id == held]
        assert job.attempts in (1, 2)  # retried by Ray under its lease, or re-claimed after it
    assert not [n for n in _our_actors() if n.startswith("videopipe-")]


async def test_an_interrupted_run_leaves_its_jobs_claimable_and_the_next_run_resumes(
    ray_cluster: str, tmp_path: Path
) -> None:
    """Cancelling the driver (Ctrl-C) gives running jobs back; nothing is left `processing`."""
    clips, side, factory, held = await _setup(tmp_path, 2)
    url = f"sqlite:///{tmp_path / 'videos.db'}"

    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(
                lambda: vp_ray.process(
                    clips, store=url, pipeline=factory, num_workers=2, lease=30, progress=False
                )
            )
            await _held_pid(side, held)
            scope.cancel()

    assert not [n for n in _our_actors() if n.startswith("videopipe-")]
    async with vp.open_store(url) as store:
        stats = await store.stats()
        assert stats.counts["processing"] == 0
        (job,) = [
            j for j in await store.peek(10, status=vp.JobStatus.PENDING) if j.video_id == held
        ]
        assert job.attempts == 0  # released, its attempt refunded
        batch = job.batch_id
    assert batch is not None

    result = await vp_ray.drain(
        store=url, batch_id=batch, pipeline=factory, num_workers=2, progress=False
    )

    assert result.status is not None
    assert result.status.done == 2
    async with vp.open_store(url) as store:
        for video in await store.list_videos():
            assert video.status is vp.VideoStatus.READY
        # Finished before the interruption: not redone. (The other video's stage may have
        # been cut off mid-run by the cancellation: that one runs again.)
        assert runs(side, held, "normalize") == 1
        assert runs(side, held, "hold-runs") == 2


async def test_a_run_whose_actors_all_die_for_good_stops_with_its_jobs_claimable(
    ray_cluster: str, tmp_path: Path
) -> None:
    """max_retries=0 and the only actor killed: `ActorsLost`, not a loop of claims."""
    clips, side, factory, held = await _setup(tmp_path, 1)
    url = f"sqlite:///{tmp_path / 'videos.db'}"
    caught: list[BaseException] = []

    async def run() -> None:
        try:
            await vp_ray.process(
                clips, store=url, pipeline=factory, num_workers=1, max_retries=0, progress=False
            )
        except vp_ray.ActorsLost as exc:
            caught.append(exc)

    async with anyio.create_task_group() as tg:
        tg.start_soon(run)
        os.kill(await _held_pid(side, held), signal.SIGKILL)

    (error,) = caught
    assert "max_retries=0" in str(error)
    async with vp.open_store(url) as store:
        (job,) = await store.peek(10, status=vp.JobStatus.PENDING)
        assert job.attempts == 0  # given back, its attempt refunded
    assert not [n for n in _our_actors() if n.startswith("videopipe-")]
