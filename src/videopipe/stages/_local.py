"""The local media stages: normalize (FFmpeg), scenes (PySceneDetect), frames (pHash dedup)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import anyio.to_thread

from .. import _media as media
from .._exceptions import InputNotFound, ObjectStoreError
from .._files import link_or_copy
from .._locations import is_url
from .._models import Frame, Scene, frame_id, scene_id
from .._stage import FRAMES, NORMALIZE, SCENES, StageContext
from .._sync import cancel_point

__all__ = ["DetectScenes", "ExtractFrames", "Normalize"]


def _normalized_path(ctx: StageContext) -> str:
    if ctx.video.normalized_path is None:  # pragma: no cover - normalize always sets it
        raise RuntimeError(f"video {ctx.video.id} has no normalized file: run 'normalize' first")
    return ctx.video.normalized_path


def _stats_location(video_location: str) -> str:
    """Where `Normalize` published the scene statistics of the video at `video_location`."""
    suffix = PurePosixPath(video_location).suffix
    stem = video_location[: -len(suffix)] if suffix else video_location
    return stem + media.scene_stats_path("v.mp4").suffix


async def _stats_beside(ctx: StageContext, location: str, video: Path) -> None:
    """Put the scene statistics published with the video at `location` beside its local copy.

    `detect_transitions` looks for them beside the file it is given. When they
    cannot be read (an older run, another normalize stage), it decodes instead.
    """
    beside = media.scene_stats_path(video)
    if await anyio.Path(beside).exists():
        return
    try:
        stats = await ctx.local_file(_stats_location(location))
    except (InputNotFound, ObjectStoreError) as exc:
        ctx.log.info("no scene statistics with %s (%s): decoding the video", location, exc)
        return
    await anyio.to_thread.run_sync(link_or_copy, stats, beside)


def _hashes(paths: list[Path], progress: Callable[[int], object] | None = None) -> list[str]:
    """The perceptual hash of each image; a cancelled stage stops between two images."""
    hashes = []
    for path in paths:
        cancel_point()
        hashes.append(media.phash(path))
        if progress is not None:
            progress(len(hashes))
    return hashes


class Normalize:
    """Convert the input to a 720p/30 fps H.264 + AAC MP4 and a 16 kHz mono WAV, in one FFmpeg pass.

    Never upscales; keeps the aspect ratio; applies rotation metadata. A video
    without audio still normalizes (and `has_audio` is recorded as `False`).
    The same pass writes the per-frame scene statistics beside the MP4
    (`normalized.scenestats`), so `DetectScenes` need not decode it again.

    Args:
        height: The largest output height.
        fps: The output frame rate.

    Note:
        Added in 0.1.0.
    """

    name = NORMALIZE
    requires: tuple[str, ...] = ()

    def __init__(self, *, height: int = 720, fps: int = 30) -> None:
        self.height = height
        self.fps = fps

    async def run(self, ctx: StageContext) -> dict[str, Any]:
        """Normalize `ctx.video` and record its duration, size and audio presence.

        The input is probed first and refused (`InputTooLarge`) when over a
        limit of `ctx.settings`: duration, frames, resolution; FFmpeg stops at
        `MAX_OUTPUT_BYTES`.
        """
        settings = ctx.settings
        # What a killed earlier run (kill -9 mid-write) left half-written.
        await anyio.to_thread.run_sync(media.sweep_parts, ctx.paths.processed)
        source = await ctx.local_file(ctx.video.original_path)
        probed = await media.probe(source)
        media.check_limits(
            probed,
            max_duration_sec=settings.max_input_duration_sec,
            max_frames=settings.max_decoded_frames,
            max_pixels=settings.max_input_pixels,
            fps=self.fps,
            max_memory_bytes=settings.worker_max_rss_mb * 2**20,
        )
        info = await media.normalize(
            source,
            ctx.paths.normalized,
            ctx.paths.audio,
            height=self.height,
            fps=self.fps,
            info=probed,
            max_output_bytes=settings.max_output_bytes,
            progress=functools.partial(ctx.report_progress, total=probed.duration_sec),
            # What the scenes stage measures, from the frames this pass decodes anyway.
            scene_stats=media.scene_stats_path(ctx.paths.normalized),
        )
        outputs = [ctx.paths.normalized, *([ctx.paths.audio] if info.has_audio else [])]
        # The scene statistics travel with the video (to a bucket too), unrecorded:
        # the scenes stage finds them beside it.
        stats = media.scene_stats_path(ctx.paths.normalized)
        extra = [stats] if await anyio.Path(stats).exists() else []
        normalized, *audio = (await ctx.publish(*outputs, *extra))[: len(outputs)]
        await ctx.update_video(
            normalized_path=normalized,
            audio_path=audio[0] if audio else None,
            duration_sec=info.duration_sec,
            width=info.width,
            height=info.height,
            has_audio=info.has_audio,
        )
        return {
            "duration_sec": info.duration_sec,
            "width": info.width,
            "height": info.height,
            "has_audio": info.has_audio,
        }


class DetectScenes:
    """Find the scenes, and how each begins and ends: cut, fade in or out, dissolve.

    PySceneDetect's `AdaptiveDetector` finds the cuts (flashes do not count),
    `ThresholdDetector`'s rule the fades through black, and a dissolve detector
    the cross-dissolves. It reads the per-frame statistics `Normalize` stored
    beside the video when they match it, and decodes the video only when they
    are missing or stale (data from an older version, another normalize stage).
    A black stretch is split between the scenes on either
    side (their `content_end` and `content_start` say where it lies), so no
    scene is black frames alone. A video with no cut is one scene. Writes `scenes`.

    Args:
        min_scene_len: Shortest scene, in seconds; by default the
            `SCENE_MIN_LEN_SEC` setting (0.5 s: PySceneDetect's 15 frames at 30 fps).

    Note:
        Added in 0.1.0. Transitions and `min_scene_len` added in 0.2.0.
    """

    name = SCENES
    requires = (NORMALIZE,)

    def __init__(self, *, min_scene_len: float | None = None) -> None:
        if min_scene_len is not None and not min_scene_len > 0:
            raise ValueError(f"min_scene_len must be positive seconds, not {min_scene_len!r}")
        self.min_scene_len = min_scene_len

    async def run(self, ctx: StageContext) -> list[Scene]:
        """Detect and store the scenes of the normalized video."""
        min_scene_len = self.min_scene_len or ctx.settings.scene_min_len_sec
        location = _normalized_path(ctx)
        video = await ctx.local_file(location)
        if is_url(location):
            await _stats_beside(ctx, location, video)
        spans = await media.detect_transitions(
            video,
            min_scene_len=min_scene_len,
            max_frames=ctx.settings.max_decoded_frames,
            progress=ctx.report_progress,
        )
        scenes = [
            Scene(
                id=scene_id(ctx.video.id, i),
                video_id=ctx.video.id,
                idx=i,
                t_start=span.start,
                t_end=span.end,
                transition_in=span.transition_in,
                transition_out=span.transition_out,
                content_start=span.content_start,
                content_end=span.content_end,
            )
            for i, span in enumerate(spans)
        ]
        await ctx.store.save_scenes(ctx.video.id, scenes)
        return scenes

    async def load(self, ctx: StageContext) -> list[Scene]:
        """The stored scenes, on a re-run."""
        return await ctx.store.list_scenes(ctx.video.id)


class ExtractFrames:
    """Save one representative frame per scene and mark near-duplicates.

    The frame is taken within the scene's picture (between `content_start` and
    `content_end`), never in a black stretch at its ends. Each frame is a JPEG at
    `frames/{id}/scene_{idx:03d}.jpg` with its
    perceptual hash; a frame within `max_distance` (Hamming distance of the
    hashes) of an earlier one gets `duplicate_of`, so vision skips it.

    Args:
        position: Where in its scene the frame is taken, from 0 (start) to 1 (end).
        max_distance: The largest Hamming distance between near-duplicates.

    Note:
        Added in 0.1.0.
    """

    name = FRAMES
    requires = (SCENES,)

    def __init__(self, *, position: float = 0.5, max_distance: int = 6) -> None:
        if not 0.0 <= position <= 1.0:
            raise ValueError(f"position must be between 0 and 1, not {position}")
        self.position = position
        self.max_distance = max_distance

    async def run(self, ctx: StageContext) -> list[Frame]:
        """Extract, hash and store the frames of the video's scenes."""
        scenes: list[Scene] = ctx.inputs[SCENES]
        times = [self._time(s) for s in scenes]
        paths = [ctx.paths.frame(s.idx) for s in scenes]
        await anyio.to_thread.run_sync(media.sweep_parts, ctx.paths.frames)
        await media.extract_frames(await ctx.local_file(_normalized_path(ctx)), times, paths)
        # Grabbing the frames is half the work, hashing them the other half.
        ctx.report_progress(len(paths), 2 * len(paths))
        hashes = await anyio.to_thread.run_sync(
            _hashes, paths, lambda n: ctx.report_progress(len(paths) + n, 2 * len(paths))
        )
        duplicates = media.mark_duplicates(hashes, self.max_distance)
        locations = await ctx.publish(*paths)
        frames = [
            Frame(
                id=frame_id(ctx.video.id, scene.idx),
                video_id=ctx.video.id,
                scene_id=scene.id,
                idx=scene.idx,
                t=t,
                path=location,
                phash=h,
                duplicate_of=None if dup is None else frame_id(ctx.video.id, scenes[dup].idx),
            )
            for scene, t, location, h, dup in zip(
                scenes, times, locations, hashes, duplicates, strict=True
            )
        ]
        await ctx.store.save_frames(ctx.video.id, frames)
        return frames

    def _time(self, scene: Scene) -> float:
        # Within the scene's picture: never in the black stretch at either end.
        start = scene.t_start if scene.content_start is None else scene.content_start
        end = scene.t_end if scene.content_end is None else scene.content_end
        return start + self.position * (end - start)

    async def load(self, ctx: StageContext) -> list[Frame]:
        """The stored frames, on a re-run."""
        return await ctx.store.list_frames(ctx.video.id)
