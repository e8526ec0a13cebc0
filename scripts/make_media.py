"""Generate small test videos whose ground truth is known, with FFmpeg's `lavfi` sources.

Usage:

    python scripts/make_media.py OUT_DIR            # the test fixtures + a 60 s 1080p30 clip
    python scripts/make_media.py OUT_DIR --long     # ... and a 5-minute 1080p30 clip
    python scripts/make_media.py OUT_DIR --fixtures-only

The tests import this file (`tests/media/conftest.py` loads it by path) and call
`make_all()`, which is cached: a directory already holding this script's output,
stamped with its hash, is returned as is.

Every scene comes from a different synthetic source (test patterns, colour bars,
fractals), so each cut is unambiguous. Speech is real: `espeak-ng` reads known
sentences at known times. Ground truth goes to JSON sidecars (`cuts.json`, ...).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import inspect
import json
import os
import shutil
import subprocess
import sys
import tempfile
import wave
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from videopipe._media import find_ffmpeg

FPS = 30
W, H = 320, 240

STAMP = ".videopipe-media"

# Visually unrelated sources, so every cut between two of them is a large change.
SOURCES: dict[str, str] = {
    "testsrc2": "testsrc2=size={w}x{h}:rate={fps}",
    "smptebars": "smptebars=size={w}x{h}:rate={fps}",
    "mandelbrot": "mandelbrot=size={w}x{h}:rate={fps}",
    "rgbtestsrc": "rgbtestsrc=size={w}x{h}:rate={fps}",
    "gradients": "gradients=size={w}x{h}:rate={fps}:speed=0.02",
    "colorchart": "colorchart=rate={fps}:patch_size={patch}x{patch}",
    "testsrc": "testsrc=size={w}x{h}:rate={fps}",
    "smptehdbars": "smptehdbars=size={w}x{h}:rate={fps}",
    "red": "color=c=0xC02020:size={w}x{h}:rate={fps}",
    "blue": "color=c=0x2040C0:size={w}x{h}:rate={fps}",
}

# What `cuts.mp4` says, and when (seconds); end times are measured from the generated speech.
SENTENCES: list[tuple[float, str]] = [
    (0.3, "The budget meeting starts at nine."),
    (2.3, "Sales grew by twelve percent."),
    (4.3, "Please review the hiring plan."),
    (6.3, "Thank you, see you next week."),
]


def script_hash() -> str:
    """A hash of this file: the fixtures are regenerated whenever it changes."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]


def bench_hash(seconds: int, scene_seconds: float, height: int = 1080) -> str:
    """A hash of what a benchmark clip is made of, so that unrelated edits keep the cache."""
    recipe = [inspect.getsource(make_bench), SOURCES, BENCH_SOURCES, SENTENCES, seconds]
    return hashlib.sha256(repr([*recipe, scene_seconds, height]).encode()).hexdigest()[:16]


