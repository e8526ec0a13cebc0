"""The media layer against real FFmpeg, PyAV and PySceneDetect, on generated fixtures."""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
import stat
import wave
from pathlib import Path

import anyio
import av
import imageio_ffmpeg
import numpy as np
import psutil
import pytest
from PIL import Image

from videopipe._exceptions import (
    CorruptMedia,
    EmptyInput,
    FFmpegNotFound,
    InputNotFound,
    MediaError,
    NotAVideo,
)
from videopipe._media import (
    detect_scenes,
    extract_frames,
    ffmpeg_calls,
    find_ffmpeg,
    format_srt,
    hamming,
    mark_duplicates,
    normalize,
    phash,
    probe,
    run_ffmpeg,
)

FRAME = 1 / 30  # the fixtures' and the normalized output's frame duration


def fake_executable(directory: Path, name: str = "ffmpeg") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def frames_of(path: Path) -> list[tuple[float, np.ndarray]]:
    """Every frame of a small video as (time, RGB array), the reference for frame grabs."""
    with av.open(os.fspath(path)) as container:
        return [(f.time, f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]


async def started_children(process: psutil.Process) -> list[psutil.Process]:
    """Wait (up to 10 s) until `process` has an FFmpeg child, and return its FFmpeg children.

    Other children (multiprocessing's resource tracker, say, left by other tests) are ignored.
    """
    for _ in range(5000):
        children = [c for c in process.children() if "ffmpeg" in _name(c).lower()]
        if children:
            return children
        await anyio.sleep(0.002)
    raise AssertionError("FFmpeg never started")


def _name(process: psutil.Process) -> str:
    try:
        return process.name() + " " + " ".join(process.cmdline()[:1])
    except psutil.Error:
        return ""


def boundaries(scenes: list[tuple[float, float]]) -> list[float]:
    return [start for start, _ in scenes[1:]]


# --- discovery -------------------------------------------------------------------------


def test_setting_wins_over_environment_and_path(tmp_path, monkeypatch) -> None:
    """An explicit `Settings.ffmpeg` beats `VIDEOPIPE_FFMPEG`, which beats `ffmpeg` on PATH."""
    on_path = fake_executable(tmp_path / "bin")
    from_env = fake_executable(tmp_path / "env")
    from_setting = fake_executable(tmp_path / "setting")
    monkeypatch.setenv("PATH", os.fspath(on_path.parent))
    assert find_ffmpeg() == os.fspath(on_path)
    monkeypatch.setenv("VIDEOPIPE_FFMPEG", os.fspath(from_env))
    assert find_ffmpeg() == os.fspath(from_env)
    assert find_ffmpeg(os.fspath(from_setting)) == os.fspath(from_setting)


def test_bundled_binary_is_the_last_resort(tmp_path, monkeypatch) -> None:
    """Nothing configured and nothing on PATH: the `imageio-ffmpeg` wheel's binary."""
    monkeypatch.setenv("PATH", os.fspath(tmp_path))
    assert find_ffmpeg() == imageio_ffmpeg.get_ffmpeg_exe()


def test_missing_ffmpeg_says_how_to_fix_it(tmp_path, monkeypatch) -> None:
    """No setting, nothing on PATH and no bundled binary: the message lists every fix."""

    def no_binary() -> str:
        raise RuntimeError("no ffmpeg exe could be found")

    monkeypatch.setenv("PATH", os.fspath(tmp_path))
    monkeypatch.setattr(imageio_ffmpeg, "get_ffmpeg_exe", no_binary)
    with pytest.raises(FFmpegNotFound) as info:
        find_ffmpeg()
    message = str(info.value)
    assert "imageio-ffmpeg" in message
    assert "PATH" in message
    assert "VIDEOPIPE_FFMPEG" in message


def test_a_wrong_setting_fails_instead_of_silently_falling_back(monkeypatch) -> None:
    """A typo in VIDEOPIPE_FFMPEG must not quietly run some other FFmpeg."""
    monkeypatch.setenv("VIDEOPIPE_FFMPEG", "/nonexistent/ffmpeg")
    with pytest.raises(FFmpegNotFound, match="/nonexistent/ffmpeg"):
        find_ffmpeg()


# --- probe -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "width", "height", "has_audio", "duration", "codec"),
    [
        ("cuts.mp4", 320, 240, True, 8.0, "h264"),
        ("silent.mp4", 320, 240, False, 3.0, "h264"),
        ("portrait.mp4", 360, 640, True, 2.0, "h264"),
        ("short.mp4", 320, 240, True, 0.5, "h264"),
        ("odd.mp4", 321, 241, True, 1.0, "mpeg4"),
        ("uhd.mp4", 3840, 2160, True, 0.5, "h264"),
        ("vfr.mp4", 320, 240, False, 6.0, "h264"),
    ],
)
async def test_probe_describes_good_files(
    media, name, width, height, has_audio, duration, codec
) -> None:
    """Sizes are display sizes: the portrait file is stored 640x360 with a rotation."""
    info = await probe(media[name])
    assert (info.width, info.height, info.has_audio, info.video_codec) == (
        width,
        height,
        has_audio,
        codec,
    )
    assert info.duration_sec == pytest.approx(duration, abs=0.05)
    assert info.audio_codec == ("aac" if has_audio else None)
    assert info.size_bytes == media[name].stat().st_size
    assert info.path == os.fspath(media[name])


