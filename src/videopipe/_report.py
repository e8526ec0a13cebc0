"""Seeing results: HTML reports, storyboard contact sheets, and rich displays in Jupyter.

Everything shown here comes from the store (or from the object being shown):
scenes, their representative frames, frame captions, transcript segments,
stage runs and usage. Captions and transcripts are untrusted text (they come
from a model, and from whatever was on screen or said in the video), so every
piece of text is HTML-escaped, and control characters are made visible in the
plain-text tables, so a caption can never inject markup or terminal escapes.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

from ._exceptions import ConfigurationError
from ._models import (
    Frame,
    FrameCaption,
    Scene,
    StageRun,
    StageStatus,
    TranscriptSegment,
    UsageSummary,
    Video,
    validate_id,
)
from ._render import (
    CELL,
    CSS,
    LOCAL_CAPTION_NOTE,
    clock,
    count,
    escape,
    open_rgb,
    plain,
    seconds_text,
    thumbnail_uri,
    time_span,
)
from ._stage import DEFAULT_STAGE_NAMES
from ._sync import run_blocking
from .storage import open_store

if TYPE_CHECKING:
    from PIL import Image, ImageFont

    from .storage import Results

__all__ = [
    "LOCAL_CAPTION_NOTE",
    "TILE_SIZE",
    "Report",
    "VideoReport",
    "detail_text",
    "header_html",
    "load_report",
    "stages_html",
    "usage_html",
    "usage_line",
    "write_report",
    "write_report_blocking",
]

TILE_SIZE = (320, 180)
"""Size in pixels of a frame's area in a contact-sheet tile (16:9; frames are letterboxed)."""

_TILE_LABEL = 28
_TILE_PAD = 8
_SHEET_HEADER = 36
_SHEET_BG = (24, 24, 27)
_TILE_BG = (0, 0, 0)
_LABEL_FG = (228, 228, 231)
_MUTED_FG = (161, 161, 170)

_EXCERPT_SEGMENTS = 8
_EXCERPT_SCENES = 48  # a notebook cell's output stays small; the report file has them all


# --- the data ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Report:
    """The files [`write_report`][videopipe.write_report] wrote.

    Note:
        Added in 0.1.0.
    """

    video_id: str
    html_path: Path
    """The self-contained HTML report (thumbnails embedded as data URIs)."""
    png_path: Path
    """The storyboard contact sheet: one tile per scene."""


@dataclass(frozen=True, slots=True)
class VideoReport:
    """Everything the store holds about one video, ready to be shown.

    In Jupyter it renders as a storyboard with thumbnails, a transcript
    excerpt, captions, stages and usage; `print()` gives a plain-text table;
    [`to_html`][videopipe.VideoReport.to_html] gives a whole self-contained
    page. Get one with [`load_report`][videopipe.load_report] or
    `await result.report(store)`.

    Note:
        Added in 0.1.0.
    """

    video: Video
    stage_runs: Mapping[str, StageRun]
    """The latest run of each stage, by name."""
    scenes: Sequence[Scene]
    frames: Sequence[Frame]
    segments: Sequence[TranscriptSegment]
    captions: Sequence[FrameCaption]
    usage: UsageSummary

    @property
    def video_id(self) -> str:
        """The video's ID."""
        return self.video.id

    def to_html(self) -> str:
        """The report as a self-contained HTML page: no file, font or script is fetched.

        Returns:
            The page: the storyboard with thumbnails as `data:` URIs, the whole
            transcript with timestamps, the captions, the stages and the usage.
        """
        title = f"videopipe report: {self.video.id}"
        return (
            "<!DOCTYPE html>\n"
            '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            # Captions and transcripts are untrusted: even if some markup slipped
            # through, the page could load nothing and run nothing.
            '<meta http-equiv="Content-Security-Policy" '
            "content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">\n"
            f"<title>{escape(title)}</title>\n<style>{CSS}\nbody{{margin:0;background:#fff}}</style>\n"
            "</head>\n<body>\n"
            f"{_report_body(self, excerpt=False)}\n"
            "</body>\n</html>\n"
        )

    def _repr_html_(self) -> str:
        return f"<style>{CSS}</style>{_report_body(self, excerpt=True)}"

    def table(self) -> str:
        """A plain-text summary for a terminal: stages, scenes with captions, transcript, usage."""
        return _report_table(self)

    def __str__(self) -> str:
        return self.table()

    def contact_sheet(self, *, columns: int = 4, max_tiles: int = 120) -> Image.Image:
        """The storyboard as one image: a tile per scene, its frame and its time span.

        A video with more than `max_tiles` scenes shows `max_tiles` of them,
        evenly spread from the first to the last (the title says how many), so
        the image stays small however long the video is.

        Args:
            columns: Tiles per row (fewer when there are fewer scenes).
            max_tiles: The most tiles drawn.

        Returns:
            A Pillow RGB image, `columns` tiles of `TILE_SIZE` (plus a label) wide.
        """
        return _contact_sheet(self, columns=columns, max_tiles=max_tiles)