def ffmpeg(*args: str) -> None:
    """Run FFmpeg quietly; raise with its stderr on failure."""
    cmd = [find_ffmpeg(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ffmpeg failed ({done.returncode}): {' '.join(cmd)}\n{done.stderr}")


def source(name: str, w: int = W, h: int = H) -> str:
    """The lavfi source `name` at `w`x`h`, `FPS` frames per second."""
    # colorchart has a fixed layout (10x6 patches), so it is scaled to the frame size instead.
    return SOURCES[name].format(w=w, h=h, fps=FPS, patch=max(8, w // 10))


def scene_inputs(scenes: Sequence[tuple[str, float]], w: int, h: int) -> tuple[list[str], str]:
    """FFmpeg input arguments and a filter graph labelling each scene `[v0]`, `[v1]`, ...

    Each scene is normalised to `w`x`h`, square pixels, yuv420p and a zero-based
    timeline so that `concat`/`xfade` accept them, and so that a cut falls exactly on
    a frame boundary.
    """
    args: list[str] = []
    chains: list[str] = []
    for i, (name, seconds) in enumerate(scenes):
        args += ["-f", "lavfi", "-t", f"{seconds}", "-i", source(name, w, h)]
        chains.append(
            f"[{i}:v]scale={w}:{h},setsar=1,format=yuv420p,fps={FPS},settb=1/{FPS},"
            f"trim=duration={seconds},setpts=PTS-STARTPTS[v{i}]"
        )
    return args, ";".join(chains)


def speech(text: str, out: Path) -> float:
    """Speak `text` into the WAV file `out` with espeak-ng; return its duration in seconds."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        raise RuntimeError("espeak-ng is missing: run `bash scripts/install-system-deps.sh`")
    subprocess.run([espeak, "-s", "170", "-w", os.fspath(out), text], check=True)
    with wave.open(os.fspath(out)) as wav:
        return wav.getnframes() / wav.getframerate()


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")


def concat_video(
    out: Path,
    scenes: Sequence[tuple[str, float]],
    *,
    w: int = W,
    h: int = H,
    audio: list[str] | None = None,
    audio_filter: str | None = None,
    extra: Sequence[str] = (),
) -> list[float]:
    """Hard-cut `scenes` together into `out`; return the cut times in seconds.

    `audio` holds extra FFmpeg input arguments whose streams `audio_filter` turns
    into `[a]`; without them the video is silent.
    """
    args, graph = scene_inputs(scenes, w, h)
    labels = "".join(f"[v{i}]" for i in range(len(scenes)))
    graph += f";{labels}concat=n={len(scenes)}:v=1:a=0[v]"
    maps = ["-map", "[v]"]
    if audio is not None and audio_filter is not None:
        args += audio
        graph += ";" + audio_filter
        maps += ["-map", "[a]", "-c:a", "aac", "-b:a", "96k"]
    total = sum(seconds for _, seconds in scenes)
    ffmpeg(
        *args,
        "-filter_complex",
        graph,
        *maps,
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "23",
        "-pix_fmt",
        "yuv420p",
        "-t",
        f"{total}",
        *extra,
        os.fspath(out),
    )
    cuts, t = [], 0.0
    for _, seconds in scenes[:-1]:
        t += seconds
        cuts.append(round(t, 6))
    return cuts


def sine(seconds: float, index: int, freq: int = 440) -> tuple[list[str], str]:
    """Audio input arguments + filter for a tone on input `index`, labelled `[a]`."""
    return (
        ["-f", "lavfi", "-t", f"{seconds}", "-i", f"sine=frequency={freq}:sample_rate=48000"],
        f"[{index}:a]anull[a]",
    )


# --- the fixtures ------------------------------------------------------------------------


def make_cuts(out_dir: Path, tmp: Path) -> None:
    """`cuts.mp4`: 4 scenes of 2 s (cuts at 2, 4, 6 s) with 4 spoken sentences."""
    scenes = [("testsrc2", 2.0), ("smptebars", 2.0), ("mandelbrot", 2.0), ("rgbtestsrc", 2.0)]
    sentences = []
    audio_args: list[str] = []
    chains = []
    for i, (start, text) in enumerate(SENTENCES):
        wav = tmp / f"sentence{i}.wav"
        seconds = speech(text, wav)
        sentences.append({"start": start, "end": round(start + seconds, 3), "text": text})
        audio_args += ["-i", os.fspath(wav)]
        chains.append(f"[{len(scenes) + i}:a]adelay=delays={round(start * 1000)}:all=1[s{i}]")
    mix = "".join(f"[s{i}]" for i in range(len(SENTENCES)))
    audio_filter = (
        ";".join(chains)
        + f";{mix}amix=inputs={len(SENTENCES)}:normalize=0:duration=longest,"
        + "aresample=48000,apad[a]"
    )
    # No +faststart: the index (moov atom) stays at the end, as in an interrupted
    # recording, so that `truncated.mp4` (the first half of this file) has none.
    cuts = concat_video(out_dir / "cuts.mp4", scenes, audio=audio_args, audio_filter=audio_filter)
    write_json(
        out_dir / "cuts.json",
        {
            "duration": 8.0,
            "fps": FPS,
            "width": W,
            "height": H,
            "cuts": cuts,
            "scenes": [name for name, _ in scenes],
            "sentences": sentences,
        },
    )
    data = (out_dir / "cuts.mp4").read_bytes()
    (out_dir / "truncated.mp4").write_bytes(data[: len(data) // 2])


# What `slides.mp4` shows (burnt-in text) and says, one slide per scene of 3 s.
SLIDES: list[tuple[str, str, str]] = [
    ("#1d3557", "ORDER CODE ZX-4471", "The warehouse ships every order within two days."),
    ("#2a6f4e", "Revenue 2025: 318 million", "Our customers love the new mobile application."),
    ("#7b2d26", "Kestrel Analytics Platform", "Questions are welcome at the end of the talk."),
]


def make_slides(
    out_dir: Path,
    tmp: Path,
    slides: Sequence[tuple[str, str, str]] = SLIDES,
    *,
    name: str = "slides",
    seconds: float = 3.0,
) -> Path:
    """`slides.mp4`: 3 slides of 3 s at 640x360, each with burnt-in text and a spoken sentence.

    The text is drawn with Pillow (its bundled font), so no system font is needed.
    `slides` holds (background colour, text shown, sentence said) per slide.
    """
    from PIL import Image, ImageDraw, ImageFont

    w, h = 640, 360
    font = ImageFont.load_default(size=34)
    args: list[str] = []
    chains, audio, sentences = [], [], []
    for i, (colour, text, said) in enumerate(slides):
        png = tmp / f"slide{i}.png"
        image = Image.new("RGB", (w, h), colour)
        draw = ImageDraw.Draw(image)
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        draw.text(((w - right + left) // 2, (h - bottom + top) // 2), text, fill="white", font=font)
        draw.rectangle((40 + 60 * i, 300, 100 + 60 * i, 330), fill="#f1c40f")
        image.save(png)
        args += ["-loop", "1", "-framerate", f"{FPS}", "-t", f"{seconds}", "-i", os.fspath(png)]
        chains.append(f"[{i}:v]format=yuv420p,setsar=1,settb=1/{FPS},setpts=PTS-STARTPTS[v{i}]")
        wav = tmp / f"said{i}.wav"
        start = i * seconds + 0.3
        sentences.append({"start": start, "end": round(start + speech(said, wav), 3), "text": said})
        audio.append(wav)
    graph = ";".join(chains) + ";" + "".join(f"[v{i}]" for i in range(len(slides)))
    graph += f"concat=n={len(slides)}:v=1:a=0[v]"
    for i, wav in enumerate(audio):
        args += ["-i", os.fspath(wav)]
        delay = round(sentences[i]["start"] * 1000)
        graph += f";[{len(slides) + i}:a]adelay=delays={delay}:all=1[s{i}]"
    mix = "".join(f"[s{i}]" for i in range(len(slides)))
    graph += f";{mix}amix=inputs={len(slides)}:normalize=0:duration=longest,aresample=48000,apad[a]"
    total = seconds * len(slides)
    ffmpeg(
        *args,
        "-filter_complex",
        graph,
        "-map",
        "[v]",
        "-map",
        "[a]",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-pix_fmt",
        "yuv420p",
        "-c:a",
        "aac",
        "-t",
        f"{total}",
        os.fspath(out_dir / f"{name}.mp4"),
    )
    write_json(
        out_dir / f"{name}.json",
        {
            "duration": total,
            "cuts": [seconds * i for i in range(1, len(slides))],
            "texts": [text for _, text, _ in slides],
            "sentences": sentences,
        },
    )
    return out_dir / f"{name}.mp4"


def make_truncated_faststart(out_dir: Path, tmp: Path) -> None:
    """`truncated_faststart.mp4`: the index is intact at the front, half the frames are gone."""
    full = tmp / "faststart.mp4"
    audio, afilter = sine(4.0, 2)
    concat_video(
        full,
        [("testsrc2", 2.0), ("smptebars", 2.0)],
        audio=audio,
        audio_filter=afilter,
        extra=["-movflags", "+faststart"],
    )
    data = full.read_bytes()
    (out_dir / "truncated_faststart.mp4").write_bytes(data[: len(data) // 2])


def make_silent(out_dir: Path, tmp: Path) -> None:
    """`silent.mp4`: 3 s, no audio track, no cut."""
    concat_video(out_dir / "silent.mp4", [("testsrc2", 3.0)])


def make_portrait(out_dir: Path, tmp: Path) -> None:
    """`portrait.mp4`: stored 640x360 with a 90° display rotation (shown 360x640), as phones do."""
    raw = tmp / "landscape.mp4"
    audio, afilter = sine(2.0, 1)
    concat_video(raw, [("testsrc2", 2.0)], w=640, h=360, audio=audio, audio_filter=afilter)
    ffmpeg(
        "-display_rotation",
        "90",
        "-i",
        os.fspath(raw),
        "-c",
        "copy",
        os.fspath(out_dir / "portrait.mp4"),
    )


def make_repeated(out_dir: Path, tmp: Path) -> None:
    """`repeated.mp4`: scenes A, B, A, B (1.5 s each); the second A and B repeat the first ones.

    The repeats are not bit-identical: temporal noise differs frame to frame, as a
    camera's would, so deduplication has to rely on perceptual hashes.
    """
    names = ["testsrc2", "mandelbrot", "testsrc2", "mandelbrot"]
    args: list[str] = []
    chains = []
    for i, name in enumerate(names):
        args += ["-f", "lavfi", "-t", "1.5", "-i", source(name)]
        chains.append(
            f"[{i}:v]setsar=1,format=yuv420p,noise=alls=10:allf=t,setpts=PTS-STARTPTS[v{i}]"
        )
    graph = ";".join(chains) + ";[v0][v1][v2][v3]concat=n=4:v=1:a=0[v]"
    ffmpeg(
        *args,
        "-filter_complex",
        graph,
        "-map",
        "[v]",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "23",
        os.fspath(out_dir / "repeated.mp4"),
    )
    write_json(
        out_dir / "repeated.json",
        {
            "duration": 6.0,
            "cuts": [1.5, 3.0, 4.5],
            "scenes": names,
            "duplicate_of": [None, None, 0, 1],
        },
    )


def make_fades(out_dir: Path, tmp: Path) -> None:
    """`fades.mp4`: a slow fade through black, a slow cross-dissolve, then a hard cut.

    0-3 s scene A, fading out from 2 s; 3-3.5 s black; scene B fades in over
    3.5-4.5 s; B dissolves into C over 5.5-7 s (`xfade=fade`); C cuts to D at 8.5 s.
    Both gradual transitions change too little per frame for a cut detector.
    """
    scenes = [("testsrc2", 3.0), ("smptebars", 3.5), ("rgbtestsrc", 3.0), ("mandelbrot", 1.5)]
    args, graph = scene_inputs(scenes, W, H)
    args += ["-f", "lavfi", "-t", "0.5", "-i", f"color=c=black:size={W}x{H}:rate={FPS}"]
    graph += (
        f";[4:v]setsar=1,format=yuv420p,settb=1/{FPS}[black]"
        ";[v0]fade=t=out:st=2:d=1[a];[v1]fade=t=in:st=0:d=1[b]"
        f";[a][black][b]concat=n=3:v=1:a=0,settb=1/{FPS}[ab]"
        ";[ab][v2]xfade=transition=fade:duration=1.5:offset=5.5[abc]"
        ";[abc][v3]concat=n=2:v=1:a=0[v]"
    )
    ffmpeg(
        *args,
        "-filter_complex",
        graph,
        "-map",
        "[v]",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        "23",
        os.fspath(out_dir / "fades.mp4"),
    )
    write_json(
        out_dir / "fades.json",
        {
            "duration": 10.0,
            "transitions": [
                {"kind": "fade_through_black", "start": 2.0, "end": 4.5, "boundary": 3.25},
                {"kind": "dissolve", "start": 5.5, "end": 7.0, "boundary": 6.25},
                {"kind": "cut", "start": 8.5, "end": 8.5, "boundary": 8.5},
            ],
        },
    )


def make_short(out_dir: Path, tmp: Path) -> None:
    """`short.mp4`: 0.5 s with a tone."""
    audio, afilter = sine(0.5, 1)
    concat_video(out_dir / "short.mp4", [("smptebars", 0.5)], audio=audio, audio_filter=afilter)


def make_odd(out_dir: Path, tmp: Path) -> None:
    """`odd.mp4`: 321x241, in MPEG-4 Part 2, which (unlike H.264 in yuv420p) allows odd sizes."""
    audio, afilter = sine(1.0, 1)
    ffmpeg(
        "-f",
        "lavfi",
        "-t",
        "1",
        "-i",
        source("testsrc2"),
        *audio,
        "-filter_complex",
        f"[0:v]scale=321:241,setsar=1,format=yuv420p[v];{afilter}",
        "-map",
        "[v]",
        "-map",
        "[a]",
        "-c:v",
        "mpeg4",
        "-q:v",
        "4",
        "-c:a",
        "aac",
        os.fspath(out_dir / "odd.mp4"),
    )


def make_uhd(out_dir: Path, tmp: Path) -> None:
    """`uhd.mp4`: 3840x2160 (4K), 0.5 s, with a tone."""
    audio, afilter = sine(0.5, 1)
    concat_video(
        out_dir / "uhd.mp4",
        [("smptehdbars", 0.5)],
        w=3840,
        h=2160,
        audio=audio,
        audio_filter=afilter,
        extra=["-preset", "ultrafast"],
    )


def make_vfr(out_dir: Path, tmp: Path) -> None:
    """`vfr.mp4`: variable frame rate: 2 s at 30 fps, 2 s at 10 fps, 2 s at 30 fps; cuts at 2, 4 s.

    140 frames in 6 s: a detector that turns frame numbers into times with the
    average rate (23.3 fps) would put the second cut at 3.43 s instead of 4 s.
    """
    rates = [30, 10, 30]
    names = ["testsrc2", "smptebars", "rgbtestsrc"]
    args: list[str] = []
    chains = []
    for i, (name, rate) in enumerate(zip(names, rates, strict=True)):
        args += ["-f", "lavfi", "-t", "2", "-i", source(name)]
        chains.append(f"[{i}:v]fps={rate},settb=1/90000,setpts=PTS-STARTPTS,setsar=1[v{i}]")
    graph = ";".join(chains) + ";[v0][v1][v2]concat=n=3:v=1:a=0[v]"
    ffmpeg(
        *args,
        "-filter_complex",
        graph,
        "-map",
        "[v]",
        "-fps_mode",
        "vfr",
        "-enc_time_base",
        "1/90000",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-video_track_timescale",
        "90000",
        os.fspath(out_dir / "vfr.mp4"),
    )
    write_json(out_dir / "vfr.json", {"duration": 6.0, "cuts": [2.0, 4.0], "frames": 140})


def make_bad(out_dir: Path, tmp: Path) -> None:
    """`empty.mp4` (0 bytes), `text.mp4` (text), `audio_only.m4a` (speech, no video)."""
    (out_dir / "empty.mp4").write_bytes(b"")
    (out_dir / "text.mp4").write_text("This is a text file, not a video.\n" * 40)
    wav = tmp / "audio_only.wav"
    speech("Only audio here.", wav)
    ffmpeg("-i", os.fspath(wav), "-c:a", "aac", os.fspath(out_dir / "audio_only.m4a"))


FIXTURES: list[Callable[[Path, Path], object]] = [
    make_cuts,
    make_slides,
    make_uhd,
    make_fades,
    make_repeated,
    make_vfr,
    make_portrait,
    make_truncated_faststart,
    make_silent,
    make_short,
    make_odd,
    make_bad,
]

NAMES = [
    "cuts.mp4",
    "cuts.json",
    "slides.mp4",
    "slides.json",
    "truncated.mp4",
    "truncated_faststart.mp4",
    "silent.mp4",
    "portrait.mp4",
    "repeated.mp4",
    "repeated.json",
    "fades.mp4",
    "fades.json",
    "short.mp4",
    "odd.mp4",
    "uhd.mp4",
    "vfr.mp4",
    "vfr.json",
    "empty.mp4",
    "text.mp4",
    "audio_only.m4a",
]


def make_all(out_dir: Path) -> dict[str, Path]:
    """Generate every fixture into `out_dir` (cached); return them by file name.

    A directory stamped with this script's hash is reused as is. The stamp is
    written last, so an interrupted run is redone next time.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = out_dir / STAMP
    paths = {name: out_dir / name for name in NAMES}
    fresh = stamp.exists() and stamp.read_text() == script_hash()
    if fresh and all(p.exists() for p in paths.values()):
        return paths
    with (
        tempfile.TemporaryDirectory(prefix="videopipe-media-") as tmp,
        concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool,
    ):
        jobs = []
        for i, make in enumerate(FIXTURES):
            scratch = Path(tmp) / str(i)
            scratch.mkdir()
            jobs.append(pool.submit(make, out_dir, scratch))
        for job in jobs:
            job.result()
    stamp.write_text(script_hash())
    return paths


# --- benchmark clips ---------------------------------------------------------------------

BENCH_SOURCES = [
    "testsrc2",
    "smptehdbars",
    "gradients",
    "testsrc",
    "colorchart",
    "rgbtestsrc",
    "mandelbrot",
    "red",
    "smptebars",
    "blue",
]


def make_bench(
    out_dir: Path, seconds: int = 60, *, scene_seconds: float = 5.0, height: int = 1080
) -> Path:
    """A `seconds`-long 16:9 clip (1080p30) with speech, a cut about every `scene_seconds`; cached.

    A lower `height` makes a cheaper clip (a long one at 360p, say) named after it.

    Temporal noise stands in for camera noise, so that the file has a phone's bitrate
    (about 10 Mbit/s) and the decoder and encoder real work to do. The cut times go
    to the JSON sidecar next to it.
    """
    out = out_dir / (
        f"bench_{seconds}s.mp4" if height == 1080 else f"bench_{seconds}s_{height}p.mp4"
    )
    sidecar = out.with_suffix(".json")
    recipe = bench_hash(seconds, scene_seconds, height)
    if out.exists() and sidecar.exists() and json.loads(sidecar.read_text())["hash"] == recipe:
        return out
    out_dir.mkdir(parents=True, exist_ok=True)
    w, h = height * 16 // 9 // 2 * 2, height
    # Irregular scene lengths (in whole frames) put the cuts at every frame phase, so
    # that frame skipping cannot land on them by luck.
    count = round(seconds / scene_seconds)
    lengths = [scene_seconds + (0.9, -1.3, 0.4, -0.6, 1.5, -0.9)[i % 6] for i in range(count)]
    lengths = [round(length * FPS) / FPS for length in lengths[:-1]]
    lengths.append(seconds - sum(lengths))
    scenes = [(BENCH_SOURCES[i % len(BENCH_SOURCES)], length) for i, length in enumerate(lengths)]
    with tempfile.TemporaryDirectory(prefix="videopipe-bench-") as tmp:
        wav = Path(tmp) / "speech.wav"
        speech(" ".join(text for _, text in SENTENCES), wav)
        # Rendering 1080p fractals (and noise) costs more than encoding them: render
        # each source small and scale up, which keeps generation near real time.
        args: list[str] = []
        chains = []
        for i, (name, length) in enumerate(scenes):
            args += ["-f", "lavfi", "-t", f"{length}", "-i", source(name, 480, 270)]
            chains.append(
                f"[{i}:v]scale=480:270,setsar=1,format=yuv420p,noise=alls=2:allf=t,"
                f"scale={w}:{h}:flags=bicubic,trim=duration={length},setpts=PTS-STARTPTS[v{i}]"
            )
        labels = "".join(f"[v{i}]" for i in range(len(scenes)))
        graph = ";".join(chains) + f";{labels}concat=n={len(scenes)}:v=1:a=0[v]"
        ffmpeg(
            *args,
            "-stream_loop",
            "-1",
            "-i",
            os.fspath(wav),
            "-filter_complex",
            graph,
            "-map",
            "[v]",
            "-map",
            f"{len(scenes)}:a",
            "-c:v",
            "libx264",
            "-preset",
            "superfast",
            "-crf",
            "23",
            "-c:a",
            "aac",
            "-ar",
            "48000",
            "-ac",
            "2",
            "-t",
            f"{seconds}",
            os.fspath(out),
        )
    cuts = [round(sum(lengths[:i]), 6) for i in range(1, count)]
    write_json(sidecar, {"duration": seconds, "fps": FPS, "cuts": cuts, "hash": recipe})
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--long", action="store_true", help="also make the 5-minute clip")
    parser.add_argument("--fixtures-only", action="store_true", help="skip the 1080p clips")
    args = parser.parse_args(argv)
    for name, path in make_all(args.out_dir).items():
        print(f"{name:28} {path.stat().st_size:>10,} bytes")
    if not args.fixtures_only:
        for seconds in [60, 300] if args.long else [60]:
            path = make_bench(args.out_dir, seconds)
            print(f"{path.name:28} {path.stat().st_size:>10,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
