"""Probing: what a media file holds, checked before any work is done on it.

`probe()` opens a file with PyAV (FFmpeg's libraries) and turns every way an
upload can be wrong (missing, empty, a directory, not a video, truncated,
corrupt) into a typed error. The helpers that open a video and name those
errors are shared with scene detection and frame extraction. Also here:
`open_container`/`decode_audio` (PyAV version differences) and `target_size`,
the display geometry `normalize()` scales to.
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import numpy as np

from .._exceptions import (
    CorruptMedia,
    EmptyInput,
    InputNotFound,
    InputTooLarge,
    MediaError,
    NoAudioTrack,
    NotAVideo,
)
from .._resources import DECODE_BYTES_PER_PIXEL
from .._sync import cancel_point

if TYPE_CHECKING:
    import numpy.typing as npt

StrPath = str | os.PathLike[str]

# --- probing --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """What `probe()` found in a media file.

    Note:
        Added in 0.1.0.
    """

    path: str
    """The file that was probed."""
    duration_sec: float
    """Duration in seconds (of the longest stream)."""
    width: int
    """Display width in pixels: after rotation and non-square pixels are applied."""
    height: int
    """Display height in pixels: after rotation and non-square pixels are applied."""
    fps: float
    """Average frame rate of the video stream."""
    rotation: int
    """Clockwise rotation a player applies to the stored frames: 0, 90, 180 or 270."""
    has_audio: bool
    """Whether the file has an audio stream."""
    video_codec: str
    """FFmpeg's name for the video codec, such as `"h264"`."""
    audio_codec: str | None
    """FFmpeg's name for the audio codec, or `None` without audio."""
    size_bytes: int
    """File size in bytes."""
    variable_frame_rate: bool
    """Whether the frame rate looks variable (the average differs from the base rate)."""


async def probe(path: StrPath) -> MediaInfo:
    """Describe the media file at `path`, and check that its video really decodes.

    Opens the file with PyAV (FFmpeg's libraries) in a worker thread, decodes the
    first video frame and one near the end (a truncated file fails there), and
    reads the duration.

    Args:
        path: The file to probe.

    Returns:
        What the file holds.

    Raises:
        InputNotFound: There is no file at `path`.
        EmptyInput: The file is empty (0 bytes).
        NotAVideo: `path` is a directory, not a media file at all, a still image,
            or has no video stream (an audio-only file).
        CorruptMedia: The file is a media container but is truncated or corrupt:
            it cannot be opened, decoded, or has no readable duration.
        MediaError: The file cannot be read (permissions).

    Examples:
        >>> info = await probe("talk.mp4")  # doctest: +SKIP
        >>> info.width, info.height, info.has_audio  # doctest: +SKIP
        (1920, 1080, True)
    """
    return await anyio.to_thread.run_sync(_probe, Path(path))


# Leading bytes of the container formats people upload: a file that starts like one of
# these but cannot be opened is a damaged video, not "not a video".
_CONTAINER_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (4, b"ftyp", "an MP4/MOV file"),
    (4, b"moov", "an MP4/MOV file"),
    (4, b"mdat", "an MP4/MOV file"),
    (4, b"wide", "a MOV file"),
    (4, b"free", "an MP4/MOV file"),
    (4, b"skip", "an MP4/MOV file"),
    (0, b"\x1a\x45\xdf\xa3", "a Matroska/WebM file"),
    (0, b"RIFF", "a RIFF (AVI) file"),
    (0, b"FLV", "an FLV file"),
    (0, b"OggS", "an Ogg file"),
    (0, b"\x00\x00\x01\xba", "an MPEG program stream"),
    (0, b"\x30\x26\xb2\x75", "an ASF/WMV file"),
)


