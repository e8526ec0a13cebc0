"""Benchmark `vp.Worker` as real processes: throughput, scaling, queue lag, recovery.

Run:  python benchmarks/bench_worker.py            (200 jobs of 0.2 s; 1, 2 and 4 workers)
      python benchmarks/bench_worker.py --quick    (60 jobs of 0.1 s)

For N = 1, 2, 4 worker processes (`tests/integration/worker_main.py`, each a
`vp.Worker` with `--concurrency` slots) it drains the same set of jobs on a fresh
PostgreSQL database and prints throughput (videos/minute, from the first claim
to the last completion), scaling efficiency against one worker, and the queue lag
(the oldest runnable pending job's age, `stats().oldest_pending_age_sec`, sampled
every 0.1 s). Then it kills one worker with SIGKILL in the middle of a job leased
for `--lease` seconds and times how long until another worker has finished it.

The pipeline is one sleep-based stage (`worker_main.Work`: sleep, then save
deterministic scenes and segments through the store), not the default FFmpeg
stages: this checkout has no FFmpeg binary, and a fixed-cost stage isolates the
worker and queue overhead. Each run checks every job was done exactly once.

Everything happens in a database of its own, `videopipe_bench_worker`, created
and dropped by the run; `--dsn` names the server (any database on it).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

import anyio

if TYPE_CHECKING:
    from videopipe.storage import Store

ROOT = Path(__file__).resolve().parent.parent
WORKER_MAIN = ROOT / "tests" / "integration" / "worker_main.py"
BENCH_DB = "videopipe_bench_worker"
DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"


def with_database(dsn: str, name: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path="/" + name))


def recreate_database(server: str, name: str, *, drop_only: bool = False) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(server, autocommit=True, connect_timeout=5) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        if not drop_only:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def start_worker(
    dsn: str,
    side: Path,
    log: Path,
    name: str,
    *,
    concurrency: int,
    lease: float,
    sleep: float,
    pipeline: str = "work",
) -> subprocess.Popen[bytes]:
    argv = [
        sys.executable,
        str(WORKER_MAIN),
        "--dsn",
        dsn,
        "--side-dir",
        str(side),
        "--worker-id",
        name,
        "--concurrency",
        str(concurrency),
        "--lease",
        str(lease),
        "--sleep",
        str(sleep),
        "--grace",
        "5",
        "--pipeline",
        pipeline,
    ]
    with log.open("ab") as out:
        return subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)


def stop_all(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs:
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def prepare(dsn: str, jobs: int, video: Path | None) -> list[str]:
    """`jobs` videos (all of them the file `video`, when given) and a batch of their jobs."""
    import videopipe as vp

    ids = [f"b{i:05d}" for i in range(jobs)]
    async with vp.open_store(dsn) as store:
        for vid in ids:
            path = str(video) if video is not None else f"/bench/{vid}.mp4"
            await store.upsert_video(vp.Video(id=vid, original_path=path))
        await store.create_batch(ids)
    return ids


async def check_exactly_once(store: Store, side: Path, ids: list[str], stages: str) -> None:
    """Every job done on its first attempt, every stage of every video run once."""
    import videopipe as vp

    jobs = await store.peek(len(ids), status=vp.JobStatus.DONE)
    if len(jobs) != len(ids) or any(job.attempts != 1 for job in jobs):
        raise SystemExit("a job was not done exactly once on its first attempt")
    for vid in ids:
        if stages == "sleep":
            runs = (side / f"{vid}.done").read_text().splitlines()
            if len(runs) != 1:
                raise SystemExit(f"{vid} ran to completion {len(runs)} times")
        else:
            for name, run in (await store.get_stage_runs(vid)).items():
                if run.attempt != 1 or run.status not in (
                    vp.StageStatus.DONE,
                    vp.StageStatus.SKIPPED,
                ):
                    raise SystemExit(f"{vid}: stage {name} {run.status} attempt {run.attempt}")


async def drain(
    dsn: str, side: Path, logs: Path, n_workers: int, ids: list[str], args: argparse.Namespace
) -> dict[str, float]:
    """Start `n_workers` processes, sample the queue until every job is done, stop them."""
    import videopipe as vp

    lags: list[float] = []
    procs: list[subprocess.Popen[bytes]] = []
    first_claim: float | None = None
    async with vp.open_store(dsn) as store:
        launched = time.monotonic()
        try:
            procs.extend(
                start_worker(
                    dsn,
                    side,
                    logs / f"n{n_workers}-w{i}.log",
                    f"n{n_workers}-w{i}",
                    concurrency=args.concurrency,
                    lease=args.lease,
                    sleep=args.sleep,
                    pipeline="default" if args.stages == "default" else "work",
                )
                for i in range(n_workers)
            )
            deadline = launched + args.timeout
            while True:
                stats = await store.stats()
                now = time.monotonic()
                if stats.oldest_pending_age_sec is not None:
                    lags.append(stats.oldest_pending_age_sec)
                if first_claim is None and stats.counts.get("pending", 0) < len(ids):
                    first_claim = now
                if stats.counts.get("done", 0) == len(ids):
                    finished = now
                    break
                if now > deadline:
                    raise SystemExit(f"timed out: {stats.counts}; logs in {logs}")
                for proc in procs:
                    if proc.poll() is not None:
                        raise SystemExit(f"a worker died (rc {proc.returncode}); logs in {logs}")
                await anyio.sleep(0.1)
        finally:
            stop_all(procs)
        await check_exactly_once(store, side, ids, args.stages)
    assert first_claim is not None
    # Sampled every 0.1 s: the span is the first claim seen to the last completion seen.
    span = max(finished - first_claim, 0.1)
    return {
        "span": span,
        "wall": finished - launched,
        "per_min": len(ids) / span * 60,
        "lag_max": max(lags, default=0.0),
        "lag_mean": statistics.fmean(lags) if lags else 0.0,
        "lag_p50": statistics.median(lags) if lags else 0.0,
        "samples": len(lags),
    }


async def recovery(dsn: str, side: Path, logs: Path, args: argparse.Namespace) -> dict[str, float]:
    """Kill -9 the worker running a job; time until another worker has it done."""
    import videopipe as vp

    victim = "victim"
    (side / f"{victim}.sleep").write_text("60")
    procs: list[subprocess.Popen[bytes]] = []
    async with vp.open_store(dsn) as store:
        await store.upsert_video(vp.Video(id=victim, original_path="/bench/victim.mp4"))
        job = await store.enqueue(victim)
        try:
            procs.extend(
                start_worker(
                    dsn,
                    side,
                    logs / f"recovery-w{i}.log",
                    f"recovery-w{i}",
                    concurrency=1,
                    lease=args.lease,
                    sleep=0.05,
                )
                for i in range(2)
            )
            start_file = side / f"{victim}.start"
            while not start_file.exists():  # noqa: ASYNC110 (another process writes it)
                await anyio.sleep(0.02)
            await anyio.sleep(args.lease)  # mid-job: a few heartbeats in
            pid = int(start_file.read_text().split()[0])
            (side / f"{victim}.sleep").unlink()
            os.kill(pid, signal.SIGKILL)
            killed = time.monotonic()
            claimed_again = None
            while (current := await store.get_job(job.id)).status is not vp.JobStatus.DONE:
                if claimed_again is None and current.attempts >= 2:
                    claimed_again = time.monotonic() - killed
                if time.monotonic() - killed > args.timeout:
                    raise SystemExit(f"the killed worker's job never finished; logs in {logs}")
                await anyio.sleep(0.02)
            done = time.monotonic() - killed
        finally:
            stop_all(procs)
    if claimed_again is None:
        claimed_again = done
    return {"reclaimed": claimed_again, "done": done, "attempts": current.attempts}


def fixture_video(quick: bool) -> Path:
    """A small generated clip (`scripts/make_media.py`'s fixtures, cached)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import make_media  # type: ignore[import-not-found]

    media = make_media.make_all(Path(tempfile.gettempdir()) / "videopipe-bench-worker-media")
    return Path(media["short.mp4" if quick else "cuts.mp4"])


async def main(args: argparse.Namespace) -> None:
    server = args.dsn
    dsn = with_database(server, BENCH_DB)
    counts = [int(n) for n in args.workers.split(",")]
    work = Path(tempfile.mkdtemp(prefix="bench-worker-"))
    video = fixture_video(args.quick) if args.stages == "default" else None
    if video is not None:
        stage = f"the default stages on {video.name} ({video.stat().st_size // 1024} KiB), "
        stage += "FakeProvider"
    else:
        stage = f"one sleep-based stage (sleep {args.sleep}s + 2 store writes)"
    print(
        f"bench_worker: {args.jobs} jobs, {stage}; concurrency {args.concurrency}/worker, "
        f"lease {args.lease}s, {os.cpu_count()} CPUs"
    )
    results: dict[int, dict[str, float]] = {}
    try:
        for n in counts:
            recreate_database(server, BENCH_DB)
            side, logs = work / f"n{n}" / "side", work / f"n{n}" / "logs"
            side.mkdir(parents=True)
            logs.mkdir()
            ids = await prepare(dsn, args.jobs, video)
            results[n] = await drain(dsn, side, logs, n, ids, args)
        recreate_database(server, BENCH_DB)
        side, logs = work / "recovery" / "side", work / "recovery" / "logs"
        side.mkdir(parents=True)
        logs.mkdir()
        rec = await recovery(dsn, side, logs, args)
    finally:
        recreate_database(server, BENCH_DB, drop_only=True)
    print()
    print(
        f"{'workers':>7} {'videos/min':>11} {'scaling':>8} {'span s':>7} {'wall s':>7} "
        f"{'lag max s':>10} {'lag mean s':>11} {'lag p50 s':>10}"
    )
    base = results[counts[0]]["per_min"] / counts[0]
    for n in counts:
        r = results[n]
        print(
            f"{n:>7} {r['per_min']:>11.0f} {r['per_min'] / (base * n):>8.0%} "
            f"{r['span']:>7.2f} {r['wall']:>7.2f} {r['lag_max']:>10.2f} "
            f"{r['lag_mean']:>11.2f} {r['lag_p50']:>10.2f}"
        )
    print(
        "(videos/min over span = first claim to last completion, sampled every 0.1 s; "
        "wall includes process start-up; lag = oldest pending job's age, sampled every 0.1 s, "
        "counted from enqueue, so it includes start-up too)"
    )
    print()
    print(
        f"recovery after kill -9 (sleep stage, lease {args.lease}s): "
        f"re-claimed after {rec['reclaimed']:.2f}s, done after {rec['done']:.2f}s "
        f"(attempts {rec['attempts']:.0f})"
    )
    print("every job was done exactly once in every run")
    shutil.rmtree(work, ignore_errors=True)


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter jobs")
    parser.add_argument(
        "--stages",
        choices=("default", "sleep"),
        default=None,
        help="the real default stages (needs FFmpeg) or one sleep-based stage",
    )
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--sleep", type=float, default=None, help="seconds the sleep stage takes")
    parser.add_argument("--concurrency", type=int, default=None, help="slots per worker")
    parser.add_argument("--workers", default="1,2,4", help="worker-process counts to run")
    parser.add_argument("--lease", type=float, default=2.0)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument(
        "--dsn", default=os.environ.get("VIDEOPIPE_TEST_POSTGRES", DEFAULT_DSN), help="the server"
    )
    args = parser.parse_args()
    if args.stages is None:
        args.stages = "default" if have_ffmpeg() else "sleep"
    default = args.stages == "default"
    if args.jobs is None:
        args.jobs = (16 if args.quick else 40) if default else (60 if args.quick else 200)
    if args.sleep is None:
        args.sleep = 0.1 if args.quick else 0.2
    if args.concurrency is None:
        args.concurrency = 2 if default else 4
    return args


def have_ffmpeg() -> bool:
    from videopipe._media import find_ffmpeg

    try:
        find_ffmpeg()
    except Exception:
        return False
    return True


if __name__ == "__main__":
    anyio.run(main, parse())
