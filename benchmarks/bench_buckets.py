"""Benchmark two ways of keeping a rate bucket in PostgreSQL, under contention on one row.

Run:  python benchmarks/bench_buckets.py [--dsn postgresql://…] [--tasks 8] [--takes 400]

`--tasks` connections take from one bucket `--takes` times each, as fast as they
can (the worst case: every worker of a team on one model's bucket):

- **upsert**: the store's query, one atomic `INSERT … ON CONFLICT DO UPDATE …
  RETURNING` in autocommit (one round trip; the row lock held for the statement);
- **advisory**: a transaction taking `pg_advisory_xact_lock` on the key, reading
  the row, computing the new level in Python and writing it (five round trips
  with `BEGIN` and `COMMIT`; the lock held across them).

It prints takes per second and the median and 99th-percentile latency of a
take, and checks both leave the same level (no take lost). Each variant runs in
a fresh database table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from typing import Any

import anyio
import psycopg

from videopipe.storage import sql

Q = sql.queries("postgres")
KEY = "bench:model:requests"
CAPACITY = 1e9  # never in debt: this measures the bucket's update, not the waits
RATE = 1.0

ADVISORY_READ = "SELECT level, updated FROM bench_rate_buckets WHERE key = %(key)s"
ADVISORY_WRITE = """
INSERT INTO bench_rate_buckets (key, level, updated) VALUES (%(key)s, %(level)s, %(now)s)
ON CONFLICT (key) DO UPDATE SET level = excluded.level, updated = excluded.updated
"""
CLOCK = "SELECT extract(epoch FROM clock_timestamp())::float8 AS t"


async def upsert(conn: psycopg.AsyncConnection[Any]) -> None:
    params = {"key": KEY, "capacity": CAPACITY, "rate": RATE, "amount": 1, "now": None}
    query = Q["take_tokens"].replace("rate_buckets", "bench_rate_buckets")
    await conn.execute(query, params)  # type: ignore[arg-type]


async def advisory(conn: psycopg.AsyncConnection[Any]) -> None:
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%(key)s))", {"key": KEY})
        now = (await (await conn.execute(CLOCK)).fetchone())[0]  # type: ignore[index]
        row = await (await conn.execute(ADVISORY_READ, {"key": KEY})).fetchone()
        level, last = (CAPACITY, now) if row is None else row
        level = min(CAPACITY, level + max(0.0, now - last) * RATE) - 1
        await conn.execute(ADVISORY_WRITE, {"key": KEY, "level": level, "now": max(last, now)})


async def run(dsn: str, variant: str, tasks: int, takes: int) -> dict[str, float]:
    take = upsert if variant == "upsert" else advisory
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as admin:
        await admin.execute("DROP TABLE IF EXISTS bench_rate_buckets")
        await admin.execute(
            'CREATE TABLE bench_rate_buckets (key text COLLATE "C" PRIMARY KEY, '
            "level double precision NOT NULL, updated double precision NOT NULL)"
        )
    latencies: list[float] = []

    async def worker() -> None:
        async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
            for _ in range(takes):
                t0 = time.perf_counter()
                await take(conn)
                latencies.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(tasks):
            tg.start_soon(worker)
    wall = time.perf_counter() - t0
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as admin:
        row = await (await admin.execute("SELECT level FROM bench_rate_buckets")).fetchone()
        await admin.execute("DROP TABLE bench_rate_buckets")
    taken = CAPACITY - row[0]  # type: ignore[index]
    latencies.sort()
    return {
        "per_second": tasks * takes / wall,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
        "taken": taken,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    default = os.environ.get("VIDEOPIPE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--dsn", default=default)
    parser.add_argument("--tasks", type=int, default=8, help="connections taking at once")
    parser.add_argument("--takes", type=int, default=400, help="takes per connection")
    args = parser.parse_args()
    print(f"{args.tasks} connections x {args.takes} takes from one bucket row")
    print(f"{'variant':<10} {'takes/s':>9} {'p50 ms':>8} {'p99 ms':>8}  lost")
    failed = False
    for variant in ("upsert", "advisory"):
        r = anyio.run(run, args.dsn, variant, args.tasks, args.takes)
        # The refill (1 token a second) adds back about the run's length in seconds.
        lost = args.tasks * args.takes - r["taken"]
        failed |= not -1 <= lost <= args.tasks * args.takes / r["per_second"] + 1
        print(f"{variant:<10} {r['per_second']:>9.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f}  "
              f"{lost:.1f} (refill)")  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