def check_limits(
    info: MediaInfo,
    *,
    max_duration_sec: float,
    max_frames: int,
    max_pixels: int,
    fps: float,
    max_memory_bytes: int | None = None,
) -> None:
    """Refuse an input whose probe shows more work than the limits allow.

    The duration is that of the probed timestamps, so a small file that claims
    hours (two frames ten hours apart) is refused before any decoding. The
    frames counted are those normalizing at `fps` would write, or the input's
    own if more. With `max_memory_bytes`, a frame whose decoding alone would
    need more memory than that (`DECODE_BYTES_PER_PIXEL` a pixel) is refused
    too, naming `WORKER_MAX_RSS_MB`.

    Raises:
        InputTooLarge: Over a limit; the message names it and its setting.
    """
    path = info.path
    if info.duration_sec > max_duration_sec:
        raise InputTooLarge(
            f"{path} lasts {info.duration_sec:.0f} s (by its timestamps), over the limit of "
            f"{max_duration_sec:.0f} s: raise MAX_INPUT_DURATION_SEC to process it.",
            setting="MAX_INPUT_DURATION_SEC",
            limit=max_duration_sec,
            value=info.duration_sec,
            path=path,
        )
    pixels = info.width * info.height
    if pixels > max_pixels:
        raise InputTooLarge(
            f"{path} is {info.width}x{info.height} ({pixels:,} pixels a frame), over the limit "
            f"of {max_pixels:,}: raise MAX_INPUT_PIXELS to process it.",
            setting="MAX_INPUT_PIXELS",
            limit=max_pixels,
            value=pixels,
            path=path,
        )
    if max_memory_bytes is not None and pixels * DECODE_BYTES_PER_PIXEL > max_memory_bytes:
        need = pixels * DECODE_BYTES_PER_PIXEL
        raise InputTooLarge(
            f"{path} is {info.width}x{info.height}: decoding its frames needs about "
            f"{need / 2**20:,.0f} MiB, over the worker's memory ceiling of "
            f"{max_memory_bytes / 2**20:,.0f} MiB: raise WORKER_MAX_RSS_MB to process it.",
            setting="WORKER_MAX_RSS_MB",
            limit=max_memory_bytes / 2**20,
            value=need / 2**20,
            path=path,
        )
    source_fps = info.fps if math.isfinite(info.fps) else 0.0
    frames = math.ceil(info.duration_sec * max(fps, source_fps))
    if frames > max_frames:
        raise InputTooLarge(
            f"{path} would decode {frames:,} frames ({info.duration_sec:.0f} s at "
            f"{max(fps, source_fps):g} fps), over the limit of {max_frames:,}: raise "
            "MAX_DECODED_FRAMES to process it.",
            setting="MAX_DECODED_FRAMES",
            limit=max_frames,
            value=frames,
            path=path,
        )


def _container_kind(path: Path) -> str | None:
    try:
        with path.open("rb") as file:
            head = file.read(189)
    except OSError:
        return None
    for offset, magic, kind in _CONTAINER_MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return kind
    if len(head) > 188 and head[0] == head[188] == 0x47:
        return "an MPEG transport stream"
    return None


def _check_file(path: Path) -> int:
    try:
        info = path.stat()
    except FileNotFoundError:
        where = "" if path.is_absolute() else f" (relative to {Path.cwd()})"
        raise InputNotFound(f"{path}: no such file{where}. Check the path.", path=path) from None
    except OSError as exc:
        raise MediaError(f"{path}: cannot read the file ({exc.strerror}).", path=path) from exc
    if stat.S_ISDIR(info.st_mode):
        raise NotAVideo(
            f"{path} is a directory, not a video file: pass the video files inside it.",
            path=path,
        )
    if info.st_size == 0:
        raise EmptyInput(
            f"{path} is empty (0 bytes): the upload or copy probably failed. Provide the "
            "file again.",
            path=path,
        )
    return info.st_size


def _av_major() -> int:
    import av

    return int(av.__version__.split(".")[0])


def open_container(path: StrPath) -> Any:
    """`av.open(path)` for reading, with metadata that is not valid UTF-8 tolerated.

    PyAV before 19 raised on such metadata unless told `metadata_errors="ignore"`;
    PyAV 19 removed that option (and decodes metadata leniently itself), so the
    option is passed only where it exists.
    """
    import av

    # Passed as a dict: PyAV 19's type stubs no longer have the keyword.
    options: dict[str, Any] = {"metadata_errors": "ignore"} if _av_major() < 19 else {}
    return av.open(os.fspath(path), **options)


