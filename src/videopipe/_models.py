"""The records videopipe stores: videos, stage runs, stage outputs, usage, jobs and batches.

IDs are deterministic (`{video_id}_scene_{i:03d}`, `{video_id}_frame_{i:03d}`,
`{video_id}_segment_{i:03d}`, `{frame_id}_caption`), so every write is an
upsert by ID and running a stage twice leaves one copy.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator

from ._exceptions import ConfigurationError
from ._render import CELL, CSS, LOCAL_CAPTION_NOTE, clock, escape, plain, thumbnail_uri, time_span

__all__ = [
    "Batch",
    "BatchItem",
    "BatchResults",
    "BatchState",
    "BatchStatus",
    "Embedding",
    "Frame",
    "FrameCaption",
    "Job",
    "JobStatus",
    "QueueStats",
    "Scene",
    "SearchHit",
    "StageRun",
    "StageStatus",
    "TranscriptSegment",
    "TransitionKind",
    "Usage",
    "UsageSummary",
    "Video",
    "VideoStatus",
    "caption_id",
    "clean_title",
    "frame_id",
    "scene_id",
    "segment_id",
    "text_hash",
    "utcnow",
    "validate_id",
]

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def validate_id(value: str, *, what: str = "id") -> str:
    """Check that `value` is a safe ID: it can never escape `DATA_DIR` or break a file name.

    A safe ID is 1 to 128 characters of ASCII letters, digits, `_`, `.` and `-`,
    starting with a letter or digit, and never `..`-like path parts.

    Raises:
        ConfigurationError: The ID is unsafe; the message says what is allowed.
    """
    if not isinstance(value, str) or not _ID.fullmatch(value) or ".." in value:
        raise ConfigurationError(
            f"invalid {what} {value!r}: use 1-128 ASCII letters, digits, '_', '.' or '-', "
            "starting with a letter or digit, and no '..'"
        )
    return value


def scene_id(video_id: str, index: int) -> str:
    """The ID of scene `index` of a video."""
    return f"{video_id}_scene_{index:03d}"


def frame_id(video_id: str, index: int) -> str:
    """The ID of the representative frame of scene `index`."""
    return f"{video_id}_frame_{index:03d}"


def segment_id(video_id: str, index: int) -> str:
    """The ID of transcript segment `index`."""
    return f"{video_id}_segment_{index:03d}"


def caption_id(frame: str) -> str:
    """The ID of a frame's caption."""
    return f"{frame}_caption"


def text_hash(text: str) -> str:
    """The content hash that identifies an embedded text (so identical texts are embedded once)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)


class VideoStatus(StrEnum):
    """A video's lifecycle: `pending → processing → ready | failed`."""

    PENDING = "pending"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class Video(_Record):
    """A video known to the store.

    `title` is what search hits and reports call it: set by `Pipeline.run(title=)`
    or `videopipe process --title`; without one, they use the file's name.
    """

    id: str
    original_path: str
    title: str | None = None
    normalized_path: str | None = None
    audio_path: str | None = None
    duration_sec: float | None = None
    width: int | None = None
    height: int | None = None
    has_audio: bool | None = None
    status: VideoStatus = VideoStatus.PENDING
    error: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    @field_validator("id")
    @classmethod
    def _safe_id(cls, value: str) -> str:
        return validate_id(value, what="video id")

    @field_validator("title")
    @classmethod
    def _clean_title(cls, value: str | None) -> str | None:
        return clean_title(value)


def clean_title(title: str | None) -> str | None:
    """A title on one line, its whitespace collapsed; `None` for a blank one.

    Raises:
        ConfigurationError: The title is longer than 500 characters.
    """
    if title is None:
        return None
    cleaned = " ".join(title.split())
    if len(cleaned) > 500:
        raise ConfigurationError(
            f"the title is {len(cleaned)} characters long: at most 500 (a name, not a description)"
        )
    return cleaned or None


class StageStatus(StrEnum):
    """A stage run's outcome."""

    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"


class StageRun(_Record):
    """One stage's latest run for one video; its completion is what makes re-runs resume."""

    video_id: str
    stage: str
    status: StageStatus
    attempt: int = 1
    started_at: datetime = Field(default_factory=utcnow)
    finished_at: datetime | None = None
    duration_sec: float | None = None
    error: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)
    """A small summary of the output (counts, skip reason), for reports."""


TransitionKind = Literal["cut", "fade_in", "fade_out", "dissolve"]
"""How a scene boundary happens: a hard cut, a fade from or to black, or a cross-dissolve."""


