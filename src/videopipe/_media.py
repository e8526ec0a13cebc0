"""FFmpeg discovery and calls, probing, and the work of the local pipeline stages.

Everything here is a plain function: the `normalize`, `scenes` and `frames`
stages wrap them. Blocking work (PyAV decoding, PySceneDetect, JPEG encoding)
runs in a worker thread, and FFmpeg runs as an async subprocess, so the event
loop never blocks.
"""

from __future__ import annotations

import itertools
import math
import os
import shutil
import stat
import subprocess
import uuid
from array import array
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
import numpy as np

from ._exceptions import (
    CorruptMedia,
    EmptyInput,
    FFmpegNotFound,
    InputNotFound,
    MediaError,
    NoAudioTrack,
    NotAVideo,
)

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = [
    "MediaInfo",
    "decode_audio",
    "detect_scenes",
    "extract_frames",
    "ffmpeg_calls",
    "find_ffmpeg",
    "format_srt",
    "hamming",
    "mark_duplicates",
    "normalize",
    "normalize_args",
    "open_container",
    "phash",
    "probe",
    "run_ffmpeg",
    "target_size",
]

StrPath = str | os.PathLike[str]

# --- FFmpeg discovery -----------------------------------------------------------------------

# Keyed by everything the answer depends on, so that a changed PATH or setting is
# honoured without any cache-busting call.
_ffmpeg_cache: dict[tuple[str | None, str | None], str] = {}


def find_ffmpeg(settings_value: str | None = None) -> str:
    """Return the FFmpeg executable to run.

    The first of these wins:

    1. `settings_value` (`Settings.ffmpeg`), else the `VIDEOPIPE_FFMPEG` environment
       variable: a path, or a command name looked up on `PATH`;
    2. `ffmpeg` on `PATH`;
    3. the binary bundled with the `imageio-ffmpeg` package (a dependency of videopipe).

    The answer is cached for the same setting and `PATH`.

    Args:
        settings_value: An explicit FFmpeg path or command, such as `Settings().ffmpeg`.

    Returns:
        The path of the FFmpeg executable.

    Raises:
        FFmpegNotFound: The configured FFmpeg is not an executable, or no FFmpeg was
            found at all; the message says how to fix it.

    Examples:
        >>> find_ffmpeg()  # doctest: +SKIP
        '/usr/bin/ffmpeg'
    """
    explicit = settings_value or os.environ.get("VIDEOPIPE_FFMPEG") or None
    key = (explicit, os.environ.get("PATH"))
    cached = _ffmpeg_cache.get(key)
    if cached is not None:
        return cached
    if explicit is not None:
        found = _executable(explicit)
        if found is None:
            raise FFmpegNotFound(
                f"FFmpeg not found: VIDEOPIPE_FFMPEG is {explicit!r}, which is not an executable "
                "file. Fix the path, or unset VIDEOPIPE_FFMPEG to use `ffmpeg` on PATH or the "
                "binary of the `imageio-ffmpeg` package."
            )
    else:
        found = shutil.which("ffmpeg") or _bundled_ffmpeg()
    _ffmpeg_cache[key] = found
    return found


def _executable(candidate: str) -> str | None:
    if os.sep in candidate or (os.altsep and os.altsep in candidate):
        path = Path(candidate).expanduser()
        return os.fspath(path) if path.is_file() and os.access(path, os.X_OK) else None
    return shutil.which(candidate)


def _bundled_ffmpeg() -> str:
    try:
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    except (ImportError, RuntimeError, OSError) as exc:
        raise FFmpegNotFound(
            "FFmpeg not found: it is not on PATH, VIDEOPIPE_FFMPEG is not set, and the "
            f"`imageio-ffmpeg` package has no usable binary ({exc}). Install one: "
            "`pip install --force-reinstall imageio-ffmpeg`, or `apt-get install ffmpeg`, "
            "or set VIDEOPIPE_FFMPEG to the path of an FFmpeg executable."
        ) from exc


# --- running FFmpeg -------------------------------------------------------------------------

_ffmpeg_call_count = 0

_STDERR_TAIL_LINES = 20


def ffmpeg_calls() -> int:
    """How many FFmpeg processes `run_ffmpeg` has started in this process, ever.

    For tests: take the count before and after, to assert that some work did (or
    did not) run FFmpeg, e.g. that a resumed pipeline skips its completed
    `normalize` stage. It is a plain global counter, shared by every thread and
    event loop.

    Returns:
        The number of FFmpeg runs started so far.
    """
    return _ffmpeg_call_count


