"""One video end to end with the embedded SQLite store.

    python examples/quickstart.py [VIDEO]

Without VIDEO it generates a sample clip (4 scenes, spoken sentences). With
OPENAI_API_KEY (or OPENAI_BASE_URL for a local OpenAI-compatible server) set,
the AI stages run for real; without, they are skipped with a one-line hint.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio

import videopipe as vp


async def main(video: Path, db: str, data_dir: Path) -> int:
    async with vp.open_store(db) as store:
        pipeline = vp.Pipeline.default(store=store, data_dir=data_dir)
        result = await pipeline.run(video)
        print(result)
        skipped = {
            n: o.detail["skipped"] for n, o in result.stages.items() if "skipped" in o.detail
        }
        for reason in dict.fromkeys(skipped.values()):
            names = ", ".join(n for n, r in skipped.items() if r == reason)
            print(f"note: {names} skipped: {reason}")
        scenes = await store.list_scenes(result.video_id)
        frames = await store.list_frames(result.video_id)
        segments = await store.list_segments(result.video_id)
        print(f"{len(scenes)} scenes, {len(frames)} frames, {len(segments)} transcript segments")
        for scene, frame in zip(scenes, frames, strict=True):
            print(f"  scene {scene.idx}: {scene.t_start:6.2f}s - {scene.t_end:6.2f}s  {frame.path}")
        print(f"usage: {result.usage.requests} provider requests, ${result.usage.cost_usd:.4f}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    if len(sys.argv) > 1:
        video = Path(sys.argv[1])
    else:
        from _samples import samples

        video = samples()["cuts.mp4"]
    db = os.environ.get("DATABASE_URL", "sqlite:///videopipe-demo.db")
    raise SystemExit(anyio.run(main, video, db, Path(os.environ.get("DATA_DIR", "data"))))
