"""`VideoReport` and the files of a report: loading a video's report from the store, and writing it.

`VideoReport` is `ReportData` with the methods that render it, so the renderers
take the plain data and never import this module.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread

from .._models import validate_id
from .._sync import run_blocking
from ..storage import open_store
from ._data import ReportData
from ._html import notebook_html, page_html
from ._sheet import draw_contact_sheet
from ._text import report_table

if TYPE_CHECKING:
    from PIL import Image

    from ..storage import Results

__all__ = ["Report", "VideoReport", "load_report", "write_report", "write_report_blocking"]


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
class VideoReport(ReportData):
    """Everything the store holds about one video, ready to be shown.

    In Jupyter it renders as a storyboard with thumbnails, a transcript
    excerpt, captions, stages and usage; `print()` gives a plain-text table;
    [`to_html`][videopipe.VideoReport.to_html] gives a whole self-contained
    page. Get one with [`load_report`][videopipe.load_report] or
    `await result.report(store)`.

    Note:
        Added in 0.1.0.
    """

    @property
    def video_id(self) -> str:
        """The video's ID."""
        return self.video.id

    def to_html(self, *, player: bool = False) -> str:
        """The report as a self-contained HTML page: no file, font or script is fetched.

        Args:
            player: Add a `<video>` player of the video's local file (the
                normalized copy, else the original), which the scenes' and
                segments' times and anchors seek (`report.html#t=12.5`,
                `report.html#scene-003`). The page's policy then loads media from
                local files and runs that one script; a video that is not a local
                file gets a note instead of a player.

        Returns:
            The page: the storyboard with thumbnails as `data:` URIs, the whole
            transcript with timestamps, the captions, the stages and the usage.
        """
        return page_html(self, player=player)

    def _repr_html_(self) -> str:
        return notebook_html(self)

    def table(self) -> str:
        """A plain-text summary for a terminal: stages, scenes with captions, transcript, usage."""
        return report_table(self)

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
        return draw_contact_sheet(self, columns=columns, max_tiles=max_tiles)


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
    store: Results,
    video_id: str,
    out_dir: str | os.PathLike[str] = "reports",
    *,
    player: bool = False,
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
        player: Add a `<video>` player of the local file, which the times and
            anchors seek (see [`VideoReport.to_html`][videopipe.VideoReport.to_html]).

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
    return await anyio.to_thread.run_sync(_write_files, data, out, player)


def write_report_blocking(
    store_url: str,
    video_id: str,
    out_dir: str | os.PathLike[str] = "reports",
    *,
    player: bool = False,
) -> Report:
    """The blocking twin of [`write_report`][videopipe.write_report], for scripts and notebooks.

    It opens the store at `store_url` and closes it again inside the call, so
    it works whatever event loop is running.

    Note:
        Added in 0.1.0.
    """

    async def call() -> Report:
        async with open_store(store_url) as store:
            return await write_report(store, video_id, out_dir, player=player)

    return run_blocking(call)


def _write_files(data: VideoReport, out: Path, player: bool = False) -> Report:
    out.mkdir(parents=True, exist_ok=True)
    html_path = out / f"{data.video.id}.html"
    png_path = out / f"{data.video.id}.storyboard.png"
    page = data.to_html(player=player)
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
