"""Subtitles: `format_srt()` writes transcript segments as an SRT file."""

from __future__ import annotations

import math
from collections.abc import Iterable


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
