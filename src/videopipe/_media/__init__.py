"""FFmpeg discovery and calls, probing, and the work of the local pipeline stages.

Everything here is a plain function: the `normalize`, `scenes` and `frames`
stages wrap them. Blocking work (PyAV decoding, PySceneDetect, JPEG encoding)
runs in a worker thread, and FFmpeg runs as an async subprocess, so the event
loop never blocks.

A module per concern, each importing only those listed before it:

- `_probe`: `probe()`, `MediaInfo`, `check_limits()`, opening media with PyAV and its typed errors;
- `_framestats`: the per-frame measures scene detection takes, and the stats
  file `normalize()` writes them to (`scene_stats_path()`);
- `_ffmpeg`: finding and running FFmpeg, and `normalize()`;
- `_scenes`: `detect_scenes()`, `detect_transitions()`;
- `_frames`: `extract_frames()` and the perceptual hashes;
- `_srt`: `format_srt()`;
- `_utterances`: `utterances()`, `attach_text()`, `speech_span()`,
  `trim_to_sound()`: transcript segments cut
  from timed words, trimmed to the sound.
"""

from __future__ import annotations

from ._ffmpeg import (
    ffmpeg_calls,
    find_ffmpeg,
    normalize,
    normalize_args,
    run_ffmpeg,
    sweep_parts,
)
from ._frames import extract_frames, hamming, mark_duplicates, phash
from ._framestats import scene_stats_path
from ._probe import (
    MediaInfo,
    check_limits,
    decode_audio,
    open_container,
    probe,
    target_size,
)
from ._scenes import SceneSpan, detect_scenes, detect_transitions
from ._scenes import _Dissolves as _Dissolves
from ._srt import format_srt
from ._utterances import (
    Utterance,
    Word,
    attach_text,
    pcm_wav,
    speech_span,
    trim_to_sound,
    utterances,
)

__all__ = [
    "MediaInfo",
    "SceneSpan",
    "Utterance",
    "Word",
    "attach_text",
    "check_limits",
    "decode_audio",
    "detect_scenes",
    "detect_transitions",
    "extract_frames",
    "ffmpeg_calls",
    "find_ffmpeg",
    "format_srt",
    "hamming",
    "mark_duplicates",
    "normalize",
    "normalize_args",
    "open_container",
    "pcm_wav",
    "phash",
    "probe",
    "run_ffmpeg",
    "scene_stats_path",
    "speech_span",
    "sweep_parts",
    "target_size",
    "trim_to_sound",
    "utterances",
]