async def test_probe_reports_rotation_and_variable_frame_rate(media) -> None:
    """Rotation and VFR decide how normalize treats a file; MediaInfo is frozen."""
    portrait = await probe(media["portrait.mp4"])
    assert portrait.rotation in (90, 270)
    assert (await probe(media["vfr.mp4"])).variable_frame_rate
    assert not (await probe(media["cuts.mp4"])).variable_frame_rate
    with pytest.raises(AttributeError):
        portrait.width = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("name", "error"),
    [
        ("empty.mp4", EmptyInput),
        ("text.mp4", NotAVideo),
        ("truncated.mp4", CorruptMedia),
        ("truncated_faststart.mp4", CorruptMedia),
        ("audio_only.m4a", NotAVideo),
        ("missing.mp4", InputNotFound),
    ],
)
async def test_bad_input_raises_its_typed_error_naming_the_file(media, name, error) -> None:
    """One batch item's bad file must fail alone, with a message a person can act on."""
    path = media.get(name, media["cuts.mp4"].with_name(name))
    with pytest.raises(error) as info:
        await probe(path)
    assert os.fspath(path) in str(info.value)
    assert info.value.path == os.fspath(path)


async def test_noise_named_mp4_is_not_a_video_but_a_raw_stream_under_its_own_name_is(
    tmp_path,
) -> None:
    """FFmpeg guesses a raw codec stream in noise: 64 kB of random bytes named .mp4 was
    processed as a 0.03 s H.263 video in the fault campaign. A bare stream named .mp4 is
    refused; the same bytes named .h263 are a (real) raw stream and pass."""
    raw = tmp_path / "clip.h263"
    await anyio.run_process(
        [
            imageio_ffmpeg.get_ffmpeg_exe(),
            *("-nostdin", "-y", "-loglevel", "error", "-f", "lavfi"),
            *("-i", "testsrc=size=352x288:rate=25", "-frames:v", "10", "-f", "h263", str(raw)),
        ]
    )
    assert (await probe(raw)).video_codec == "h263"
    named = tmp_path / "upload.mp4"
    named.write_bytes(raw.read_bytes())
    with pytest.raises(NotAVideo, match=r"named like a \.mp4 file .* raw h263 stream") as info:
        await probe(named)
    assert info.value.permanent


async def test_a_directory_is_not_a_video(tmp_path) -> None:
    """A directory passed by mistake is refused, not opened as a stream."""
    with pytest.raises(NotAVideo, match="directory"):
        await probe(tmp_path)


async def test_every_stage_rejects_bad_input_the_same_way(media, tmp_path) -> None:
    """detect_scenes/extract_frames on a bad file fail with the typed error, not a crash."""
    with pytest.raises(NotAVideo):
        await detect_scenes(media["text.mp4"])
    with pytest.raises(EmptyInput):
        await extract_frames(media["empty.mp4"], [0.0], [tmp_path / "x.jpg"])
    with pytest.raises(NotAVideo):
        await normalize(media["audio_only.m4a"], tmp_path / "n.mp4", tmp_path / "a.wav")
    assert list(tmp_path.iterdir()) == []


# --- normalize -------------------------------------------------------------------------


