"""The fault campaign: hostile inputs and process faults against real workers, with counts.

    python scripts/fault_campaign.py              # a private PostgreSQL (pgserver), ~4 min
    python scripts/fault_campaign.py --db postgresql://postgres@127.0.0.1/postgres

It enqueues good clips, copies of one clip (the same content under other names)
and hostile inputs on one PostgreSQL database, runs real worker processes (the
default six stages, `videopipe.testing.FakeProvider` for the AI ones, a 3 s
lease), and meanwhile:

1. kills a worker with SIGKILL mid-job and starts another;
2. restarts PostgreSQL (`pg_ctl restart`) while jobs run; only on the private
   server it starts itself, so `--db` skips it;
3. first, alone on the queue, stops workers with SIGTERM then a second SIGTERM
   while their jobs run, and measures how long each took to exit after the
   second signal (their jobs go back to the queue for the others).

At the end it prints counts: inputs tried, typed errors (refused at enqueue,
or dead with a videopipe error named), jobs done, lost (not `done`/`dead`, or a
good input not done), doubled (a video that reached READY twice, or whose rows
differ from an undisturbed run's), and the stop latency p50/max. It exits 1
when anything was lost or doubled. docs/reliability.md quotes its figures.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import anyio
import imageio_ffmpeg

import videopipe as vp
from videopipe import _exceptions

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
LEASE = 3.0
TYPED = {
    name
    for name in dir(_exceptions)
    if isinstance(getattr(_exceptions, name), type)
    and issubclass(getattr(_exceptions, name), vp.VideopipeError)
}


# --- media ---------------------------------------------------------------------------


def ffmpeg(*args: str) -> None:
    subprocess.run([FFMPEG, "-nostdin", "-y", "-loglevel", "error", *args], check=True)


def make_inputs(root: Path, good: int, seconds: int) -> tuple[list[Path], list[Path], list[Path]]:
    """Good clips, copies of the first one, and hostile inputs."""
    root.mkdir(parents=True, exist_ok=True)
    goods = []
    for i in range(good):
        out = root / f"good{i}.mp4"
        ffmpeg(
            *("-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=30:duration={seconds}"),
            *("-f", "lavfi", "-i", f"sine=frequency={300 + 40 * i}:duration={seconds}"),
            *("-vf", f"hue=h={i * 37}", "-shortest", "-c:v", "libx264", "-preset", "ultrafast"),
            str(out),
        )
        goods.append(out)
    copies = []
    for name in ("copy-a.mp4", "copy b (1).mp4"):
        shutil.copy(goods[0], root / name)
        copies.append(root / name)
    bad: dict[str, bytes | None] = {
        "empty.mp4": b"",
        "random.mp4": os.urandom(64 * 1024),
        "text.mp4": b"not a video at all\n" * 100,
        "truncated.mp4": goods[1].read_bytes()[:20_000],
        "headless.mp4": goods[1].read_bytes()[4096:],
        "html.mp4": b"<html><body>hello</body></html>",
        "zip.mp4": b"PK\x03\x04" + os.urandom(4000),
        "a'; DROP TABLE videos;--.mp4": b"\x00" * 5000,
    }
    hostile = []
    for name, data in bad.items():
        path = root / name
        if data is not None:
            path.write_bytes(data)
        hostile.append(path)
    gap = root / "longgap.mp4"  # two frames ten hours apart
    ffmpeg(
        *("-f", "lavfi", "-i", "testsrc=size=320x240:rate=1", "-frames:v", "2"),
        *("-vf", "setpts='if(eq(N,1),36000/TB,PTS)'", "-fps_mode", "passthrough", str(gap)),
    )
    huge = root / "huge.mp4"  # over MAX_INPUT_PIXELS
    ffmpeg(*("-f", "lavfi", "-i", "color=size=8192x4320:rate=1", "-frames:v", "1"), str(huge))
    silent_audio = root / "audio-only.m4a"
    ffmpeg(*("-f", "lavfi", "-i", "sine=duration=3"), str(silent_audio))
    image = root / "image.mp4"
    ffmpeg(
        *("-f", "lavfi", "-i", "testsrc=size=64x64", "-frames:v", "1", "-f", "image2"), str(image)
    )
    loop = root / "loop.mp4"
    loop.symlink_to(loop)
    folder = root / "folder.mp4"
    folder.mkdir()
    hostile += [gap, huge, silent_audio, image, loop, folder, root / "missing.mp4"]
    return goods, copies, hostile


# --- PostgreSQL ----------------------------------------------------------------------


class PrivatePostgres:
    """PostgreSQL from the `pgserver` wheel, in a temporary directory, restartable."""

    def __init__(self) -> None:
        import importlib.util

        spec = importlib.util.find_spec("pgserver")
        if spec is None or not spec.submodule_search_locations:
            raise SystemExit("pgserver is not installed (pip install -e '.[dev]'), or pass --db")
        self.bin = Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"
        self.base = Path(tempfile.mkdtemp(prefix="videopipe-faults-"))
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(self.base, owner.pw_uid, owner.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.data = self.base / "data"
        self._pg("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync")
        self._ctl("start")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _pg(self, tool: str, *args: str) -> None:
        subprocess.run(
            [*self.as_user, str(self.bin / tool), *args], check=True, capture_output=True
        )

    def _ctl(self, action: str) -> None:
        options = f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off"
        log = str(self.base / "log")
        self._pg("pg_ctl", "-D", str(self.data), "-l", log, "-w", "-o", options, action)

    def restart(self) -> None:
        self._pg("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        time.sleep(1.0)  # workers see the database gone for a moment
        self._ctl("start")

    def close(self) -> None:
        subprocess.run(
            [
                *self.as_user,
                str(self.bin / "pg_ctl"),
                "-D",
                str(self.data),
                "-m",
                "immediate",
                "stop",
            ],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.base, ignore_errors=True)


def fresh_database(server: str) -> str:
    import psycopg
    from psycopg import sql

    name = f"videopipe_faults_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return server.rsplit("/", 1)[0] + "/" + name


# --- workers -------------------------------------------------------------------------


def worker_main(args: argparse.Namespace) -> int:
    """One worker process: the default stages, FakeProvider, a short lease."""
    import logging

    from videopipe.testing import FakeProvider

    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format=f"%(asctime)s [{os.getpid()}] %(levelname)s %(message)s",
    )
    store = vp.open_store(args.db)
    pipeline = vp.Pipeline.default(store=store, provider=FakeProvider(), data_dir=args.data_dir)
    worker = vp.Worker(
        pipeline,
        concurrency=2,
        lease=LEASE,
        poll_interval=0.1,
        max_poll_interval=0.5,
        grace_period=args.grace,
        backoff=vp.RetryPolicy(initial_delay=0.2, max_delay=1.0),
        worker_id=args.worker_id,
    )

    async def run() -> None:
        async with store:
            await worker.run()

    anyio.run(run)
    return 0


class Fleet:
    def __init__(self, db: str, data_dir: Path, logs: Path) -> None:
        self.db, self.data_dir, self.logs = db, data_dir, logs
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        logs.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, *, grace: float = 30.0) -> subprocess.Popen[bytes]:
        argv = [sys.executable, __file__, "worker", "--db", self.db, "--data-dir"]
        argv += [str(self.data_dir), "--worker-id", name, "--grace", str(grace)]
        with (self.logs / f"{name}.log").open("ab") as log:
            proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def all_logs(self) -> str:
        return "".join(p.read_text(errors="replace") for p in sorted(self.logs.glob("*.log")))

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()


def wait_for(predicate, seconds: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.05)


# --- the campaign ----------------------------------------------------------------------


async def enqueue_all(db: str, data_dir: Path, paths: list[Path]) -> tuple[set[str], int]:
    """Enqueue each input as `videopipe enqueue` would; count those refused at once."""
    refused = 0
    jobs: set[str] = set()
    async with vp.open_store(db) as store:
        pipeline = vp.Pipeline.default(store=store, provider=None, data_dir=data_dir)
        for path in paths:
            try:
                video = await pipeline.register(path)
            except vp.VideopipeError:
                refused += 1
                continue
            jobs.add((await store.enqueue(video.id, max_attempts=3)).id)
    return jobs, refused


async def outcome(db: str) -> tuple[list[vp.Job], dict[str, tuple[int, int]]]:
    async with vp.open_store(db) as store:
        jobs: list[vp.Job] = []
        for status in vp.JobStatus:
            jobs += await store.peek(10_000, status=status)
        rows = {}
        for video in await store.list_videos(limit=10_000):
            scenes = await store.list_scenes(video.id)
            segments = await store.list_segments(video.id)
            rows[video.id] = (len(scenes), len(segments))
    return jobs, rows


def campaign(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="videopipe-campaign-"))
    server = None if args.db else PrivatePostgres()
    try:
        db = fresh_database(args.db or server.url)  # type: ignore[union-attr]
        goods, copies, hostile = make_inputs(work / "inputs", args.videos, args.seconds)
        inputs = goods + copies + hostile

        # The reference: each good clip once, undisturbed, in this process.
        reference: dict[str, tuple[int, int]] = {}

        async def undisturbed() -> None:
            async with vp.open_store("memory://") as store:
                from videopipe.testing import FakeProvider

                pipeline = vp.Pipeline.default(
                    store=store, provider=FakeProvider(), data_dir=work / "reference"
                )
                for path in goods:
                    result = await pipeline.run(path)
                    reference[result.video_id] = (
                        len(await store.list_scenes(result.video_id)),
                        len(await store.list_segments(result.video_id)),
                    )

        anyio.run(undisturbed)
        jobs, refused = anyio.run(enqueue_all, db, work / "data", inputs)
        fleet = Fleet(db, work / "data", work / "logs")
        started = time.monotonic()

        # 1. stops, alone on the queue: SIGTERM, then a second SIGTERM while its jobs
        # run, timed from the second signal to the process's exit.
        latencies = []
        for i in range(args.stops):
            name = f"s{i}"
            proc = fleet.start(name, grace=30.0)
            wait_for(lambda n=name: "CLAIMED" in fleet.log(n), 180, f"{name} to claim a job")
            time.sleep(0.5 * i)  # a little further into the work each time
            proc.send_signal(signal.SIGTERM)
            wait_for(lambda n=name: "SIGTERM received" in fleet.log(n), 30, f"{name} to log")
            second = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            proc.wait(120)
            latencies.append(time.monotonic() - second)

        # 2. kill -9 a worker once it runs a job; start another.
        fleet.start("w1")
        fleet.start("w2")
        wait_for(lambda: "CLAIMED" in fleet.log("w1"), 120, "w1 to claim a job")
        fleet.procs["w1"].kill()
        fleet.procs["w1"].wait()
        fleet.start("w3")
        kills = 1

        # 3. restart PostgreSQL while jobs run.
        restarts = 0
        if server is not None:
            wait_for(lambda: "CLAIMED" in fleet.log("w3"), 120, "w3 to claim a job")
            server.restart()
            restarts = 1

        # Drain: the remaining workers finish everything.
        async def settled() -> bool:
            async with vp.open_store(db) as store:
                counts = (await store.stats()).counts
            return counts["pending"] + counts["processing"] == 0

        wait_for(lambda: anyio.run(settled), args.timeout, "the queue to drain")
        elapsed = time.monotonic() - started
        fleet.stop_all()

        final, rows = anyio.run(outcome, db)
        logs = fleet.all_logs()
        ready = Counter(re.findall(r"READY: video (\S+)", logs))
        done = [j for j in final if j.status is vp.JobStatus.DONE]
        dead = [j for j in final if j.status is vp.JobStatus.DEAD]
        kinds = {
            payload["job_id"]: payload["error_type"]
            for payload in map(json.loads, re.findall(r"DEAD: .*?: (\{.*\})$", logs, re.M))
        }
        typed = [j for j in dead if kinds.get(j.id) in TYPED]
        unsettled = [j for j in final if j.status not in (vp.JobStatus.DONE, vp.JobStatus.DEAD)]
        missing = set(reference) - {j.video_id for j in done}
        lost = len(unsettled) + len(missing) + (len(jobs) - len(final))
        doubled = sum(1 for n in ready.values() if n > 1)
        doubled += sum(1 for vid, want in reference.items() if rows.get(vid) != want)

        print(
            f"inputs tried        {len(inputs)}  ({len(goods)} good, {len(copies)} copies, "
            f"{len(hostile)} hostile)"
        )
        print(f"jobs                {len(jobs)}  (the copies share their video's job)")
        print(
            f"typed errors        {refused + len(typed)}  ({refused} refused at enqueue, "
            f"{len(typed)} dead with a typed error; untyped dead: {len(dead) - len(typed)})"
        )
        print(f"jobs done           {len(done)}")
        print(f"lost                {lost}")
        print(f"doubled             {doubled}")
        print(
            f"faults              {kills} kill -9, {restarts} PostgreSQL restart, "
            f"{len(latencies)} double SIGTERM"
        )
        if latencies:
            print(
                f"stop latency        p50 {statistics.median(latencies):.2f} s, "
                f"max {max(latencies):.2f} s (second SIGTERM to exit)"
            )
        print(f"wall time           {elapsed:.0f} s")
        for job in dead:
            if job not in typed:
                print(f"  untyped ({kinds.get(job.id)}): {job.video_id}: {job.last_error}")
        return 1 if lost or doubled else 0
    finally:
        if server is not None:
            server.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    w = sub.add_parser("worker", help="(internal) one worker process")
    w.add_argument("--db", required=True)
    w.add_argument("--data-dir", required=True)
    w.add_argument("--worker-id", required=True)
    w.add_argument("--grace", type=float, default=30.0)
    parser.add_argument("--db", help="a PostgreSQL server URL (skips the restart fault)")
    parser.add_argument("--videos", type=int, default=8, help="good clips (default 8)")
    parser.add_argument("--seconds", type=int, default=10, help="length of each clip")
    parser.add_argument("--stops", type=int, default=4, help="double-SIGTERM stops to time")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to drain")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    if args.command == "worker":
        return worker_main(args)
    return campaign(args)


if __name__ == "__main__":
    sys.exit(main())
