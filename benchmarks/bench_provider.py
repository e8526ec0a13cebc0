"""Benchmark the AI stages against a local mock OpenAI-compatible server, with and without 429s.

Run:  python benchmarks/bench_provider.py         (20 one-minute videos; 0 %, 20 % and 50 % 429s;
                                                   then 4 worker processes under one shared limit)
      python benchmarks/bench_provider.py --videos 5 --latency 0.1 --rate-limit 0.2
      python benchmarks/bench_provider.py --shared-only --workers 4 --worker-videos 20

The mock server is the tests' (`tests/openai_server.py`), on 127.0.0.1 in a
child process, so its CPU work does not compete with the client for the
interpreter lock: it answers `/v1/audio/transcriptions`,
`/v1/chat/completions` and `/v1/embeddings` (floats or base64, as asked)
after a fixed latency, and answers a seeded share of requests with HTTP 429
and a `Retry-After` drawn from 0.1-0.5 s. It counts requests per endpoint and
the peak of concurrent vision requests. It stops with the benchmark (and by
itself after `--server-timeout` seconds at the latest).

The AI stages run with their default retry policy (429s retried by time,
within `PROVIDER_RETRY_BUDGET_SEC`) and adaptive in-flight limits: a 429 storm
must lose no video, and cost at most 1.5x (20 %) and 2.5x (50 %) the wall
time of the run without 429s.

The media stages (normalize, scenes, frames) run once, for real, on the 60 s
1080p clip of `scripts/make_media.py` (`make_bench()`): at about 15 s of CPU-bound
work per video on 2 cores they would dominate a run of 20 videos and hide what
this measures. Every video then reuses those outputs (the WAV and the frame
JPEGs) under its own video ID, through two small stand-in stages, and goes
through the real `Transcribe`, `Caption` and `Embed` stages and `OpenAIProvider`
(`base_url=` the mock server). The mock puts the request number into every
transcript and caption and the video ID into every frame's pHash, so no cache
makes one video cheaper than another.

The last row is the shared limiter (`PROVIDER_RPM`): `--workers` worker
processes (spawned, each with its own event loop, store connection and
provider) run `--worker-videos` videos each against one mock that enforces an
account's limit of `--shared-rpm` requests a minute by answering 429 above it
(a sliding window: at most the limit answered in any window). The window is
scaled down to `--shared-window` seconds (6 s: 60 requests per 6 s, the same
10 requests a second as 600 a minute), so that a run of about 100 s spans 16
windows instead of under two. The workers share one SQLite file (or
`--shared-store`, such as a PostgreSQL URL), which keeps the limit's bucket,
and set `PROVIDER_RATE_WINDOW_SEC` to the mock's window and `PROVIDER_RPM` to
its limit per that window (60). Goals:
at least 90 % of the limit used (requests answered per second, from the first
request to the last, against the limit's rate), at most 5 % of requests
answered 429, and no video failed.

It prints, per run: wall time against the ideal given the concurrency caps,
requests per video, 429s answered, the peak of concurrent vision requests (which
must not pass `VISION_MAX_CONCURRENT`), and the estimated cost per minute of
video (from `Pipeline.estimate` and from the recorded usage).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from bench_media import ROOT, load_make_media  # benchmarks/ is on sys.path as a script

import videopipe as vp
from videopipe._models import Frame, frame_id, scene_id
from videopipe.providers import OpenAIProvider
from videopipe.stages import Caption, DetectScenes, Embed, ExtractFrames, Normalize, Transcribe
from videopipe.storage import MemoryStore, open_store

sys.path.insert(0, str(ROOT))
from tests.openai_server import OpenAIServerProcess, most_in_window  # the tests' server

GOALS = {0.2: 1.5, 0.5: 2.5}
"""Most wall time of a storm run against the run without 429s, by share of 429s."""

SHARED_GOALS = {"used": 0.90, "limited": 0.05}
"""The shared limiter's goals: least share of the limit used, most share of requests 429."""

# --- stand-in media stages over prepared outputs -------------------------------------------