async def load_report(store: Results, video_id: str) -> VideoReport:
    """Read everything the store holds about a video, for display or a report.

    Args:
        store: Where the video was processed.
        video_id: The video's ID.

    Returns:
        The video's report data; show it in Jupyter, `print()` it, or write it
        with [`write_report`][videopipe.write_report].

    Raises:
        ConfigurationError: `video_id` is not a valid ID (it could never be in a store).
        NotFound: No video has this ID.

    Examples:
        ```python
        report = await vp.load_report(store, result.video_id)
        report  # in Jupyter: the storyboard, transcript and captions
        ```

    Note:
        Added in 0.1.0.
    """
    validate_id(video_id, what="video id")
    video = await store.get_video(video_id)
    return VideoReport(
        video=video,
        stage_runs=await store.get_stage_runs(video_id),
        scenes=await store.list_scenes(video_id),
        frames=await store.list_frames(video_id),
        segments=await store.list_segments(video_id),
        captions=await store.list_captions(video_id),
        usage=await store.usage_summary(video_id=video_id),
    )


async def write_report(
    store: Results, video_id: str, out_dir: str | os.PathLike[str] = "reports"
) -> Report:
    """Write a video's HTML report and storyboard contact sheet.

    The HTML page is self-contained (thumbnails are embedded as `data:` URIs),
    so it can be mailed or archived on its own. It shows the storyboard of
    scenes with thumbnails and captions, the transcript with timestamps, the
    captions with on-screen text and entities, each stage's outcome, and the
    usage and estimated cost. The PNG is the storyboard as one image.

    Args:
        store: Where the video was processed.
        video_id: The video's ID.
        out_dir: Where to write `{video_id}.html` and `{video_id}.storyboard.png`;
            created when missing. Existing files of the same names are replaced.

    Returns:
        The paths of the two files.

    Raises:
        ConfigurationError: `video_id` is not a valid ID.
        NotFound: No video has this ID.

    Examples:
        ```python
        report = await vp.write_report(store, result.video_id, "reports")
        print(report.html_path)
        ```

    Note:
        Added in 0.1.0.
    """
    data = await load_report(store, video_id)
    out = Path(out_dir)
    return await anyio.to_thread.run_sync(_write_files, data, out)


def write_report_blocking(
    store_url: str, video_id: str, out_dir: str | os.PathLike[str] = "reports"
) -> Report:
    """The blocking twin of [`write_report`][videopipe.write_report], for scripts and notebooks.

    It opens the store at `store_url` and closes it again inside the call, so
    it works whatever event loop is running.

    Note:
        Added in 0.1.0.
    """

    async def call() -> Report:
        async with open_store(store_url) as store:
            return await write_report(store, video_id, out_dir)

    return run_blocking(call)


def _write_files(data: VideoReport, out: Path) -> Report:
    out.mkdir(parents=True, exist_ok=True)
    html_path = out / f"{data.video.id}.html"
    png_path = out / f"{data.video.id}.storyboard.png"
    page = data.to_html()
    _replace(html_path, page.encode("utf-8"))
    buffer = io.BytesIO()
    data.contact_sheet().save(buffer, format="PNG", optimize=True)
    _replace(png_path, buffer.getvalue())
    return Report(video_id=data.video.id, html_path=html_path, png_path=png_path)


