"""Scene detection: hard cuts, fades through black or white, and cross-dissolves.

PySceneDetect's `AdaptiveDetector` finds the cuts, `_Flashes` drops those the
picture comes back from; fades follow `ThresholdDetector`'s rule on each frame's
mean, and `_Dissolves` finds cross-dissolves. They see each frame through the
measures of `_framestats` (taken on a shrunk copy): read from the stats file
`normalize()` wrote, or computed from frames decoded with PyAV, in a worker thread.
"""

from __future__ import annotations

from array import array
from collections import deque
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import anyio
import anyio.to_thread
import numpy as np

from .._exceptions import CorruptMedia, InputTooLarge
from .._imports import quiet_tqdm_import
from .._models import TransitionKind
from .._sync import cancel_point
from ._framestats import Measures, StaleStats, detector_size, open_stats
from ._probe import StrPath, _check_file, _open_video, _reason

if TYPE_CHECKING:
    import numpy.typing as npt

# ThresholdDetector's default: a frame whose mean 8-bit value is below this is black.
_BLACK = 12.0
# Its mirror for white (ThresholdDetector's `Method.CEILING` at 255 - 12): a frame whose
# mean is at least this is white.
_WHITE = 255.0 - _BLACK
# A stretch is entered or left by a cut, not a fade, when the picture on the other
# side is at least this bright: a fade steps down a little at a time.
_ABRUPT = 2 * _BLACK
# Standard deviation (8-bit) of a 32x18 thumbnail below which a frame is flat (one colour).
_FLAT = 2.0


class SceneSpan(NamedTuple):
    """One scene found by `detect_transitions`: its span, how it begins and ends, its picture."""

    start: float
    end: float
    transition_in: TransitionKind | None
    """`cut`, `fade_in` or `dissolve`; `None` when the video starts on this scene's picture."""
    transition_out: TransitionKind | None
    """`cut`, `fade_out` or `dissolve`; `None` when the video ends on this scene's picture."""
    content_start: float
    """Where the picture starts: `start`, or the end of the black or white stretch it opens with."""
    content_end: float
    """Where the picture ends: `end`, or the start of the black or white stretch it closes with."""


async def detect_scenes(
    video_path: StrPath,
    *,
    threshold: float = 3.0,
    min_scene_len: float = 0.5,
    downscale: float | None = None,
    fade_detection: bool = True,
    max_frames: int | None = None,
    stats: bool = True,
) -> list[tuple[float, float]]:
    """Split a video into scenes; return each scene's `(start, end)` in seconds.

    The spans of `detect_transitions`, which takes the same arguments and also
    says how each scene begins and ends.

    Examples:
        >>> await detect_scenes("processed/talk/normalized.mp4")  # doctest: +SKIP
        [(0.0, 12.4), (12.4, 31.033333), (31.033333, 60.0)]
    """
    spans = await detect_transitions(
        video_path,
        threshold=threshold,
        min_scene_len=min_scene_len,
        downscale=downscale,
        fade_detection=fade_detection,
        max_frames=max_frames,
        stats=stats,
    )
    return [(span.start, span.end) for span in spans]


