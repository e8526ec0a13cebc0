"""What a report shows, as plain data, and what every renderer reads from it alike.

`ReportData` holds the fields of a [`VideoReport`][videopipe.VideoReport]; the
renderers (`_html`, `_text`, `_sheet`) take it, and `VideoReport` adds the
methods that call them, so no renderer imports the class that calls it. The
helpers here are the parts the renderers share: the storyboard's tiles, why a
section is empty, which text a caption shows, and the stages in pipeline order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .._models import (
    Frame,
    FrameCaption,
    Scene,
    StageRun,
    StageStatus,
    TranscriptSegment,
    UsageSummary,
    Video,
)
from .._render import LOCAL_CAPTION_NOTE
from .._stage import DEFAULT_STAGE_NAMES

__all__ = [
    "ReportData",
    "Tile",
    "caption_text",
    "detail_text",
    "run_rows",
    "stage_note",
    "storyboard_tiles",
]


@dataclass(frozen=True, slots=True)
class ReportData:
    """Everything the store holds about one video: the fields of `VideoReport`."""

    video: Video
    stage_runs: Mapping[str, StageRun]
    """The latest run of each stage, by name."""
    scenes: Sequence[Scene]
    frames: Sequence[Frame]
    segments: Sequence[TranscriptSegment]
    captions: Sequence[FrameCaption]
    usage: UsageSummary


@dataclass(frozen=True, slots=True)
class Tile:
    """One card of the storyboard: a scene (or a frame whose scene is gone)."""

    idx: int
    t_start: float
    t_end: float
    frame: Frame | None
    caption: FrameCaption | None
    duplicate_of: int | None


def storyboard_tiles(data: ReportData) -> list[Tile]:
    frames_by_scene = {f.scene_id: f for f in data.frames}
    captions = {c.frame_id: c for c in data.captions}
    frame_idx = {f.id: f.idx for f in data.frames}
    tiles: list[Tile] = []
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
) -> Tile:
    caption = captions.get(frame.id) if frame is not None else None
    duplicate = frame_idx.get(frame.duplicate_of) if frame and frame.duplicate_of else None
    return Tile(idx, t_start, t_end, frame, caption, duplicate)


def stage_note(data: ReportData, stage: str) -> str | None:
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


def caption_text(caption: FrameCaption) -> tuple[str, str | None]:
    """The description to show, and a note about it (why it is empty), if any."""
    if caption.error:
        return "", f"not analysed: {caption.error}"
    if caption.caption.strip():
        return caption.caption, None
    if caption.ocr_text.strip():
        return "", LOCAL_CAPTION_NOTE
    return "", "no description"


def detail_text(detail: Mapping[str, Any]) -> str:
    if "skipped" in detail:  # the status says skipped; the detail says why
        return str(detail["skipped"])
    return ", ".join(f"{k}={v}" for k, v in detail.items())


def run_rows(
    runs: Mapping[str, StageRun],
) -> list[tuple[str, str, float | None, str, str | None]]:
    """One row per stage run (name, status, seconds, detail, error), in pipeline order."""

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
