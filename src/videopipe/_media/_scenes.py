"""Scene detection: hard cuts, fades through black and cross-dissolves in one decode.

PySceneDetect's `AdaptiveDetector` finds the cuts and its `ThresholdDetector`
the fades; `_Dissolves` finds cross-dissolves. Frames are decoded with PyAV in
a worker thread and shrunk before the detectors see them.
"""

from __future__ import annotations

import itertools
from array import array
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import numpy as np

from .._exceptions import CorruptMedia, InputTooLarge
from .._imports import quiet_tqdm_import
from .._sync import cancel_point
from ._probe import StrPath, _check_file, _even, _open_video, _reason

if TYPE_CHECKING:
    import numpy.typing as npt

# Measured on the generated fixtures (see benchmarks/bench_media.py): frames this
# small keep every cut within one frame and make colour conversion nearly free.
_SCENE_WIDTH = 256
# ThresholdDetector's default: a frame whose mean 8-bit value is below this is black.
_BLACK = 12.0


async def detect_scenes(
    video_path: StrPath,
    *,
    threshold: float = 3.0,
    min_scene_len: float = 0.5,
    downscale: float | None = None,
    fade_detection: bool = True,
    max_frames: int | None = None,
) -> list[tuple[float, float]]:
    """Split a video into scenes; return each scene's `(start, end)` in seconds.

    Hard cuts come from PySceneDetect's `AdaptiveDetector`, at the frame it
    reports. With `fade_detection`, two more detectors find gradual transitions,
    which `AdaptiveDetector` misses: PySceneDetect's `ThresholdDetector` for
    fades through black (the boundary is the middle of the dark stretch) and a
    cross-dissolve detector (the boundary is the middle of the dissolve). A
    gradual boundary closer than `min_scene_len` to a cut or to another boundary
    is dropped, so a transition yields one boundary; and a "cut" between two
    black frames, which `AdaptiveDetector` reports inside fades because hue is
    noise in the dark, gives way to the fade's boundary.

    The video is decoded once with PyAV, in a worker thread that checks for
    cancellation at every frame (a timeout or a worker's stop ends it within
    milliseconds), and each frame is shrunk (256 pixels on its long side by
    default) before the detectors see it.
    Times are presentation timestamps, so they are right on variable-frame-rate
    video too. The scenes cover the video without gaps; a video without any cut is
    one scene.

    Args:
        video_path: The video, normally the normalized MP4.
        threshold: `AdaptiveDetector`'s `adaptive_threshold`: how much a frame's
            change must exceed its neighbours' to count as a cut. Lower finds more.
        min_scene_len: Shortest scene, in seconds.
        downscale: Divide the frame size by this before detection; by default the
            long side becomes 256 pixels, as with PySceneDetect's own default.
        fade_detection: Also find fades through black and cross-dissolves.
        max_frames: Stop with `InputTooLarge` (`MAX_DECODED_FRAMES`) past this
            many frames: a file whose frames outnumber its probe cannot multiply work.

    Returns:
        `(start, end)` times in seconds, in order, contiguous.

    Raises:
        InputNotFound: The file does not exist.
        EmptyInput: The file is empty.
        NotAVideo: The file is not a video.
        CorruptMedia: No frame of the file decodes.
        InputTooLarge: More than `max_frames` frames.

    Examples:
        >>> await detect_scenes("processed/talk/normalized.mp4")  # doctest: +SKIP
        [(0.0, 12.4), (12.4, 31.033333), (31.033333, 60.0)]
    """
    return await anyio.to_thread.run_sync(
        lambda: _detect_scenes(
            Path(video_path),
            threshold=threshold,
            min_scene_len=min_scene_len,
            downscale=downscale,
            fade_detection=fade_detection,
            max_frames=max_frames,
        )
    )


