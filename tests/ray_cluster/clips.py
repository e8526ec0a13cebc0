"""Short generated clips for the Ray tests: distinct content, so distinct video IDs."""

from __future__ import annotations

import subprocess
from pathlib import Path

from videopipe._media import find_ffmpeg

PATTERNS = ("testsrc", "testsrc2", "smptebars", "rgbtestsrc")


def make_clips(out: Path, n: int, *, seconds: float = 2.0) -> list[Path]:
    """`n` clips of `seconds` at 320x240 with a tone, each different from the others."""
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = out / f"clip{i:02d}.mp4"
        if not path.exists():
            pattern = PATTERNS[i % len(PATTERNS)]
            subprocess.run(
                [
                    find_ffmpeg(),
                    "-nostdin",
                    "-loglevel",
                    "error",
                    "-y",
                    "-f",
                    "lavfi",
                    "-i",
                    f"{pattern}=size=320x240:rate=30:duration={seconds}",
                    "-f",
                    "lavfi",
                    "-i",
                    f"sine=frequency={300 + 40 * i}:duration={seconds}",
                    "-shortest",
                    "-c:v",
                    "libx264",
                    "-preset",
                    "ultrafast",
                    "-pix_fmt",
                    "yuv420p",
                    "-c:a",
                    "aac",
                    str(path),
                ],
                check=True,
            )
        paths.append(path)
    return paths
