"""The stage contract: `Stage`, what a stage gets (`StageContext`), where its files go."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from ._locations import join, local_path
from ._models import Usage, Video, utcnow
from ._progress import RunTracker
from ._settings import Settings

if TYPE_CHECKING:
    from ._budget import Budget
    from ._files import StageFiles
    from .providers import Provider
    from .storage import Results

__all__ = [
    "DEFAULT_STAGE_NAMES",
    "EMBEDDINGS",
    "FRAMES",
    "MARKERS",
    "NORMALIZE",
    "SCENES",
    "TRANSCRIBE",
    "VISION",
    "LoadsOutput",
    "Marked",
    "Stage",
    "StageContext",
    "StageSkipped",
    "UploadsAudio",
    "VideoPaths",
]

NORMALIZE = "normalize"
TRANSCRIBE = "transcribe"
SCENES = "scenes"
FRAMES = "frames"
VISION = "vision"
EMBEDDINGS = "embeddings"
DEFAULT_STAGE_NAMES = (NORMALIZE, TRANSCRIBE, SCENES, FRAMES, VISION, EMBEDDINGS)
"""The default pipeline's stages, in the order they are shown."""

MARKERS = {
    NORMALIZE: "NORMALIZED",
    TRANSCRIBE: "TRANSCRIBED",
    SCENES: "SCENES",
    FRAMES: "FRAMES",
    VISION: "VISION",
    EMBEDDINGS: "EMBEDDINGS",
}
"""The log markers of seed `003` for the stages of these names, whoever implements them."""


class Stage(Protocol):
    """**Protocol:** one step of a pipeline.

    A stage has a unique `name`, the names of the stages it `requires`, and an
    async `run(ctx)` whose return value is handed to the stages that require it
    (as `ctx.inputs[name]`). A stage may also define `async load(ctx)`, which
    rebuilds that output from the store when the stage is already complete and
    is skipped on a re-run; without `load`, a completed stage's output on a
    re-run is the JSON `detail` its run recorded (its return value, when that
    was a `dict`).

    Examples:
        ```python
        class WordCount:
            name = "word_count"
            requires = ("transcribe",)

            async def run(self, ctx: vp.StageContext) -> dict[str, int]:
                segments = await ctx.store.list_segments(ctx.video.id)
                return {"words": sum(len(s.text.split()) for s in segments)}


        pipeline = vp.Pipeline.default(store=store).add(WordCount())
        ```

    Note:
        Added in 0.1.0.
    """

    @property
    def name(self) -> str:
        """The stage's unique name."""
        ...

    @property
    def requires(self) -> Sequence[str]:
        """Names of the stages whose outputs this one needs."""
        ...

    async def run(self, ctx: StageContext) -> Any:
        """Do the stage's work for `ctx.video`; the return value is the stage's output."""
        ...


@runtime_checkable
class LoadsOutput(Protocol):
    """**Protocol:** a stage that rebuilds its output from the store on a re-run.

    When a stage is already complete, the pipeline does not run it again; a
    stage with `load` gives the stages after it the same output as a fresh
    run would (for example the `Frame` records). Without `load`, a completed
    stage's output on a re-run is the JSON `detail` its run recorded.

    Note:
        Added in 0.1.0.
    """

    async def load(self, ctx: StageContext) -> Any:
        """The output of the completed stage for `ctx.video`, read back from the store."""
        ...


@runtime_checkable
class Marked(Protocol):
    """**Protocol:** a stage that names the log marker of its completion.

    Without `marker`, a stage named as a default one logs that stage's marker
    (`NORMALIZED`, `TRANSCRIBED`, `SCENES`, `FRAMES`, `VISION`, `EMBEDDINGS`:
    `MARKERS`), and any other stage its name in capitals.

    Note:
        Added in 0.1.0.
    """

    marker: str


@runtime_checkable
class UploadsAudio(Protocol):
    """**Protocol:** a transcription stage that sends audio in chunks, for cost estimates.

    Note:
        Added in 0.1.0.
    """

    max_upload_bytes: int
    """The largest audio file sent in one request."""
    overlap: float
    """Seconds shared by consecutive chunks."""