class Scene(_Record):
    """A scene: the span between two detected boundaries, with how it begins and ends.

    The scenes of a video cover it without gaps. A black stretch (frames darker
    than PySceneDetect's `ThresholdDetector` threshold) between two scenes is
    split between them, and lies between `content_end` of the one and
    `content_start` of the next: a scene never consists of black frames alone.

    Note:
        `transition_in`, `transition_out`, `content_start` and `content_end`
        were added in 0.2.0; scenes stored before have `None` there.
    """

    id: str
    video_id: str
    idx: int
    t_start: float
    t_end: float
    transition_in: TransitionKind | None = None
    """How the scene begins: `cut`, `fade_in` (from black) or `dissolve`; `None` on
    the first scene, unless the video fades in from black."""
    transition_out: TransitionKind | None = None
    """How the scene ends: `cut`, `fade_out` (to black) or `dissolve`; `None` on the
    last scene, unless the video ends on a fade to black."""
    content_start: float | None = None
    """Where the picture starts: after the black stretch at the scene's start, if any."""
    content_end: float | None = None
    """Where the picture ends: where the black stretch at the scene's end begins, if any."""


class Frame(_Record):
    """The representative frame of a scene."""

    id: str
    video_id: str
    scene_id: str
    idx: int
    t: float
    path: str
    phash: str
    duplicate_of: str | None = None
    """The ID of an earlier, near-identical frame; vision skips duplicates."""


class TranscriptSegment(_Record):
    """A timestamped piece of the transcript."""

    id: str
    video_id: str
    idx: int
    t_start: float
    t_end: float
    text: str


class FrameCaption(_Record):
    """What the vision model saw in a frame."""

    id: str
    video_id: str
    frame_id: str
    t: float
    caption: str
    entities: list[str] = Field(default_factory=list)
    ocr_text: str = ""
    controls: list[str] = Field(default_factory=list)
    model: str | None = None
    error: str | None = None
    """Set when the frame could not be analysed; the video still completes."""


EmbeddingKind = Literal["segment", "caption"]


class Embedding(_Record):
    """A vector for a segment's or a caption's text, tagged with the model that made it."""

    owner_id: str
    """The segment or caption ID."""
    video_id: str
    kind: EmbeddingKind
    model: str
    vector: list[float]
    text_hash: str

    @property
    def dimension(self) -> int:
        """The vector's length."""
        return len(self.vector)


_HIT_PLACE = re.compile(r"_(segment|frame)_(\d{3,})(?:_caption)?$")


class SearchHit(_Record):
    """One search result: a transcript segment or a frame caption, with where it is in the video.

    `score` is in [0, 1]: for a text query, 0.6 x the cosine similarity plus 0.4 x
    the share of the query's terms that `text` holds (`matched` lists them; a term
    counts more the fewer of the candidates hold it), and at least 0.9 x the
    cosine similarity; for a vector alone, the cosine similarity. `file` is the
    video's original path or URL, `title` its title (`Video.title`, else the file
    name), and `link` a URL that opens the moment
    (`file:///videos/talk.mp4#t=12.5`). `on_screen_text_only` marks a caption
    that is only the text read in the frame, with no description (the local
    provider has no vision model).
    """

    kind: EmbeddingKind
    id: str
    video_id: str
    text: str
    t_start: float
    t_end: float
    score: float
    frame_path: str | None = None
    matched: list[str] = Field(default_factory=list)
    on_screen_text_only: bool = False
    file: str | None = None
    title: str | None = None
    link: str | None = None

    @computed_field  # type: ignore[prop-decorator]
    @property
    def anchor(self) -> str | None:
        """The hit's place in its video's HTML report: `segment-003`, or `scene-003` for a caption.

        Append it to the report's URL (`report.html#segment-003`). A caption's
        anchor is its frame's scene (the default frames stage takes one per scene).
        """
        found = _HIT_PLACE.search(self.id)
        if found is None:
            return None
        return f"{'segment' if found[1] == 'segment' else 'scene'}-{found[2]}"

    @property
    def _kind_label(self) -> str:
        return LOCAL_CAPTION_NOTE if self.on_screen_text_only else self.kind

    def __str__(self) -> str:
        return (
            f"{self.score:.3f}  {self.title or self.video_id}  "
            f"{clock(self.t_start)}-{clock(self.t_end)}  "
            f"[{self._kind_label}] {plain(self.text)}"
        )

    def _repr_html_(self) -> str:
        # Its frame's thumbnail when it has one, the time, the text.
        uri = thumbnail_uri(self.frame_path, 240)
        image = f'<img src="{uri}" alt="frame at {escape(clock(self.t_start))}">' if uri else ""
        # Only a link a browser opens as a page or a file, never a script.
        safe = self.link is not None and self.link.lower().startswith(("file:", "http:", "https:"))
        link = (
            f'<br><a href="{escape(self.link or "")}">open at {escape(clock(self.t_start))}</a>'
            if safe
            else ""
        )
        words = ", ".join(self.matched)
        matched = (
            f'<br><span class="vp-note">matched words: {escape(words)}</span>' if words else ""
        )
        return (
            f'<style>{CSS}</style><div class="vp-report"><div class="vp-hit">{image}<div>'
            f'<span class="vp-time">{escape(time_span(self.t_start, self.t_end))}</span> '
            f"<b>{escape(self.title or self.video_id)}</b> · {escape(self._kind_label)} "
            f"· score {self.score:.3f}"
            f"<br>{escape(self.text)}{matched}{link}</div></div></div>"
        )

    @staticmethod
    def table(hits: Iterable[SearchHit]) -> str:
        """Hits as a plain-text table (score, video file, time, kind, text), for a terminal.

        Examples:
            ```python
            print(vp.SearchHit.table(hits))
            ```

        Note:
            Added in 0.1.0.
        """
        lines = [f"{'score':>6}  {'video':<22} {'time':<17}  {'kind':<8} text"]
        for hit in hits:
            times = f"{clock(hit.t_start)}-{clock(hit.t_end)}"
            lines.append(
                f"{hit.score:>6.3f}  {plain(hit.title or hit.video_id, 22):<22} {times:<17}  "
                f"{hit._kind_label:<8} {plain(hit.text, CELL)}"
            )
        return "\n".join(lines)


