"""The report as plain text for a terminal: what `print(report)` shows.

Every piece of untrusted text goes through `plain`, which makes control
characters visible, so a transcript can never send terminal escapes.
"""

from __future__ import annotations

from .._models import UsageSummary
from .._render import CELL, LOCAL_CAPTION_NOTE, count, plain, seconds_text, time_span
from ._data import ReportData, caption_text, run_rows, stage_note, storyboard_tiles

__all__ = ["report_table", "usage_line"]


def usage_line(usage: UsageSummary) -> str:
    return (
        f"usage: {usage.requests} requests, {usage.input_tokens} input + "
        f"{usage.output_tokens} output tokens, {usage.audio_seconds:.1f}s audio, "
        f"{usage.images} images, {usage.texts} texts, ${usage.cost_usd:.4f}"
    )


def report_table(data: ReportData) -> str:
    video = data.video
    size = f"{video.width}x{video.height}" if video.width and video.height else "-"
    lines = [
        f"video {video.id}  {video.status.value}  {seconds_text(video.duration_sec)}  {size}  "
        f"{plain(video.original_path)}"
    ]
    if video.title:
        lines.append(f"title: {plain(video.title)}")
    if video.error:
        lines.append(f"error: {plain(video.error)}")
    lines += ["", f"{'stage':<12} {'status':<8} {'seconds':>8}  detail"]
    for name, status, seconds, detail, error in run_rows(data.stage_runs):
        secs = "-" if seconds is None else f"{seconds:.2f}"
        text = plain(error or detail, CELL)
        lines.append(f"{plain(name, 12):<12} {status:<8} {secs:>8}  {text}")
    tiles = storyboard_tiles(data)
    lines += ["", f"{'scene':>5}  {'time':<17}  caption"]
    for tile in tiles:
        caption = ""
        if tile.caption is not None:
            text, note = caption_text(tile.caption)
            ocr = tile.caption.ocr_text.strip()
            if text:
                caption = f"{text} | on-screen: {ocr}" if ocr else text
            elif note == LOCAL_CAPTION_NOTE:
                caption = f"{note}: {ocr}"
            else:
                caption = f"({note})"
        if tile.duplicate_of is not None:
            caption = f"(same picture as scene {tile.duplicate_of}) {caption}".rstrip()
        span = time_span(tile.t_start, tile.t_end, "-")
        lines.append(f"{tile.idx:>5}  {span:<17}  {plain(caption, CELL)}")
    if not tiles:
        lines.append(f"       {stage_note(data, 'scenes') or 'no scenes were detected'}")
    lines += ["", f"transcript ({count(len(data.segments), 'segment')})"]
    lines += [f"  {time_span(s.t_start, s.t_end, '-'):<17}  {plain(s.text)}" for s in data.segments]
    if not data.segments:
        lines.append(f"  {stage_note(data, 'transcribe') or 'nothing was said'}")
    lines += ["", usage_line(data.usage)]
    return "\n".join(lines)