async def detect_transitions(
    video_path: StrPath,
    *,
    threshold: float = 3.0,
    min_scene_len: float = 0.5,
    downscale: float | None = None,
    fade_detection: bool = True,
    max_frames: int | None = None,
    progress: Callable[[float], object] | None = None,
    stats: bool = True,
) -> list[SceneSpan]:
    """Split a video into scenes, and say how each boundary happens.

    Hard cuts come from PySceneDetect's `AdaptiveDetector`, at the frame it
    reports, less flashes: a "cut" after which the picture comes back within a
    quarter of a second is a flash (a photographer's flash, a white frame) and
    splits nothing. With `fade_detection`, gradual transitions are found too:

    - Fades through black, by `ThresholdDetector`'s rule: frames whose mean
      8-bit value is below 12 are black, and a black stretch between two pictures
      is a boundary at its middle. A change of picture inside the dark stretch (a
      cut between two dim pictures) is the boundary instead, at its frame. The
      stretch itself is split between the two scenes, each side recorded as
      `content_end` / `content_start`, so no scene is black frames alone; a
      "cut" `AdaptiveDetector` reports where a picture meets a flat black frame
      (hue is noise in the dark) is the stretch's edge, not a boundary. A fade to
      black at the end ends the last scene (`transition_out="fade_out"`, its
      `content_end` where the picture goes black), and a fade in from black at the
      start begins the first.
    - Fades through white, the same way: frames whose mean is at least 243
      (`ThresholdDetector`'s `Method.CEILING` at 255 - 12) are white, and a white
      stretch is split between its neighbours like a black one. A white stretch
      shorter than a quarter of a second is a flash and splits nothing.
    - Cross-dissolves (the boundary is the middle of the dissolve, or the frame
      where `AdaptiveDetector` cuts inside it).

    A gradual boundary closer than `min_scene_len` to another is dropped, so a
    transition yields one boundary.

    The detectors see each frame through its measures (PySceneDetect's
    `content_val`, its mean value, a thumbnail) taken on a copy shrunk to 256
    pixels on its long side by default. When `normalize()` wrote them beside
    the video (`normalized.scenestats`, from the frames it decoded anyway) and
    they match this very file, they are read from there; otherwise the video is
    decoded with PyAV. Either way the work runs in a worker thread that checks
    for cancellation at every frame (a timeout or a worker's stop ends it within
    milliseconds), and the scenes are the same.
    Times are presentation timestamps, so they are right on variable-frame-rate
    video too. The scenes cover the video without gaps; a video without any cut is
    one scene.

    Args:
        video_path: The video, normally the normalized MP4.
        threshold: `AdaptiveDetector`'s `adaptive_threshold`: how much a frame's
            change must exceed its neighbours' to count as a cut. Lower finds more.
        min_scene_len: Shortest scene, in seconds: PySceneDetect's `min_scene_len`
            (which counts frames), converted at the video's frame rate.
        downscale: Divide the frame size by this before detection; by default the
            long side becomes 256 pixels, as with PySceneDetect's own default.
        fade_detection: Also find fades through black and cross-dissolves.
        max_frames: Stop with `InputTooLarge` (`MAX_DECODED_FRAMES`) past this
            many frames: a file whose frames outnumber its probe cannot multiply work.
        progress: Called with the media seconds decoded so far, about once per
            second of video and once at the end, from the decoding thread: it must
            be quick and thread-safe (set a number; for async code, hand it over
            with `anyio.from_thread`).
        stats: Read the per-frame statistics stored beside the video when they
            are there and match it; `False` always decodes.

    Returns:
        The scenes in order, contiguous.

    Raises:
        InputNotFound: The file does not exist.
        EmptyInput: The file is empty.
        NotAVideo: The file is not a video.
        CorruptMedia: No frame of the file decodes.
        InputTooLarge: More than `max_frames` frames.

    Examples:
        >>> spans = await detect_transitions("processed/talk/normalized.mp4")  # doctest: +SKIP
        >>> [(s.start, s.transition_in) for s in spans]  # doctest: +SKIP
        [(0.0, None), (12.4, 'cut'), (31.266667, 'fade_in')]
    """
    return await anyio.to_thread.run_sync(
        lambda: _detect_scenes(
            Path(video_path),
            threshold=threshold,
            min_scene_len=min_scene_len,
            downscale=downscale,
            fade_detection=fade_detection,
            max_frames=max_frames,
            progress=progress,
            stats=stats,
        )
    )


