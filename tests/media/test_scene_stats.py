"""Scene statistics from the normalize pass: the same scenes as decoding, and never stale ones.

`normalize(..., scene_stats=)` measures the frames it encodes (a small raw copy
split off in FFmpeg's filter graph, read from a pipe) into a stats file beside
the MP4; `detect_transitions` reads it when it belongs to that very file. The
scenes must be the ones decoding the MP4 gives: checked here on the generated
media, and in `test_transitions.py` on the transition clips.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

import videopipe as vp
from videopipe._media import detect_transitions, normalize, scene_stats_path
from videopipe._media._framestats import open_stats
from videopipe.stages import DetectScenes, Normalize
from videopipe.testing import MemoryStore

pytestmark = pytest.mark.timeout(120)


async def normalized(src: Path, out: Path) -> Path:
    video = out / "normalized.mp4"
    await normalize(src, video, out / "audio.wav", scene_stats=scene_stats_path(video))
    return video


@pytest.mark.parametrize(
    "name",
    ["cuts.mp4", "slides.mp4", "fades.mp4", "repeated.mp4", "vfr.mp4", "portrait.mp4", "odd.mp4"],
)
async def test_scenes_from_stored_stats_equal_scenes_from_decoding(media, name, tmp_path) -> None:
    """Same boundaries, kinds and picture spans, to the last bit, both ways."""
    video = await normalized(media[name], tmp_path)
    stats = open_stats(video)
    assert stats is not None
    decoded = await detect_transitions(video, stats=False)
    assert stats.frames == round(decoded[-1].end * 30)
    assert await detect_transitions(video) == decoded


async def test_detection_reads_the_stats_and_does_not_decode(media, tmp_path) -> None:
    """With the MP4's frames destroyed (its ends kept), the scenes still come from the stats."""
    video = await normalized(media["slides.mp4"], tmp_path)
    expected = await detect_transitions(video, stats=False)
    data = bytearray(video.read_bytes())
    edge = 32 * 1024  # what the stats file hashes at each end
    assert len(data) > 3 * edge
    data[edge:-edge] = bytes(len(data) - 2 * edge)
    video.write_bytes(bytes(data))
    assert await detect_transitions(video) == expected
    # Decoding what is left gives something else: the scenes above were not decoded.
    try:
        damaged = await detect_transitions(video, stats=False)
    except vp.MediaError:
        damaged = []
    assert damaged != expected


async def test_stats_of_another_version_of_the_file_are_not_trusted(media, tmp_path) -> None:
    """A changed or replaced MP4 (another normalize stage, older data): decode instead."""
    video = await normalized(media["cuts.mp4"], tmp_path)
    # A copy elsewhere (a download, a backup) keeps its statistics: they follow the content.
    copy = tmp_path / "copy" / "normalized.mp4"
    copy.parent.mkdir()
    shutil.copy(video, copy)
    shutil.copy(scene_stats_path(video), scene_stats_path(copy))
    assert open_stats(copy) is not None
    with copy.open("r+b") as file:
        file.seek(-1, os.SEEK_END)
        last = file.read(1)
        file.seek(-1, os.SEEK_END)
        file.write(bytes([last[0] ^ 1]))
    assert open_stats(copy) is None
    # Another normalize without stats over the same path: the old stats file stays, untrusted.
    await normalize(media["repeated.mp4"], video, tmp_path / "audio.wav")
    assert scene_stats_path(video).exists()
    assert open_stats(video) is None
    spans = await detect_transitions(video)
    assert spans == await detect_transitions(video, stats=False)
    assert len(spans) == 4


async def test_a_damaged_stats_file_falls_back_to_decoding(media, tmp_path) -> None:
    video = await normalized(media["cuts.mp4"], tmp_path)
    expected = await detect_transitions(video, stats=False)
    path = scene_stats_path(video)
    data = bytearray(path.read_bytes())
    data[40:60] = b"\xff" * 20  # inside the first compressed block; the trailer is intact
    path.write_bytes(bytes(data))
    assert open_stats(video) is not None
    assert await detect_transitions(video) == expected
    path.write_bytes(bytes(data[:-3]))  # no end marker: not even opened
    assert open_stats(video) is None


async def test_a_downscale_other_than_the_stored_size_decodes(media, tmp_path) -> None:
    video = await normalized(media["cuts.mp4"], tmp_path)
    assert open_stats(video, downscale=2.0) is None
    assert open_stats(video) is not None


async def test_the_pipeline_writes_stats_beside_the_normalized_file_and_uses_them(
    media, tmp_path
) -> None:
    """Normalize writes `normalized.scenestats`; the scenes stage finds what decoding finds."""
    store = MemoryStore()
    pipeline = vp.Pipeline([Normalize(), DetectScenes()], store=store, data_dir=tmp_path)
    result = await pipeline.run(media["cuts.mp4"])
    assert result.ok, result
    video = await store.get_video(result.video_id)
    assert video.normalized_path is not None
    assert open_stats(video.normalized_path) is not None
    scenes = await store.list_scenes(result.video_id)
    decoded = await detect_transitions(video.normalized_path, stats=False)
    assert [(s.t_start, s.t_end, s.transition_in) for s in scenes] == [
        (d.start, d.end, d.transition_in) for d in decoded
    ]


async def test_a_failing_ffmpeg_is_a_media_error_and_leaves_no_stats(media, tmp_path) -> None:
    """FFmpeg's failure comes out typed (not in an exception group), nothing half-written."""
    false = shutil.which("false")
    assert false is not None
    video = tmp_path / "normalized.mp4"
    with pytest.raises(vp.MediaError, match="FFmpeg failed to normalize"):
        await normalize(
            media["cuts.mp4"],
            video,
            tmp_path / "audio.wav",
            ffmpeg=false,
            scene_stats=scene_stats_path(video),
        )
    assert list(tmp_path.iterdir()) == []
