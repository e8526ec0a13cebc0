"""The storyboard contact sheet: one Pillow image, a tile per scene with its frame and time span.

Pillow is imported lazily, when a sheet is drawn. Text drawn on the image is
ASCII only, as the default font has no other glyphs.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from .._exceptions import ConfigurationError
from .._render import clock, count, open_rgb, seconds_text
from .._stage import SCENES
from ._data import ReportData, stage_note, storyboard_tiles

if TYPE_CHECKING:
    from PIL import Image, ImageFont

__all__ = ["TILE_SIZE", "draw_contact_sheet"]

TILE_SIZE = (320, 180)
"""Size in pixels of a frame's area in a contact-sheet tile (16:9; frames are letterboxed)."""

_TILE_LABEL = 28
_TILE_PAD = 8
_SHEET_HEADER = 36
_SHEET_BG = (24, 24, 27)
_TILE_BG = (0, 0, 0)
_LABEL_FG = (228, 228, 231)
_MUTED_FG = (161, 161, 170)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def draw_contact_sheet(data: ReportData, *, columns: int, max_tiles: int) -> Image.Image:
    from PIL import Image, ImageDraw

    if columns < 1 or max_tiles < 1:
        raise ConfigurationError(
            f"columns and max_tiles must be at least 1, not {columns} and {max_tiles}"
        )
    every = storyboard_tiles(data)
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
    title = f"{data.video.title or data.video.id} - {count(len(every), 'scene')} - {duration}"
    if len(tiles) < len(every):
        title += f" (showing {len(tiles)}, evenly spread)"
    draw.text((_TILE_PAD, 10), _ascii(title), fill=_LABEL_FG, font=font)
    if not tiles:
        why = stage_note(data, SCENES) or "no scenes were detected"
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