async def run_ffmpeg(
    args: Sequence[str],
    *,
    what: str,
    path: StrPath | None = None,
    ffmpeg: str | None = None,
) -> None:
    """Run FFmpeg with `args` as an async subprocess, and wait for it to finish.

    `-nostdin -hide_banner -nostats -loglevel error` come first, so FFmpeg never reads
    the terminal and its stderr holds only errors. If the calling task is
    cancelled, FFmpeg is killed and reaped before the cancellation propagates.

    Args:
        args: The FFmpeg arguments, without the executable.
        what: What the run does, for the error message, such as `"normalize talk.mp4"`.
        path: The input file the run is about, recorded on the error.
        ffmpeg: The FFmpeg executable; by default `find_ffmpeg()`.

    Raises:
        MediaError: FFmpeg exited with an error; the message ends with the last
            lines of its stderr.
        FFmpegNotFound: FFmpeg could not be started.
    """
    global _ffmpeg_call_count
    executable = find_ffmpeg(ffmpeg)
    command = [executable, "-nostdin", "-hide_banner", "-nostats", "-loglevel", "error"]
    command += map(str, args)
    try:
        # Shielded: a cancellation landing between the fork and the return would leave a
        # process nobody kills. Cancellation is honoured at the first await after it.
        with anyio.CancelScope(shield=True):
            process = await anyio.open_process(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
    except OSError as exc:
        raise FFmpegNotFound(
            f"FFmpeg at {executable!r} could not be started ({exc}); set VIDEOPIPE_FFMPEG "
            "to a working FFmpeg executable.",
            path=path,
        ) from exc
    _ffmpeg_call_count += 1
    tail: deque[str] = deque(maxlen=_STDERR_TAIL_LINES)
    try:
        assert process.stderr is not None
        pending = b""
        # Drained as it comes, not at exit: a chatty FFmpeg would otherwise fill the
        # pipe and block forever, and only the tail is kept, so memory stays bounded.
        async for chunk in process.stderr:
            *lines, pending = (pending + chunk).split(b"\n")
            tail.extend(_decode_line(line) for line in lines if line.strip())
            pending = pending[-4096:]
        if pending.strip():
            tail.append(_decode_line(pending))
        returncode = await process.wait()
    except BaseException:
        with suppress(ProcessLookupError):
            process.kill()
        with anyio.CancelScope(shield=True):
            await process.wait()
        raise
    finally:
        with anyio.CancelScope(shield=True):
            await process.aclose()
    if returncode != 0:
        how = f"exit code {returncode}" if returncode > 0 else f"killed by signal {-returncode}"
        details = "\n".join(tail) or "(FFmpeg printed nothing)"
        raise MediaError(f"FFmpeg failed to {what} ({how}):\n{details}", path=path)


def _decode_line(line: bytes) -> str:
    return line.decode("utf-8", "replace").rstrip("\r")[:500]


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

    if _av_major() < 19:
        return av.open(os.fspath(path), metadata_errors="ignore")
    return av.open(os.fspath(path))


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
        attached_pic = int(av.stream.Disposition.attached_pic)
        videos = [s for s in container.streams.video if not int(s.disposition) & attached_pic]
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


# --- normalize ------------------------------------------------------------------------------


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


async def normalize(
    src: StrPath,
    video_out: StrPath,
    audio_out: StrPath,
    *,
    height: int = 720,
    fps: int = 30,
    info: MediaInfo | None = None,
    ffmpeg: str | None = None,
) -> MediaInfo:
    """Transcode `src` to a 720p/30 fps H.264 + AAC MP4 and a 16 kHz mono WAV, in one FFmpeg run.

    The video keeps its aspect ratio, is never upscaled, and comes out with even
    dimensions, square pixels, a constant frame rate and yuv420p; rotation
    metadata (portrait phone videos) is applied to the pixels. The WAV is 16-bit
    PCM, ready for speech recognition. A video without audio still normalizes:
    then no WAV is written (and a stale one is removed).

    Both files are written under temporary names and renamed once FFmpeg
    succeeded, so a failed or cancelled run never leaves a complete-looking output.

    Args:
        src: The input video.
        video_out: Where to write the MP4 (`processed/{id}/normalized.mp4`).
        audio_out: Where to write the WAV (`processed/{id}/audio.wav`).
        height: Largest shorter side of the output, in pixels.
        fps: Output frame rate.
        info: `probe(src)`, if already known; probed otherwise.
        ffmpeg: The FFmpeg executable; by default `find_ffmpeg()`.

    Returns:
        The probe of the normalized MP4 (`has_audio` tells whether the WAV exists).

    Raises:
        InputNotFound: `src` does not exist.
        EmptyInput: `src` is empty.
        NotAVideo: `src` is not a video.
        CorruptMedia: `src` is truncated or corrupt.
        MediaError: FFmpeg failed; the message carries its stderr.
    """
    if info is None:
        info = await probe(src)
    video_out, audio_out = Path(video_out), Path(audio_out)
    video_tmp = _temp_sibling(video_out)
    audio_tmp = _temp_sibling(audio_out)
    args = normalize_args(src, video_tmp, audio_tmp, info, height=height, fps=fps)
    video_out.parent.mkdir(parents=True, exist_ok=True)
    audio_out.parent.mkdir(parents=True, exist_ok=True)
    try:
        await run_ffmpeg(args, what=f"normalize {src}", path=src, ffmpeg=ffmpeg)
        result = await probe(video_tmp)
        if info.has_audio:
            os.replace(audio_tmp, audio_out)
        else:
            audio_out.unlink(missing_ok=True)
        # The video last: its presence is what says "normalized".
        os.replace(video_tmp, video_out)
    finally:
        video_tmp.unlink(missing_ok=True)
        audio_tmp.unlink(missing_ok=True)
    return replace(result, path=os.fspath(video_out))


def normalize_args(
    src: StrPath,
    video_out: StrPath,
    audio_out: StrPath,
    info: MediaInfo,
    *,
    height: int = 720,
    fps: int = 30,
) -> list[str]:
    """The FFmpeg arguments `normalize()` runs (after `-nostdin -hide_banner ...`).

    Exposed so that benchmarks can time the very same command line bare.

    Args:
        src: The input video.
        video_out: The MP4 to write.
        audio_out: The WAV to write; unused when `info.has_audio` is false.
        info: `probe(src)`.
        height: Largest shorter side of the output, in pixels.
        fps: Output frame rate.

    Returns:
        The arguments, without the FFmpeg executable.
    """
    width, out_height = target_size(info.width, info.height, height)
    scale = f"scale={width}:{out_height},setsar=1"
    # Dropping frames before scaling, or scaling before duplicating them, saves work.
    rate = f"fps={fps}"
    chain = [rate, scale] if info.fps > fps else [scale, rate]
    video_filter = ",".join([*chain, "format=yuv420p"])
    # `V` (capital) skips attached pictures: cover art is not the video.
    args = ["-y", "-i", _ffmpeg_path(src), "-map", "0:V:0", "-vf", video_filter]
    args += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p"]
    if info.has_audio:
        args += ["-map", "0:a:0", "-c:a", "aac", "-b:a", "128k"]
    args += ["-movflags", "+faststart", "-f", "mp4", _ffmpeg_path(video_out)]
    if info.has_audio:
        args += ["-map", "0:a:0", "-vn", "-ac", "1", "-ar", "16000", "-c:a", "pcm_s16le"]
        args += ["-f", "wav", _ffmpeg_path(audio_out)]
    return args


def _ffmpeg_path(path: StrPath) -> str:
    # FFmpeg reads "-x.mp4" as an option and "a:b.mp4" as protocol "a"; an absolute
    # path behind the `file:` protocol is always just a file.
    return "file:" + os.fspath(Path(path).absolute())


def _temp_sibling(path: Path) -> Path:
    # Same directory, so the final rename is atomic; hidden, so nothing mistakes it
    # for the real output.
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.part")


# --- scene detection ------------------------------------------------------------------------

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

    The video is decoded once with PyAV, in a worker thread, and each frame is
    shrunk (256 pixels on its long side by default) before the detectors see it.
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

    Returns:
        `(start, end)` times in seconds, in order, contiguous.

    Raises:
        InputNotFound: The file does not exist.
        EmptyInput: The file is empty.
        NotAVideo: The file is not a video.
        CorruptMedia: No frame of the file decodes.

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
) -> list[tuple[float, float]]:
    import av
    import cv2
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
                index = len(times)
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


