"""Frames: grabbing JPEGs at given times, and perceptual hashes to spot duplicates.

`extract_frames()` saves each requested frame in one decode pass (PyAV, in a
worker thread); `phash()`, `hamming()` and `mark_duplicates()` find frames
that show the same picture, so that only one of them is captioned.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import numpy as np

from .._exceptions import CorruptMedia
from .._sync import cancel_point
from ._ffmpeg import _temp_sibling
from ._probe import StrPath, _check_file, _open_video, _reason, _rotation

# --- frames ---------------------------------------------------------------------------------


async def extract_frames(
    video_path: StrPath, times: Sequence[float], out_paths: Sequence[StrPath]
) -> None:
    """Save the frame shown at each of `times` (seconds) as a JPEG at the matching path.

    One decode pass, in time order, in a worker thread that checks for
    cancellation at every frame: the decoder seeks (to the keyframe before a
    time) only where that skips decoding, and otherwise reads on. Each JPEG
    (quality 90, rotation applied) is written under a temporary name and renamed,
    so a reader never sees half an image. Missing parent directories are created.

    Args:
        video_path: The video, normally the normalized MP4.
        times: Where to grab, in seconds; any order, repeats allowed. A time past
            the end gets the last frame.
        out_paths: One JPEG path per time.

    Raises:
        ValueError: `times` and `out_paths` differ in length.
        InputNotFound: The video does not exist.
        NotAVideo: The file is not a video.
        CorruptMedia: The video cannot be decoded.
    """
    if len(times) != len(out_paths):
        raise ValueError(
            f"extract_frames() needs one path per time: got {len(times)} times and "
            f"{len(out_paths)} paths"
        )
    if not times:
        return
    await anyio.to_thread.run_sync(
        _extract_frames, Path(video_path), list(times), [Path(p) for p in out_paths]
    )


def _extract_frames(path: Path, times: list[float], out_paths: list[Path]) -> None:
    import av

    _check_file(path)
    order = sorted(range(len(times)), key=lambda i: times[i])
    with _open_video(path) as (container, stream):
        stream.thread_type = "AUTO"
        time_base = stream.time_base
        origin = stream.start_time or 0
        rate = float(stream.average_rate or stream.guessed_rate or 30)
        # A quarter frame of slack: a requested time equal to a frame's timestamp
        # (a scene start) must get that frame despite float rounding.
        slack = 0.25 / rate
        keyframes = sorted(
            float((entry.timestamp - origin) * time_base)
            for entry in getattr(stream, "index_entries", None) or ()
            if entry.is_keyframe
        )

        def seconds(frame: Any) -> float:
            return float((frame.pts - origin) * time_base) if frame.pts is not None else 0.0

        frames: Iterator[Any] | None = None
        shown: Any = None  # the last decoded frame at or before the current time
        ahead: Any = None  # a decoded frame after it, not yet passed
        try:
            for i in order:
                target = max(0.0, times[i])
                position = seconds(shown) if shown is not None else -math.inf
                if frames is None or _worth_seeking(position, target, keyframes):
                    container.seek(origin + int(target / time_base), stream=stream, backward=True)
                    frames = iter(container.decode(stream))
                    shown = ahead = None
                # Read on while the next frame is still due at the target time; right
                # after a seek, the first frame counts even if it comes late.
                while True:
                    cancel_point()
                    if ahead is None:
                        ahead = next(frames, None)
                        if ahead is None:
                            break  # the end: a later time gets the last frame
                    if shown is None or seconds(ahead) <= target + slack:
                        shown, ahead = ahead, None
                    else:
                        break
                if shown is None:
                    raise CorruptMedia(f"{path}: no frame decodes at {target:.3f} s.", path=path)
                _save_jpeg(shown, stream, out_paths[i])
        except av.error.FFmpegError as exc:
            raise CorruptMedia(
                f"{path}: decoding failed while grabbing frames ({_reason(exc)}).", path=path
            ) from exc


def _worth_seeking(position: float, target: float, keyframes: list[float]) -> bool:
    """Seek only if a keyframe lies between the decoder's position and `target`."""
    if target < position:
        return True
    if not keyframes:
        # No index: decoding on is cheap for a few seconds, a seek costs up to a GOP.
        return target - position > 5.0
    import bisect

    before = bisect.bisect_right(keyframes, target) - 1
    return before >= 0 and keyframes[before] > position


