"""FFmpeg discovery and calls: finding the executable, running it, and `normalize`.

`find_ffmpeg()` picks the executable (setting, `PATH`, the bundled binary) and
`run_ffmpeg()` runs it as an async subprocess that is killed if its task is
cancelled. `normalize()` is the one FFmpeg transcode of the pipeline; outputs
are written under temporary sibling names and renamed into place.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections import deque
from collections.abc import AsyncIterable, Callable, Sequence
from contextlib import suppress
from dataclasses import replace
from functools import partial
from pathlib import Path

import anyio
import anyio.to_thread

from .._exceptions import FFmpegNotFound, InputTooLarge, MediaError, VideopipeError
from ._framestats import Measures, StatsWriter, detector_size, i420_to_bgr
from ._probe import MediaInfo, StrPath, probe, target_size

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
    progress: Callable[[float], object] | None = None,
    pass_fds: Sequence[int] = (),
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
        progress: Called with the media seconds written so far, from FFmpeg's
            `-progress` reports (about twice a second), on the event loop.
        pass_fds: File descriptors FFmpeg inherits (as `pipe:N` outputs). They
            are closed here once FFmpeg started (or failed to), so a reader of
            the other end sees the end of the data when FFmpeg exits.

    Raises:
        MediaError: FFmpeg exited with an error; the message ends with the last
            lines of its stderr.
        FFmpegNotFound: FFmpeg could not be started.
    """
    global _ffmpeg_call_count
    try:
        executable = find_ffmpeg(ffmpeg)
        command = [executable, "-nostdin", "-hide_banner", "-nostats", "-loglevel", "error"]
        if progress is not None:
            command += ["-progress", "pipe:1"]
        command += map(str, args)
        # Shielded: a cancellation landing between the fork and the return would leave a
        # process nobody kills. Cancellation is honoured at the first await after it.
        with anyio.CancelScope(shield=True):
            process = await anyio.open_process(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL if progress is None else subprocess.PIPE,
                stderr=subprocess.PIPE,
                pass_fds=pass_fds,
            )
    except OSError as exc:
        raise FFmpegNotFound(
            f"FFmpeg at {executable!r} could not be started ({exc}); set VIDEOPIPE_FFMPEG "
            "to a working FFmpeg executable.",
            path=path,
        ) from exc
    finally:
        for fd in pass_fds:
            os.close(fd)
    _ffmpeg_call_count += 1
    tail: deque[str] = deque(maxlen=_STDERR_TAIL_LINES)
    try:
        assert process.stderr is not None
        async with anyio.create_task_group() as group:
            if progress is not None:
                assert process.stdout is not None
                group.start_soon(_read_progress, process.stdout, progress)
            await _drain(process.stderr, tail)
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


async def _drain(stream: AsyncIterable[bytes], tail: deque[str]) -> None:
    """Read `stream` to its end, keeping its last lines in `tail`."""
    pending = b""
    # Drained as it comes, not at exit: a chatty FFmpeg would otherwise fill the
    # pipe and block forever, and only the tail is kept, so memory stays bounded.
    async for chunk in stream:
        *lines, pending = (pending + chunk).split(b"\n")
        tail.extend(_decode_line(line) for line in lines if line.strip())
        pending = pending[-4096:]
    if pending.strip():
        tail.append(_decode_line(pending))


async def _read_progress(stream: AsyncIterable[bytes], progress: Callable[[float], object]) -> None:
    """Call `progress` with each `out_time_us` of FFmpeg's `-progress` key=value lines."""
    pending = b""
    async for chunk in stream:
        *lines, pending = (pending + chunk).split(b"\n")
        pending = pending[-4096:]
        for line in lines:
            key, _, value = line.partition(b"=")
            # `out_time_us` (FFmpeg 5+; `out_time_ms` is microseconds too, misnamed);
            # "N/A" before the first packet is written.
            if key.strip() == b"out_time_us" and value.strip().isdigit():
                progress(int(value) / 1e6)


def _decode_line(line: bytes) -> str:
    return line.decode("utf-8", "replace").rstrip("\r")[:500]


# --- normalize ------------------------------------------------------------------------------


