"""Benchmark `process_batch` against `aiometer` and `asyncio.Semaphore` + `gather`.

Run:  python benchmarks/bench_batch.py            (about 30 s on 2 cores)
      python benchmarks/bench_batch.py --quick    (smaller n, for a smoke run)

Each measurement runs in a fresh subprocess, so its peak RSS is its own. It
prints wall time, peak RSS (above the process's
RSS once everything is imported) and the ratio of `process_batch` to each baseline
(ratio < 1: `process_batch` is faster / smaller).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator

VARIANTS = ["process_batch", "stream_batch", "pool_floor", "aiometer", "semaphore_gather"]


async def noop(i: int) -> int:
    return i


async def sleep10ms(i: int) -> int:
    await asyncio.sleep(0.01)
    return i


def items(n: int) -> Iterator[int]:
    return iter(range(n))


async def run_variant(name: str, n: int, concurrency: int, worker: Callable[[int], Awaitable[int]]):
    if name == "process_batch":
        import videopipe as vp

        results = await vp.process_batch(items(n), worker, concurrency=concurrency)
        assert len(results) == n
    elif name == "stream_batch":
        import videopipe as vp

        count = 0
        async with vp.stream_batch(items(n), worker, concurrency=concurrency) as stream:
            async for _ in stream:
                count += 1
        assert count == n
    elif name == "pool_floor":
        # The hand-written floor: `concurrency` tasks pulling from one shared iterator.
        out: list[int | None] = [None] * n
        shared = enumerate(items(n))

        async def drain() -> None:
            for index, item in shared:
                out[index] = await worker(item)

        await asyncio.gather(*(drain() for _ in range(concurrency)))
    elif name == "aiometer":
        import functools

        import aiometer

        results = await aiometer.run_all(
            [functools.partial(worker, i) for i in items(n)], max_at_once=concurrency
        )
        assert len(results) == n
    elif name == "semaphore_gather":
        semaphore = asyncio.Semaphore(concurrency)

        async def guarded(i: int) -> int:
            async with semaphore:
                return await worker(i)

        results = await asyncio.gather(*(guarded(i) for i in items(n)))
        assert len(results) == n
    else:
        raise SystemExit(f"unknown variant {name}")


def current_rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def child(name: str, n: int, concurrency: int, work: str) -> None:
    import aiometer  # noqa: F401  # imports are not part of any variant's cost

    import videopipe  # noqa: F401

    worker = noop if work == "noop" else sleep10ms
    baseline = current_rss_mib()
    start = time.perf_counter()
    asyncio.run(run_variant(name, n, concurrency, worker))
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"wall": wall, "rss_mib": peak - baseline}))


def measure(name: str, n: int, concurrency: int, work: str, repeat: int) -> dict[str, float]:
    walls, rss = [], []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, __file__, "--child", name, str(n), str(concurrency), work],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        row = json.loads(out)
        walls.append(row["wall"])
        rss.append(row["rss_mib"])
    return {"wall": statistics.median(walls), "rss_mib": max(rss)}


def scenario(title: str, n: int, concurrency: int, work: str, repeat: int) -> None:
    print(f"\n## {title}: n={n:,}, concurrency={concurrency}, median of {repeat}")
    print(f"{'variant':<18} {'wall (s)':>10} {'RSS +(MiB)':>15}")
    rows = {v: measure(v, n, concurrency, work, repeat) for v in VARIANTS}
    for v, row in rows.items():
        print(f"{v:<18} {row['wall']:>10.3f} {row['rss_mib']:>15.1f}")
    ours = rows["process_batch"]
    for base in ("semaphore_gather", "aiometer", "pool_floor"):
        theirs = rows[base]
        # Below a few MiB the RSS growth is allocator noise, not a ratio worth printing.
        rss = (
            f"{ours['rss_mib'] / theirs['rss_mib']:.2f}x"
            if min(ours["rss_mib"], theirs["rss_mib"]) >= 2
            else "n/a (both < 2 MiB)"
        )
        print(f"process_batch / {base:<17} wall {ours['wall'] / theirs['wall']:.2f}x   RSS {rss}")


def flat_memory(sizes: list[int], repeat: int) -> None:
    print("\n## peak RSS with a generator input (no-op items, concurrency 64)")
    print(f"{'n':>10} {'stream_batch (MiB)':>19} {'process_batch (MiB)':>20}")
    for n in sizes:
        stream = measure("stream_batch", n, 64, "noop", repeat)["rss_mib"]
        batch = measure("process_batch", n, 64, "noop", repeat)["rss_mib"]
        print(f"{n:>10,} {stream:>19.1f} {batch:>20.1f}")
    print("(stream_batch holds no results: flat in n; process_batch returns a list of n results)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller inputs, one repeat")
    parser.add_argument("--child", nargs=4, metavar=("VARIANT", "N", "CONCURRENCY", "WORK"))
    args = parser.parse_args()
    if args.child:
        name, n, concurrency, work = args.child
        child(name, int(n), int(concurrency), work)
        return
    repeat = 1 if args.quick else 3
    big = 10_000 if args.quick else 100_000
    print(f"# process_batch benchmark (python {sys.version.split()[0]})")
    scenario("no-op items", big, 64, "noop", repeat)
    scenario("10 ms sleep items", 100, 10, "sleep", repeat)
    print("(ideal for the 10 ms scenario: 100 items / 10 at a time x 10 ms = 0.100 s)")
    flat_memory([big, big * 10], 1)


if __name__ == "__main__":
    main()
