"""Benchmark scaling out: one Worker with 2 slots, two Worker processes, a Ray cluster of 2 actors.

Run:  python benchmarks/bench_scale.py              (40 clips of 3 s, one round)
      python benchmarks/bench_scale.py --repeat 3   (three rounds: abc, bca, cab; medians)
      python benchmarks/bench_scale.py --quick      (8 clips of 2 s)

The same generated clips (distinct content: 320x240, a tone) go through the real
default stages (FFmpeg normalize, PySceneDetect, frames; the AI stages answered
by `videopipe.testing.FakeProvider`) three times, each on a fresh PostgreSQL
database and data directory of its own, so nothing is resumed from another run:

- (a) one `Worker` process with 2 slots (`tests/integration/worker_main.py`);
- (b) two `Worker` processes with 1 slot each;
- (c) a local Ray cluster (`ray.init`, 2 CPUs, no dashboard) and
  `videopipe.ray.drain` with 2 actors of 1 slot each.

The Ray cluster starts once, before the first round (its start-up is timed
apart), and idles during (a) and (b). With `--repeat N` the three run N times,
the order rotated each round, and the table gives the medians.

For each: videos per minute from the first claim to the last completion (the
queue sampled every 0.1 s, as `bench_worker.py` does), and the wall time from
starting the processes or actors; for (c) also the actors' start-up and, apart,
the cluster's start-up. It prints the ratio (c)/(b), the issue's goal being
>= 0.9x, and checks every job was done once on its first attempt and every stage
of every video ran once.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import anyio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_worker import (  # noqa: E402 (after the path set-up)
    DEFAULT_DSN,
    check_exactly_once,
    recreate_database,
    start_worker,
    stop_all,
    with_database,
)
from tests.ray_cluster.clips import make_clips  # noqa: E402

import videopipe as vp  # noqa: E402
from videopipe import ray as vp_ray  # noqa: E402
from videopipe.testing import FakeProvider  # noqa: E402


@dataclass(frozen=True)
class FakeDefault:
    """The default stages with `FakeProvider` under `data_dir`: what worker_main runs."""

    data_dir: str

    def __call__(self, store: vp.Store) -> vp.Pipeline:
        return vp.Pipeline.default(store=store, provider=FakeProvider(), data_dir=self.data_dir)


async def enqueue(dsn: str, clips: list[Path]) -> list[str]:
    async with vp.open_store(dsn) as store:
        registrar = vp.Pipeline([], store=store)
        ids = [(await registrar.register(clip)).id for clip in clips]
        await store.create_batch(ids)
    return ids


async def measure(dsn: str, ids: list[str], run: Callable[[], Awaitable[None]]) -> dict[str, float]:
    """Start `run()`, sample the queue until every job is done, check exactly-once."""
    first_claim: float | None = None
    async with vp.open_store(dsn) as store:
        async with anyio.create_task_group() as tg:
            launched = time.monotonic()
            tg.start_soon(run)
            while True:
                stats = await store.stats()
                now = time.monotonic()
                if first_claim is None and stats.counts.get("pending", 0) < len(ids):
                    first_claim = now
                if stats.counts.get("done", 0) == len(ids):
                    finished = now
                    break
                await anyio.sleep(0.1)
        await check_exactly_once(store, Path("."), ids, "default")
    assert first_claim is not None
    span = max(finished - first_claim, 0.1)
    return {"span": span, "wall": finished - launched, "per_min": len(ids) / span * 60}


async def workers(dsn: str, ids: list[str], tmp: Path, n: int, slots: int) -> dict[str, float]:
    """`n` worker processes of `slots` slots each, stopped (SIGTERM) once the batch is done."""
    procs: list[subprocess.Popen[bytes]] = []
    side = tmp / f"side-w{n}x{slots}"
    side.mkdir()

    async def run() -> None:
        for i in range(n):
            name = f"w{n}x{slots}-{i}"
            procs.append(
                start_worker(
                    dsn,
                    side,
                    tmp / f"{name}.log",
                    name,
                    concurrency=slots,
                    lease=60,
                    sleep=0,
                    pipeline="default",
                )
            )

    try:
        return await measure(dsn, ids, run)
    finally:
        stop_all(procs)


async def on_ray(dsn: str, ids: list[str], tmp: Path) -> dict[str, float]:
    """`videopipe.ray.drain` with 2 actors of 1 slot (returns once they are shut down)."""
    runs: list[vp_ray.RayRun] = []

    async def run() -> None:
        pipeline = FakeDefault(str(tmp / "data-ray"))
        runs.append(
            await vp_ray.drain(store=dsn, pipeline=pipeline, num_workers=2, slots=1, progress=False)
        )

    result = await measure(dsn, ids, run)
    result["actors_startup"] = runs[0].startup_sec
    return result


LABELS = {
    "a": "(a) one Worker, 2 slots",
    "b": "(b) two Workers, 1 slot each",
    "c": "(c) Ray, 2 actors, 1 slot each",
}


async def one(key: str, args: argparse.Namespace, clips: list[Path], tmp: Path) -> dict[str, float]:
    """Configuration `key` on a fresh database (and data directory) of its own."""
    name = f"videopipe_bench_scale_{key}"
    recreate_database(args.dsn, name)
    dsn = with_database(args.dsn, name)
    ids = await enqueue(dsn, clips)
    run_dir = Path(tempfile.mkdtemp(prefix=f"{key}-", dir=tmp))
    try:
        with anyio.fail_after(args.timeout):
            if key == "c":
                return await on_ray(dsn, ids, run_dir)
            n_workers, slots = (1, 2) if key == "a" else (2, 1)
            return await workers(dsn, ids, run_dir, n_workers, slots)
    finally:
        recreate_database(args.dsn, name, drop_only=True)


def load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


async def main(args: argparse.Namespace) -> None:
    import ray

    n, seconds = (8, 2.0) if args.quick else (40, 3.0)
    tmp = Path(tempfile.mkdtemp(prefix="vp-bench-scale-"))
    clips = make_clips(Path(tempfile.gettempdir()) / f"vp-bench-scale-clips-{seconds}", n)
    print(f"{n} clips of {seconds:.0f} s, 320x240; the default stages with FakeProvider")
    print(f"{args.repeat} round(s), the order rotated each round; load average before: {load()}\n")
    rounds: list[dict[str, dict[str, float]]] = []
    started = time.monotonic()
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        object_store_memory=200 * 1024 * 1024,
        logging_level="WARNING",
        log_to_driver=False,
    )
    ray_startup = time.monotonic() - started
    try:
        for r in range(args.repeat):
            order = "abc"[r % 3 :] + "abc"[: r % 3]
            results: dict[str, dict[str, float]] = {}
            for key in order:
                results[key] = await one(key, args, clips, tmp)
                print(
                    f"round {r + 1} {LABELS[key]:<32} {results[key]['per_min']:6.1f} videos/min "
                    f"(load {load()})",
                    flush=True,
                )
            rounds.append(results)
    finally:
        ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"load average after: {load()}\n")
    print("| run | videos/min (median) | each round | span s (median) | wall s (median) |")
    print("| --- | ---: | --- | ---: | ---: |")
    median: dict[str, float] = {}
    for key, label in LABELS.items():
        per_min = [r[key]["per_min"] for r in rounds]
        median[key] = statistics.median(per_min)
        span = statistics.median(r[key]["span"] for r in rounds)
        wall = statistics.median(r[key]["wall"] for r in rounds)
        each = ", ".join(f"{x:.1f}" for x in per_min)
        print(f"| {label} | {median[key]:.1f} | {each} | {span:.1f} | {wall:.1f} |")
    actors = statistics.median(r["c"]["actors_startup"] for r in rounds)
    print(
        f"\nRay cluster start-up (ray.init, local, 2 CPUs, once): {ray_startup:.1f} s; "
        f"actors ready (median): {actors:.1f} s (inside (c)'s wall time)"
    )
    print(f"ratio (c)/(b) of the medians: {median['c'] / median['b']:.2f}x (goal >= 0.9x)")
    print(f"ratio (c)/(a) of the medians: {median['c'] / median['a']:.2f}x")


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="8 clips of 2 s")
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds of (a), (b), (c), the order rotated"
    )
    parser.add_argument("--dsn", default=os.environ.get("VIDEOPIPE_TEST_POSTGRES", DEFAULT_DSN))
    parser.add_argument(
        "--timeout", type=float, default=1800, help="give up after this many seconds a run"
    )
    return parser.parse_args()


if __name__ == "__main__":
    anyio.run(main, parse())