async def normalize(
    src: StrPath,
    video_out: StrPath,
    audio_out: StrPath,
    *,
    height: int = 720,
    fps: int = 30,
    info: MediaInfo | None = None,
    ffmpeg: str | None = None,
    max_output_bytes: int | None = None,
    progress: Callable[[float], object] | None = None,
    scene_stats: StrPath | None = None,
) -> MediaInfo:
    """Transcode `src` to a 720p/30 fps H.264 + AAC MP4 and a 16 kHz mono WAV, in one FFmpeg run.

    The video keeps its aspect ratio, is never upscaled, and comes out with even
    dimensions, square pixels, a constant frame rate and yuv420p; rotation
    metadata (portrait phone videos) is applied to the pixels. The WAV is 16-bit
    PCM, ready for speech recognition. A video without audio still normalizes:
    then no WAV is written (and a stale one is removed).

    With `scene_stats`, the same run also measures every frame it encodes for
    scene detection: FFmpeg splits the scaled frames into a second, small
    (256 pixels on the long side) raw copy sent through a pipe, and a worker
    thread computes each frame's statistics from it (see `detect_transitions`)
    into a stats file bound to this MP4, so that detection need not decode it
    again.

    All files are written under temporary names and renamed once FFmpeg
    succeeded, so a failed or cancelled run never leaves a complete-looking output.

    Args:
        src: The input video.
        video_out: Where to write the MP4 (`processed/{id}/normalized.mp4`).
        audio_out: Where to write the WAV (`processed/{id}/audio.wav`).
        height: Largest shorter side of the output, in pixels.
        fps: Output frame rate.
        info: `probe(src)`, if already known; probed otherwise.
        ffmpeg: The FFmpeg executable; by default `find_ffmpeg()`.
        max_output_bytes: FFmpeg stops writing the MP4 at this size, and the
            run fails with `InputTooLarge` (`MAX_OUTPUT_BYTES`).
        progress: Called with the media seconds written so far, about twice a
            second (FFmpeg's `-progress`), on the event loop.
        scene_stats: Where to write the per-frame scene statistics
            (`scene_stats_path(video_out)`); `None` writes none.

    Returns:
        The probe of the normalized MP4 (`has_audio` tells whether the WAV exists).

    Raises:
        InputNotFound: `src` does not exist.
        EmptyInput: `src` is empty.
        NotAVideo: `src` is not a video.
        CorruptMedia: `src` is truncated or corrupt.
        MediaError: FFmpeg failed; the message carries its stderr.
        InputTooLarge: The MP4 reached `max_output_bytes`.
    """
    if info is None:
        info = await probe(src)
    video_out, audio_out = Path(video_out), Path(audio_out)
    video_tmp = _temp_sibling(video_out)
    audio_tmp = _temp_sibling(audio_out)
    video_out.parent.mkdir(parents=True, exist_ok=True)
    audio_out.parent.mkdir(parents=True, exist_ok=True)
    measured: _StatsPipe | None = None
    try:
        if scene_stats is not None:
            size = target_size(info.width, info.height, height)
            full = None if max_output_bytes is None else _reached(video_tmp, max_output_bytes)
            measured = _StatsPipe(Path(scene_stats), fps=fps, video_size=size, stop=full)
        args = normalize_args(
            src,
            video_tmp,
            audio_tmp,
            info,
            height=height,
            fps=fps,
            stats_pipe=None if measured is None else measured.write_fd,
        )
        if max_output_bytes is not None:
            # `-fs` applies to the output named after it: the MP4, the first one.
            args[args.index("-map") : args.index("-map")] = ["-fs", str(max_output_bytes)]
        run = partial(
            run_ffmpeg, args, what=f"normalize {src}", path=src, ffmpeg=ffmpeg, progress=progress
        )
        if measured is None:
            await run()
        else:
            try:
                async with anyio.create_task_group() as group:
                    group.start_soon(anyio.to_thread.run_sync, measured.read)
                    await run(pass_fds=[measured.take_write_fd()])
            except BaseExceptionGroup as errors:
                # FFmpeg's failure (or the reader's) as itself: a typed error, not a group.
                first = next(
                    (e for e in errors.exceptions if isinstance(e, VideopipeError)),
                    errors.exceptions[0],
                )
                # Unless the reader hung up on a full MP4 (FFmpeg then fails on the pipe).
                if not measured.stopped:
                    raise first from first.__cause__
        if max_output_bytes is not None and video_tmp.stat().st_size >= max_output_bytes:
            raise InputTooLarge(
                f"normalizing {src} reached the output limit of {max_output_bytes:,} bytes: "
                "raise MAX_OUTPUT_BYTES to process it.",
                setting="MAX_OUTPUT_BYTES",
                limit=max_output_bytes,
                path=src,
            )
        result = await probe(video_tmp)
        if info.has_audio:
            os.replace(audio_tmp, audio_out)
        else:
            audio_out.unlink(missing_ok=True)
        if measured is not None:
            # Bound to the MP4's content (size, a hash of its ends): the rename keeps it.
            measured.commit(video_tmp)
        # The video last: its presence is what says "normalized".
        os.replace(video_tmp, video_out)
    finally:
        if measured is not None:
            measured.close()
        video_tmp.unlink(missing_ok=True)
        audio_tmp.unlink(missing_ok=True)
    return replace(result, path=os.fspath(video_out))


