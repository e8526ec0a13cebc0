"""The report as HTML: the page, the notebook display, and the parts `VideoResult` shows.

Captions and transcripts are untrusted text (they come from a model, and from
whatever was on screen or said in the video), so every piece of text goes
through `escape`, and the page's Content-Security-Policy lets it load and run
nothing even if some markup slipped through.

The markup is built here rather than in Jinja2 templates: a trial with
autoescaped templates gave the same page but no fewer lines (220 against 216),
and needed a `finalize` hook to keep `escape`'s entities (`&#x27;`, `&quot;`).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from .._models import UsageSummary, Video
from .._render import CSS, clock, count, escape, plain, seconds_text, thumbnail_uri, time_span
from .._stage import SCENES, TRANSCRIBE, VISION
from ._data import ReportData, Tile, caption_text, run_rows, stage_note, storyboard_tiles

__all__ = [
    "PLAYER_SCRIPT",
    "header_html",
    "notebook_html",
    "page_html",
    "playable_file",
    "stages_html",
    "usage_html",
]

_EXCERPT_SEGMENTS = 8
_EXCERPT_SCENES = 48  # a notebook cell's output stays small; the report file has them all


#: The player's one script: the page's fragment seeks the player, `#t=12.5` to 12.5 s
#: and a scene's or segment's anchor (`#scene-003`) to its start (`data-t`). The
#: page's policy runs this script alone, by its hash.
PLAYER_SCRIPT = (
    "(function(){var v=document.getElementById('vp-player');"
    "function seek(){var h=decodeURIComponent(location.hash.slice(1)),t=null,e;"
    "if(h.indexOf('t=')===0){t=parseFloat(h.slice(2));}"
    "else if(h&&(e=document.getElementById(h))&&e.hasAttribute('data-t')){"
    "t=parseFloat(e.getAttribute('data-t'));}"
    "if(t!==null&&isFinite(t)){v.currentTime=t;var p=v.play();if(p){p.catch(function(){});}}}"
    "window.addEventListener('hashchange',seek);seek();})();"
)
_SCRIPT_HASH = base64.b64encode(hashlib.sha256(PLAYER_SCRIPT.encode()).digest()).decode()


def playable_file(data: ReportData) -> Path | None:
    """The local file a player may show; `None` when there is none.

    The normalized copy (H.264 and AAC, which browsers play), else the original,
    whichever is a local file that exists. A URL (`s3://`, `https://`) is never
    played: the page's policy loads local files only.
    """
    for path in (data.video.normalized_path, data.video.original_path):
        if path and "://" not in path and Path(path).is_file():
            return Path(path).absolute()
    return None


def page_html(data: ReportData, *, player: bool = False) -> str:
    """The whole page, self-contained: no file, font or script is fetched.

    With `player`, and a local file to play (`playable_file`), the page also holds a
    `<video>` player of that file: its policy then loads media from local files and
    runs the one script that seeks the player to the page's fragment (`#t=12.5`,
    or a scene's or segment's anchor), and nothing else.
    """
    title = f"videopipe report: {data.video.title or data.video.id}"
    source = playable_file(data) if player else None
    # Captions and transcripts are untrusted: even if some markup slipped
    # through, the page could load nothing and run nothing (but the player's script).
    policy = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    if source is not None:
        policy += f"; media-src file:; script-src 'sha256-{_SCRIPT_HASH}'"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">\n'
        f"<title>{escape(title)}</title>\n<style>{CSS}\nbody{{margin:0;background:#fff}}</style>\n"
        "</head>\n<body>\n"
        f"{_report_body(data, excerpt=False, player=source, asked=player)}\n"
        + (f"<script>{PLAYER_SCRIPT}</script>\n" if source is not None else "")
        + "</body>\n</html>\n"
    )


def _player_html(source: Path | None, asked: bool) -> str:
    if source is None:
        return (
            _note("No player: the video is not a local file this page may load.") if asked else ""
        )
    return (
        f'<video id="vp-player" class="vp-player" controls preload="metadata" '
        f'src="{escape(source.as_uri())}"></video>'
    )


def _seek(t: float, player: bool) -> str:
    """A link that seeks the player to `t` (nothing without a player)."""
    if not player:
        return ""
    seconds = f"{max(t, 0.0):.3f}".rstrip("0").rstrip(".")
    return f' <a class="vp-seek" href="#t={seconds}">play</a>'


def notebook_html(data: ReportData) -> str:
    """A fragment for Jupyter: the same sections, the long ones cut to an excerpt."""
    return f"<style>{CSS}</style>{_report_body(data, excerpt=True)}"


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
        f"<h1>{escape(video.title or video.id)} {_badge(video.status.value)}</h1>",
        f'<p class="vp-meta">{escape(" · ".join(facts))}</p>',
    ]
    if video.title:
        parts.append(f'<p class="vp-meta">id: {escape(video.id)}</p>')
    parts += [
        f'<p class="vp-meta">source: {escape(video.original_path)}</p>',
    ]
    if video.error:
        parts.append(_note(video.error, "vp-error"))
    return "\n".join(parts)


def _storyboard_html(
    data: ReportData, tiles: Sequence[Tile], *, excerpt: bool, player: bool = False
) -> str:
    if not tiles:
        why = stage_note(data, SCENES) or "no scenes were detected"
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
        lines = [
            f'<b>{escape(label)}</b> <span class="vp-time">{when}</span>'
            + _seek(tile.t_start, player)
        ]
        if tile.caption is not None:
            text, note = caption_text(tile.caption)
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
        # An anchor per scene: a search hit's `anchor` opens the report there.
        cards.append(
            f'<figure id="scene-{tile.idx:03d}" data-t="{tile.t_start:g}">{image}'
            f"<figcaption>{'<br>'.join(lines)}</figcaption></figure>"
        )
    board = f'<div class="vp-board">\n{chr(10).join(cards)}\n</div>'
    if more := len(tiles) - len(shown):
        board += _note(f"… and {count(more, 'more scene')} (all of them are in the report).")
    return board


def _transcript_html(data: ReportData, *, excerpt: bool, player: bool = False) -> str:
    if not data.segments:
        why = stage_note(data, TRANSCRIBE) or "nothing was said"
        return _note(f"No transcript: {why}.")
    shown = data.segments[:_EXCERPT_SEGMENTS] if excerpt else data.segments
    rows = "\n".join(
        f'<tr id="segment-{s.idx:03d}" data-t="{s.t_start:g}"><td class="vp-time">'
        f"{escape(time_span(s.t_start, s.t_end))}{_seek(s.t_start, player)}</td>"
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


def _captions_html(data: ReportData, *, excerpt: bool) -> str:
    if not data.captions:
        why = stage_note(data, VISION) or "no frame was captioned"
        return _note(f"No captions: {why}.")
    frame_idx = {f.id: f.idx for f in data.frames}
    shown = data.captions[:_EXCERPT_SCENES] if excerpt else data.captions
    rows = []
    for c in shown:
        text, note = caption_text(c)
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


def usage_html(usage: UsageSummary) -> str:
    rows = "\n".join(
        f'<tr><td>{escape(k)}</td><td class="vp-num">{escape(v)}</td></tr>'
        for k, v in _usage_rows(usage)
    )
    return f'<table style="max-width:420px">\n{rows}\n</table>'


def _report_body(
    data: ReportData, *, excerpt: bool, player: Path | None = None, asked: bool = False
) -> str:
    tiles = storyboard_tiles(data)
    seeks = player is not None
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join(
        [
            '<div class="vp-report">',
            header_html(data.video),
            _player_html(player, asked),
            f"<h2>Storyboard ({count(len(tiles), 'scene')})</h2>",
            _storyboard_html(data, tiles, excerpt=excerpt, player=seeks),
            f"<h2>Transcript ({count(len(data.segments), 'segment')})</h2>",
            _transcript_html(data, excerpt=excerpt, player=seeks),
            f"<h2>Captions ({len(data.captions)})</h2>",
            _captions_html(data, excerpt=excerpt),
            "<h2>Stages</h2>",
            stages_html(run_rows(data.stage_runs)),
            "<h2>Usage and cost</h2>",
            usage_html(data.usage),
            f"<footer>Made by videopipe on {escape(generated)}.</footer>",
            "</div>",
        ]
    )
