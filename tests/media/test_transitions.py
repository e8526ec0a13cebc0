"""Scene transitions against PySceneDetect's own detectors, run on the same FFmpeg-made clips.

Each clip is made here with FFmpeg's `lavfi` sources: hard cuts; a fade out and a
fade in through black, and through white; a fade to black, and to white, at the
end; cross-dissolves of 0.5, 1 and 2 s (`xfade`); a picture change while the
picture is dark; flashes; a slow pan.
The reference is PySceneDetect's `AdaptiveDetector`, `ContentDetector` and
`ThresholdDetector` at their defaults (and `add_final_scene=True` for the last;
for white, its `Method.CEILING` at 255 - 12), run in the test on the very file
`detect_transitions` reads. The scenes found from the statistics `normalize()`
stores are the scenes found by decoding, on every clip.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import itertools
import os
import shutil
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image
from scenedetect import (
    AdaptiveDetector,
    ContentDetector,
    SceneDetector,
    SceneManager,
    ThresholdDetector,
)
from scenedetect.backends.pyav import VideoStreamAv
from tests.conftest import cache_lock

import videopipe as vp
from videopipe._media import (
    SceneSpan,
    detect_transitions,
    find_ffmpeg,
    normalize,
    scene_stats_path,
)
from videopipe._media._framestats import open_stats
from videopipe.stages import DetectScenes, ExtractFrames, Normalize
from videopipe.testing import MemoryStore

FPS = 30
W, H = 320, 240
FRAME = 1 / FPS
WHITE = 255 - 12  # ThresholdDetector's default threshold, mirrored for white


def ffmpeg(*args: str) -> None:
    cmd = [find_ffmpeg(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


SOURCES = {
    "testsrc2": "testsrc2=size={w}x{h}:rate={fps}",
    "smptebars": "smptebars=size={w}x{h}:rate={fps}",
    "mandelbrot": "mandelbrot=size={w}x{h}:rate={fps}",
    "rgbtestsrc": "rgbtestsrc=size={w}x{h}:rate={fps}",
    "testsrc": "testsrc=size={w}x{h}:rate={fps}",
    "smptehdbars": "smptehdbars=size={w}x{h}:rate={fps}",
    "black": "color=c=black:size={w}x{h}:rate={fps}",
    "white": "color=c=white:size={w}x{h}:rate={fps}",
}


def piece(index: int, name: str, seconds: float, filters: str = "") -> tuple[list[str], str]:
    """Input arguments and a chain labelled `[p{index}]`: `name` for `seconds`, then `filters`."""
    src = SOURCES[name].format(w=W, h=H, fps=FPS)
    chain = f"[{index}:v]setsar=1,format=yuv420p,fps={FPS},settb=1/{FPS}"
    chain += f",trim=duration={seconds},setpts=PTS-STARTPTS"
    if filters:
        chain += "," + filters
    return ["-f", "lavfi", "-t", f"{seconds + 0.5}", "-i", src], chain + f"[p{index}]"


def encode(out: Path, args: list[str], graph: str) -> Path:
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
        "-pix_fmt",
        "yuv420p",
        os.fspath(out),
    )
    return out


def joined(out: Path, pieces: list[tuple[str, float, str]]) -> Path:
    """`pieces` (source, seconds, filters) concatenated, each hard against the next."""
    args: list[str] = []
    chains = []
    for i, (name, seconds, filters) in enumerate(pieces):
        a, c = piece(i, name, seconds, filters)
        args += a
        chains.append(c)
    labels = "".join(f"[p{i}]" for i in range(len(pieces)))
    graph = ";".join(chains) + f";{labels}concat=n={len(pieces)}:v=1:a=0[v]"
    return encode(out, args, graph)


def make_through_black(out: Path) -> Path:
    """A fades out over 2-3 s, 0.5 s of black, B fades in over 3.5-4.5 s; a cut to C at 6.5 s."""
    return joined(
        out,
        [
            ("testsrc2", 3.0, "fade=t=out:st=2:d=1"),
            ("black", 0.5, ""),
            ("smptebars", 3.0, "fade=t=in:st=0:d=1"),
            ("mandelbrot", 2.0, ""),
        ],
    )


def make_through_white(out: Path) -> Path:
    """A fades to white over 2-3 s, 0.5 s of white, B fades in over 3.5-4.5 s; a cut at 6.5 s."""
    return joined(
        out,
        [
            ("testsrc2", 3.0, "fade=t=out:st=2:d=1:color=white"),
            ("white", 0.5, ""),
            ("smptebars", 3.0, "fade=t=in:st=0:d=1:color=white"),
            ("mandelbrot", 2.0, ""),
        ],
    )


def make_white_at_end(out: Path) -> Path:
    """A cuts to B at 3 s; B fades to white over 4.5-5.5 s, then 1 s of white."""
    return joined(
        out,
        [
            ("testsrc2", 3.0, ""),
            ("smptebars", 2.5, "fade=t=out:st=1.5:d=1:color=white"),
            ("white", 1.0, ""),
        ],
    )


def make_cut_to_black(out: Path) -> Path:
    """A cuts to 0.6 s of black at 3 s, which cuts to B at 3.6 s: no fade at all."""
    return joined(out, [("testsrc2", 3.0, ""), ("black", 0.6, ""), ("smptebars", 3.0, "")])


def make_fade_at_end(out: Path) -> Path:
    """A cuts to B at 3 s; B fades to black over 4.5-5.5 s, then 1 s of black."""
    return joined(
        out,
        [
            ("testsrc2", 3.0, ""),
            ("smptebars", 2.5, "fade=t=out:st=1.5:d=1"),
            ("black", 1.0, ""),
        ],
    )


def make_dark_cut(out: Path) -> Path:
    """A dims to 7 % over 2-3 s and stays dim, cuts at 4 s to B dim, which brightens by 4.27 s.

    The picture under the darkness threshold still shows A, then B: a real cut in
    the dark, 0.5 s after the middle of the dark stretch.
    """
    dim = "format=rgb24,colorchannelmixer=rr=0.07:gg=0.07:bb=0.07,format=yuv420p"
    return joined(
        out,
        [
            ("testsrc2", 2.0, ""),
            ("testsrc2", 1.0, "fade=t=out:st=0:d=1.075"),
            ("testsrc2", 1.0, dim),
            ("rgbtestsrc", 3.0, "fade=t=in:st=0:d=0.3,trim=start_frame=1,setpts=PTS-STARTPTS"),
        ],
    )


DISSOLVES = [(3.5, 4.0), (6.5, 7.5), (8.5, 10.5)]  # (start, end) of each, in seconds


def make_dissolves(out: Path) -> Path:
    """A, B, C, D of 4 s joined by cross-dissolves of 0.5, 1 and 2 s (xfade=fade): `DISSOLVES`."""
    # Steady pictures: a dissolve is told from motion by the calm on either side of it.
    names = ["smptebars", "testsrc", "rgbtestsrc", "smptehdbars"]
    args: list[str] = []
    chains = []
    for i, name in enumerate(names):
        a, c = piece(i, name, 4.0)
        args += a
        chains.append(c)
    graph = ";".join(chains)
    last, length = "[p0]", 4.0
    for i, (start, end) in enumerate(DISSOLVES, start=1):
        label = "[v]" if i == len(DISSOLVES) else f"[x{i}]"
        d = end - start
        graph += f";{last}[p{i}]xfade=transition=fade:duration={d}:offset={start}{label}"
        last, length = label, length + 4.0 - d
    return encode(out, args, graph)


def make_flashes(out: Path) -> Path:
    """One 6 s scene with white flashes of 1, 2 and 3 frames and a bright one; a cut at 6 s."""
    flashes = "+".join(f"between(n,{a},{b})" for a, b in ((45, 45), (90, 91), (135, 137)))
    filters = (
        f"drawbox=x=0:y=0:w=iw:h=ih:color=white:t=fill:enable='{flashes}',"
        "eq=brightness=0.4:enable='between(n,160,161)'"
    )
    return joined(out, [("testsrc2", 6.0, filters), ("smptebars", 2.0, "")])


def make_pan(out: Path) -> Path:
    """A slow pan (60 px/s) across a still wide picture for 6 s, then a cut to B."""
    wide = SOURCES["mandelbrot"].format(w=4 * W, h=H, fps=FPS)
    args = ["-f", "lavfi", "-t", "0.1", "-i", wide]
    args += ["-f", "lavfi", "-t", "2.5", "-i", SOURCES["smptebars"].format(w=W, h=H, fps=FPS)]
    graph = (
        f"[0:v]trim=end_frame=1,loop=loop=-1:size=1,fps={FPS},setsar=1,"
        f"crop={W}:{H}:x='min(t*60,{3 * W})':y=0,format=yuv420p,trim=duration=6,"
        f"setpts=PTS-STARTPTS,settb=1/{FPS}[a];"
        f"[1:v]setsar=1,format=yuv420p,settb=1/{FPS},trim=duration=2,setpts=PTS-STARTPTS[b];"
        "[a][b]concat=n=2:v=1:a=0[v]"
    )
    return encode(out, args, graph)


def make_cuts(out: Path) -> Path:
    """Hard cuts at 2, 3.5 and 5 s (scenes of 2, 1.5, 1.5 and 2 s)."""
    return joined(
        out,
        [
            ("testsrc2", 2.0, ""),
            ("smptebars", 1.5, ""),
            ("mandelbrot", 1.5, ""),
            ("testsrc", 2.0, ""),
        ],
    )


CLIPS = {
    "cuts": make_cuts,
    "through_black": make_through_black,
    "through_white": make_through_white,
    "white_at_end": make_white_at_end,
    "cut_to_black": make_cut_to_black,
    "fade_at_end": make_fade_at_end,
    "dark_cut": make_dark_cut,
    "dissolves": make_dissolves,
    "flashes": make_flashes,
    "pan": make_pan,
}


# Making the clips takes a few seconds of CPU and PySceneDetect's references as much
# again: far from pytest's 20 s on a busy machine, which this limit only guards.
pytestmark = pytest.mark.timeout(180)


def make_clips(out: Path) -> dict[str, Path]:
    """Every clip into `out`, made in parallel; kept when `out` holds this file's clips."""
    stamp = out / ".made"
    paths = {name: out / f"{name}.mp4" for name in CLIPS}
    if stamp.exists() and all(p.exists() for p in paths.values()):
        return paths
    out.mkdir(parents=True, exist_ok=True)
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for job in [pool.submit(CLIPS[name], path) for name, path in paths.items()]:
            job.result()
    stamp.touch()
    return paths


