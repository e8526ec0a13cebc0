"""Benchmark videopipe's job queue (PostgreSQL and SQLite) against procrastinate.

Run:  python benchmarks/bench_queue.py                 (20,000 jobs, 4 worker processes)
      python benchmarks/bench_queue.py --jobs 2000     (a quick smoke run)

For each backend: enqueue N jobs in bulk (`create_batch`) and a few thousand one
at a time (`enqueue`), then drain them with W worker *processes* that claim in
batches (`claim(limit=B)`) and complete each job, as `Worker` does. It prints
jobs/second for enqueue and drain, the claim latency (p50/p99), and checks that
every job was claimed exactly once. procrastinate runs no-op tasks on the same
PostgreSQL server in the same run as the baseline (`batch_defer_async`, then W
processes of `run_worker_async(concurrency=B, wait=False)`), and the last lines
are our/baseline ratios (> 1: videopipe is faster).

Everything happens in a database of its own, `videopipe_bench`, created and
dropped by the run; `--dsn` names the server (any database on it).
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import anyio.to_thread

BENCH_DB = "videopipe_bench"


def with_database(dsn: str, name: str) -> str:
    return urlunsplit(urlsplit(dsn)._replace(path="/" + name))


def recreate_database(dsn: str) -> str:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {BENCH_DB}")
    return with_database(dsn, BENCH_DB)


def drop_database(dsn: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


# --- processes ------------------------------------------------------------------------------


def run_processes(target: Callable[..., None], args: list[tuple[Any, ...]]) -> tuple[float, list]:
    """Start one spawned process per args, release them together; (seconds, their reports)."""
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Barrier(len(args) + 1)
    results = ctx.Queue()
    processes = [ctx.Process(target=target, args=(*a, ready, results)) for a in args]
    for p in processes:
        p.start()
    ready.wait()  # every worker is connected: start the clock
    started = time.monotonic()
    reports = [results.get(timeout=900) for _ in processes]
    for p in processes:
        p.join()
    for report in reports:
        if isinstance(report, BaseException):
            raise report
    finished = max(r["finished"] for r in reports)
    return finished - started, reports


async def complete(store: Any, job_id: str, worker: str) -> None:
    if not await store.complete(job_id, worker):
        raise RuntimeError(f"{worker} lost {job_id}")


async def _videopipe_worker(url: str, name: str, batch: int, ready: Any) -> dict[str, Any]:
    from videopipe.storage import open_store

    claimed: list[str] = []
    latencies: list[float] = []
    async with open_store(url) as store:
        await store.stats()  # connect (and check the schema) before the clock starts
        await anyio.to_thread.run_sync(ready.wait)
        while True:
            t0 = time.perf_counter()
            jobs = await store.claim(name, limit=batch, lease=300)
            latencies.append(time.perf_counter() - t0)
            if not jobs:
                break
            # As a worker with `batch` jobs in flight: they finish, and complete, together.
            async with anyio.create_task_group() as tg:
                for job in jobs:
                    tg.start_soon(complete, store, job.id, name)
            claimed.extend(job.id for job in jobs)
        finished = time.monotonic()
    return {"name": name, "claimed": claimed, "latencies": latencies, "finished": finished}


def videopipe_worker(url: str, name: str, batch: int, ready: Any, results: Any) -> None:
    try:
        results.put(anyio.run(_videopipe_worker, url, name, batch, ready))
    except BaseException as exc:
        results.put(exc)
        raise


# --- videopipe ------------------------------------------------------------------------------


async def _prepare(url: str, n: int, singles: int) -> dict[str, Any]:
    """Create the videos (untimed, in bulk), then time the enqueues."""
    from videopipe.storage import open_store

    ids = [f"v{i:06d}" for i in range(n)]
    async with open_store(url) as store:
        await store.stats()  # creates the schema
        await _insert_videos(store, ids)
        t0 = time.perf_counter()
        batch_id = await store.create_batch(ids[: n - singles])
        bulk = time.perf_counter() - t0
        t0 = time.perf_counter()
        for video_id in ids[n - singles :]:
            await store.enqueue(video_id)
        one_by_one = time.perf_counter() - t0
        jobs = {i.job_id for i in (await store.batch_results(batch_id)).items}
        jobs |= {
            j.id for j in await store.peek(singles + 1, status="pending") if j.batch_id is None
        }
    return {
        "jobs": jobs,
        "bulk_rate": (n - singles) / bulk,
        "single_rate": singles / one_by_one if singles else float("nan"),
    }


async def _insert_videos(store: Any, ids: list[str]) -> None:
    from videopipe.storage import PostgresStore, SQLiteStore

    now = time.time()
    if isinstance(store, SQLiteStore):
        us = int(now * 1e6)
        rows = [(i, f"{i}.mp4", us) for i in ids]

        def insert(conn: Any) -> None:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT INTO videos (id, original_path, status, created_at, updated_at) "
                "VALUES (?, ?, 'pending', ?, ?)",
                [(i, p, t, t) for i, p, t in rows],
            )
            conn.execute("COMMIT")

        await store._run(insert)
    elif isinstance(store, PostgresStore):

        async def insert(conn: Any) -> None:
            await conn.execute(
                "INSERT INTO videos (id, original_path, status, created_at, updated_at) "
                "SELECT id, id || '.mp4', 'pending', now(), now() FROM unnest(%s::text[]) AS id",
                [ids],
            )

        await store._run(insert)


def bench_videopipe(label: str, url: str, n: int, workers: int, batch: int, singles: int):
    prepared = anyio.run(_prepare, url, n, singles)
    seconds, reports = run_processes(
        videopipe_worker, [(url, f"{label}-w{i}", batch) for i in range(workers)]
    )
    claimed = [job for r in reports for job in r["claimed"]]
    latencies = [s for r in reports for s in r["latencies"]]
    double = len(claimed) - len(set(claimed))
    lost = len(prepared["jobs"] - set(claimed))
    return {
        "label": label,
        "enqueue_bulk": prepared["bulk_rate"],
        "enqueue_single": prepared["single_rate"],
        "drain": len(claimed) / seconds,
        "seconds": seconds,
        "p50": percentile(latencies, 0.50) * 1000,
        "p99": percentile(latencies, 0.99) * 1000,
        "claimed": len(claimed),
        "double": double,
        "lost": lost,
        "per_worker": [len(r["claimed"]) for r in reports],
    }


# --- procrastinate --------------------------------------------------------------------------


def procrastinate_app(url: str) -> Any:
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))
    seen: list[int] = []

    @app.task(name="noop", pass_context=True)
    async def noop(context: Any) -> None:
        seen.append(context.job.id)

    app.seen = seen  # type: ignore[attr-defined]
    return app


async def _procrastinate_prepare(url: str, n: int, singles: int) -> dict[str, Any]:
    app = procrastinate_app(url)
    async with app.open_async():
        await app.schema_manager.apply_schema_async()
        noop = app.tasks["noop"]
        t0 = time.perf_counter()
        await noop.batch_defer_async(*({} for _ in range(n - singles)))
        bulk = time.perf_counter() - t0
        t0 = time.perf_counter()
        for _ in range(singles):
            await noop.defer_async()
        one_by_one = time.perf_counter() - t0
    return {
        "bulk_rate": (n - singles) / bulk,
        "single_rate": singles / one_by_one if singles else float("nan"),
    }


async def _procrastinate_worker(url: str, name: str, batch: int, ready: Any) -> dict[str, Any]:
    app = procrastinate_app(url)
    async with app.open_async():
        await anyio.to_thread.run_sync(ready.wait)
        await app.run_worker_async(
            name=name,
            concurrency=batch,
            wait=False,
            install_signal_handlers=False,
        )
        finished = time.monotonic()
    return {"name": name, "claimed": list(app.seen), "latencies": [], "finished": finished}


def procrastinate_worker(url: str, name: str, batch: int, ready: Any, results: Any) -> None:
    logging.getLogger("procrastinate").setLevel(logging.ERROR)
    try:
        results.put(anyio.run(_procrastinate_worker, url, name, batch, ready))
    except BaseException as exc:
        results.put(exc)
        raise


def bench_procrastinate(url: str, n: int, workers: int, batch: int, singles: int):
    import psycopg

    prepared = anyio.run(_procrastinate_prepare, url, n, singles)
    seconds, reports = run_processes(
        procrastinate_worker, [(url, f"procrastinate-w{i}", batch) for i in range(workers)]
    )
    claimed = [job for r in reports for job in r["claimed"]]
    with psycopg.connect(url) as conn:
        succeeded = conn.execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'"
        ).fetchone()[0]
    return {
        "label": "procrastinate",
        "enqueue_bulk": prepared["bulk_rate"],
        "enqueue_single": prepared["single_rate"],
        "drain": len(claimed) / seconds,
        "seconds": seconds,
        "p50": float("nan"),
        "p99": float("nan"),
        "claimed": len(claimed),
        "double": len(claimed) - len(set(claimed)),
        "lost": n - succeeded,
        "per_worker": [len(r["claimed"]) for r in reports],
    }


# --- main -----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=10, help="claim limit / concurrency")
    parser.add_argument(
        "--singles", type=int, default=2000, help="of the jobs, how many enqueue one by one"
    )
    parser.add_argument(
        "--dsn",
        default=os.environ.get(
            "VIDEOPIPE_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--skip-procrastinate", action="store_true")
    args = parser.parse_args()
    n, workers, batch, singles = args.jobs, args.workers, args.batch, min(args.singles, args.jobs)

    print(f"{n:,} jobs, {workers} worker processes, claims of {batch}, {os.cpu_count()} CPUs")
    print(f"python {sys.version.split()[0]}, {time.strftime('%Y-%m-%d %H:%M:%S')}")
    results = []
    url = recreate_database(args.dsn)
    try:
        results.append(bench_videopipe("postgres", url, n, workers, batch, singles))
        with tempfile.TemporaryDirectory() as tmp:
            sqlite_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            results.append(bench_videopipe("sqlite", sqlite_url, n, workers, batch, singles))
        if not args.skip_procrastinate:
            url = recreate_database(args.dsn)
            results.append(bench_procrastinate(url, n, workers, batch, singles))
    finally:
        drop_database(args.dsn)

    print()
    header = (
        f"{'backend':<14}{'enqueue bulk/s':>15}{'enqueue 1-by-1/s':>18}{'drain jobs/s':>14}"
        f"{'drain s':>9}{'claim p50 ms':>14}{'claim p99 ms':>14}{'claimed':>9}"
        f"{'double':>8}{'lost':>6}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r['label']:<14}{r['enqueue_bulk']:>15,.0f}{r['enqueue_single']:>18,.0f}"
            f"{r['drain']:>14,.0f}{r['seconds']:>9.2f}{r['p50']:>14.2f}{r['p99']:>14.2f}"
            f"{r['claimed']:>9,}{r['double']:>8}{r['lost']:>6}"
        )
    print()
    for r in results:
        print(f"jobs per worker, {r['label']}: {r['per_worker']}")
    ok = all(r["double"] == 0 and r["lost"] == 0 and r["claimed"] == n for r in results)
    print(f"every job claimed exactly once, none lost: {'yes' if ok else 'NO'}")
    baseline = next((r for r in results if r["label"] == "procrastinate"), None)
    if baseline is not None:
        print()
        for r in results:
            if r is baseline:
                continue
            bulk = r["enqueue_bulk"] / baseline["enqueue_bulk"]
            single = r["enqueue_single"] / baseline["enqueue_single"]
            drain = r["drain"] / baseline["drain"]
            print(
                f"{r['label']}/procrastinate: enqueue bulk x{bulk:.1f}, "
                f"enqueue 1-by-1 x{single:.1f}, drain x{drain:.1f}"
            )
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