def decode_audio(path: StrPath, *, rate: int = 16_000) -> npt.NDArray[np.float32]:
    """Decode the first audio stream of `path` to mono float32 samples at `rate` Hz.

    What faster-whisper's own `decode_audio` does, through `open_container`, so
    that it works with every PyAV version videopipe supports.

    Raises:
        NoAudioTrack: the file has no audio stream.
    """
    import av

    with open_container(path) as container:
        if not container.streams.audio:
            raise NoAudioTrack(f"{path} has no audio track to decode.", path=Path(path))
        resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
        chunks: list[npt.NDArray[Any]] = []
        for frame in container.decode(audio=0):
            cancel_point()
            chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
        chunks.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))
    if not chunks:
        return np.zeros(0, dtype=np.float32)
    samples = np.concatenate(chunks).astype(np.float32)
    samples /= 32768.0
    return samples


@contextmanager
def _open_video(path: Path) -> Iterator[tuple[Any, Any]]:
    """Open `path` with PyAV; yield the container and its video stream, or raise typed errors."""
    import av

    try:
        container = open_container(path)
    except av.error.PermissionError as exc:
        raise MediaError(f"{path}: permission denied; cannot read the file.", path=path) from exc
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        kind = _container_kind(path)
        if kind is not None:
            raise CorruptMedia(
                f"{path} looks like {kind} but cannot be opened ({_reason(exc)}): it is "
                "truncated or corrupt, e.g. an interrupted recording or upload. Re-export or "
                "upload it again.",
                path=path,
            ) from exc
        raise NotAVideo(
            f"{path} is not a video file FFmpeg can read ({_reason(exc)}). Check that it is "
            "the file you meant.",
            path=path,
        ) from exc
    try:
        format_name = str(container.format.name)
        if format_name == "image2" or format_name.endswith("_pipe"):
            raise NotAVideo(f"{path} is a still image ({format_name}), not a video.", path=path)
        if format_name in _RAW_STREAMS and path.suffix.lower() in _CONTAINER_SUFFIXES:
            # FFmpeg finds start codes in any large enough noise: 64 kB of random bytes
            # named .mp4 "is" a 0.03 s H.263 video. A real one of these has its own name.
            raise NotAVideo(
                f"{path} is named like a {path.suffix.lower()} file but has no such container; "
                f"FFmpeg could only guess a raw {format_name} stream in its bytes. Check that "
                "it is the file you meant.",
                path=path,
            )
        # `.value`: a plain Flag before PyAV 17.1, an IntFlag since.
        attached_pic = av.stream.Disposition.attached_pic.value
        videos = [s for s in container.streams.video if not s.disposition.value & attached_pic]
        if not videos:
            if container.streams.audio:
                raise NotAVideo(
                    f"{path} has audio but no video stream; videopipe needs a video. "
                    "(Cover art does not count as video.)",
                    path=path,
                )
            raise NotAVideo(f"{path} has no video stream.", path=path)
        yield container, videos[0]
    finally:
        container.close()


# Demuxers of bare codec streams, which FFmpeg picks by scanning for start codes.
_RAW_STREAMS = frozenset(
    {"h261", "h263", "h264", "hevc", "vvc", "m4v", "mpegvideo", "cavsvideo", "avs2", "avs3"}
    | {"dirac", "vc1", "mjpeg", "mjpeg_2000", "rawvideo", "obu", "ivf"}
)
# Names that promise a container: a raw stream under one of them is not that file.
_CONTAINER_SUFFIXES = frozenset(
    {".mp4", ".mov", ".qt", ".mkv", ".webm", ".avi", ".flv", ".wmv", ".3gp", ".ts"}
)


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return str(text).rstrip(".")


def _first_frame(container: Any, stream: Any) -> Any:
    """Decode and return the first frame of `stream` from where the demuxer is, or `None`."""
    return next(iter(container.decode(stream)), None)