# --- frames ---------------------------------------------------------------------------------


async def extract_frames(
    video_path: StrPath, times: Sequence[float], out_paths: Sequence[StrPath]
) -> None:
    """Save the frame shown at each of `times` (seconds) as a JPEG at the matching path.

    One decode pass, in time order: the decoder seeks (to the keyframe before a
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


def phash(image_path: StrPath) -> str:
    """Return the perceptual hash (`imagehash.phash`, 64 bits) of an image, as 16 hex digits.

    Args:
        image_path: The image file.

    Returns:
        The hash as a hex string, such as `"c3b4e1f09a8d7c62"`.
    """
    import imagehash
    from PIL import Image

    with Image.open(image_path) as image:
        return str(imagehash.phash(image))


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


# --- subtitles ------------------------------------------------------------------------------


def _srt_time(seconds: float) -> str:
    # Round to whole milliseconds first: formatting the parts separately could print
    # ",1000" for 59.9996 s instead of carrying into the next second.
    millis = max(0, math.floor(seconds * 1000 + 0.5))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d},{millis:03d}"


def format_srt(segments: Iterable[tuple[float, float, str]]) -> str:
    """Format `(start, end, text)` segments (seconds) as an SRT subtitle file.

    Cues are numbered from 1 and separated by a blank line; times are
    `HH:MM:SS,mmm` (hours may exceed 99). Blank lines inside a text, which would
    end the cue early, are dropped; segments with no text are skipped.

    Args:
        segments: `(start, end, text)` in seconds, in playing order.

    Returns:
        The SRT document, ending with a newline (empty for no segments).

    Examples:
        >>> print(format_srt([(0.0, 1.5, "Hello."), (59.9996, 61.0, "A minute in.")]), end="")
        1
        00:00:00,000 --> 00:00:01,500
        Hello.
        <BLANKLINE>
        2
        00:01:00,000 --> 00:01:01,000
        A minute in.
    """
    cues: list[str] = []
    for start, end, text in segments:
        lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
        if not lines:
            continue
        body = "\n".join(lines)
        stop = max(start, end)
        cues.append(f"{len(cues) + 1}\n{_srt_time(start)} --> {_srt_time(stop)}\n{body}\n")
    return "\n".join(cues)
