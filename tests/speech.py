"""Videos with speech at known times: espeak-ng sentences placed by FFmpeg, silence between."""

from __future__ import annotations

import os
import shutil
import subprocess
import wave
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from videopipe._media import find_ffmpeg

# Said at known times: two sentences 9 s apart that differ only by a number and a
# name, then a third after 7 s of silence. Before word timestamps, Whisper `tiny.en`
# returned the first two as one segment from 0.14 s, and the third as a segment
# starting at 11.06 s, where the second one ended.
MOMENTS: list[tuple[float, str]] = [
    (0.5, "Room twelve is booked for Peter."),
    (9.0, "Room fifteen is booked for Sarah."),
    (18.0, "The budget meeting starts at nine."),
]


def _ffmpeg(*args: str) -> None:
    cmd = [find_ffmpeg(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ffmpeg failed: {' '.join(cmd)}\n{done.stderr}")


def _audible(wav: Path) -> tuple[float, float]:
    """When the voice in `wav` starts and stops: its first and last sample over 1 % of the peak.

    espeak-ng ends a sentence with about 0.3 s of silence, which is not speech.
    """
    with wave.open(os.fspath(wav)) as w:
        rate = w.getframerate()
        samples = np.abs(np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(float))
    heard = np.flatnonzero(samples >= 0.01 * samples.max())
    return float(heard[0]) / rate, float(heard[-1] + 1) / rate


def spoken_video(
    out: Path, said: Sequence[tuple[float, str]] = MOMENTS, seconds: float = 21.0
) -> list[dict[str, Any]]:
    """Write `out` (an MP4 of a test pattern) saying each `(start, text)` at `start` seconds.

    Returns each sentence's `text` and when its voice is heard (`start`, `end`, seconds).
    """
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise RuntimeError("espeak-ng is missing: run `bash scripts/install-system-deps.sh`")
    args = ["-f", "lavfi", "-t", f"{seconds}", "-i", "testsrc2=size=320x240:rate=30"]
    chains, truth = [], []
    for i, (start, text) in enumerate(said):
        wav = out.with_name(f"{out.stem}_said{i}.wav")
        subprocess.run([espeak, "-s", "170", "-w", os.fspath(wav), text], check=True)
        onset, offset = _audible(wav)
        truth.append(
            {"start": round(start + onset, 3), "end": round(start + offset, 3), "text": text}
        )
        args += ["-i", os.fspath(wav)]
        chains.append(f"[{i + 1}:a]adelay=delays={round(start * 1000)}:all=1[s{i}]")
    mix = "".join(f"[s{i}]" for i in range(len(said)))
    graph = ";".join(chains) + (
        f";{mix}amix=inputs={len(said)}:normalize=0:duration=longest,aresample=48000,apad[a]"
    )
    _ffmpeg(
        *args,
        "-filter_complex",
        graph,
        "-map",
        "0:v",
        "-map",
        "[a]",
        "-c:v",
        "libx264",
        "-preset",
        "ultrafast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-t",
        f"{seconds}",
        os.fspath(out),
    )
    return truth