def _probe(path: Path) -> MediaInfo:
    import av

    size = _check_file(path)
    with _open_video(path) as (container, stream):
        try:
            first = _first_frame(container, stream)
        except av.error.FFmpegError as exc:
            raise CorruptMedia(
                f"{path}: the first video frame cannot be decoded ({_reason(exc)}); the file "
                "is corrupt. Re-export or upload it again.",
                path=path,
            ) from exc
        if first is None:
            raise CorruptMedia(
                f"{path}: the video stream holds no decodable frame; the file is truncated "
                "or corrupt. Re-export or upload it again.",
                path=path,
            )
        duration = _duration(container, stream)
        if duration is None or not math.isfinite(duration) or duration <= 0:
            raise CorruptMedia(
                f"{path}: the duration cannot be read; the file is truncated or corrupt. "
                "Re-export or upload it again.",
                path=path,
            )
        if not _decodes_near(container, stream, max(0.0, duration - 1.0)):
            raise CorruptMedia(
                f"{path}: the video stops decoding before its stated end ({duration:.1f} s); "
                "the file is truncated, e.g. an interrupted upload. Upload it again.",
                path=path,
            )
        rotation = _rotation(first, stream)
        width, height = _display_size(stream, first)
        if rotation in (90, 270):
            width, height = height, width
        average = stream.average_rate
        base = stream.base_rate
        rate = average or stream.guessed_rate or base
        audio = container.streams.audio
        return MediaInfo(
            path=os.fspath(path),
            duration_sec=round(duration, 6),
            width=width,
            height=height,
            fps=float(rate) if rate else 0.0,
            rotation=rotation,
            has_audio=bool(audio),
            video_codec=str(stream.codec_context.name),
            audio_codec=str(audio[0].codec_context.name) if audio else None,
            size_bytes=size,
            variable_frame_rate=bool(
                average and base and abs(float(average) - float(base)) > 0.01 * float(base)
            ),
        )


def _duration(container: Any, stream: Any) -> float | None:
    import av

    if container.duration is not None and container.duration > 0:
        return float(container.duration) / av.time_base
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    # Some files carry no duration (WebM from a browser's MediaRecorder): read the
    # packet timestamps instead, which needs no decoding.
    end: float | None = None
    start = float((stream.start_time or 0) * stream.time_base) if stream.time_base else 0.0
    with suppress(av.error.FFmpegError):
        container.seek(0, stream=stream)
        for packet in container.demux(stream):
            if packet.pts is not None and packet.time_base:
                stop = float((packet.pts + (packet.duration or 0)) * packet.time_base) - start
                end = stop if end is None else max(end, stop)
    return end


def _decodes_near(container: Any, stream: Any, seconds: float) -> bool:
    """Whether a frame decodes after seeking to `seconds`: a truncated file has none there."""
    import av

    if seconds <= 0 or not stream.time_base:
        return True
    start = stream.start_time or 0
    try:
        container.seek(start + int(seconds / stream.time_base), stream=stream, backward=True)
    except av.error.FFmpegError:
        return True  # not seekable: nothing to conclude, the full decode will tell
    try:
        return _first_frame(container, stream) is not None
    except av.error.FFmpegError:
        return False


def _rotation(frame: Any, stream: Any) -> int:
    # PyAV reports the display matrix as a counter-clockwise angle; players (and FFmpeg's
    # autorotation) turn the picture the other way round to show it upright.
    angle = getattr(frame, "rotation", None)
    if angle is None:
        tag = stream.metadata.get("rotate")
        angle = -int(tag) if tag and tag.lstrip("-").isdigit() else 0
    return int(round(-float(angle) / 90.0) * 90) % 360


def _display_size(stream: Any, frame: Any) -> tuple[int, int]:
    width = int(frame.width or stream.codec_context.width)
    height = int(frame.height or stream.codec_context.height)
    sar = stream.sample_aspect_ratio
    if sar and float(sar) > 0 and sar != 1:
        width = max(1, round(width * float(sar)))
    return width, height


# --- output size ----------------------------------------------------------------------------


def _even(value: float) -> int:
    return max(2, int(value) // 2 * 2)


def target_size(width: int, height: int, limit: int = 720) -> tuple[int, int]:
    """The size `normalize()` scales a `width`x`height` display to.

    The shorter side is capped at `limit` ("720p" for landscape and portrait alike),
    the aspect ratio is kept, nothing is upscaled, and both sides are even, as
    H.264 in yuv420p requires.

    Args:
        width: Display width of the input.
        height: Display height of the input.
        limit: Largest shorter side.

    Returns:
        The output `(width, height)`.

    Examples:
        >>> target_size(1920, 1080)
        (1280, 720)
        >>> target_size(1080, 1920)
        (720, 1280)
        >>> target_size(321, 241)
        (320, 240)
    """
    scale = min(1.0, limit / min(width, height))
    if scale == 1.0:
        return _even(width), _even(height)
    return _even(round(width * scale / 2) * 2), _even(round(height * scale / 2) * 2)
