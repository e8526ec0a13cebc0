"""Seeing results: HTML reports, storyboard contact sheets, and rich displays in Jupyter.

Everything shown comes from the store (or from the object being shown):
scenes, their representative frames, frame captions, transcript segments,
stage runs and usage. A module per concern, each importing only those listed
before it:

- `_data`: `ReportData` (the fields of a report) and what every renderer derives
  from it alike: the storyboard's tiles, why a section is empty, a caption's text;
- `_html`: the self-contained page, the notebook display, and the parts
  `VideoResult` shows;
- `_text`: the plain-text table;
- `_sheet`: the storyboard contact sheet (Pillow);
- `_video`: `VideoReport` (`ReportData` with the methods that render it),
  `load_report`, `write_report` and `write_report_blocking`.
"""

from __future__ import annotations

from .._render import LOCAL_CAPTION_NOTE
from ._data import detail_text
from ._html import header_html, stages_html, usage_html
from ._sheet import TILE_SIZE
from ._text import usage_line
from ._video import Report, VideoReport, load_report, write_report, write_report_blocking

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
