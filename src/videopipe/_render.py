"""Text and HTML primitives shared by the reports and the rich displays of results and hits.

Everything shown is untrusted text (captions and transcripts come from a model,
and from whatever was on screen or said in the video): `escape` makes it safe
in HTML, and `plain` makes control characters visible in a terminal, so a
caption can never inject markup or terminal escapes. This module imports only
the lowest of videopipe's (errors, media locations), so the models and the
reports can both use it.
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
from typing import TYPE_CHECKING

from ._exceptions import MediaError, MissingDependency, ObjectStoreError
from ._locations import is_url, read_bytes

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "CELL",
    "CSS",
    "LOCAL_CAPTION_NOTE",
    "THUMB_WIDTH",
    "clock",
    "count",
    "escape",
    "open_rgb",
    "plain",
    "seconds_text",
    "thumbnail_uri",
    "time_span",
]

LOCAL_CAPTION_NOTE = "on-screen text only (local provider)"
"""Shown for a caption that has on-screen text but no description, as a local provider makes."""

THUMB_WIDTH = 384
"""Width in pixels of the thumbnails embedded in HTML."""

CELL = 72
"""Width in characters of a text cell in the plain-text tables."""


def escape(text: object) -> str:
    return html.escape(str(text), quote=True)


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def plain(text: str, width: int | None = None) -> str:
    """One line of untrusted text for a terminal: whitespace folded, control characters shown."""
    text = " ".join(text.split())
    text = _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)
    if width is not None and len(text) > width:
        text = text[: width - 1] + "…"
    return text


def clock(seconds: float) -> str:
    """`mm:ss.ss`, or `h:mm:ss.ss` from an hour on."""
    if not math.isfinite(seconds):
        return "--:--.--"
    hours, rest = divmod(max(0.0, seconds), 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{int(hours)}:{int(minutes):02d}:{secs:05.2f}"
    return f"{int(minutes):02d}:{secs:05.2f}"


def time_span(t_start: float, t_end: float, dash: str = "\N{EN DASH}") -> str:
    if t_end == t_start:  # a frame's instant, not a span
        return clock(t_start)
    return f"{clock(t_start)}{dash}{clock(t_end)}"


def count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def seconds_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


def open_rgb(path: str) -> Image.Image | None:
    """The image at `path` (a file, or a URL such as `s3://…`) as RGB; `None` when unreadable."""
    from PIL import Image

    source: str | io.BytesIO = path
    if is_url(path):
        try:
            source = io.BytesIO(read_bytes(path, {}))
        except (MediaError, ObjectStoreError, MissingDependency):
            return None
    try:
        with Image.open(source) as image:
            image.load()
            return image.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def thumbnail_uri(path: str | None, width: int = THUMB_WIDTH) -> str | None:
    """A small JPEG of the image at `path` as a `data:` URI, or `None` when it cannot be read."""
    if not path:
        return None
    image = open_rgb(path)
    if image is None:
        return None
    image.thumbnail((width, width * 2))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=80, optimize=True)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


CSS = """
.vp-report{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
  color:#1f2328;background:#fff;line-height:1.45;max-width:1200px;padding:16px 20px;
  box-sizing:border-box}
.vp-report h1{font-size:1.45rem;margin:0 0 .3rem;word-break:break-all}
.vp-report h2{font-size:1.1rem;margin:1.6rem 0 .6rem;padding-bottom:.3rem;
  border-bottom:1px solid #d0d7de}
.vp-report .vp-meta{color:#57606a;font-size:.9rem;margin:.15rem 0;word-break:break-all}
.vp-report .vp-badge{display:inline-block;padding:.05em .6em;border-radius:1em;font-size:.8rem;
  font-weight:600;color:#fff;background:#6e7781;vertical-align:middle}
.vp-report .vp-s-ready,.vp-report .vp-s-done{background:#1a7f37}
.vp-report .vp-s-failed{background:#cf222e}
.vp-report .vp-s-skipped{background:#9a6700}
.vp-report .vp-s-processing,.vp-report .vp-s-running{background:#0969da}
.vp-report .vp-board{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));
  gap:14px}
.vp-report figure{margin:0;background:#f6f8fa;border:1px solid #d0d7de;border-radius:8px;
  overflow:hidden}
.vp-report figure img,.vp-report .vp-noimg{display:block;width:100%;aspect-ratio:16/9;
  object-fit:contain;background:#111}
.vp-report .vp-noimg{background:#eaeef2;color:#57606a;display:flex;align-items:center;
  justify-content:center;font-size:.85rem}
.vp-report figcaption{padding:8px 10px;font-size:.85rem}
.vp-report figcaption b{font-weight:600}
.vp-report table{border-collapse:collapse;width:100%;font-size:.9rem}
.vp-report th,.vp-report td{text-align:left;padding:5px 8px;border-bottom:1px solid #eaeef2;
  vertical-align:top}
.vp-report th{background:#f6f8fa;font-weight:600}
.vp-report .vp-num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.vp-report .vp-time{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;
  white-space:nowrap;color:#57606a;font-size:.85rem}
.vp-report td.vp-time,.vp-report .vp-narrow{width:1%;white-space:nowrap}
.vp-report .vp-note{color:#57606a;font-style:italic}
.vp-report .vp-error{color:#cf222e}
.vp-report .vp-ocr{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;
  font-size:.8rem;color:#3d444d}
.vp-report .vp-hit{display:flex;gap:12px;align-items:flex-start}
.vp-report .vp-hit img{width:160px;aspect-ratio:16/9;object-fit:contain;background:#111;
  border-radius:4px;flex:none}
.vp-report code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;
  font-size:.85em;font-style:normal;background:#eff1f3;padding:.1em .3em;border-radius:4px}
.vp-report .vp-player{display:block;width:100%;max-width:960px;max-height:60vh;
  background:#000;border-radius:8px;margin:.6rem 0}
.vp-report .vp-seek{font-size:.8rem;margin-left:.4em}
.vp-report footer{margin-top:1.6rem;color:#8c959f;font-size:.8rem}
"""