def wav_format(path: Path) -> tuple[int, int, int]:
    with wave.open(os.fspath(path)) as wav:
        return wav.getframerate(), wav.getnchannels(), wav.getsampwidth()


def top_level_atoms(path: Path) -> list[str]:
    atoms, data, offset = [], path.read_bytes(), 0
    while offset + 8 <= len(data):
        size = int.from_bytes(data[offset : offset + 4], "big")
        atoms.append(data[offset + 4 : offset + 8].decode("latin-1"))
        if size == 1:
            size = int.from_bytes(data[offset + 8 : offset + 16], "big")
        if size < 8:
            break
        offset += size
    return atoms


async def test_normalize_makes_720p30_h264_aac_and_16k_mono_wav(media, tmp_path) -> None:
    """4K in, 1280x720 30 fps H.264/yuv420p + AAC out, faststart; WAV 16 kHz mono s16."""
    video, audio = tmp_path / "processed" / "normalized.mp4", tmp_path / "processed" / "audio.wav"
    info = await normalize(media["uhd.mp4"], video, audio)
    assert (info.width, info.height, info.fps) == (1280, 720, 30.0)
    assert (info.video_codec, info.audio_codec, info.has_audio) == ("h264", "aac", True)
    assert info.path == os.fspath(video)
    with av.open(os.fspath(video)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert stream.average_rate == 30
    atoms = top_level_atoms(video)
    assert atoms.index("moov") < atoms.index("mdat"), atoms
    assert wav_format(audio) == (16000, 1, 2)
    with wave.open(os.fspath(audio)) as wav:
        assert wav.getnframes() / 16000 == pytest.approx(0.5, abs=0.05)
    assert sorted(p.name for p in video.parent.iterdir()) == ["audio.wav", "normalized.mp4"]


async def test_silent_video_normalizes_without_audio(media, tmp_path) -> None:
    """No audio is not an error: the video is still normalized; a stale WAV is removed."""
    audio = tmp_path / "audio.wav"
    audio.write_bytes(b"stale audio from an earlier run")
    info = await normalize(media["silent.mp4"], tmp_path / "normalized.mp4", audio)
    assert not info.has_audio
    assert info.audio_codec is None
    assert not audio.exists()
    with av.open(os.fspath(tmp_path / "normalized.mp4")) as container:
        assert not container.streams.audio


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("portrait.mp4", (360, 640)),  # rotation applied, stays portrait
        ("odd.mp4", (320, 240)),  # 321x241 -> even
        ("cuts.mp4", (320, 240)),  # never upscaled
        ("short.mp4", (320, 240)),
    ],
)
async def test_normalize_keeps_orientation_and_makes_even_sizes(
    media, tmp_path, name, size
) -> None:
    """Portrait stays portrait, odd sizes become even, nothing is upscaled."""
    info = await normalize(media[name], tmp_path / "n.mp4", tmp_path / "a.wav")
    assert (info.width, info.height) == size
    assert info.rotation == 0
    assert info.duration_sec == pytest.approx((await probe(media[name])).duration_sec, abs=0.1)


async def test_variable_frame_rate_becomes_constant_30fps(media, tmp_path) -> None:
    """Downstream stages may then count on one frame every 1/30 s."""
    info = await normalize(media["vfr.mp4"], tmp_path / "n.mp4", tmp_path / "a.wav")
    assert not info.variable_frame_rate
    times = [t for t, _ in frames_of(tmp_path / "n.mp4")]
    assert len(times) == pytest.approx(180, abs=2)
    assert np.allclose(np.diff(times), FRAME, atol=1e-3)


async def test_file_names_ffmpeg_could_misread_are_just_files(media, tmp_path) -> None:
    """A leading dash (an option?) or a colon (a protocol?) in a name changes nothing."""
    src = tmp_path / "-y in:put.mp4"
    src.write_bytes(media["short.mp4"].read_bytes())
    out = tmp_path / "-out:dir"
    info = await normalize(src, out / "-n.mp4", out / "a:b.wav")
    assert info.path == os.fspath(out / "-n.mp4")
    assert wav_format(out / "a:b.wav") == (16000, 1, 2)