class Usage(_Record):
    """What one stage spent with a provider, for cost accounting."""

    video_id: str
    stage: str
    provider: str
    model: str
    job_id: str | None = None
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    audio_seconds: float = 0.0
    images: int = 0
    texts: int = 0
    cost_usd: float = 0.0
    created_at: datetime = Field(default_factory=utcnow)


class UsageSummary(_Record):
    """Usage added up over videos, jobs or batches."""

    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    audio_seconds: float = 0.0
    images: int = 0
    texts: int = 0
    cost_usd: float = 0.0

    @classmethod
    def of(cls, rows: list[Usage]) -> UsageSummary:
        """Add up `rows`."""
        return cls(
            requests=sum(r.requests for r in rows),
            input_tokens=sum(r.input_tokens for r in rows),
            output_tokens=sum(r.output_tokens for r in rows),
            audio_seconds=sum(r.audio_seconds for r in rows),
            images=sum(r.images for r in rows),
            texts=sum(r.texts for r in rows),
            cost_usd=sum(r.cost_usd for r in rows),
        )


class JobStatus(StrEnum):
    """A job's lifecycle: `pending → processing → done`, failures back to `pending`, then `dead`."""

    PENDING = "pending"
    PROCESSING = "processing"
    DONE = "done"
    DEAD = "dead"
    CANCELLED = "cancelled"


class Job(_Record):
    """A unit of work in the durable queue: process one video."""

    id: str
    video_id: str
    queue: str = "default"
    priority: int = 0
    status: JobStatus = JobStatus.PENDING
    attempts: int = 0
    max_attempts: int = 3
    run_after: datetime = Field(default_factory=utcnow)
    lease_expires_at: datetime | None = None
    worker_id: str | None = None
    last_error: str | None = None
    batch_id: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class QueueStats(_Record):
    """The queue at a glance: counts per status, queue lag, failures."""

    counts: dict[str, int]
    """Jobs per status; every status is present."""
    oldest_pending_age_sec: float | None
    """Age of the oldest runnable pending job: the queue lag."""
    failed_attempts: int
    """Jobs that failed at least once (attempts used beyond success)."""


class BatchState(StrEnum):
    """A batch's lifecycle: `created → running → completed | failed | cancelled`."""

    CREATED = "created"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Batch(_Record):
    """A group of jobs created together."""

    id: str
    total: int
    created_at: datetime = Field(default_factory=utcnow)
    cancelled: bool = False


class BatchStatus(_Record):
    """A batch's progress."""

    id: str
    state: BatchState
    total: int
    done: int
    failed: int
    pending: int
    processing: int
    cancelled: int
    created_at: datetime
    finished_at: datetime | None = None

    @property
    def percentage(self) -> float:
        """Finished items (done, failed or cancelled) as a percentage of the total."""
        if self.total == 0:
            return 100.0
        return 100.0 * (self.done + self.failed + self.cancelled) / self.total


class BatchItem(_Record):
    """One item of a batch's results."""

    job_id: str
    video_id: str
    original_path: str | None
    status: JobStatus
    attempts: int
    error: str | None = None


class BatchResults(_Record):
    """A batch's summary and per-item results."""

    batch_id: str
    state: BatchState
    total: int
    successful: int
    failed: int
    items: list[BatchItem]

    @property
    def failures(self) -> list[BatchItem]:
        """The items that failed (dead), with their errors."""
        return [i for i in self.items if i.status is JobStatus.DEAD]
