"""What running a video through a pipeline gives: `VideoResult`, a `StageOutcome` per stage."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._models import StageStatus, UsageSummary, Video, VideoStatus
from ._render import CELL, CSS, plain
from ._report import (
    VideoReport,
    detail_text,
    header_html,
    load_report,
    stages_html,
    usage_html,
    usage_line,
)

if TYPE_CHECKING:
    from .storage import Store

__all__ = ["StageOutcome", "VideoResult"]


@dataclass(frozen=True, slots=True)
class StageOutcome:
    """How one stage went in one run of the pipeline."""

    status: StageStatus
    """`done`, `skipped` or `failed`; `running` is never reported."""
    resumed: bool = False
    """`True` when the stage was already complete and was not run again."""
    duration_sec: float = 0.0
    detail: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True, slots=True)
class VideoResult:
    """The outcome of running one video through a pipeline.

    Note:
        Added in 0.1.0.
    """

    video: Video
    stages: Mapping[str, StageOutcome]
    usage: UsageSummary
    duration_sec: float

    @property
    def video_id(self) -> str:
        """The video's ID."""
        return self.video.id

    @property
    def status(self) -> VideoStatus:
        """`ready` or `failed`."""
        return self.video.status

    @property
    def ok(self) -> bool:
        """Whether every stage completed (done or skipped)."""
        return self.video.status is VideoStatus.READY

    @property
    def error(self) -> str | None:
        """The first failed stage's error, if any."""
        return self.video.error

    def table(self) -> str:
        """A plain-text table for a terminal: one line per stage with its details, then usage.

        Note:
            Added in 0.1.0.
        """
        return result_table(self)

    def __str__(self) -> str:
        return self.table()

    def _repr_html_(self) -> str:
        return result_html(self)

    async def report(self, store: Store) -> VideoReport:
        """Everything `store` holds about this video: storyboard, transcript, captions, usage.

        A result carries only the stages' outcomes and the usage; this reads the
        rest from the store. In Jupyter the report shows as a storyboard.

        Examples:
            ```python
            result = await pipeline.run("talk.mp4")
            await result.report(pipeline.store)  # in Jupyter: thumbnails, transcript, captions
            ```

        Note:
            Added in 0.1.0.
        """
        return await load_report(store, self.video.id)


def _outcome_rows(
    stages: Mapping[str, StageOutcome],
) -> list[tuple[str, str, float | None, str, str | None]]:
    rows: list[tuple[str, str, float | None, str, str | None]] = []
    for name, outcome in stages.items():
        detail = detail_text(outcome.detail)
        if outcome.resumed:
            detail = f"resumed (done before){'; ' if detail else ''}{detail}"
        rows.append((name, outcome.status.value, outcome.duration_sec, detail, outcome.error))
    return rows


def result_table(result: VideoResult) -> str:
    """`VideoResult` as plain text: the video, one line per stage, the usage."""
    lines = [f"{result.video_id}: {result.status.value} in {result.duration_sec:.1f}s"]
    for name, status, seconds, detail, error in _outcome_rows(result.stages):
        text = plain(error or detail, CELL)
        lines.append(f"  {plain(name, 12):<12} {status:<8} {seconds or 0.0:>6.2f}s  {text}")
    if result.error:
        lines.append(f"  error: {plain(result.error)}")
    lines.append(f"  {usage_line(result.usage)}")
    return "\n".join(lines)


def result_html(result: VideoResult) -> str:
    """`VideoResult` as an HTML fragment for Jupyter: what the result holds, no store lookups."""
    video = result.video
    return "\n".join(
        [
            f"<style>{CSS}</style>",
            '<div class="vp-report">',
            header_html(video),
            f'<p class="vp-meta">processed in {result.duration_sec:.1f}s</p>',
            "<h2>Stages</h2>",
            stages_html(_outcome_rows(result.stages)),
            "<h2>Usage and cost</h2>",
            usage_html(result.usage),
            '<p class="vp-note">The storyboard, transcript and captions are in the store: '
            "<code>await result.report(store)</code> shows them here, and "
            "<code>await videopipe.write_report(store, result.video_id)</code> writes them "
            "to an HTML report.</p>",
            "</div>",
        ]
    )
