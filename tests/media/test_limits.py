"""Limits per input: a hostile or unlucky file fails fast with an error naming the setting."""

from __future__ import annotations

import subprocess
from pathlib import Path

import anyio
import imageio_ffmpeg
import pytest

import videopipe as vp
from videopipe import _media as media
from videopipe.stages import DetectScenes, Normalize
from videopipe.storage import MemoryStore


@pytest.fixture(scope="module")
def long_gap(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two frames ten hours apart, 6 kB: the file of issue 19."""
    out = tmp_path_factory.mktemp("gap") / "longgap.mp4"
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            *("-nostdin", "-y", "-loglevel", "error", "-f", "lavfi"),
            *("-i", "testsrc=size=320x240:rate=1", "-frames:v", "2"),
            *("-vf", "setpts='if(eq(N,1),36000/TB,PTS)'", "-fps_mode", "passthrough", str(out)),
        ],
        check=True,
    )
    return out


def written(pattern: str) -> list[Path]:
    return list(Path("data").rglob(pattern))


async def run(path: Path, settings: vp.Settings, *stages: vp.Stage) -> vp.StageError:
    pipeline = vp.Pipeline(
        stages or [Normalize()], store=MemoryStore(), data_dir="data", settings=settings
    )
    with pytest.raises(vp.StageError) as info:
        await pipeline.run(path)
    return info.value


async def test_a_long_gap_file_fails_at_once_on_its_duration(long_gap: Path) -> None:
    """Ten hours of timestamps in 6 kB: probed, refused, nothing written, in seconds."""
    calls = media.ffmpeg_calls()
    error = await run(long_gap, vp.Settings())
    assert media.ffmpeg_calls() == calls  # refused on its probe: FFmpeg never ran
    cause = error.__cause__
    assert isinstance(cause, vp.InputTooLarge)
    assert cause.permanent
    assert cause.setting == "MAX_INPUT_DURATION_SEC"
    assert "MAX_INPUT_DURATION_SEC" in str(cause)
    assert "36001" in str(cause)
    assert not written("*.mp4")


async def test_the_frame_limit_counts_the_work_normalize_would_make(long_gap: Path) -> None:
    settings = vp.Settings(max_input_duration_sec=100_000, max_decoded_frames=100_000)
    cause = (await run(long_gap, settings)).__cause__
    assert isinstance(cause, vp.InputTooLarge)
    assert cause.setting == "MAX_DECODED_FRAMES"
    assert "MAX_DECODED_FRAMES" in str(cause)


async def test_the_resolution_limit(long_clip: Path) -> None:
    cause = (await run(long_clip, vp.Settings(max_input_pixels=320 * 200))).__cause__
    assert isinstance(cause, vp.InputTooLarge)
    assert cause.setting == "MAX_INPUT_PIXELS"
    assert "320x240" in str(cause)


@pytest.fixture(scope="module")
def full_hd(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two 1920x1080 frames: 2 Mpx, whose decoding needs ~16 MiB."""
    out = tmp_path_factory.mktemp("hd") / "hd.mp4"
    subprocess.run(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            *("-nostdin", "-y", "-loglevel", "error", "-f", "lavfi"),
            *("-i", "testsrc=size=1920x1080:rate=1", "-frames:v", "2", str(out)),
        ],
        check=True,
    )
    return out


async def test_a_frame_too_large_for_the_workers_memory_ceiling(full_hd: Path) -> None:
    """Refused on its probe, before decoding could take the worker past WORKER_MAX_RSS_MB."""
    calls = media.ffmpeg_calls()
    cause = (await run(full_hd, vp.Settings(worker_max_rss_mb=10))).__cause__
    assert isinstance(cause, vp.InputTooLarge)
    assert cause.permanent
    assert cause.setting == "WORKER_MAX_RSS_MB"
    assert cause.limit == 10
    assert "1920x1080" in str(cause)
    assert "WORKER_MAX_RSS_MB" in str(cause)
    assert media.ffmpeg_calls() == calls
    # The default ceiling lets it through.
    result = await vp.Pipeline([Normalize()], store=MemoryStore(), data_dir="data").run(full_hd)
    assert result.status is vp.VideoStatus.READY


async def test_the_output_size_limit_stops_ffmpeg(long_clip: Path) -> None:
    cause = (await run(long_clip, vp.Settings(max_output_bytes=50_000))).__cause__
    assert isinstance(cause, vp.InputTooLarge)
    assert cause.setting == "MAX_OUTPUT_BYTES"
    assert not written("*.mp4")
    assert not written("*.part")


async def test_scene_detection_counts_decoded_frames(long_clip: Path) -> None:
    """During the work too: a file whose frames outnumber its probe stops at the limit."""
    with pytest.raises(vp.InputTooLarge, match="MAX_DECODED_FRAMES") as info:
        await media.detect_scenes(long_clip, max_frames=300)
    assert info.value.limit == 300


class Slow:
    name = "slow"
    requires = ()

    async def run(self, ctx: vp.StageContext) -> None:
        await anyio.sleep(60)


async def test_a_stage_over_its_wall_clock_limit_fails_naming_it(long_clip: Path) -> None:
    error = await run(long_clip, vp.Settings(stage_timeout_sec=0.2), Slow())
    cause = error.__cause__
    assert isinstance(cause, vp.StageTimeout)
    assert isinstance(cause, TimeoutError)
    assert cause.setting == "STAGE_TIMEOUT_SEC"
    assert "'slow'" in str(cause)
    assert "STAGE_TIMEOUT_SEC" in str(cause)


def test_the_limits_have_safe_defaults() -> None:
    settings = vp.Settings()
    assert settings.max_input_duration_sec == 4 * 3600
    assert settings.max_decoded_frames == 500_000
    assert settings.max_input_pixels == 7680 * 4320
    assert settings.max_output_bytes == 8 * 1024**3
    assert settings.stage_timeout_sec == 2 * 3600
    assert settings.worker_max_rss_mb == 2048
    DetectScenes()  # the stage reads the limit from its context's settings
