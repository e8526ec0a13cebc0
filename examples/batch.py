"""A directory of videos through `process_batch`, with a progress bar and an ok/failed summary.

    python examples/batch.py [DIRECTORY]

Without DIRECTORY it uses the generated samples, which include broken files
(empty, truncated, not a video): each fails alone with a typed error, and the
rest of the batch goes on.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio

import videopipe as vp


async def main(paths: list[Path], db: str) -> int:
    async with vp.open_store(db) as store:
        pipeline = vp.Pipeline.default(store=store, data_dir=os.environ.get("DATA_DIR", "data"))
        results = await vp.process_batch(
            paths, pipeline.run, concurrency=2, progress=True, largest_first=True
        )
    succeeded = [r for r in results if r.ok]
    print(f"Done: {len(succeeded)} succeeded, {len(results) - len(succeeded)} failed")
    for index, (path, result) in enumerate(zip(paths, results, strict=True)):
        match result:
            case vp.Ok(video):
                print(f"  #{index} ok      {path.name}: {video.video_id}")
            case vp.Err(error):
                print(f"  #{index} FAILED  {path.name}: {type(error).__name__}: {error}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1:
        paths = sorted(p for p in Path(sys.argv[1]).iterdir() if p.is_file())
    else:
        from _samples import samples

        made = samples()
        names = ["cuts.mp4", "silent.mp4", "portrait.mp4", "empty.mp4", "text.mp4", "truncated.mp4"]
        paths = [made[n] for n in names]
    db = os.environ.get("DATABASE_URL", "sqlite:///videopipe-demo.db")
    raise SystemExit(anyio.run(main, paths, db))