class _Flashes:
    """Tells flashes from cuts: after a flash, the picture comes back.

    A candidate cut waits `window` frames; if a frame in that time is close to the
    frame before the cut again, the "cut" was a flash (a white frame, a camera
    flash, a glitch) and is dropped. Each candidate also records whether it meets
    a flat frame (a black or white screen), which makes it the edge of a stretch.
    """

    def __init__(self, window: int, *, back: float = 0.35) -> None:
        self._window = max(1, window)
        self.window = self._window
        self._back = back
        self._recent: deque[tuple[int, npt.NDArray[np.float32]]] = deque(maxlen=self._window + 8)
        self._pending: list[tuple[int, npt.NDArray[np.float32], float, bool]] = []
        self.cuts: list[tuple[int, bool]] = []  # (frame index, meets a flat frame)

    def push(self, index: int, thumbnail: npt.NDArray[np.float32]) -> None:
        self._recent.append((index, thumbnail))
        self._pending = [p for p in self._pending if not self._check(p, index, thumbnail)]

    def candidate(self, cut: int) -> None:
        frames = dict(self._recent)
        before, after = frames.get(cut - 1), frames.get(cut)
        if before is None or after is None:
            self.cuts.append((cut, False))
            return
        change = float(np.mean(np.abs(after - before)))
        flat = min(float(before.std()), float(after.std())) < _FLAT
        pending = (cut, before, change, flat)
        for index, thumbnail in self._recent:
            if index > cut and self._check(pending, index, thumbnail):
                return
        self._pending.append(pending)

    def finish(self) -> list[tuple[int, bool]]:
        self.cuts += [(cut, flat) for cut, _, _, flat in self._pending]
        self._pending = []
        return sorted(self.cuts)

    def _check(
        self,
        pending: tuple[int, npt.NDArray[np.float32], float, bool],
        index: int,
        thumbnail: npt.NDArray[np.float32],
    ) -> bool:
        """Whether `pending` is decided at frame `index` (a flash dropped, or a cut kept)."""
        cut, before, change, flat = pending
        if float(np.mean(np.abs(thumbnail - before))) < self._back * change:
            return True  # the picture came back: a flash
        if index - cut >= self._window:
            self.cuts.append((cut, flat))
            return True
        return False


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
        self.spans: list[tuple[int, int]] = []  # (first, last) frame of each dissolve found

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
        for a, b in ((first, last), (255.0 - first, 255.0 - last)):
            # A fade to or from black (or white): one end a scaled copy of the other.
            if float(a.mean()) < self._dark or float(b.mean()) < self._dark:
                return False
            gain = float(np.vdot(a, b) / max(float(np.vdot(a, a)), 1e-6))
            if float(np.mean(np.abs(b - gain * a))) < 0.3 * change:
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
        self.spans.append((start, end))
        self.boundaries.append((start + end) // 2)


def _detect_scenes(
    path: Path,
    *,
    threshold: float,
    min_scene_len: float,
    downscale: float | None,
    fade_detection: bool,
    max_frames: int | None,
    progress: Callable[[float], object] | None = None,
    stats: bool = True,
) -> list[SceneSpan]:
    _check_file(path)
    stored = open_stats(path, downscale=downscale) if stats else None
    if stored is not None:
        try:
            return _analyse(
                path,
                stored.fps,
                ((i / stored.fps, 1 / stored.fps, m) for i, m in enumerate(stored.records())),
                threshold=threshold,
                min_scene_len=min_scene_len,
                fade_detection=fade_detection,
                max_frames=max_frames,
                progress=progress,
            )
        except StaleStats:
            pass  # damaged after all: decode, as without a stats file
    with _open_video(path) as (container, stream):
        # Not `skip_loop_filter`, though it saves a fifth of H.264 decoding: without
        # deblocking, each keyframe's change in blockiness reads as a cut on still shots.
        stream.thread_type = "AUTO"
        # A float: what PySceneDetect 0.6 accepts too (0.7 also takes a Fraction).
        fps = float(stream.average_rate or stream.guessed_rate or 30)
        size = detector_size(
            int(stream.codec_context.width), int(stream.codec_context.height), downscale
        )
        return _analyse(
            path,
            fps,
            _decoded(path, container, stream, fps, size),
            threshold=threshold,
            min_scene_len=min_scene_len,
            fade_detection=fade_detection,
            max_frames=max_frames,
            progress=progress,
        )


_Measured = tuple[float, float, tuple[float, float, "npt.NDArray[np.uint8]"]]


def _decoded(
    path: Path, container: Any, stream: Any, fps: float, size: tuple[int, int]
) -> Iterator[_Measured]:
    """`(time, duration, measures)` of each frame of `stream`, decoded with PyAV."""
    import av
    import cv2

    measures = Measures(fps)
    time_base = stream.time_base
    origin = stream.start_time or 0
    last: float | None = None
    try:
        for frame in container.decode(stream):
            if frame.pts is not None and time_base:
                t = float((frame.pts - origin) * time_base)
            else:
                t = last + 1 / fps if last is not None else 0.0
            last = t
            step = float(frame.duration * time_base) if frame.duration and time_base else 0.0
            yield t, step, measures.measure(_small_bgr(frame, size, cv2))
    except av.error.FFmpegError as exc:
        if last is None:
            raise CorruptMedia(
                f"{path}: no video frame decodes ({_reason(exc)}).", path=path
            ) from exc


def _scored_adaptive(threshold: float, min_frames: int) -> Any:
    """PySceneDetect's `AdaptiveDetector`, fed each frame's `content_val` instead of the frame.

    Set `.score` before each `process_frame`: the score `Measures` computed with
    PySceneDetect's own `ContentDetector`, so the cuts are `AdaptiveDetector`'s.
    """
    from scenedetect import AdaptiveDetector

    class ScoredAdaptive(AdaptiveDetector):  # type: ignore[misc]
        score = 0.0

        def _calculate_frame_score(self, timecode: Any, frame_img: Any) -> float:
            return self.score

    return ScoredAdaptive(adaptive_threshold=threshold, min_scene_len=min_frames)


def _analyse(
    path: Path,
    fps: float,
    frames: Iterator[_Measured],
    *,
    threshold: float,
    min_scene_len: float,
    fade_detection: bool,
    max_frames: int | None,
    progress: Callable[[float], object] | None,
) -> list[SceneSpan]:
    """The scenes of a video from the measures of its frames, decoded or stored."""
    with quiet_tqdm_import():
        from scenedetect import FrameTimecode

    min_frames = max(1, round(min_scene_len * fps))
    # Detectors get frame indices; indices map back to presentation times below,
    # which keeps the times exact on variable frame rate video.
    adaptive = _scored_adaptive(threshold, min_frames)
    flashes = _Flashes(round(fps / 4))
    # Two window lengths: a 0.5 s dissolve fits in the short one, and each window
    # of a 2 s one changes enough in the long one.
    dissolves = [_Dissolves(round(fps / 4)), _Dissolves(round(fps / 2))] if fade_detection else None
    # Compact arrays: a 3-hour video is 324,000 frames.
    times = array("d")
    brightness = array("d")
    end = reported = 0.0
    for index, (t, step, (score, mean, tiny)) in enumerate(frames):
        cancel_point()
        if max_frames is not None and index >= max_frames:
            raise InputTooLarge(
                f"{path} has more than {max_frames:,} frames: raise "
                "MAX_DECODED_FRAMES to process it.",
                setting="MAX_DECODED_FRAMES",
                limit=max_frames,
                path=path,
            )
        times.append(t)
        end = max(end, t + (step or 1 / fps))
        if progress is not None and end >= reported + 1.0:
            reported = end
            progress(end)
        thumbnail = np.asarray(tiny, dtype=np.float32)
        flashes.push(index, thumbnail)
        adaptive.score = score
        for cut in adaptive.process_frame(FrameTimecode(index, fps=fps), None):
            flashes.candidate(int(cut.frame_num))
        if dissolves is not None:
            brightness.append(mean)
            for finder in dissolves:
                finder.push(index, thumbnail)
    if not times:
        raise CorruptMedia(f"{path}: the video stream holds no frame.", path=path)
    for cut in adaptive.post_process(FrameTimecode(len(times) - 1, fps=fps)):
        flashes.candidate(int(cut.frame_num))
    if progress is not None and end > reported:
        progress(end)
    cuts = [(min(i, len(times) - 1), flat) for i, flat in flashes.finish() if i > 0]
    if dissolves is None:
        found = [_Boundary(i, "cut", "cut") for i, _ in cuts]
        return _spans(found, times, end, min_gap=min_scene_len)
    dissolve_spans = []
    for finder in dissolves:
        finder.finish()
        dissolve_spans += finder.spans
    return _spans(
        _boundaries(
            cuts,
            brightness,
            _union(dissolve_spans),
            min_frames=min_frames,
            min_white=flashes.window + 1,
        ),
        times,
        end,
        min_gap=min_scene_len,
        lead=_lead(brightness),
        tail=_tail(brightness),
    )


def _union(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping `(first, last)` spans merged."""
    merged: list[tuple[int, int]] = []
    for first, last in sorted(spans):
        if merged and first <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


class _Boundary(NamedTuple):
    """A boundary before frame `at`: how the scene before ends and the one after begins."""

    at: int
    out: TransitionKind
    into: TransitionKind
    gradual: int = 0  # 0: a cut, placed exactly; 1: a fade's middle; 2: a dissolve's
    content_end: int | None = None  # the first black frame before it, if any
    content_start: int | None = None  # the first picture after a black stretch, if any


def _shade(value: float) -> int:
    """0 for a picture, 1 for a black frame, 2 for a white one."""
    return 1 if value < _BLACK else 2 if value >= _WHITE else 0


def _abrupt(value: float, shade: int) -> bool:
    """Whether a frame of mean `value` next to a stretch of `shade` is a cut away from it.

    A fade steps towards black (or white) a little at a time; a picture at
    least `_ABRUPT` away from the stretch's side is a cut.
    """
    return value >= _ABRUPT if shade == 1 else value <= 255.0 - _ABRUPT


def _flat_runs(brightness: array[float], min_white: int) -> list[tuple[int, int]]:
    """`(first, after)` frame indices of each black stretch, and each white one.

    A white stretch shorter than `min_white` frames is a flash (a white frame, a
    photographer's flash), not a stretch: it splits nothing.
    """
    runs, first, shade = [], 0, 0
    for index, value in enumerate([*brightness, 128.0]):
        now = _shade(value)
        if now != shade:
            if shade == 1 or (shade == 2 and index - first >= min_white):
                runs.append((first, index))
            first, shade = index, now
    return runs


def _lead(brightness: array[float]) -> tuple[int, TransitionKind] | None:
    """Where the picture starts, and how, when the video opens on black or white."""
    shade = _shade(brightness[0]) if brightness else 0
    first = 0
    while first < len(brightness) and shade and _shade(brightness[first]) == shade:
        first += 1
    if 0 < first < len(brightness):
        return first, "cut" if _abrupt(brightness[first], shade) else "fade_in"
    return None


def _tail(brightness: array[float]) -> tuple[int, TransitionKind] | None:
    """Where the picture ends, and how, when the video closes on black or white."""
    shade = _shade(brightness[-1]) if brightness else 0
    last = len(brightness)
    while last > 0 and shade and _shade(brightness[last - 1]) == shade:
        last -= 1
    if 0 < last < len(brightness):
        return last, "cut" if _abrupt(brightness[last - 1], shade) else "fade_out"
    return None


def _boundaries(
    cuts: list[tuple[int, bool]],
    brightness: array[float],
    dissolve_spans: list[tuple[int, int]],
    *,
    min_frames: int,
    min_white: int,
) -> list[_Boundary]:
    """The cuts, fades and dissolves of a video, from what the decode loop measured."""
    runs = _flat_runs(brightness, min_white)
    dark = [False] * len(brightness)
    run_of: dict[int, int] = {}
    for number, (first, after) in enumerate(runs):
        for index in range(first, after):
            dark[index] = True
            run_of[index] = number
    hard: list[int] = []
    in_the_dark: dict[int, int] = {}  # run number: a change of picture inside it
    for index, flat in cuts:
        if not dark[index] and not dark[index - 1]:
            hard.append(index)
        elif dark[index] and dark[index - 1] and not flat:
            # Two dim pictures, neither a flat black screen: a real cut in the dark.
            in_the_dark.setdefault(run_of[index], index)
        # Else the picture meets black: the edge of the stretch, not a boundary.
    found: list[_Boundary] = []
    for index in hard:
        inside = any(first - 2 <= index <= last + 2 for first, last in dissolve_spans)
        kind: TransitionKind = "dissolve" if inside else "cut"
        found.append(_Boundary(index, kind, kind))
    for first, last in dissolve_spans:
        if not any(first - 2 <= index <= last + 2 for index in hard):
            found.append(_Boundary((first + last) // 2, "dissolve", "dissolve", gradual=2))
    last_fade_in = 0
    for number, (first, after) in enumerate(runs):
        if first == 0 or after == len(brightness):
            continue  # the video opens or closes on black: see _lead and _tail
        shade = _shade(brightness[first])
        out: TransitionKind = "cut" if _abrupt(brightness[first - 1], shade) else "fade_out"
        into: TransitionKind = "cut" if _abrupt(brightness[after], shade) else "fade_in"
        if number in in_the_dark:
            found.append(_Boundary(in_the_dark[number], out, into, 0, first, after))
        elif after - last_fade_in >= min_frames:  # ThresholdDetector's rule and placement
            middle = first + round((after - first) / 2)
            found.append(_Boundary(middle, out, into, 1, first, after))
            last_fade_in = after
    return found


def _spans(
    found: list[_Boundary],
    times: array[float],
    end: float,
    *,
    min_gap: float,
    lead: tuple[int, TransitionKind] | None = None,
    tail: tuple[int, TransitionKind] | None = None,
) -> list[SceneSpan]:
    """The scenes between the boundaries kept: every cut, and gradual ones `min_gap` apart."""
    start = times[0]
    # A small slack keeps a boundary exactly `min_gap` away (a frame-rounding tie).
    gap = min_gap - 1e-6
    kept: list[_Boundary] = []
    for boundary in sorted(found, key=lambda b: (b.gradual, b.at)):
        t = times[boundary.at]
        if not start < t < end:
            continue
        if boundary.gradual and (
            t - start < gap
            or end - t < gap
            or any(abs(t - times[other.at]) < gap for other in kept)
        ):
            continue
        kept.append(boundary)
    kept.sort(key=lambda b: b.at)
    spans = []
    for number in range(len(kept) + 1):
        before = kept[number - 1] if number else None
        after = kept[number] if number < len(kept) else None
        a = times[before.at] if before else start
        b = times[after.at] if after else end
        if b <= a:
            continue
        into = before.into if before else (lead[1] if lead else None)
        out = after.out if after else (tail[1] if tail else None)
        first = before.content_start if before else (lead[0] if lead else None)
        last = after.content_end if after else (tail[0] if tail else None)
        content_start = times[first] if first is not None else a
        content_end = times[last] if last is not None else b
        if not a <= content_start < content_end <= b:
            content_start, content_end = a, b
        spans.append(SceneSpan(a, b, into, out, content_start, content_end))
    return spans


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