async def test_failed_normalize_leaves_no_output(media, tmp_path) -> None:
    """FFmpeg fails (an audio stream that is not there); nothing complete-looking remains."""
    info = await probe(media["silent.mp4"])
    lying = dataclasses.replace(info, has_audio=True)
    with pytest.raises(MediaError, match="normalize") as caught:
        await normalize(media["silent.mp4"], tmp_path / "n.mp4", tmp_path / "a.wav", info=lying)
    assert caught.value.path == os.fspath(media["silent.mp4"])
    assert list(tmp_path.iterdir()) == []


async def test_cancelled_normalize_kills_ffmpeg_and_leaves_no_output(media, tmp_path) -> None:
    me = psutil.Process()
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(normalize, media["uhd.mp4"], tmp_path / "n.mp4", tmp_path / "a.wav")
            children = await started_children(me)
            scope.cancel()
    assert scope.cancelled_caught
    for child in children:
        assert not psutil.pid_exists(child.pid)
    assert list(tmp_path.iterdir()) == []


# --- run_ffmpeg ------------------------------------------------------------------------


async def test_ffmpeg_failure_carries_its_stderr(tmp_path) -> None:
    """The tail of FFmpeg's stderr is the only clue to why it failed: keep it."""
    before = ffmpeg_calls()
    with pytest.raises(MediaError) as info:
        await run_ffmpeg(
            ["-i", os.fspath(tmp_path / "nope.mp4"), "-f", "null", "-"],
            what="decode nope.mp4",
            path=tmp_path / "nope.mp4",
        )
    message = str(info.value)
    assert message.startswith("FFmpeg failed to decode nope.mp4 (exit code")
    assert "No such file or directory" in message
    assert info.value.path == os.fspath(tmp_path / "nope.mp4")
    assert ffmpeg_calls() == before + 1


async def test_cancellation_kills_the_ffmpeg_process() -> None:
    """An endless FFmpeg run is killed and reaped when its task is cancelled."""
    endless = ["-re", "-f", "lavfi", "-i", "testsrc2=size=64x64:rate=30", "-f", "null", "-"]
    me = psutil.Process()
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            tg.start_soon(lambda: run_ffmpeg(endless, what="run forever"))
            (child,) = await started_children(me)
            assert child.is_running()
            scope.cancel()
    assert scope.cancelled_caught
    assert not psutil.pid_exists(child.pid)
    assert [c for c in me.children() if "ffmpeg" in _name(c).lower()] == []


async def test_probing_detecting_and_grabbing_never_run_ffmpeg(media, tmp_path) -> None:
    """Only normalize pays for an FFmpeg process; the rest decodes in-process."""
    before = ffmpeg_calls()
    await probe(media["cuts.mp4"])
    await detect_scenes(media["short.mp4"])
    await extract_frames(media["short.mp4"], [0.1], [tmp_path / "f.jpg"])
    assert ffmpeg_calls() == before


# --- scenes ----------------------------------------------------------------------------


async def test_hard_cuts_are_found_within_two_frames_after_normalizing(media, tmp_path) -> None:
    """The known cuts of `cuts.mp4`, on the normalized file as the pipeline runs it."""
    truth = json.loads(media["cuts.json"].read_text())
    await normalize(media["cuts.mp4"], tmp_path / "n.mp4", tmp_path / "a.wav")
    scenes = await detect_scenes(tmp_path / "n.mp4")
    assert len(scenes) == len(truth["cuts"]) + 1
    assert np.allclose(boundaries(scenes), truth["cuts"], atol=2 * FRAME)
    assert scenes[0][0] == 0.0
    assert scenes[-1][1] == pytest.approx(truth["duration"], abs=FRAME)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(scenes))


async def test_a_clip_without_cuts_is_one_scene(media) -> None:
    """Every video yields at least one scene (and one frame to caption)."""
    assert await detect_scenes(media["silent.mp4"]) == [(0.0, pytest.approx(3.0, abs=FRAME))]
    assert await detect_scenes(media["short.mp4"]) == [(0.0, pytest.approx(0.5, abs=FRAME))]


async def test_cut_times_come_from_timestamps_on_variable_frame_rate(media) -> None:
    """140 frames in 6 s: frame counting would put the second cut at 3.43 s, not 4 s."""
    truth = json.loads(media["vfr.json"].read_text())
    scenes = await detect_scenes(media["vfr.mp4"])
    assert np.allclose(boundaries(scenes), truth["cuts"], atol=2 * FRAME)
    assert scenes[-1][1] == pytest.approx(6.0, abs=FRAME)