class PreparedNormalize:
    """The normalize stage's result for the benchmark clip, already computed once."""

    name = "normalize"
    requires = ()

    def __init__(self, prepared: vp.Video) -> None:
        self.prepared = prepared

    async def run(self, ctx: vp.StageContext) -> dict[str, Any]:
        await ctx.update_video(
            normalized_path=self.prepared.normalized_path,
            audio_path=self.prepared.audio_path,
            duration_sec=self.prepared.duration_sec,
            has_audio=self.prepared.has_audio,
        )
        return {"has_audio": self.prepared.has_audio}


class PreparedFrames:
    """The scenes + frames stages' result for the benchmark clip, under this video's IDs."""

    name = "frames"
    requires = ("normalize",)

    def __init__(self, prepared: list[Frame]) -> None:
        self.prepared = prepared

    async def run(self, ctx: vp.StageContext) -> list[Frame]:
        vid = ctx.video.id
        ids = {f.id: frame_id(vid, f.idx) for f in self.prepared}
        frames = [
            f.model_copy(
                update={
                    "id": ids[f.id],
                    "video_id": vid,
                    "scene_id": scene_id(vid, f.idx),
                    "phash": f"{vid}:{f.phash}",  # no cross-video caption cache hits
                    "duplicate_of": ids[f.duplicate_of] if f.duplicate_of else None,
                }
            )
            for f in self.prepared
        ]
        await ctx.store.save_frames(vid, frames)
        return frames

    async def load(self, ctx: vp.StageContext) -> list[Frame]:
        return await ctx.store.list_frames(ctx.video.id)


# --- the benchmark ------------------------------------------------------------------------------


def load_prepared(clip: Path, data_dir: Path) -> tuple[vp.Video, list[Frame]] | None:
    """The media stages' outputs for `clip` that an earlier run kept under `data_dir`, if any."""
    saved = data_dir / "prepared.json"
    if not saved.exists():
        return None
    kept = json.loads(saved.read_text())
    video = vp.Video.model_validate(kept["video"])
    frames = [Frame.model_validate(f) for f in kept["frames"]]
    paths = [video.audio_path or "", *(f.path for f in frames)]
    if kept["clip"] != str(clip) or not all(Path(p).exists() for p in paths):
        return None
    return video, frames


async def prepare(clip: Path, data_dir: Path) -> tuple[vp.Video, list[Frame], float]:
    store = MemoryStore()
    pipeline = vp.Pipeline(
        [Normalize(), DetectScenes(), ExtractFrames()],
        store=store,
        data_dir=data_dir,
        settings=vp.Settings(_env_file=None),
    )
    t0 = time.perf_counter()
    result = await pipeline.run(clip)
    took = time.perf_counter() - t0
    return result.video, await store.list_frames(result.video_id), took


def prepared(clip: Path, data_dir: Path) -> tuple[vp.Video, list[Frame], float]:
    """The media stages' outputs, run once and kept under `data_dir` for later runs."""
    kept = load_prepared(clip, data_dir)
    if kept is not None:
        return (*kept, 0.0)
    video, frames, took = anyio.run(prepare, clip, data_dir)
    saved = {
        "clip": str(clip),
        "video": video.model_dump(mode="json"),
        "frames": [f.model_dump(mode="json") for f in frames],
    }
    (data_dir / "prepared.json").write_text(json.dumps(saved))
    return video, frames, took


