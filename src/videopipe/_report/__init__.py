"""Seeing results: HTML reports, storyboard contact sheets, and rich displays in Jupyter."""

from __future__ import annotations

from ._html import (
    LOCAL_CAPTION_NOTE,
    TILE_SIZE,
    Report,
    VideoReport,
    detail_text,
    header_html,
    load_report,
    stages_html,
    usage_html,
    usage_line,
    write_report,
    write_report_blocking,
)

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