def _save_jpeg(frame: Any, stream: Any, out: Path) -> None:
    image = frame.to_image()
    rotation = _rotation(frame, stream)
    if rotation:
        # PIL turns counter-clockwise; `rotation` is clockwise.
        image = image.rotate(-rotation, expand=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_sibling(out)
    try:
        image.save(tmp, format="JPEG", quality=90)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


# --- perceptual hashes ----------------------------------------------------------------------


# The first 8 rows of the unnormalised type-II DCT matrix of size 32: what
# `scipy.fftpack.dct` multiplies by, so `phash` equals `imagehash.phash` without scipy.
_HASH_SIDE = 8
_SMALL_SIDE = 32
_DCT_ROWS = 2 * np.cos(
    np.pi
    * np.arange(_HASH_SIDE)[:, None]
    * (2 * np.arange(_SMALL_SIDE)[None, :] + 1)
    / (2 * _SMALL_SIDE)
)
# Coefficients that are zero in exact arithmetic (a flat or evenly graded frame: a
# fade to black) come out of the FFT as exact zeros and of a matrix product as
# 1e-13 noise; snapping them to zero keeps the median's ties, and so the bits, the same.
_ZERO = 1e-6


def phash(image_path: StrPath) -> str:
    """Return the perceptual hash (`imagehash.phash`, 64 bits) of an image, as 16 hex digits.

    The same hash as `str(imagehash.phash(image))`: the image in grey, resized
    to 32x32 (Lanczos), its 2-D DCT, and one bit per coefficient of the 8x8
    lowest frequencies (above their median or not). Computed with numpy, so
    videopipe needs neither imagehash nor scipy (143 MB installed);
    `tests/media/test_phash.py` checks the equality on real frames.

    Args:
        image_path: The image file.

    Returns:
        The hash as a hex string, such as `"c3b4e1f09a8d7c62"`.
    """
    from PIL import Image

    with Image.open(image_path) as image:
        small = image.convert("L").resize((_SMALL_SIDE, _SMALL_SIDE), Image.Resampling.LANCZOS)
    pixels = np.asarray(small, dtype=np.float64)
    columns = _DCT_ROWS @ pixels  # along axis 0, then axis 1, as imagehash does
    columns[np.abs(columns) < _ZERO] = 0.0
    low = columns @ _DCT_ROWS.T
    low[np.abs(low) < _ZERO] = 0.0
    bits = (low > np.median(low)).flatten()
    return f"{int(''.join('1' if bit else '0' for bit in bits), 2):0{_HASH_SIDE**2 // 4}x}"


def hamming(a: str, b: str) -> int:
    """Return the number of differing bits between two hex hashes from `phash()`.

    Args:
        a: A hex hash.
        b: Another hex hash of the same length.

    Returns:
        The Hamming distance: 0 for identical images, up to 64 for 64-bit hashes.

    Raises:
        ValueError: The hashes differ in length or are not hexadecimal.

    Examples:
        >>> hamming("ff00", "ff01")
        1
    """
    if len(a) != len(b):
        raise ValueError(f"cannot compare hashes of different lengths: {a!r} and {b!r}")
    return (int(a, 16) ^ int(b, 16)).bit_count()


def mark_duplicates(hashes: Sequence[str], max_distance: int = 6) -> list[int | None]:
    """For each hash, the index of an earlier unique hash it nearly equals, else `None`.

    A frame duplicates an earlier frame when their Hamming distance is at most
    `max_distance`. Frames are only matched against earlier *unique* frames, and
    the closest one wins (the earliest on a tie), so `duplicate_of` always
    points at a frame that is itself processed (captioned).

    Args:
        hashes: Hex hashes from `phash()`, in frame order.
        max_distance: Largest Hamming distance that still counts as the same picture.

    Returns:
        One entry per hash: `None` for a unique frame, else the index it duplicates.

    Examples:
        >>> mark_duplicates(["ff00", "00ff", "ff01", "00ff"])
        [None, None, 0, 1]
    """
    marks: list[int | None] = []
    unique: list[tuple[int, int]] = []  # (index, hash value)
    for index, text in enumerate(hashes):
        value = int(text, 16)
        best: tuple[int, int] | None = None  # (distance, index)
        for earlier, other in unique:
            distance = (value ^ other).bit_count()
            if distance <= max_distance and (best is None or distance < best[0]):
                best = (distance, earlier)
        if best is None:
            unique.append((index, value))
            marks.append(None)
        else:
            marks.append(best[1])
    return marks