class _Dissolves:
    """Finds cross-dissolves: spans whose every frame blends the span's two ends.

    In a dissolve from A to B each frame is `(1 - a) * A + a * B` with `a` rising
    with time, so the frames a quarter, half and three quarters into a window
    spanning it are close to the linear interpolation of the window's ends. A hard
    cut or motion is far from it; a brightness fade (one end a scaled copy of the
    other) is left to `ThresholdDetector`. Consecutive matching windows form one
    transition, kept only if the picture is steadier just before and just after
    it than during it: a slow, continuous change (a zoom into smooth content, a
    morphing pattern) is linear too, but never settles. Thumbnails are tiny, so
    this costs microseconds per frame.
    """

    def __init__(
        self,
        span: int,
        *,
        min_change: float = 25.0,
        max_residual: float = 0.1,
        max_steadiness: float = 0.35,
        max_length: int | None = None,
        dark: float = 24.0,
    ) -> None:
        self._span = max(4, span + span % 2)
        self._min_change = min_change
        self._max_residual = max_residual
        self._max_steadiness = max_steadiness
        self._max_length = max_length if max_length is not None else 8 * self._span
        self._dark = dark
        self._history: deque[npt.NDArray[np.float32]] = deque(
            maxlen=self._max_length + 3 * self._span + 2
        )
        self._last = -1  # index of the newest thumbnail
        self._run: list[int] = []  # end indices of consecutive matching windows
        self._pending: list[tuple[int, int]] = []  # (start, end) awaiting the frames after
        self.boundaries: list[int] = []

    def push(self, index: int, thumbnail: npt.NDArray[np.float32]) -> None:
        self._history.append(thumbnail)
        self._last = index
        if len(self._history) > self._span:
            first = self._at(index - self._span)
            assert first is not None
            change = float(np.mean(np.abs(thumbnail - first)))
            if change >= self._min_change and self._blends(index, first, thumbnail, change):
                self._run.append(index)
            else:
                self._close()
        while self._pending and self._pending[0][1] + self._span <= index:
            self._decide(*self._pending.pop(0))

    def finish(self) -> list[int]:
        self._close()
        for start, end in self._pending:
            self._decide(start, end)
        self._pending = []
        return self.boundaries

    def _at(self, index: int) -> npt.NDArray[np.float32] | None:
        offset = index - self._last + len(self._history) - 1
        return self._history[offset] if 0 <= offset < len(self._history) else None

    def _blends(
        self,
        end: int,
        first: npt.NDArray[np.float32],
        last: npt.NDArray[np.float32],
        change: float,
    ) -> bool:
        if float(first.mean()) < self._dark or float(last.mean()) < self._dark:
            return False
        gain = float(np.vdot(first, last) / max(float(np.vdot(first, first)), 1e-6))
        if float(np.mean(np.abs(last - gain * first))) < 0.3 * change:
            return False
        residual = 0.0
        for quarter in (1, 2, 3):
            position = quarter / 4
            frame = self._at(end - self._span + round(self._span * position))
            assert frame is not None
            residual += float(np.mean(np.abs(frame - (first + (last - first) * position))))
        return residual / 3 <= self._max_residual * change

    def _close(self) -> None:
        if self._run:
            # The transition runs from the first matching window's start to the last's end.
            self._pending.append((self._run[0] - self._span, self._run[-1]))
            self._run = []

    def _decide(self, start: int, end: int) -> None:
        if end - start > self._max_length:
            return
        first, last = self._at(start), self._at(end)
        if first is None or last is None:
            return
        rate = float(np.mean(np.abs(last - first))) / (end - start)
        for outside, inside in ((start - self._span, start), (end + self._span, end)):
            other = self._at(outside)
            if other is None:
                continue  # the video starts or ends there: nothing to compare
            steadiness = float(np.mean(np.abs(self._at(inside) - other))) / self._span  # type: ignore[operator]
            if steadiness > self._max_steadiness * rate:
                return
        self.boundaries.append((start + end) // 2)


def _detect_scenes(
    path: Path,
    *,
    threshold: float,
    min_scene_len: float,
    downscale: float | None,
    fade_detection: bool,
    max_frames: int | None,
) -> list[tuple[float, float]]:
    import av
    import cv2

    with quiet_tqdm_import():
        from scenedetect import AdaptiveDetector, FrameTimecode, ThresholdDetector

    _check_file(path)
    with _open_video(path) as (container, stream):
        # Not `skip_loop_filter`, though it saves a fifth of H.264 decoding: without
        # deblocking, each keyframe's change in blockiness reads as a cut on still shots.
        stream.thread_type = "AUTO"
        # A float: what PySceneDetect 0.6 accepts too (0.7 also takes a Fraction).
        fps = float(stream.average_rate or stream.guessed_rate or 30)
        width = int(stream.codec_context.width)
        height = int(stream.codec_context.height)
        factor = downscale if downscale else max(1.0, max(width, height) / _SCENE_WIDTH)
        small = (_even(max(16, width / factor)), _even(max(16, height / factor)))
        min_frames = max(1, round(min_scene_len * fps))
        # Detectors get frame indices; indices map back to presentation times below,
        # which keeps the times exact on variable frame rate video.
        adaptive = AdaptiveDetector(adaptive_threshold=threshold, min_scene_len=min_frames)
        fades = (
            ThresholdDetector(threshold=_BLACK, min_scene_len=min_frames)
            if fade_detection
            else None
        )
        dissolves = _Dissolves(round(fps / 2)) if fade_detection else None
        time_base = stream.time_base
        origin = stream.start_time or 0
        # Compact arrays: a 3-hour video is 324,000 frames.
        times = array("d")
        brightness = array("d")
        hard: list[Any] = []
        soft: list[Any] = []
        end = 0.0
        try:
            for frame in container.decode(stream):
                cancel_point()
                index = len(times)
                if max_frames is not None and index >= max_frames:
                    raise InputTooLarge(
                        f"{path} has more than {max_frames:,} frames: raise "
                        "MAX_DECODED_FRAMES to process it.",
                        setting="MAX_DECODED_FRAMES",
                        limit=max_frames,
                        path=path,
                    )
                if frame.pts is not None and time_base:
                    t = float((frame.pts - origin) * time_base)
                else:
                    t = times[-1] + 1 / fps if times else 0.0
                times.append(t)
                step = float(frame.duration * time_base) if frame.duration and time_base else 0.0
                end = max(end, t + (step or 1 / fps))
                image = _small_bgr(frame, small, cv2)
                timecode = FrameTimecode(index, fps=fps)
                hard += adaptive.process_frame(timecode, image)
                if fades is not None and dissolves is not None:
                    soft += fades.process_frame(timecode, image)
                    tiny = cv2.resize(image, (32, 18), interpolation=cv2.INTER_AREA)
                    thumbnail = np.asarray(tiny, dtype=np.float32)
                    # An area filter keeps the mean: the frame's brightness, for a
                    # twentieth of the cost of averaging the frame itself.
                    brightness.append(float(thumbnail.mean()))
                    dissolves.push(index, thumbnail)
        except av.error.FFmpegError as exc:
            if not times:
                raise CorruptMedia(
                    f"{path}: no video frame decodes ({_reason(exc)}).", path=path
                ) from exc
        if not times:
            raise CorruptMedia(f"{path}: the video stream holds no frame.", path=path)
        last = FrameTimecode(len(times) - 1, fps=fps)
        hard += adaptive.post_process(last)
        if fades is not None:
            soft += fades.post_process(last)
        soft_indices = [int(c.frame_num) for c in soft]
        if dissolves is not None:
            soft_indices += dissolves.finish()
    cut_indices = {min(int(c.frame_num), len(times) - 1) for c in hard}
    if fade_detection:
        # Hue and saturation are noise in near-black pixels, so AdaptiveDetector tends to
        # "cut" where a fade enters and leaves black. ThresholdDetector places the one
        # boundary of such a fade; a cut between two black frames is not a real one.
        cut_indices = {
            i
            for i in cut_indices
            if i == 0 or not (brightness[i] < _BLACK and brightness[i - 1] < _BLACK)
        }
    cut_times = sorted(times[i] for i in cut_indices)
    boundaries = _merge_boundaries(
        cut_times,
        [times[min(i, len(times) - 1)] for i in soft_indices],
        start=times[0],
        end=end,
        min_gap=min_scene_len,
    )
    edges = [times[0], *boundaries, end]
    return [(a, b) for a, b in itertools.pairwise(edges) if b > a]


def _small_bgr(frame: Any, size: tuple[int, int], cv2: Any) -> npt.NDArray[np.uint8]:
    """`frame` shrunk to `size` (even), as the BGR image PySceneDetect's detectors expect."""
    width, height = size
    if frame.format.name in ("yuv420p", "yuvj420p") and not (frame.width % 2 or frame.height % 2):
        # Shrinking the planes where they are, then converting the small picture, is
        # several times cheaper than FFmpeg's scaler converting the whole frame.
        luma, chroma = width * height, (width // 2) * (height // 2)
        small = np.empty(luma + 2 * chroma, np.uint8)  # I420: Y, then U, then V
        for index, offset, count in ((0, 0, luma), (1, luma, chroma), (2, luma + chroma, chroma)):
            divisor = 1 if index == 0 else 2
            plane = _plane(frame.planes[index], frame.height // divisor, frame.width // divisor)
            shrunk = _shrink(plane, (width // divisor, height // divisor), cv2)
            small[offset : offset + count] = shrunk.reshape(-1)
        image: npt.NDArray[np.uint8] = cv2.cvtColor(
            small.reshape(height * 3 // 2, width), cv2.COLOR_YUV2BGR_I420
        )
        return image
    converted: npt.NDArray[np.uint8] = frame.to_ndarray(
        format="bgr24", width=width, height=height, interpolation="AREA"
    )
    return converted


def _shrink(plane: npt.NDArray[np.uint8], size: tuple[int, int], cv2: Any) -> Any:
    """`plane` resized to `size`: halvings by box averaging, then a bilinear last step."""
    # OpenCV's area filter has a fast path for exact halving, and is 4-8 times slower
    # at other ratios; the last step shrinks by less than 2, where bilinear is enough.
    width, height = size
    while plane.shape[1] >= 2 * width and plane.shape[0] >= 2 * height:
        half = (plane.shape[1] // 2, plane.shape[0] // 2)
        plane = cv2.resize(plane, half, interpolation=cv2.INTER_AREA)
    if (plane.shape[1], plane.shape[0]) != size:
        plane = cv2.resize(plane, size, interpolation=cv2.INTER_LINEAR)
    return plane


def _plane(plane: Any, rows: int, columns: int) -> npt.NDArray[np.uint8]:
    """A zero-copy view of one image plane, without its row padding."""
    stride = int(plane.line_size)
    data = np.frombuffer(plane, np.uint8, count=stride * rows)
    return data.reshape(rows, stride)[:, :columns]


def _merge_boundaries(
    cuts: list[float], gradual: list[float], *, start: float, end: float, min_gap: float
) -> list[float]:
    """Hard cuts exactly as found, plus each gradual boundary not within `min_gap` of another."""
    kept = [t for t in cuts if start < t < end]
    # A small slack keeps a boundary exactly `min_gap` away (a frame-rounding tie).
    gap = min_gap - 1e-6
    for t in gradual:  # in priority order: fades through black first, then dissolves
        if t - start < gap or end - t < gap:
            continue
        if all(abs(t - other) >= gap for other in kept):
            kept.append(t)
    return sorted(kept)