class StageSkipped(Exception):
    """Raised by a stage (through `ctx.skip(reason)`) that has nothing to do for this video.

    The stage is recorded as skipped with the reason, and the stages that
    require it still run, with `None` as its output.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True, slots=True)
class VideoPaths:
    """Where a video's files live under `DATA_DIR`.

    The layout: `uploads/`, `processed/{id}/normalized.mp4`,
    `processed/{id}/audio.wav`, `subs/{id}.srt`, `frames/{id}/scene_{i:03d}.jpg`.
    The video ID is validated, so no path can escape `root`.

    When `DATA_DIR` is a bucket, `remote` is its URL and `root` a local
    staging directory of the running stage: files are written under `root`,
    then published (`StageContext.publish`) to the same place under `remote`.
    """

    root: Path
    video_id: str
    remote: str | None = None
    """The URL of `DATA_DIR` when it is in object storage (`s3://bucket/prefix`)."""

    def location(self, path: Path) -> str:
        """Where the file `path` (under `root`) is kept: itself, or its URL under `remote`."""
        if self.remote is None:
            return str(path)
        return join(self.remote, path.relative_to(self.root).as_posix())

    @property
    def uploads(self) -> Path:
        """Where uploaded originals are kept."""
        return self.root / "uploads"

    @property
    def processed(self) -> Path:
        """The video's processed-files directory."""
        return self.root / "processed" / self.video_id

    @property
    def normalized(self) -> Path:
        """The normalized 720p/30 fps video."""
        return self.processed / "normalized.mp4"

    @property
    def audio(self) -> Path:
        """The 16 kHz mono WAV."""
        return self.processed / "audio.wav"

    @property
    def srt(self) -> Path:
        """The subtitles."""
        return self.root / "subs" / f"{self.video_id}.srt"

    @property
    def frames(self) -> Path:
        """The directory of the video's frames."""
        return self.root / "frames" / self.video_id

    def frame(self, index: int) -> Path:
        """The JPEG of scene `index`'s representative frame."""
        return self.frames / f"scene_{index:03d}.jpg"


@dataclass
class StageContext:
    """What a stage gets to do its work.

    Note:
        Added in 0.1.0.
    """

    stage: str
    """The running stage's name."""
    video: Video
    """The video, as of the start of the stage (see `update_video`)."""
    store: Results
    """Where the pipeline records its results (the embeddings stage also needs `Vectors`)."""
    provider: Provider | None
    settings: Settings
    paths: VideoPaths
    inputs: Mapping[str, Any]
    """Outputs of the stages this one requires, by name."""
    log: logging.LoggerAdapter[logging.Logger]
    """A logger whose records carry the video ID and the stage name."""
    job_id: str | None = None
    budget: Budget | None = None
    """The pipeline's spending budget: AI stages reserve their estimated cost in it first."""
    tracker: RunTracker | None = None
    """Where `report_progress` goes; `None` when nobody follows the run's progress."""
    files: StageFiles | None = None
    """Downloads and uploads of this stage run (`local_file`, `publish`); `None`: all local."""

    def report_progress(self, done: float, total: float | None = None) -> None:
        """Say how far this stage is: `done` of `total`, in any unit (media seconds, items).

        Without `total`, `done` is media seconds of the video and the total is
        its duration (`video.duration_sec`, known after `normalize`). Cheap and
        safe to call often, from the event loop or from a worker thread the
        stage runs in (`anyio.to_thread`): listeners hear of a move of at least
        1 %, on the event loop. A stage that never reports still shows as
        running, then done.

        Examples:
            ```python
            for i, item in enumerate(items, 1):
                await handle(item)
                ctx.report_progress(i, len(items))
            ```

        Note:
            Added in 0.2.0.
        """
        if self.tracker is None:
            return
        if total is None:
            total = self.video.duration_sec
        self.tracker.report(self.stage, done, total)

    async def local_file(self, location: str | os.PathLike[str]) -> Path:
        """A local file with the content at `location` (a path, or a URL such as `s3://…`).

        Media in object storage is downloaded into the stage's scratch
        directory, once per stage, and removed when the stage ends. A local
        path is returned as it is.

        Raises:
            InputNotFound: Nothing at `location`.
            ObjectStoreError: The download failed.

        Note:
            Added in 0.2.0.
        """
        if self.files is None:
            return local_path(location)
        return await self.files.local_file(location)

    async def publish(self, *paths: Path) -> list[str]:
        """Keep the files `paths` (written under `ctx.paths`) in `DATA_DIR`; return their locations.

        With a local `DATA_DIR` they are already in place and their paths are
        returned. With a bucket, each is uploaded (readers never see half a
        file) and its URL returned: record these in the store only after this
        returns, so that nothing recorded is missing.

        Raises:
            ObjectStoreError: An upload failed.

        Note:
            Added in 0.2.0.
        """
        locations = {path: self.paths.location(path) for path in paths}
        if self.paths.remote is not None and self.files is not None:
            await self.files.publish(locations)
        return list(locations.values())

    def skip(self, reason: str) -> StageSkipped:
        """Return the exception that skips this stage: `raise ctx.skip("no audio track")`."""
        return StageSkipped(reason)

    async def update_video(self, **changes: Any) -> Video:
        """Update fields of the video record (for example `duration_sec`) and store it."""
        video = self.video.model_copy(update={**changes, "updated_at": utcnow()})
        self.video = await self.store.upsert_video(video)
        return self.video

    async def record_usage(
        self,
        *,
        provider: str,
        model: str,
        requests: int = 0,
        input_tokens: int = 0,
        output_tokens: int = 0,
        audio_seconds: float = 0.0,
        images: int = 0,
        texts: int = 0,
        cost_usd: float = 0.0,
    ) -> None:
        """Record what this stage spent with a provider."""
        await self.store.record_usage(
            Usage(
                video_id=self.video.id,
                stage=self.stage,
                job_id=self.job_id,
                provider=provider,
                model=model,
                requests=requests,
                input_tokens=input_tokens,
                output_tokens=output_tokens,
                audio_seconds=audio_seconds,
                images=images,
                texts=texts,
                cost_usd=cost_usd,
            )
        )