async def test_fades_and_dissolves_are_found_once_each(media) -> None:
    """AdaptiveDetector alone misses the slow dissolve; each transition gives one boundary."""
    truth = json.loads(media["fades.json"].read_text())["transitions"]
    found = boundaries(await detect_scenes(media["fades.mp4"]))
    assert len(found) == len(truth), found
    for t, transition in zip(found, truth, strict=True):
        # the boundary falls inside the transition; its ideal place is the middle
        assert transition["start"] - 2 * FRAME <= t <= transition["end"] + 2 * FRAME, found
        assert t == pytest.approx(transition["boundary"], abs=0.25), found
    cut_only = boundaries(await detect_scenes(media["fades.mp4"], fade_detection=False))
    dissolve = truth[1]
    assert not any(dissolve["start"] <= t <= dissolve["end"] for t in cut_only), cut_only


def test_a_dissolve_is_found_but_a_continuous_change_is_not() -> None:
    """Both are linear blends over time; only the dissolve settles on either side."""
    from videopipe._media import _Dissolves

    rng = np.random.default_rng(0)
    pictures = [rng.uniform(0, 255, (18, 32, 3)).astype(np.float32) for _ in range(9)]
    a, b = pictures[:2]
    dissolve = _Dissolves(16)
    for i in range(150):  # A until frame 50, a 40-frame dissolve, then B
        alpha = min(1.0, max(0.0, (i - 50) / 40))
        dissolve.push(i, (1 - alpha) * a + alpha * b)
    assert dissolve.finish() == [pytest.approx(70, abs=2)]
    morph = _Dissolves(16)
    for i in range(320):  # blending on from picture to picture, never settling
        step, alpha = divmod(i / 40, 1.0)
        morph.push(i, (1 - alpha) * pictures[int(step)] + alpha * pictures[int(step) + 1])
    assert morph.finish() == []


async def test_downscale_does_not_move_the_cuts(media) -> None:
    """Detection on smaller frames is an option for speed; it must not shift cuts."""
    truth = json.loads(media["cuts.json"].read_text())
    for factor in (1, 2, 4):
        scenes = await detect_scenes(media["cuts.mp4"], downscale=factor)
        assert np.allclose(boundaries(scenes), truth["cuts"], atol=2 * FRAME), factor


# --- frames and hashes -----------------------------------------------------------------


async def test_frames_are_grabbed_at_the_requested_times(media, tmp_path) -> None:
    """Unsorted times, a repeat, times on either side of a cut and past the end."""
    reference = frames_of(media["cuts.mp4"])
    times = [7.9, 1.0, 2.0, 1.99, 0.0, 2.0, 100.0, 4.5]
    outs = [tmp_path / "frames" / f"scene_{i:03d}.jpg" for i in range(len(times))]
    await extract_frames(media["cuts.mp4"], times, outs)
    for t, out in zip(times, outs, strict=True):
        with Image.open(out) as image:
            assert image.format == "JPEG"
            assert image.size == (320, 240)
            got = np.asarray(image.convert("RGB"), dtype=np.float32)
        shown = [array for when, array in reference if when <= t + 1e-6][-1]
        errors = [float(np.abs(got - a).mean()) for _, a in reference]
        assert float(np.abs(got - shown).mean()) == pytest.approx(min(errors)), t
        assert min(errors) < 4, t
    assert sorted(p.name for p in outs[0].parent.iterdir()) == sorted(p.name for p in outs)


async def test_extract_frames_needs_one_path_per_time(media) -> None:
    """A mismatch is a programming error, reported before any decoding."""
    with pytest.raises(ValueError, match="one path per time"):
        await extract_frames(media["cuts.mp4"], [1.0, 2.0], [Path("a.jpg")])


async def test_portrait_frames_come_out_upright(media, tmp_path) -> None:
    """The raw (rotated) file and its normalized copy give the same picture."""
    await normalize(media["portrait.mp4"], tmp_path / "n.mp4", tmp_path / "a.wav")
    await extract_frames(media["portrait.mp4"], [1.0], [tmp_path / "raw.jpg"])
    await extract_frames(tmp_path / "n.mp4", [1.0], [tmp_path / "norm.jpg"])
    with Image.open(tmp_path / "raw.jpg") as raw, Image.open(tmp_path / "norm.jpg") as norm:
        assert raw.size == norm.size == (360, 640)
        difference = np.abs(np.asarray(raw, np.float32) - np.asarray(norm, np.float32))
    assert float(difference.mean()) < 4


