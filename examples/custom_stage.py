"""Add your own stage to the default pipeline: here, a word count over the transcript.

    python examples/custom_stage.py [VIDEO]

A stage is any object with a `name`, the names it `requires`, and an async
`run(ctx)`; its output is recorded, and a re-run skips it like any other stage.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio

import videopipe as vp


class SceneStats:
    """Counts scenes and their mean length, and the transcript's words."""

    name = "scene_stats"
    requires = ("scenes", "transcribe")

    async def run(self, ctx: vp.StageContext) -> dict[str, float]:
        scenes = ctx.inputs["scenes"]
        segments = await ctx.store.list_segments(ctx.video.id)
        mean = sum(s.t_end - s.t_start for s in scenes) / len(scenes) if scenes else 0.0
        ctx.log.info("scene stats for %s: %d scenes", ctx.video.id, len(scenes))
        return {
            "scenes": len(scenes),
            "mean_scene_sec": round(mean, 2),
            "words": sum(len(s.text.split()) for s in segments),
        }


async def main(video: Path) -> int:
    async with vp.open_store("memory://") as store:
        pipeline = vp.Pipeline.default(store=store, data_dir=os.environ.get("DATA_DIR", "data"))
        pipeline = pipeline.add(SceneStats())
        result = await pipeline.run(video)
        print("scene_stats:", dict(result.stages["scene_stats"].detail))
        again = await pipeline.run(video)
        print("re-run resumed every stage:", all(o.resumed for o in again.stages.values()))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1:
        video = Path(sys.argv[1])
    else:
        from _samples import samples

        video = samples()["cuts.mp4"]
    raise SystemExit(anyio.run(main, video))