class _StatsPipe:
    """The reading end of normalize's raw frame copy: measures each frame into a stats file."""

    def __init__(
        self,
        out: Path,
        *,
        fps: int,
        video_size: tuple[int, int],
        stop: Callable[[], bool] | None = None,
    ) -> None:
        self.size = detector_size(*video_size)
        self._read_fd, self.write_fd = os.pipe()
        self._read_open = self._write_open = True
        self._stop = stop
        self._fps = fps
        self.stopped = False
        """Whether `read` hung up because `stop()` said so."""
        self._writer = StatsWriter(
            out, _temp_sibling(out), fps=float(fps), video_size=video_size, size=self.size
        )
        self._measures = Measures(float(fps))
        self._done = False

    def take_write_fd(self) -> int:
        """The write end, for `run_ffmpeg`, which closes it."""
        self._write_open = False
        return self.write_fd

    def read(self) -> None:
        """Measure frames until FFmpeg closes the pipe (in a worker thread).

        Every second of video it asks `stop()`; when that says to (the MP4 hit
        `MAX_OUTPUT_BYTES`, so FFmpeg stopped writing it), it hangs up, which
        ends FFmpeg's other work on the frames at once.
        """
        width, height = self.size
        frame_bytes = width * height * 3 // 2
        buffer = bytearray(frame_bytes)
        view = memoryview(buffer)
        with open(self._read_fd, "rb", buffering=0, closefd=False) as pipe:
            while True:
                filled = 0
                while filled < frame_bytes:
                    count = pipe.readinto(view[filled:])
                    if not count:
                        break
                    filled += count
                if filled < frame_bytes:
                    break  # the end (a partial frame only if FFmpeg failed)
                image = i420_to_bgr(buffer, self.size)
                self._writer.add(*self._measures.measure(image))
                if self._stop is not None and self._writer.frames % self._fps == 0 and self._stop():
                    self.stopped = True
                    self._close_read()
                    return
        self._done = True

    def _close_read(self) -> None:
        if self._read_open:
            self._read_open = False
            os.close(self._read_fd)

    def commit(self, video: Path) -> None:
        """Finish the stats file, bound to `video`; after FFmpeg succeeded."""
        if not self._done or not self._writer.frames:
            raise MediaError(f"normalize measured no frame for {video}", path=video)
        self._writer.commit(video)

    def close(self) -> None:
        """Release the pipe and drop the stats file if it was not committed."""
        if self._write_open:
            self._write_open = False
            os.close(self.write_fd)
        self._close_read()
        self._writer.discard()


def _reached(path: Path, limit: int) -> Callable[[], bool]:
    """A check whether the file at `path` has grown to `limit` bytes."""

    def check() -> bool:
        with suppress(OSError):
            return path.stat().st_size >= limit
        return False

    return check


def normalize_args(
    src: StrPath,
    video_out: StrPath,
    audio_out: StrPath,
    info: MediaInfo,
    *,
    height: int = 720,
    fps: int = 30,
    stats_pipe: int | None = None,
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
        stats_pipe: A file descriptor FFmpeg also writes the frames to, as raw
            yuv420p shrunk to the scene detector's size (`detector_size`).

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
    args = ["-y", "-i", _ffmpeg_path(src)]
    if stats_pipe is None:
        args += ["-map", "0:V:0", "-vf", video_filter]
    else:
        # The frames the MP4 gets, split before encoding: the small copy costs a
        # scaler at 256 pixels, not a second decode.
        small = "{}:{}".format(*detector_size(width, out_height))
        graph = f"[0:V:0]{video_filter},split=2[video][copy];"
        graph += f"[copy]scale={small}:flags=area,format=yuv420p[stats]"
        args += ["-filter_complex", graph, "-map", "[video]"]
    args += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-pix_fmt", "yuv420p"]
    if info.has_audio:
        args += ["-map", "0:a:0", "-c:a", "aac", "-b:a", "128k"]
    args += ["-movflags", "+faststart", "-f", "mp4", _ffmpeg_path(video_out)]
    if info.has_audio:
        args += ["-map", "0:a:0", "-vn", "-ac", "1", "-ar", "16000", "-c:a", "pcm_s16le"]
        args += ["-f", "wav", _ffmpeg_path(audio_out)]
    if stats_pipe is not None:
        args += ["-map", "[stats]", "-f", "rawvideo", "-pix_fmt", "yuv420p", f"pipe:{stats_pipe}"]
    return args


def _ffmpeg_path(path: StrPath) -> str:
    # FFmpeg reads "-x.mp4" as an option and "a:b.mp4" as protocol "a"; an absolute
    # path behind the `file:` protocol is always just a file.
    return "file:" + os.fspath(Path(path).absolute())


STALE_PART_SEC = 600.0
"""A `.part` file not written for this long is left by a killed run (`sweep_parts`)."""


def sweep_parts(directory: StrPath, *, older_than: float = STALE_PART_SEC) -> int:
    """Remove the temporary `.part` files a killed run left in `directory`; return how many.

    Outputs are written under hidden `.{name}.{random}.part` names and renamed
    when complete, so a `kill -9` mid-write leaves such files behind. Only the
    ones not modified for `older_than` seconds go: a live FFmpeg writes its
    output continuously, a JPEG takes milliseconds, so a recent one may belong
    to a run still going.
    """
    folder = Path(directory)
    if not folder.is_dir():
        return 0
    cutoff = time.time() - older_than
    removed = 0
    for part in folder.glob(".*.part"):
        with suppress(OSError):  # gone already, or not ours to remove: not worth failing
            if part.is_file() and part.stat().st_mtime < cutoff:
                part.unlink()
                removed += 1
    return removed


def _temp_sibling(path: Path) -> Path:
    # Same directory, so the final rename is atomic; hidden, so nothing mistakes it
    # for the real output.
    return path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.part")