async def test_repeated_scenes_are_marked_as_duplicates(media, tmp_path) -> None:
    """Scenes A, B, A, B: the second A and B are not captioned again."""
    truth = json.loads(media["repeated.json"].read_text())
    scenes = await detect_scenes(media["repeated.mp4"])
    assert np.allclose(boundaries(scenes), truth["cuts"], atol=2 * FRAME)
    outs = [tmp_path / f"scene_{i:03d}.jpg" for i in range(len(scenes))]
    await extract_frames(media["repeated.mp4"], [(a + b) / 2 for a, b in scenes], outs)
    hashes = [phash(out) for out in outs]
    assert all(len(h) == 16 for h in hashes)
    assert mark_duplicates(hashes) == truth["duplicate_of"]
    assert hamming(hashes[0], hashes[1]) > 6


def test_hamming_counts_differing_bits() -> None:
    """Hashes of different lengths cannot be compared."""
    assert hamming("0000", "0000") == 0
    assert hamming("ffff", "0000") == 16
    assert hamming("8000000000000000", "0000000000000001") == 2
    with pytest.raises(ValueError, match="different lengths"):
        hamming("ff", "fff")


def test_duplicates_point_at_the_closest_earlier_unique_frame() -> None:
    a, a1, a3, b = "0000000000000000", "0000000000000001", "0000000000000007", "ffffffffffffffff"
    assert mark_duplicates([a, b, a1, a3]) == [None, None, 0, 0]
    # a3 is 2 bits from a1 but 3 from a: it still points at a, because a1 is a duplicate
    assert mark_duplicates([a, a1, a3], max_distance=2) == [None, 0, None]
    assert mark_duplicates([]) == []
    assert mark_duplicates([a, a3], max_distance=0) == [None, None]


# --- subtitles -------------------------------------------------------------------------


def test_srt_is_numbered_and_separated_by_blank_lines() -> None:
    """A blank line inside a text would end the cue early, so it is dropped."""
    srt = format_srt([(0.0, 2.5, "Hello there."), (2.5, 4.0, "  Two\n\nlines  ")])
    assert srt == (
        "1\n00:00:00,000 --> 00:00:02,500\nHello there.\n"
        "\n"
        "2\n00:00:02,500 --> 00:00:04,000\nTwo\nlines\n"
    )


def test_srt_rounding_carries_instead_of_printing_1000_ms() -> None:
    """59.9996 s is 00:01:00,000, never 00:00:59,1000; hours may pass 99."""
    srt = format_srt([(59.9996, 3599.9995, "edge"), (3723.5, 360000.0, "long")])
    assert srt == (
        "1\n00:01:00,000 --> 01:00:00,000\nedge\n\n2\n01:02:03,500 --> 100:00:00,000\nlong\n"
    )
    assert ",1000" not in format_srt([(t / 1000 + 0.0004999, t, "x") for t in range(0, 5000, 7)])


def test_srt_skips_empty_text_and_handles_no_segments() -> None:
    """Empty cues confuse players; negative times are clamped to zero."""
    assert format_srt([]) == ""
    assert format_srt([(0, 1, "  "), (1, 2, "kept")]) == "1\n00:00:01,000 --> 00:00:02,000\nkept\n"
    assert "00:00:00,000 --> 00:00:00,000" in format_srt([(-1.0, -0.5, "clamped")])


@pytest.mark.parametrize("work", ["scenes", "frames"])
async def test_a_timeout_stops_the_decoding_thread_itself(long_clip: Path, work: str) -> None:
    """`fail_after` reaches the CPU work in its thread: minutes of decoding stop at once.

    The await returns only once the thread has returned (threads are not
    abandoned): a thread that did not stop would hold this test for minutes, past
    pytest's timeout, so no clock is read here.
    """
    from videopipe import _media as media

    times = [i * 0.25 for i in range(4800)]  # every quarter second: every frame decoded
    paths = [Path(f"f{i}.jpg") for i in range(len(times))]
    with pytest.raises(TimeoutError), anyio.fail_after(0.5):
        await (
            media.detect_scenes(long_clip)
            if work == "scenes"
            else media.extract_frames(long_clip, times, paths)
        )
