"""One video end to end with the embedded SQLite store.

    python examples/quickstart.py [VIDEO]

Without VIDEO it generates a sample clip (3 slides with burnt-in text and
spoken sentences). The AI stages run with OpenAI when OPENAI_API_KEY (or
OPENAI_BASE_URL for a local OpenAI-compatible server) is set; otherwise offline
with the local models when `videopipe[local]` is installed; otherwise they are
skipped with a one-line hint. It prints the scenes, the transcript and the
frame captions (the local provider has no vision model: its captions are the
text read on screen), then, with an AI provider, searches the video for
something said and something shown. It ends by writing the video's HTML report
and printing its path. docs/quickstart.md shows what it prints, and a test
checks that the two agree.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio

import videopipe as vp

# Something said and something shown in the sample clip.
SEARCHES = ("customers love the mobile app", "order code ZX-4471")


async def main(video: Path, db: str, data_dir: Path) -> int:
    async with vp.open_store(db) as store:
        pipeline = vp.Pipeline.default(store=store, data_dir=data_dir)
        provider = pipeline.provider
        if provider is None:
            print("provider: none (the AI stages will be skipped)")
        else:
            print(
                f"provider: {provider.name} (transcription {provider.transcription_model}, "
                f"vision {provider.vision_model}, embeddings {provider.embedding_model})"
            )
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
        for segment in segments:
            print(f"  said  {segment.t_start:5.1f}s  {segment.text}")
        for caption in await store.list_captions(result.video_id):
            # The local provider reads on-screen text (OCR) but writes no description.
            if caption.caption:
                print(f"  seen  {caption.t:5.1f}s  {caption.caption}")
            elif caption.ocr_text:
                print(f"  text  {caption.t:5.1f}s  {caption.ocr_text}")
        print(f"usage: {result.usage.requests} provider requests, ${result.usage.cost_usd:.4f}")
        if provider is not None and result.stages["embeddings"].status == "done":
            for query in SEARCHES:
                hits = await vp.search(store, query, provider=provider, k=2)
                print(f"search {query!r}:")
                for hit in hits:
                    print(f"  {hit}")
        # A self-contained HTML page (storyboard, transcript, captions, cost) and a contact sheet.
        report = await vp.write_report(store, result.video_id, data_dir / "reports")
        print(f"report: {report.html_path}")
        print(f"storyboard: {report.png_path}")
    return 0 if result.ok else 1


if __name__ == "__main__":
    if len(sys.argv) > 1:
        video = Path(sys.argv[1])
    else:
        from _samples import samples

        video = samples()["slides.mp4"]
    db = os.environ.get("DATABASE_URL", "sqlite:///videopipe-demo.db")
    raise SystemExit(anyio.run(main, video, db, Path(os.environ.get("DATA_DIR", "data"))))