def _replace(path: Path, content: bytes) -> None:
    # Write then rename, so a reader never sees half a report.
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(content)
    tmp.replace(path)


# --- text helpers ---------------------------------------------------------------------------


def detail_text(detail: Mapping[str, Any]) -> str:
    if "skipped" in detail:  # the status says skipped; the detail says why
        return str(detail["skipped"])
    return ", ".join(f"{k}={v}" for k, v in detail.items())


def _caption_text(caption: FrameCaption) -> tuple[str, str | None]:
    """The description to show, and a note about it (why it is empty), if any."""
    if caption.error:
        return "", f"not analysed: {caption.error}"
    if caption.caption.strip():
        return caption.caption, None
    if caption.ocr_text.strip():
        return "", LOCAL_CAPTION_NOTE
    return "", "no description"


def _usage_rows(usage: UsageSummary) -> list[tuple[str, str]]:
    return [
        ("Provider requests", f"{usage.requests:,}"),
        ("Input tokens", f"{usage.input_tokens:,}"),
        ("Output tokens", f"{usage.output_tokens:,}"),
        ("Audio transcribed", f"{usage.audio_seconds / 60:.2f} min"),
        ("Images captioned", f"{usage.images:,}"),
        ("Texts embedded", f"{usage.texts:,}"),
        ("Estimated cost", f"${usage.cost_usd:.4f}"),
    ]


def usage_line(usage: UsageSummary) -> str:
    return (
        f"usage: {usage.requests} requests, {usage.input_tokens} input + "
        f"{usage.output_tokens} output tokens, {usage.audio_seconds:.1f}s audio, "
        f"{usage.images} images, {usage.texts} texts, ${usage.cost_usd:.4f}"
    )


# --- thumbnails --------------------------------------------------------------------------------


# --- the storyboard -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Tile:
    idx: int
    t_start: float
    t_end: float
    frame: Frame | None
    caption: FrameCaption | None
    duplicate_of: int | None


def _tiles(data: VideoReport) -> list[_Tile]:
    frames_by_scene = {f.scene_id: f for f in data.frames}
    captions = {c.frame_id: c for c in data.captions}
    frame_idx = {f.id: f.idx for f in data.frames}
    tiles: list[_Tile] = []
    seen: set[str] = set()
    for scene in data.scenes:
        frame = frames_by_scene.get(scene.id)
        if frame is not None:
            seen.add(frame.id)
        tiles.append(_tile(scene.idx, scene.t_start, scene.t_end, frame, captions, frame_idx))
    # Frames whose scene is gone (a custom stage's, or scenes redone since) still show.
    tiles.extend(
        _tile(frame.idx, frame.t, frame.t, frame, captions, frame_idx)
        for frame in data.frames
        if frame.id not in seen
    )
    return tiles


def _tile(
    idx: int,
    t_start: float,
    t_end: float,
    frame: Frame | None,
    captions: Mapping[str, FrameCaption],
    frame_idx: Mapping[str, int],
) -> _Tile:
    caption = captions.get(frame.id) if frame is not None else None
    duplicate = frame_idx.get(frame.duplicate_of) if frame and frame.duplicate_of else None
    return _Tile(idx, t_start, t_end, frame, caption, duplicate)


def _stage_note(data: VideoReport, stage: str) -> str | None:
    """Why a stage's output is missing: skipped, failed or never run; `None` when it ran."""
    run = data.stage_runs.get(stage)
    if run is None:
        return f"the {stage} stage has not run"
    if run.status is StageStatus.SKIPPED:
        return f"{stage} skipped: {run.detail.get('skipped', 'no reason given')}"
    if run.status is StageStatus.FAILED:
        return f"{stage} failed: {run.error or 'no error recorded'}"
    if run.status is StageStatus.RUNNING:
        return f"{stage} is still running"
    return None


# --- HTML --------------------------------------------------------------------------------------


def _badge(status: str) -> str:
    return f'<span class="vp-badge vp-s-{escape(status)}">{escape(status)}</span>'


