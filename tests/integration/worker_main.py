"""A real worker process for the fault tests and the worker benchmark.

Run as `python worker_main.py --dsn URL --side-dir DIR [...]`. It builds a
pipeline of one small stage, `work`, and runs `vp.Worker(...)` with signal
handling inside `async with store`, as `videopipe worker` does.

The `work` stage, for a video `V`, leaves side effects the tests can check:

- `SIDE/V.start` gets a line `pid job_id` when the stage starts;
- it sleeps `--sleep` seconds (`--sleep-file SIDE/V.sleep`, if present, overrides);
- it fails, every time, while `SIDE/V.poison` exists;
- it saves `expected_scenes(V)` and `expected_segments(V)` (deterministic IDs);
- `SIDE/V.done` gets a line `pid job_id` when the stage has done its work.

So `V.done` holding exactly one line means the work ran to completion exactly
once, and the rows in the store can be compared with an undisturbed run's.

`--pipeline default` runs the real default stages (FFmpeg) with
`videopipe.testing.FakeProvider` instead, for the worker benchmark;
`--pipeline scenes` runs real scene detection on each video's original file
(`SIDE/V.start` written just before it starts), for the stop tests.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

import anyio

import videopipe as vp

SCENES_PER_VIDEO = 3
SEGMENTS_PER_VIDEO = 2


def expected_scenes(video_id: str) -> list[vp.Scene]:
    """The scenes an undisturbed run of the `work` stage saves for `video_id`."""
    return [
        vp.Scene(id=f"{video_id}-scene-{i}", video_id=video_id, idx=i, t_start=i, t_end=i + 1.0)
        for i in range(SCENES_PER_VIDEO)
    ]


def expected_segments(video_id: str) -> list[vp.TranscriptSegment]:
    """The transcript segments an undisturbed run of the `work` stage saves for `video_id`."""
    return [
        vp.TranscriptSegment(
            id=f"{video_id}-seg-{i}",
            video_id=video_id,
            idx=i,
            t_start=2.0 * i,
            t_end=2.0 * i + 2.0,
            text=f"sentence {i} of {video_id}",
        )
        for i in range(SEGMENTS_PER_VIDEO)
    ]


def _append(path: Path, line: str) -> None:
    # One write with O_APPEND: lines from several processes never interleave.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


class Work:
    """Sleep, maybe fail (poison), save deterministic rows, record the run in SIDE."""

    name = "work"
    requires = ()

    def __init__(self, side_dir: Path, seconds: float) -> None:
        self.side_dir = side_dir
        self.seconds = seconds

    async def run(self, ctx: vp.StageContext) -> dict[str, Any]:
        vid = ctx.video.id
        stamp = f"{os.getpid()} {ctx.job_id}"
        _append(self.side_dir / f"{vid}.start", stamp)
        seconds = self.seconds
        override = self.side_dir / f"{vid}.sleep"
        if override.exists():
            seconds = float(override.read_text())
        await anyio.sleep(seconds)
        if (self.side_dir / f"{vid}.poison").exists():
            _append(self.side_dir / f"{vid}.failed", stamp)
            raise RuntimeError(f"poisoned: {vid}")
        await ctx.store.save_scenes(vid, expected_scenes(vid))
        await ctx.store.save_segments(vid, expected_segments(vid))
        _append(self.side_dir / f"{vid}.done", stamp)
        return {"scenes": SCENES_PER_VIDEO, "segments": SEGMENTS_PER_VIDEO}


class Scenes:
    """Real scene detection of the video's original file, recorded in SIDE like `work`."""

    name = "scenes"
    requires = ()

    def __init__(self, side_dir: Path) -> None:
        self.side_dir = side_dir

    async def run(self, ctx: vp.StageContext) -> dict[str, Any]:
        from videopipe._media import detect_scenes

        vid = ctx.video.id
        stamp = f"{os.getpid()} {ctx.job_id}"
        _append(self.side_dir / f"{vid}.start", stamp)
        spans = await detect_scenes(ctx.video.original_path)
        _append(self.side_dir / f"{vid}.done", stamp)
        return {"scenes": len(spans)}


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--side-dir", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--sleep", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--lease", type=float, default=5.0)
    parser.add_argument("--grace", type=float, default=10.0)
    parser.add_argument("--worker-id", default=None)
    parser.add_argument(
        "--pipeline",
        choices=("work", "default", "scenes"),
        default="work",
        help="`work`: the stage above; `default`: the real default stages with FakeProvider; "
        "`scenes`: real scene detection of the original file",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    import logging

    args = parse(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format=f"%(asctime)s [{os.getpid()}] %(name)s %(levelname)s %(message)s",
    )
    args.side_dir.mkdir(parents=True, exist_ok=True)
    store = vp.open_store(args.dsn)
    data_dir = args.data_dir or args.side_dir / "data"
    if args.pipeline == "default":
        from videopipe.testing import FakeProvider

        pipeline = vp.Pipeline.default(store=store, provider=FakeProvider(), data_dir=data_dir)
    elif args.pipeline == "scenes":
        pipeline = vp.Pipeline([Scenes(args.side_dir)], store=store, data_dir=data_dir)
    else:
        pipeline = vp.Pipeline([Work(args.side_dir, args.sleep)], store=store, data_dir=data_dir)
    worker = vp.Worker(
        pipeline,
        concurrency=args.concurrency,
        lease=args.lease,
        poll_interval=0.05,
        max_poll_interval=0.5,
        grace_period=args.grace,
        backoff=vp.RetryPolicy(initial_delay=0.05, max_delay=0.2),
        worker_id=args.worker_id,
        handle_signals=True,
    )

    async def run() -> None:
        # The store is closed on the way out, so a clean stop leaves no session behind.
        async with store:
            await worker.run()

    anyio.run(run)
    return 0


if __name__ == "__main__":
    sys.exit(main())
