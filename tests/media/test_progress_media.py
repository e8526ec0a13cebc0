"""Progress inside a video on real media: FFmpeg's `-progress`, detector frames, frames hashed."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import anyio.to_thread
import pytest

import videopipe as vp
from videopipe._stage import DEFAULT_STAGE_NAMES
from videopipe.providers import Transcript
from videopipe.testing import FakeProvider, MemoryStore


class ReportingProvider(FakeProvider):
    """The fake provider, saying from a worker thread how far each transcription is."""

    async def transcribe_reporting(
        self,
        audio_path: str | os.PathLike[str],
        *,
        language: str | None = None,
        progress: Callable[[float], object],
    ) -> Transcript:
        transcript = await self.transcribe(audio_path, language=language)

        def decode() -> None:
            for segment in transcript.segments:
                progress(segment.end)

        await anyio.to_thread.run_sync(decode)
        return transcript


@pytest.mark.timeout(240)
async def test_the_default_stages_report_their_progress_on_a_real_clip(
    media, tmp_path: Path
) -> None:
    """Every stage shows; normalize and scenes move in media seconds; 100 % at the end."""
    pipeline = vp.Pipeline.default(
        store=MemoryStore(),
        provider=ReportingProvider(sentence_seconds=1.0),
        data_dir=tmp_path,
        settings=vp.Settings(_env_file=None),
    )
    seen: list[vp.RunProgress] = []
    result = await pipeline.run(media["cuts.mp4"], progress=seen.append)
    fractions = [p.fraction for p in seen]
    assert fractions == sorted(fractions)
    assert fractions[-1] == 1.0
    assert set(DEFAULT_STAGE_NAMES) <= {p.stage for p in seen}

    def stage_fractions(name: str) -> list[float]:
        return [
            s.fraction
            for p in seen
            for s in p.running
            if s.stage == name and s.fraction is not None
        ]

    # FFmpeg's last `-progress` report is the whole video, before the stage ends.
    assert stage_fractions("normalize")[-1] == pytest.approx(1.0, abs=0.05)
    # The detector reports once per second of video: several steps on the way.
    scenes = stage_fractions("scenes")
    duration = result.video.duration_sec
    assert duration is not None
    assert len([f for f in scenes if 0 < f < 1]) >= int(duration) - 2
    assert scenes == sorted(scenes)
    assert stage_fractions("frames")[-1] == 1.0
    # The provider's seconds heard, one per segment (a second each): steps on the way.
    heard = stage_fractions("transcribe")
    assert len([f for f in heard if 0 < f < 1]) >= int(duration) - 2
    assert heard[-1] == pytest.approx(1.0, abs=0.05)