def _note(text: str, cls: str = "vp-note") -> str:
    return f'<p class="{cls}">{escape(text)}</p>'


def header_html(video: Video) -> str:
    facts = [f"duration {seconds_text(video.duration_sec)}"]
    if video.width and video.height:
        facts.append(f"{video.width}\N{MULTIPLICATION SIGN}{video.height}")
    if video.has_audio is not None:
        facts.append("audio" if video.has_audio else "no audio")
    parts = [
        f"<h1>{escape(video.id)} {_badge(video.status.value)}</h1>",
        f'<p class="vp-meta">{escape(" · ".join(facts))}</p>',
        f'<p class="vp-meta">source: {escape(video.original_path)}</p>',
    ]
    if video.error:
        parts.append(_note(video.error, "vp-error"))
    return "\n".join(parts)


def _storyboard_html(data: VideoReport, tiles: Sequence[_Tile], *, excerpt: bool) -> str:
    if not tiles:
        why = _stage_note(data, "scenes") or "no scenes were detected"
        return _note(f"No storyboard: {why}.")
    shown = tiles[:_EXCERPT_SCENES] if excerpt else tiles
    cards = []
    for tile in shown:
        label = f"Scene {tile.idx}"
        uri = thumbnail_uri(tile.frame.path) if tile.frame is not None else None
        if uri is not None:
            alt = f"{label} at {clock(tile.frame.t if tile.frame else tile.t_start)}"
            image = f'<img src="{uri}" alt="{escape(alt)}">'
        else:
            missing = "no frame" if tile.frame is None else "frame file missing"
            image = f'<div class="vp-noimg">{missing}</div>'
        when = escape(time_span(tile.t_start, tile.t_end))
        lines = [f'<b>{escape(label)}</b> <span class="vp-time">{when}</span>']
        if tile.caption is not None:
            text, note = _caption_text(tile.caption)
            if text:
                lines.append(escape(plain(text, 160)))
            if note:
                lines.append(f'<span class="vp-note">{escape(note)}</span>')
            if tile.caption.ocr_text.strip():
                lines.append(
                    f'<span class="vp-ocr">{escape(plain(tile.caption.ocr_text, 120))}</span>'
                )
        if tile.duplicate_of is not None:
            lines.append(f'<span class="vp-note">same picture as scene {tile.duplicate_of}</span>')
        cards.append(f"<figure>{image}<figcaption>{'<br>'.join(lines)}</figcaption></figure>")
    board = f'<div class="vp-board">\n{chr(10).join(cards)}\n</div>'
    if more := len(tiles) - len(shown):
        board += _note(f"… and {count(more, 'more scene')} (all of them are in the report).")
    return board


def _transcript_html(data: VideoReport, *, excerpt: bool) -> str:
    if not data.segments:
        why = _stage_note(data, "transcribe") or "nothing was said"
        return _note(f"No transcript: {why}.")
    shown = data.segments[:_EXCERPT_SEGMENTS] if excerpt else data.segments
    rows = "\n".join(
        f'<tr><td class="vp-time">{escape(time_span(s.t_start, s.t_end))}</td>'
        f"<td>{escape(s.text)}</td></tr>"
        for s in shown
    )
    table = f"<table><tr><th>Time</th><th>Text</th></tr>\n{rows}\n</table>"
    more = len(data.segments) - len(shown)
    if more:
        table += _note(
            f"… and {count(more, 'more segment')} (the whole transcript is in the report)."
        )
    return table


