"""Per-frame scene statistics: what scene detection measures on each frame, and its stats file.

Scene detection looks at each frame through three numbers: PySceneDetect's
`content_val` (the change in hue, saturation and luma from the frame before:
what `AdaptiveDetector` compares), the frame's mean 8-bit value
(`ThresholdDetector`'s measure) and a 32x18 thumbnail (for flashes and
dissolves), all taken from a small copy of the frame (256 pixels on its long
side). `Measures` computes them; `StatsWriter` stores them beside the
normalized video, the way PySceneDetect's stats file does, so that the
`scenes` stage need not decode the video again; `open_stats` reads them back
only when they belong to that very file.

The file: a magic line, blocks of zlib-compressed fixed-size records (one per
frame), then a JSON trailer (format version, frame rate, sizes, the
normalized file's size and a hash of its first and last 32 kB, the
PySceneDetect version) with its length and an end marker. It is written under a temporary name and
renamed into place, so a reader never sees half a file.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
import zlib
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from .._imports import quiet_tqdm_import
from ._probe import StrPath, _even

if TYPE_CHECKING:
    import numpy.typing as npt

SCENE_WIDTH = 256
"""The long side, in pixels, of the copy of each frame scene detection measures."""
THUMBNAIL = (32, 18)
"""Width and height of the thumbnail kept per frame (flashes, dissolves)."""

STATS_VERSION = 1
"""The stats file format; a file of another version is not read."""
_MAGIC = b"videopipe scene stats\n"
_END = b"\nend\n"
_BLOCK = 256  # frames per compressed block: about 450 kB raw, so memory stays flat
_RECORD = np.dtype(
    [
        ("score", "<f8"),
        ("brightness", "<f8"),
        ("thumbnail", "u1", (THUMBNAIL[1], THUMBNAIL[0], 3)),
    ]
)


def detector_size(width: int, height: int, downscale: float | None = None) -> tuple[int, int]:
    """The (even) size a `width`x`height` frame is shrunk to before detection.

    Args:
        width: The frame's width.
        height: The frame's height.
        downscale: Divide by this; by default the long side becomes `SCENE_WIDTH`.

    Returns:
        `(width, height)` of the small frame.
    """
    factor = downscale if downscale else max(1.0, max(width, height) / SCENE_WIDTH)
    return _even(max(16, width / factor)), _even(max(16, height / factor))


def scene_stats_path(video_path: StrPath) -> Path:
    """Where `normalize()` stores the scene statistics of `video_path`: beside it.

    Examples:
        >>> scene_stats_path("processed/talk/normalized.mp4").name
        'normalized.scenestats'
    """
    return Path(video_path).with_suffix(".scenestats")


class Measures:
    """Measures frame after frame: `content_val`, mean value and thumbnail.

    `content_val` is computed by PySceneDetect's own `ContentDetector` at
    `AdaptiveDetector`'s default weights, so feeding the scores to
    `ScoredAdaptive` is `AdaptiveDetector` on the frames.
    """

    def __init__(self, fps: float) -> None:
        import cv2

        with quiet_tqdm_import():
            from scenedetect import ContentDetector, FrameTimecode

        self._cv2 = cv2
        self._timecode = FrameTimecode
        self._fps = fps
        self._scorer = ContentDetector()
        self._index = 0

    def measure(self, image: npt.NDArray[np.uint8]) -> tuple[float, float, npt.NDArray[np.uint8]]:
        """`(content_val, mean 8-bit value, 32x18 BGR thumbnail)` of the next frame (BGR)."""
        cv2 = self._cv2
        timecode = self._timecode(self._index, fps=self._fps)
        self._index += 1
        score = float(self._scorer._calculate_frame_score(timecode, image))
        # ThresholdDetector's measure (the mean of the frame), in C.
        brightness = sum(cv2.mean(image)[:3]) / 3
        thumbnail = np.asarray(
            cv2.resize(image, THUMBNAIL, interpolation=cv2.INTER_AREA), dtype=np.uint8
        )
        return score, brightness, thumbnail


def i420_to_bgr(data: Any, size: tuple[int, int]) -> npt.NDArray[np.uint8]:
    """A raw I420 (yuv420p) frame of `size` as the BGR image PySceneDetect expects."""
    import cv2

    width, height = size
    planes = np.frombuffer(data, np.uint8).reshape(height * 3 // 2, width)
    return np.asarray(cv2.cvtColor(planes, cv2.COLOR_YUV2BGR_I420), dtype=np.uint8)


def _scenedetect_version() -> str:
    with quiet_tqdm_import():
        import scenedetect

    return str(scenedetect.__version__)


_EDGE = 32 * 1024  # bytes hashed at each end of the video


def _identity(video_path: Path) -> dict[str, int | str]:
    """The video's size and a hash of its first and last 32 kB.

    Its content, not its modification time: a copy (a download from object
    storage, a restored backup) keeps its statistics, while another encode
    differs in its index (at the front, after `+faststart`) and its last frames.
    """
    digest = hashlib.sha256()
    with video_path.open("rb") as file:
        size = os.fstat(file.fileno()).st_size
        digest.update(file.read(_EDGE))
        if size > _EDGE:
            file.seek(max(_EDGE, size - _EDGE))
            digest.update(file.read(_EDGE))
    return {"video_bytes": size, "video_sha256": digest.hexdigest()}


class StatsWriter:
    """Writes a stats file: records appended frame by frame, `commit()` renames it into place.

    Args:
        out: The stats file to write (`scene_stats_path(video)`).
        temp: The temporary name written first, in the same directory.
        fps: The video's frame rate.
        video_size: The video's `(width, height)`.
        size: The size the frames were shrunk to (`detector_size`).
    """

    def __init__(
        self,
        out: Path,
        temp: Path,
        *,
        fps: float,
        video_size: tuple[int, int],
        size: tuple[int, int],
    ) -> None:
        self._out, self._temp = out, temp
        self._header = {
            "version": STATS_VERSION,
            "fps": fps,
            "video_size": list(video_size),
            "size": list(size),
            "thumbnail": list(THUMBNAIL),
            "scenedetect": _scenedetect_version(),
        }
        self._block = np.zeros(_BLOCK, _RECORD)
        self._filled = 0
        self.frames = 0
        self._file: IO[bytes] = temp.open("wb")
        self._file.write(_MAGIC)

    def add(self, score: float, brightness: float, thumbnail: npt.NDArray[np.uint8]) -> None:
        """Append the measures of the next frame."""
        record = self._block[self._filled]
        record["score"], record["brightness"], record["thumbnail"] = score, brightness, thumbnail
        self._filled += 1
        self.frames += 1
        if self._filled == _BLOCK:
            self._flush()

    def _flush(self) -> None:
        if self._filled:
            data = zlib.compress(self._block[: self._filled].tobytes(), 1)
            self._file.write(struct.pack("<I", len(data)) + data)
            self._filled = 0

    def commit(self, video_path: Path) -> None:
        """Finish the file, bound to `video_path` as it is now, and rename it into place.

        The video may still be under its temporary name: what the file records
        of it (size, a hash of its ends) survives renaming and copying.
        """
        self._flush()
        trailer = json.dumps(
            {**self._header, "frames": self.frames, **_identity(video_path)}
        ).encode()
        self._file.write(trailer + struct.pack("<I", len(trailer)) + _END)
        self._file.close()
        os.replace(self._temp, self._out)

    def discard(self) -> None:
        """Drop the unfinished file."""
        self._file.close()
        self._temp.unlink(missing_ok=True)


class StaleStats(Exception):
    """A stats file that looked valid turned out unreadable: decode the video instead."""


@dataclass(frozen=True)
class StoredStats:
    """A stats file that matches its video: its header, and its records on demand."""

    path: Path
    fps: float
    frames: int
    size: tuple[int, int]
    end_offset: int

    def records(self) -> Iterator[tuple[float, float, npt.NDArray[np.uint8]]]:
        """`(content_val, mean value, thumbnail)` of each frame, in order, a block at a time.

        Raises:
            StaleStats: The file is damaged after all (a block does not decompress,
                or the records fall short of the count the trailer gives).
        """
        count = 0
        with self.path.open("rb") as file:
            file.seek(len(_MAGIC))
            while file.tell() < self.end_offset:
                head = file.read(4)
                if len(head) != 4:
                    raise StaleStats(f"{self.path}: truncated block")
                (length,) = struct.unpack("<I", head)
                try:
                    raw = zlib.decompress(file.read(length))
                    block = np.frombuffer(raw, _RECORD)
                except (zlib.error, ValueError) as exc:
                    raise StaleStats(f"{self.path}: damaged block ({exc})") from exc
                for record in block:
                    count += 1
                    yield float(record["score"]), float(record["brightness"]), record["thumbnail"]
        if count != self.frames:
            raise StaleStats(f"{self.path}: {count} frames, not {self.frames}")


def open_stats(
    video_path: StrPath, *, downscale: float | None = None, stats_path: StrPath | None = None
) -> StoredStats | None:
    """The stats stored for `video_path`, or `None` if missing, stale or of another kind.

    Trusted only if the file's trailer names this very video (its size and a
    hash of its first and last 32 kB), this format version and PySceneDetect
    version, and the frame size `downscale` gives.

    Args:
        video_path: The video the statistics must describe.
        downscale: The `downscale` detection runs with.
        stats_path: The stats file; by default `scene_stats_path(video_path)`.

    Returns:
        The stored statistics, or `None` when detection must decode the video.
    """
    video = Path(video_path)
    path = Path(stats_path) if stats_path is not None else scene_stats_path(video)
    try:
        with path.open("rb") as file:
            if file.read(len(_MAGIC)) != _MAGIC:
                return None
            file.seek(0, os.SEEK_END)
            total = file.tell()
            tail_length = 4 + len(_END)
            if total < len(_MAGIC) + tail_length:
                return None
            file.seek(total - tail_length)
            tail = file.read(tail_length)
            if tail[4:] != _END:
                return None
            (length,) = struct.unpack("<I", tail[:4])
            start = total - tail_length - length
            if start < len(_MAGIC):
                return None
            file.seek(start)
            header = json.loads(file.read(length))
        identity = _identity(video)
    except (OSError, ValueError):
        return None
    with suppress(KeyError, TypeError, ValueError):
        width, height = header["video_size"]
        size = detector_size(int(width), int(height), downscale)
        if (
            header["version"] == STATS_VERSION
            and header["scenedetect"] == _scenedetect_version()
            and header["thumbnail"] == list(THUMBNAIL)
            and header["size"] == list(size)
            and all(header[key] == value for key, value in identity.items())
        ):
            return StoredStats(path, float(header["fps"]), int(header["frames"]), size, start)
    return None