async def run_once(
    args: argparse.Namespace,
    clip: Path,
    data_dir: Path,
    video: vp.Video,
    frames: list[Frame],
    rate_limit: float,
) -> dict[str, Any]:
    server = OpenAIServerProcess(
        latency=args.latency,
        rate_limit=rate_limit,
        retry_after=(args.retry_after_min, args.retry_after_max),
        seed=args.seed,
        timeout=args.server_timeout,
    )
    server.start()
    try:
        settings = vp.Settings(vision_max_concurrent=args.vision_max, _env_file=None)
        provider = OpenAIProvider(api_key="bench", base_url=server.base_url)
        store = MemoryStore()
        pipeline = vp.Pipeline(
            [
                PreparedNormalize(video),
                Transcribe(),
                PreparedFrames(frames),
                Caption(),
                Embed(),
            ],
            store=store,
            provider=provider,
            data_dir=data_dir,
            settings=settings,
        )
        estimate = await pipeline.estimate([clip])
        ids = [f"bench{rate_limit * 100:02.0f}v{i:02d}" for i in range(args.videos)]

        async def one(video_id: str) -> vp.VideoResult:
            return await pipeline.run(clip, video_id=video_id)

        t0 = time.perf_counter()
        results = await vp.process_batch(ids, one, concurrency=args.concurrency)
        wall = time.perf_counter() - t0
        # Close the client's keep-alive connections first, so the server's handlers end cleanly.
        await provider.aclose()
    finally:
        server.stop()
    ok = [r.unwrap() for r in results if r.ok]
    errors = [r.error for r in results if isinstance(r, vp.Err)]
    unique = sum(1 for f in frames if f.duplicate_of is None)
    # The ideal: every vision call back to back at the cap, then the last video's embeddings.
    vision_total = unique * args.videos
    waves = math.ceil(vision_total / args.vision_max)
    ideal = waves * args.latency + args.latency
    cost = sum(r.usage.cost_usd for r in ok)
    minutes = args.videos * (video.duration_sec or 0.0) / 60
    return {
        "rate_limit": rate_limit,
        "wall": wall,
        "ideal": ideal,
        "completed": len(ok),
        "errors": errors,
        "requests": dict(server.requests),
        "limited": dict(server.limited),
        "vision_peak": server.vision_peak,
        "vision_total": vision_total,
        "cost_per_minute": cost / minutes if minutes else 0.0,
        "estimate_per_minute": estimate.cost_usd / ((video.duration_sec or 60.0) / 60),
        "estimate": estimate,
    }


def report(args: argparse.Namespace, r: dict[str, Any], baseline: float | None) -> bool:
    """Print one run; whether it met its goals (no video lost; wall time against the baseline)."""
    n = args.videos
    req = r["requests"]
    total = sum(req.values())
    print(
        f"--- {r['rate_limit']:.0%} of requests answered 429 "
        f"(Retry-After {args.retry_after_min:g}-{args.retry_after_max:g} s)"
    )
    print(
        f"videos completed        {r['completed']}/{n}"
        + (f"  errors: {r['errors']}" if r["errors"] else "")
    )
    why = f"{r['vision_total']} vision calls / cap {args.vision_max} x {args.latency:g} s + 1 embed"
    print(f"wall time               {r['wall']:.2f} s   (ideal {r['ideal']:.2f} s: {why}; "
          f"ratio {r['wall'] / r['ideal']:.2f})")  # fmt: skip
    per = {k: v / n for k, v in req.items()}
    print(f"requests per video      {total / n:.2f}  (transcriptions "
          f"{per.get('transcriptions', 0):.2f}, vision {per.get('completions', 0):.2f}, "
          f"embeddings {per.get('embeddings', 0):.2f}; "
          f"incl. {sum(r['limited'].values())} 429s in all)")  # fmt: skip
    print(f"vision concurrency peak {r['vision_peak']} (cap {args.vision_max}): "
          f"{'OK' if r['vision_peak'] <= args.vision_max else 'EXCEEDED'}")  # fmt: skip
    print(f"cost per video minute   ${r['cost_per_minute']:.4f} recorded "
          f"(gpt-4o low detail + whisper-1 + text-embedding-3-small list prices); "
          f"${r['estimate_per_minute']:.4f} estimated beforehand")  # fmt: skip
    met = r["completed"] == n and r["vision_peak"] <= args.vision_max
    goal = GOALS.get(r["rate_limit"])
    if baseline is not None and r["rate_limit"] > 0:
        ratio = r["wall"] / baseline
        verdict = (
            "" if goal is None else f" (goal <= {goal:g}x: {'met' if ratio <= goal else 'MISSED'})"
        )
        print(f"against no 429s         {ratio:.2f}x the wall time{verdict}")
        met = met and (goal is None or ratio <= goal)
    return met


# --- the shared limit: worker processes against one account's limit --------------------------