def _captions_html(data: VideoReport, *, excerpt: bool) -> str:
    if not data.captions:
        why = _stage_note(data, "vision") or "no frame was captioned"
        return _note(f"No captions: {why}.")
    frame_idx = {f.id: f.idx for f in data.frames}
    shown = data.captions[:_EXCERPT_SCENES] if excerpt else data.captions
    rows = []
    for c in shown:
        text, note = _caption_text(c)
        cells = escape(text)
        if note:
            cls = "vp-error" if c.error else "vp-note"
            cells += f'{"<br>" if text else ""}<span class="{cls}">{escape(note)}</span>'
        scene = frame_idx.get(c.frame_id)
        rows.append(
            f'<tr><td class="vp-time">{escape(clock(c.t))}</td>'
            f'<td class="vp-narrow">{"" if scene is None else scene}</td>'
            f"<td>{cells}</td>"
            f'<td class="vp-ocr">{escape(c.ocr_text)}</td>'
            f"<td>{escape(', '.join(c.entities))}</td>"
            f"<td>{escape(c.model or '')}</td></tr>"
        )
    table = (
        "<table><tr><th>Time</th><th>Scene</th><th>Description</th><th>On-screen text</th>"
        f"<th>Entities</th><th>Model</th></tr>\n{chr(10).join(rows)}\n</table>"
    )
    if more := len(data.captions) - len(shown):
        table += _note(f"… and {count(more, 'more caption')} (all of them are in the report).")
    return table


def stages_html(rows: Iterable[tuple[str, str, float | None, str, str | None]]) -> str:
    body = []
    for name, status, seconds, detail, error in rows:
        cell = escape(detail)
        if error:
            cell += f'{"<br>" if detail else ""}<span class="vp-error">{escape(error)}</span>'
        body.append(
            f"<tr><td>{escape(name)}</td><td>{_badge(status)}</td>"
            f'<td class="vp-num">{"-" if seconds is None else f"{seconds:.2f}"}</td>'
            f"<td>{cell}</td></tr>"
        )
    if not body:
        return _note("No stage has run.")
    return (
        '<table><tr><th>Stage</th><th>Status</th><th class="vp-num">Seconds</th>'
        f"<th>Details</th></tr>\n{chr(10).join(body)}\n</table>"
    )


def usage_html(usage: UsageSummary) -> str:
    rows = "\n".join(
        f'<tr><td>{escape(k)}</td><td class="vp-num">{escape(v)}</td></tr>'
        for k, v in _usage_rows(usage)
    )
    return f'<table style="max-width:420px">\n{rows}\n</table>'


def _run_rows(
    runs: Mapping[str, StageRun],
) -> list[tuple[str, str, float | None, str, str | None]]:
    # Stores return runs by name; the default stages read best in pipeline order.
    def key(run: StageRun) -> tuple[int, datetime]:
        known = (
            DEFAULT_STAGE_NAMES.index(run.stage)
            if run.stage in DEFAULT_STAGE_NAMES
            else len(DEFAULT_STAGE_NAMES)
        )
        return known, run.started_at

    return [
        (run.stage, run.status.value, run.duration_sec, detail_text(run.detail), run.error)
        for run in sorted(runs.values(), key=key)
    ]


def _report_body(data: VideoReport, *, excerpt: bool) -> str:
    tiles = _tiles(data)
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            '<div class="vp-report">',
            header_html(data.video),
            f"<h2>Storyboard ({count(len(tiles), 'scene')})</h2>",
            _storyboard_html(data, tiles, excerpt=excerpt),
            f"<h2>Transcript ({count(len(data.segments), 'segment')})</h2>",
            _transcript_html(data, excerpt=excerpt),
            f"<h2>Captions ({len(data.captions)})</h2>",
            _captions_html(data, excerpt=excerpt),
            "<h2>Stages</h2>",
            stages_html(_run_rows(data.stage_runs)),
            "<h2>Usage and cost</h2>",
            usage_html(data.usage),
            f"<footer>Made by videopipe on {escape(generated)}.</footer>",
            "</div>",
        ]
    )


# --- plain text --------------------------------------------------------------------------------