@pytest.fixture(scope="module")
def clips(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """The clips by name, cached across runs under this file's hash (as `media` is)."""
    cache = getattr(request.config, "cache", None)
    if cache is None:
        return make_clips(tmp_path_factory.mktemp("transitions"))
    digest = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
    out = cache.mkdir(f"videopipe-transitions-{digest}")
    with cache_lock(out):
        for stale in out.parent.glob("videopipe-transitions-*"):
            if stale != out:
                shutil.rmtree(stale, ignore_errors=True)
        return make_clips(out)


def reference(path: Path, detector: SceneDetector) -> list[float]:
    """The boundaries (seconds) PySceneDetect's `detector` finds in `path`."""
    # `detect(..., backend=)` is newer than the lowest scenedetect allowed (0.7), whose PyAV
    # backend leaves the file it opens unclosed: the file is ours to open and close here.
    manager = SceneManager()
    manager.add_detector(detector)
    with path.open("rb") as file:
        manager.detect_scenes(VideoStreamAv(file, name=path.name))
    scenes = manager.get_scene_list()
    return [start.seconds for start, _ in scenes[1:]]


def brightness(path: Path) -> list[tuple[float, float]]:
    """(time, mean 8-bit value) of every frame: what ThresholdDetector compares with 12."""
    with av.open(os.fspath(path)) as container:
        return [
            (float(f.time), float(np.mean(f.to_ndarray(format="bgr24"))))
            for f in container.decode(video=0)
        ]


def near(a: float, b: float) -> bool:
    return abs(a - b) <= FRAME + 1e-6


def explained(t: float, spans: list[SceneSpan]) -> str | None:
    """How `spans` account for a boundary at `t`: its kind, or None if they miss it."""
    for before, after in itertools.pairwise(spans):
        if near(t, after.start):
            return after.transition_in
        # The edges of a black stretch between two scenes, and the frames inside it.
        inside = before.content_end - FRAME - 1e-6 <= t <= after.content_start + FRAME + 1e-6
        if inside and (before.content_end < before.end or after.content_start > after.start):
            return "black"
    last = spans[-1]
    if last.content_end < last.end and t >= last.content_end - FRAME - 1e-6:
        return last.transition_out
    return None


# Each reference detector, and the clips where it is the reference (flashes split its
# scenes, which they must not; see test_flashes_and_a_pan_do_not_split_scenes).
REFERENCES = {
    "adaptive": (AdaptiveDetector, [n for n in CLIPS if n != "flashes"]),
    "content": (ContentDetector, [n for n in CLIPS if n != "flashes"]),
    "threshold": (
        lambda: ThresholdDetector(add_final_scene=True),
        # dark_cut: its cut in the dark wins over the middle of the dark stretch
        [n for n in CLIPS if n not in ("flashes", "dark_cut")],
    ),
    # Fades through white: the same detector with the threshold as a ceiling.
    "threshold_white": (
        lambda: ThresholdDetector(
            threshold=WHITE, method=ThresholdDetector.Method.CEILING, add_final_scene=True
        ),
        [n for n in CLIPS if n not in ("flashes", "dark_cut")],
    ),
}


@pytest.mark.parametrize(
    ("detector", "clip"),
    [(name, clip) for name, (_, names) in REFERENCES.items() for clip in names],
)
async def test_every_boundary_pyscenedetect_finds_is_found(clips, detector, clip) -> None:
    """Within one frame: a cut as a cut, a fade's middle as a fade, a black stretch's edge too."""
    make, _ = REFERENCES[detector]
    spans = await detect_transitions(clips[clip])
    for t in reference(clips[clip], make()):
        kind = explained(t, spans)
        assert kind is not None, (t, spans)
        if detector.startswith("threshold"):
            assert kind in ("fade_in", "fade_out", "cut"), (t, kind, spans)


async def test_a_cut_in_the_dark_is_kept_at_its_frame(clips) -> None:
    """A picture change under the darkness threshold is a cut where it happens, not 0.5 s early."""
    [cut] = reference(clips["dark_cut"], AdaptiveDetector())
    assert cut == pytest.approx(4.0, abs=FRAME)
    spans = await detect_transitions(clips["dark_cut"])
    assert len(spans) == 2, spans
    assert near(spans[1].start, cut), spans
    assert (spans[0].transition_out, spans[1].transition_in) == ("fade_out", "fade_in"), spans


async def test_a_fade_to_black_at_the_end_ends_the_last_scene(clips) -> None:
    """ThresholdDetector(add_final_scene=True) puts it where the picture goes black."""
    [fade] = reference(clips["fade_at_end"], ThresholdDetector(add_final_scene=True))
    spans = await detect_transitions(clips["fade_at_end"])
    assert [s.transition_in for s in spans] == [None, "cut"], spans
    assert spans[-1].transition_out == "fade_out"
    assert near(spans[-1].content_end, fade), (fade, spans)
    assert spans[-1].end == pytest.approx(6.5, abs=FRAME)


@pytest.mark.parametrize("clip", ["through_black", "cut_to_black", "fade_at_end", "dark_cut"])
async def test_no_scene_is_black_frames_alone(clips, clip) -> None:
    """A black stretch of 0.5-0.6 s is split between its neighbours, never a scene of its own."""
    frames = brightness(clips[clip])
    spans = await detect_transitions(clips[clip])
    for span in spans:
        inside = [value for t, value in frames if span.start <= t < span.end]
        assert max(inside) >= 12, (span, spans)
        # ThresholdDetector's mean of the whole frame and ours of the shrunk one may
        # disagree by a hair at 12: one frame of slack at each end.
        picture = [
            value
            for t, value in frames
            if span.content_start + FRAME <= t < span.content_end - FRAME - 1e-6
        ]
        assert min(picture) >= 12 or clip == "dark_cut", (span, spans)


@pytest.mark.parametrize("clip", ["through_white", "white_at_end"])
async def test_no_scene_is_white_frames_alone(clips, clip) -> None:
    """A white stretch is split between its neighbours like a black one."""
    frames = brightness(clips[clip])
    spans = await detect_transitions(clips[clip])
    for span in spans:
        inside = [value for t, value in frames if span.start <= t < span.end]
        assert min(inside) < WHITE, (span, spans)
        picture = [
            value
            for t, value in frames
            if span.content_start + FRAME <= t < span.content_end - FRAME - 1e-6
        ]
        assert max(picture) < WHITE, (span, spans)


async def test_fades_through_white_have_their_kinds_and_stretches(clips) -> None:
    """Fade out to white, white, fade in: one boundary where ThresholdDetector (ceiling) puts it."""
    ceiling = ThresholdDetector(threshold=WHITE, method=ThresholdDetector.Method.CEILING)
    [middle] = reference(clips["through_white"], ceiling)
    spans = await detect_transitions(clips["through_white"])
    assert [round(s.start, 3) for s in spans][1:] == [pytest.approx(middle, abs=FRAME), 6.5]
    assert [(s.transition_in, s.transition_out) for s in spans] == [
        (None, "fade_out"),
        ("fade_in", "cut"),
        ("cut", None),
    ]
    # The white stretch (3-3.5 s, with the brightest end of each fade) lies between them.
    assert 2.8 < spans[0].content_end < 3.0 < 3.5 < spans[1].content_start < 3.7, spans
    [fade] = reference(
        clips["white_at_end"],
        ThresholdDetector(
            threshold=WHITE, method=ThresholdDetector.Method.CEILING, add_final_scene=True
        ),
    )
    spans = await detect_transitions(clips["white_at_end"])
    assert [(s.transition_in, s.transition_out) for s in spans] == [
        (None, "cut"),
        ("cut", "fade_out"),
    ]
    assert near(spans[-1].content_end, fade), (fade, spans)
    assert spans[-1].end == pytest.approx(6.5, abs=FRAME)


async def test_fades_through_black_have_their_kinds_and_stretches(clips) -> None:
    """Fade out, black, fade in: one boundary in the middle; a cut to black and back is cuts."""
    spans = await detect_transitions(clips["through_black"])
    [middle] = reference(clips["through_black"], ThresholdDetector())
    assert [round(s.start, 3) for s in spans][1:] == [pytest.approx(middle, abs=FRAME), 6.5]
    assert [(s.transition_in, s.transition_out) for s in spans] == [
        (None, "fade_out"),
        ("fade_in", "cut"),
        ("cut", None),
    ]
    assert 2.8 < spans[0].content_end < 3.0 < 3.5 < spans[1].content_start < 3.7, spans
    spans = await detect_transitions(clips["cut_to_black"])
    assert [(s.transition_in, s.transition_out) for s in spans] == [(None, "cut"), ("cut", None)]
    assert near(spans[0].content_end, 3.0), spans
    assert near(spans[1].content_start, 3.6), spans
    assert near(spans[1].start, 3.3), spans


async def test_dissolves_of_half_a_second_to_two_seconds_are_found(clips) -> None:
    """One boundary inside each dissolve, of kind `dissolve`; ContentDetector finds none of them."""
    spans = await detect_transitions(clips["dissolves"])
    assert len(spans) == len(DISSOLVES) + 1, spans
    for span, (start, end) in zip(spans[1:], DISSOLVES, strict=True):
        assert start - FRAME <= span.start <= end + FRAME, spans
        assert span.transition_in == "dissolve"
    assert reference(clips["dissolves"], ContentDetector()) == []


async def test_flashes_and_a_pan_do_not_split_scenes(clips) -> None:
    """White frames (1-3), a brightened one, a pan: only the cut at 6 s splits the scene."""
    assert len(reference(clips["flashes"], AdaptiveDetector())) > 1  # PySceneDetect splits
    for clip in ("flashes", "pan"):
        spans = await detect_transitions(clips[clip])
        assert [(round(s.start, 3), s.transition_in) for s in spans] == [
            (0.0, None),
            (6.0, "cut"),
        ], clip


async def test_hard_cuts_are_cuts_at_their_frame(clips) -> None:
    spans = await detect_transitions(clips["cuts"])
    assert [(round(s.start, 3), s.transition_in) for s in spans] == [
        (0.0, None),
        (2.0, "cut"),
        (3.5, "cut"),
        (5.0, "cut"),
    ]
    assert all(s.transition_out == "cut" for s in spans[:-1])
    assert all((s.content_start, s.content_end) == (s.start, s.end) for s in spans)


async def test_min_scene_len_drops_cuts_closer_than_it(clips) -> None:
    """PySceneDetect's `min_scene_len` in seconds: 1.6 s keeps the cut at 2 s and drops 3.5 s."""
    spans = await detect_transitions(clips["cuts"], min_scene_len=1.6)
    assert [round(s.start, 3) for s in spans] == [0.0, 2.0, 5.0]
    assert reference(clips["cuts"], AdaptiveDetector(min_scene_len=48)) == [2.0, 5.0]


async def test_the_scenes_stage_stores_transitions_and_takes_frames_in_the_picture(
    clips, tmp_path
) -> None:
    """`SCENE_MIN_LEN_SEC` reaches detection; frames come from a scene's picture, not its black."""
    store = MemoryStore()
    settings = vp.Settings(_env_file=None, scene_min_len_sec=1.6)
    stages = [Normalize(), DetectScenes(), ExtractFrames(position=0.95)]
    pipeline = vp.Pipeline(stages, store=store, data_dir=tmp_path, settings=settings)
    result = await pipeline.run(clips["cuts"])
    assert result.ok, result
    scenes = await store.list_scenes(result.video_id)
    assert [(round(s.t_start, 3), s.transition_in) for s in scenes] == [
        (0.0, None),
        (2.0, "cut"),
        (5.0, "cut"),
    ]
    result = await pipeline.run(clips["cut_to_black"])
    assert result.ok, result
    first, second = await store.list_scenes(result.video_id)
    assert (first.transition_out, second.transition_in) == ("cut", "cut")
    frame = (await store.list_frames(result.video_id))[0]
    # 95 % into the scene's picture, not into its span (3.135 s: in the black)
    assert frame.t == pytest.approx(0.95 * first.content_end)
    assert float(np.mean(Image.open(frame.path))) > 12


def test_a_min_scene_len_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        DetectScenes(min_scene_len=0)
    with pytest.raises(ValueError, match="scene_min_len_sec"):
        vp.Settings(_env_file=None, scene_min_len_sec=-1)


async def test_detection_reports_its_progress_in_media_seconds(clips) -> None:
    """About once per second of video, rising, and the whole duration at the end."""
    seen: list[float] = []
    spans = await detect_transitions(clips["cuts"], progress=seen.append)
    assert seen == sorted(seen)
    assert len(seen) == 7  # 1, 2, ... 6 s, then 7 s: the end
    assert seen[-1] == spans[-1].end == pytest.approx(7.0, abs=FRAME)
    assert all(1.0 <= b - a <= 1.0 + 1.5 * FRAME for a, b in itertools.pairwise([0.0, *seen]))


async def test_normalize_reports_its_progress_in_media_seconds(clips, tmp_path) -> None:
    """From FFmpeg's `-progress`: rising media seconds up to the video's 7 s."""
    seen: list[float] = []
    out = (tmp_path / "n.mp4", tmp_path / "a.wav")
    info = await normalize(clips["cuts"], *out, progress=seen.append)
    assert seen
    assert seen == sorted(seen)
    assert seen[-1] == pytest.approx(info.duration_sec, abs=0.1)


@pytest.mark.parametrize("clip", list(CLIPS))
async def test_scenes_from_the_normalize_pass_equal_scenes_from_decoding(clips, clip, tmp_path):
    """Measured in normalize's own FFmpeg run, stored, read back: the same boundaries and kinds."""
    video = tmp_path / "normalized.mp4"
    stats = scene_stats_path(video)
    await normalize(clips[clip], video, tmp_path / "audio.wav", scene_stats=stats)
    assert open_stats(video) is not None
    decoded = await detect_transitions(video, stats=False)
    assert await detect_transitions(video) == decoded