async def _worker_videos(
    args: argparse.Namespace,
    worker: str,
    url: str,
    base_url: str,
    clip: Path,
    data_dir: Path,
    video: vp.Video,
    frames: list[Frame],
) -> list[str]:
    # The limit counts over PROVIDER_RATE_WINDOW_SEC: the limit of the scaled window. The
    # mock counts every model's requests together, as a key-wide limit does: the account
    # limit, one bucket for the three models (PROVIDER_RPM would give each model its own).
    limit = args.shared_rpm * args.shared_window / 60
    per = "provider_rpm" if args.per_model else "provider_account_rpm"
    settings = vp.Settings(
        vision_max_concurrent=args.vision_max,
        provider_rate_window_sec=args.shared_window,
        _env_file=None,
        **{per: limit},
    )
    async with (
        open_store(url) as store,
        OpenAIProvider(api_key="bench", base_url=base_url) as provider,
    ):
        pipeline = vp.Pipeline(
            [PreparedNormalize(video), Transcribe(), PreparedFrames(frames), Caption(), Embed()],
            store=store,
            provider=provider,
            data_dir=data_dir / worker,
            settings=settings,
        )
        ids = [f"{worker}v{i:02d}" for i in range(args.worker_videos)]

        async def one(video_id: str) -> vp.VideoResult:
            return await pipeline.run(clip, video_id=video_id)

        results = await vp.process_batch(ids, one, concurrency=args.concurrency)
    return [repr(r.error) for r in results if isinstance(r, vp.Err)]


def shared_worker(*arguments: Any) -> None:
    """One worker process: its videos, then its failures on the queue (spawned)."""
    *rest, start, results = arguments
    start.wait()
    try:
        results.put((rest[1], anyio.run(_worker_videos, *rest)))
    except BaseException as exc:
        results.put((rest[1], [repr(exc)]))
        raise


def run_shared(
    args: argparse.Namespace, clip: Path, data_dir: Path, video: vp.Video, frames: list[Frame]
) -> dict[str, Any]:
    limit = round(args.shared_rpm * args.shared_window / 60)
    server = OpenAIServerProcess(
        latency=args.latency, window=(limit, args.shared_window), timeout=args.server_timeout
    )
    server.start()
    url = args.shared_store or f"sqlite:///{data_dir / 'shared.db'}"
    anyio.run(_fresh_store, url)
    ctx = multiprocessing.get_context("spawn")
    start, results = ctx.Barrier(args.workers), ctx.Queue()
    arguments = [
        (args, f"w{i}", url, server.base_url, clip, data_dir, video, frames, start, results)
        for i in range(args.workers)
    ]
    processes = [ctx.Process(target=shared_worker, args=a, daemon=True) for a in arguments]
    t0 = time.perf_counter()
    try:
        for process in processes:
            process.start()
        failures = dict(results.get(timeout=args.server_timeout) for _ in processes)
        wall = time.perf_counter() - t0
        for process in processes:
            process.join(30)
    finally:
        server.stop()
    answered = sorted(t for t, ok in server.arrivals if ok)
    span = answered[-1] - answered[0] if len(answered) > 1 else 0.0
    total = sum(server.requests.values())
    return {
        "limit": limit,
        "wall": wall,
        "span": span,
        "answered": len(answered),
        "total": total,
        "limited": sum(server.limited.values()),
        "failed": [f for fs in failures.values() for f in fs],
        "used": (len(answered) - 1) / span / (limit / args.shared_window) if span else 0.0,
        "most": most_in_window(answered, args.shared_window),
        "most_asked": most_in_window([t for t, _ in server.arrivals], args.shared_window),
        "limited_by_window": _limited_by_window(server.arrivals, args.shared_window),
    }