def _report_table(data: VideoReport) -> str:
    video = data.video
    size = f"{video.width}x{video.height}" if video.width and video.height else "-"
    lines = [
        f"video {video.id}  {video.status.value}  {seconds_text(video.duration_sec)}  {size}  "
        f"{plain(video.original_path)}"
    ]
    if video.error:
        lines.append(f"error: {plain(video.error)}")
    lines += ["", f"{'stage':<12} {'status':<8} {'seconds':>8}  detail"]
    for name, status, seconds, detail, error in _run_rows(data.stage_runs):
        secs = "-" if seconds is None else f"{seconds:.2f}"
        text = plain(error or detail, CELL)
        lines.append(f"{plain(name, 12):<12} {status:<8} {secs:>8}  {text}")
    tiles = _tiles(data)
    lines += ["", f"{'scene':>5}  {'time':<17}  caption"]
    for tile in tiles:
        caption = ""
        if tile.caption is not None:
            text, note = _caption_text(tile.caption)
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
        lines.append(f"       {_stage_note(data, 'scenes') or 'no scenes were detected'}")
    lines += ["", f"transcript ({count(len(data.segments), 'segment')})"]
    lines += [f"  {time_span(s.t_start, s.t_end, '-'):<17}  {plain(s.text)}" for s in data.segments]
    if not data.segments:
        lines.append(f"  {_stage_note(data, 'transcribe') or 'nothing was said'}")
    lines += ["", usage_line(data.usage)]
    return "\n".join(lines)


# --- the contact sheet ---------------------------------------------------------------------


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _contact_sheet(data: VideoReport, *, columns: int, max_tiles: int) -> Image.Image:
    from PIL import Image, ImageDraw

    if columns < 1 or max_tiles < 1:
        raise ConfigurationError(
            f"columns and max_tiles must be at least 1, not {columns} and {max_tiles}"
        )
    every = _tiles(data)
    tiles = every
    if len(every) > max_tiles:
        # Evenly spread, first and last included.
        picks = sorted(
            {round(i * (len(every) - 1) / max(1, max_tiles - 1)) for i in range(max_tiles)}
        )
        tiles = [every[i] for i in picks]
    tw, th = TILE_SIZE
    cols = max(1, min(columns, len(tiles)))
    rows = max(1, math.ceil(len(tiles) / cols))
    width = _TILE_PAD + cols * (tw + _TILE_PAD)
    height = _SHEET_HEADER + rows * (th + _TILE_LABEL + _TILE_PAD) + _TILE_PAD
    sheet = Image.new("RGB", (width, height), _SHEET_BG)
    draw = ImageDraw.Draw(sheet)
    font, small = _font(15), _font(13)
    duration = seconds_text(data.video.duration_sec)
    title = f"{data.video.id} - {count(len(every), 'scene')} - {duration}"
    if len(tiles) < len(every):
        title += f" (showing {len(tiles)}, evenly spread)"
    draw.text((_TILE_PAD, 10), _ascii(title), fill=_LABEL_FG, font=font)
    if not tiles:
        why = _stage_note(data, "scenes") or "no scenes were detected"
        box = (_TILE_PAD, _SHEET_HEADER, _TILE_PAD + tw, _SHEET_HEADER + th)
        draw.rectangle(box, fill=_TILE_BG)
        draw.text((_TILE_PAD + 8, _SHEET_HEADER + 8), "no storyboard", fill=_LABEL_FG, font=small)
        draw.text((_TILE_PAD + 8, _SHEET_HEADER + 28), _ascii(why)[:44], fill=_MUTED_FG, font=small)
        return sheet
    for i, tile in enumerate(tiles):
        x = _TILE_PAD + (i % cols) * (tw + _TILE_PAD)
        y = _SHEET_HEADER + (i // cols) * (th + _TILE_LABEL + _TILE_PAD)
        draw.rectangle((x, y, x + tw - 1, y + th - 1), fill=_TILE_BG)
        image = open_rgb(tile.frame.path) if tile.frame is not None else None
        if image is not None:
            image.thumbnail((tw, th))
            sheet.paste(image, (x + (tw - image.width) // 2, y + (th - image.height) // 2))
        else:
            missing = "no frame" if tile.frame is None else "frame file missing"
            draw.text((x + 8, y + th // 2 - 8), missing, fill=_MUTED_FG, font=small)
        label = f"#{tile.idx}  {clock(tile.t_start)} - {clock(tile.t_end)}"
        if tile.duplicate_of is not None:
            label += f"  (= #{tile.duplicate_of})"
        draw.text((x + 2, y + th + 6), label, fill=_LABEL_FG, font=small)
    return sheet


def _ascii(text: str) -> str:
    # The default font covers ASCII; anything else would draw as boxes.
    return text.encode("ascii", "replace").decode("ascii")