def _limited_by_window(arrivals: list[tuple[float, bool]], window: float) -> list[int]:
    """429s in each successive window from the first request."""
    if not arrivals:
        return []
    first = min(t for t, _ in arrivals)
    counts = [0] * (int((max(t for t, _ in arrivals) - first) // window) + 1)
    for t, ok in arrivals:
        if not ok:
            counts[int((t - first) // window)] += 1
    return counts


async def _fresh_store(url: str) -> None:
    async with open_store(url) as store:
        await store.stats()  # created and migrated once, before the workers race to it


def report_shared(args: argparse.Namespace, r: dict[str, Any]) -> bool:
    """Print the shared-limit run; whether it met its goals."""
    n = args.workers * args.worker_videos
    limited = r["limited"] / r["total"] if r["total"] else 0.0
    print(f"--- {args.workers} worker processes x {args.worker_videos} videos, one limit of "
          f"{r['limit']} requests per {args.shared_window:g} s (= {args.shared_rpm:g} RPM), "
          f"enforced by the mock with 429s")  # fmt: skip
    print(f"videos failed           {len(r['failed'])}/{n}"
          + (f"  {r['failed'][:3]}" if r["failed"] else ""))  # fmt: skip
    print(f"wall time               {r['wall']:.2f} s (process start included); requests "
          f"answered over {r['span']:.2f} s: {r['answered']}")  # fmt: skip
    print(f"limit used              {r['used']:.1%} (goal >= {SHARED_GOALS['used']:.0%})")
    print(f"answered 429            {r['limited']}/{r['total']} = {limited:.2%} "
          f"(goal <= {SHARED_GOALS['limited']:.0%})")  # fmt: skip
    print(f"most in any window      {r['most']} answered, {r['most_asked']} asked "
          f"(limit {r['limit']})")  # fmt: skip
    print(f"429s per window         {r['limited_by_window']}")
    return (
        not r["failed"] and r["used"] >= SHARED_GOALS["used"] and limited <= SHARED_GOALS["limited"]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--videos", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=20, help="videos in flight")
    parser.add_argument("--vision-max", type=int, default=8, help="VISION_MAX_CONCURRENT")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per mock response")
    parser.add_argument("--rate-limit", type=float, action="append", help="share of 429s")
    parser.add_argument("--retry-after-min", type=float, default=0.1, help="seconds")
    parser.add_argument("--retry-after-max", type=float, default=0.5, help="seconds")
    parser.add_argument("--seed", type=int, default=1, help="of the server's 429 draws")
    parser.add_argument("--server-timeout", type=float, default=300.0)
    parser.add_argument("--workers", type=int, default=4, help="shared limit: processes")
    parser.add_argument("--worker-videos", type=int, default=20, help="shared limit: per process")
    parser.add_argument("--shared-rpm", type=float, default=600.0, help="shared limit: RPM")
    parser.add_argument(
        "--shared-window", type=float, default=6.0, help="shared limit: window scaled to (s)"
    )
    parser.add_argument("--shared-store", help="shared limit: store URL (default: a SQLite file)")
    parser.add_argument("--shared-only", action="store_true", help="only the shared-limit run")
    parser.add_argument(
        "--per-model",
        action="store_true",
        help="shared limit: PROVIDER_RPM (a bucket per model) instead of PROVIDER_ACCOUNT_RPM",
    )
    parser.add_argument(
        "--media-dir", type=Path, default=Path(tempfile.gettempdir()) / "vp-bench-media"
    )
    args = parser.parse_args()
    clip = load_make_media().make_bench(args.media_dir, 60)
    with tempfile.TemporaryDirectory(prefix="videopipe-bench-provider-") as tmp:
        data_dir = Path(tmp)
        # The media stages' outputs are kept beside the clip: a second run skips them.
        video, frames, took = prepared(clip, args.media_dir / "prepared")
        unique = sum(1 for f in frames if f.duplicate_of is None)
        print(f"clip: {clip.name}, {video.duration_sec:.1f} s; media stages once: {took:.1f} s, "
              f"{len(frames)} frames ({unique} unique)")  # fmt: skip
        print(f"{args.videos} videos, {args.concurrency} at a time, mock latency "
              f"{args.latency:g} s, VISION_MAX_CONCURRENT={args.vision_max}")  # fmt: skip
        baseline = None
        failed = False
        for rate in [] if args.shared_only else args.rate_limit or [0.0, 0.2, 0.5]:
            result = anyio.run(run_once, args, clip, data_dir, video, frames, rate)
            if rate == 0:
                baseline = result["wall"]
            failed |= not report(args, result, baseline)
        if args.workers:
            failed |= not report_shared(args, run_shared(args, clip, data_dir, video, frames))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
