"""`Pipeline`: run a video through its stages as a graph, resuming where it stopped."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import anyio
import anyio.lowlevel
import anyio.to_thread

from ._batch import Err, Ok, process_batch
from ._budget import Budget
from ._cost import Estimate, estimate
from ._exceptions import (
    ConfigurationError,
    NotFound,
    StorageError,
)
from ._executor import execute
from ._files import RunInputs
from ._graph import order_stages
from ._inputs import check_input, video_id_for
from ._locations import exists, is_url, local_path
from ._models import Video, clean_title, validate_id
from ._progress import ProgressListener
from ._result import VideoResult
from ._scratch import Scratch
from ._settings import Settings
from ._stage import Stage, VideoPaths
from ._sync import run_blocking
from .providers._choose import default_provider
from .stages import default_stages
from .storage import RunLeases

if TYPE_CHECKING:
    from .providers import Provider
    from .storage import Results

__all__ = ["Pipeline"]

logger = logging.getLogger("videopipe.pipeline")


class Pipeline:
    """Runs videos through a graph of stages and records each stage's completion in the store.

    A stage starts as soon as the stages it requires are done, so independent
    stages overlap. A re-run of a video skips its completed stages (loading
    their outputs from the store), so a finished video costs no media work and
    no provider call. A failed stage fails the video with a `StageError`; the
    stages that do not depend on it still finish and are kept.

    Examples:
        ```python
        store = vp.open_store("sqlite:///videos.db")
        pipeline = vp.Pipeline.default(store=store, data_dir="data")
        result = await pipeline.run("talk.mp4")
        ```

    Args:
        stages: The stages, in any order.
        store: Where results and stage completions are recorded. The embeddings
            stage also saves vectors there: it needs a store that is also
            [`Vectors`][videopipe.storage.Vectors], as every `Store` is.
        provider: The AI provider for the AI stages, if any.
        data_dir: Root of the file layout; defaults to `settings.data_dir`.
        settings: Configuration; defaults to `Settings()` (the environment).
        budget_usd: The most the AI stages may spend, in US dollars, across
            every video this pipeline runs; `None` for no limit. A stage whose
            estimated cost would pass it fails with `BudgetExceeded` before any
            provider call (see `budget`).

    Raises:
        ConfigurationError: Two stages share a name, a stage requires one that
            is not in the pipeline, or the requirements form a cycle.

    Note:
        Added in 0.1.0.
    """

    def __init__(
        self,
        stages: Iterable[Stage],
        *,
        store: Results,
        provider: Provider | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        settings: Settings | None = None,
        budget_usd: float | None = None,
    ) -> None:
        self.settings = settings if settings is not None else Settings()
        self.stages: tuple[Stage, ...] = tuple(order_stages(list(stages)))
        self.store = store
        self.provider = provider
        root = data_dir if data_dir is not None else self.settings.data_dir
        self.data_dir: Path | str = str(root) if is_url(root) else local_path(root)
        """Root of the file layout: a local directory, or a bucket URL (`s3://bucket/prefix`)."""
        self._scratch: tuple[object, Scratch] | None = None
        self.budget: Budget = Budget(budget_usd)
        """The spending budget shared by this pipeline's runs (and those of `add()`, ...)."""
        self._owns_provider = False
        # One run per video at a time in this process: a second run of a running video
        # (two copies of one file in a batch) waits for it, then resumes, paying nothing twice.
        self._runs: dict[str, tuple[anyio.Lock, list[int]]] = {}
        # And across processes, through the store's leases (`RunLeases`), under this name.
        self._owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

    @property
    def budget_usd(self) -> float | None:
        """The spending limit in US dollars, or `None`; set it higher to resume stopped videos."""
        return self.budget.limit_usd

    @budget_usd.setter
    def budget_usd(self, value: float | None) -> None:
        Budget(value)  # validates
        self.budget.limit_usd = value

    @classmethod
    def default(
        cls,
        *,
        store: Results,
        provider: Provider | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        settings: Settings | None = None,
        budget_usd: float | None = None,
    ) -> Self:
        """The default pipeline: normalize, transcribe, scenes, frames, vision, embeddings.

        Without `provider`, one is chosen from the settings (see
        [`default_provider`][videopipe.default_provider]): `OpenAIProvider`
        when `OPENAI_API_KEY` or `OPENAI_BASE_URL` is set; otherwise
        `LocalProvider` when the `local` extra is installed; otherwise none,
        and the AI stages are skipped with a one-line hint.

        Args:
            store: Where results and vectors are recorded: any
                [`Store`][videopipe.storage.Store] (the embeddings stage needs
                [`Vectors`][videopipe.storage.Vectors] as well as `Results`).
            provider: The AI provider.
            data_dir: Root of the file layout.
            settings: Configuration.
            budget_usd: The most the AI stages may spend, in US dollars.

        Returns:
            The pipeline.
        """
        settings = settings if settings is not None else Settings()
        chosen = provider if provider is not None else default_provider(settings)
        pipeline = cls(
            default_stages(),
            store=store,
            provider=chosen,
            data_dir=data_dir,
            settings=settings,
            budget_usd=budget_usd,
        )
        pipeline._owns_provider = provider is None and chosen is not None
        return pipeline

    async def aclose(self) -> None:
        """Release the provider's connections if this pipeline chose the provider itself.

        `Pipeline.default()` without `provider=` chooses one from the settings;
        that one is this pipeline's to close. A provider passed in is never
        closed: it belongs to the caller. The store is never closed either.
        The pipeline stays usable (a provider opens new connections when
        needed). Also `async with pipeline: ...`.

        Note:
            Added in 0.2.0.
        """
        if self._owns_provider and self.provider is not None:
            await self.provider.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        names = ", ".join(s.name for s in self.stages)
        return f"Pipeline([{names}], store={self.store!r})"

    def _with(self, stages: Iterable[Stage]) -> Self:
        pipeline = type(self)(
            stages,
            store=self.store,
            provider=self.provider,
            data_dir=self.data_dir,
            settings=self.settings,
        )
        pipeline.budget = self.budget
        return pipeline

    def add(self, stage: Stage) -> Self:
        """A new pipeline with `stage` added."""
        return self._with([*self.stages, stage])

    def remove(self, name: str) -> Self:
        """A new pipeline without the stage `name` (and fails if another stage requires it)."""
        if name not in {s.name for s in self.stages}:
            raise ConfigurationError(f"no stage named {name!r} in {self!r}")
        return self._with(s for s in self.stages if s.name != name)

    def replace(self, stage: Stage) -> Self:
        """A new pipeline with the stage of the same name replaced by `stage`."""
        if stage.name not in {s.name for s in self.stages}:
            raise ConfigurationError(f"no stage named {stage.name!r} to replace in {self!r}")
        return self._with(stage if s.name == stage.name else s for s in self.stages)

    def paths(self, video_id: str) -> VideoPaths:
        """The file layout of a video under this pipeline's `data_dir`.

        With a bucket as `data_dir`, `remote` is its URL and `root` the local
        scratch directory (each stage stages its files in a directory of its own).
        """
        video_id = validate_id(video_id, what="video id")
        if isinstance(self.data_dir, str):
            return VideoPaths(self.settings.scratch_dir, video_id, remote=self.data_dir)
        return VideoPaths(self.data_dir, video_id)

    def scratch(self) -> Scratch:
        """The scratch area of the running event loop (`SCRATCH_DIR`, `SCRATCH_MAX_MB`)."""
        token = anyio.lowlevel.current_token()
        if self._scratch is None or self._scratch[0] != token:
            space = Scratch(self.settings.scratch_dir, self.settings.scratch_max_mb * 2**20)
            self._scratch = (token, space)
        return self._scratch[1]

    async def estimate(self, sources: Iterable[str | os.PathLike[str]]) -> Estimate:
        """What running `sources` through this pipeline is expected to cost, without running it.

        Each file is probed locally (no provider call, no media work) and the
        AI stages' calls are counted from its duration:

        - transcription: one request per chunk of at most 25 MB of 16 kHz mono
          16-bit WAV (about 13 minutes), billed per audio minute;
        - vision: one call per unique frame, using the frames or scenes already
          stored for the video, otherwise **assuming one scene every 5 seconds**;
          each call about 85 image + 100 prompt input tokens and 80 output tokens
          (a low-detail image);
        - embeddings: one request per 2,048 texts (a transcript segment every 5 s
          plus one caption per frame), with about 2.5 spoken words a second at
          1.3 tokens a word plus 80 tokens a caption.

        Costs use the provider's `price(model)` (see `PRICES`); a provider without
        prices, or no provider, costs 0. Stages already completed for a video are
        counted as free, because a run does not redo them. Files that cannot be
        probed are reported with their error instead of failing the estimate.

        Args:
            sources: Paths of video files.

        Returns:
            One `ItemEstimate` per source, in order, and the totals.

        Examples:
            ```python
            estimate = await pipeline.estimate(["talk.mp4"])
            print(estimate.table())
            print(f"${estimate.cost_usd:.2f}")
            ```

        Note:
            Added in 0.1.0.
        """
        return await estimate(sources, stages=self.stages, store=self.store, provider=self.provider)

    async def register(
        self,
        source: str | os.PathLike[str] | Video,
        *,
        video_id: str | None = None,
        title: str | None = None,
    ) -> Video:
        """Record a video in the store (pending) without processing it, and return it.

        The ID is `video_id` when given, else derived from the file's content.
        Registering the same file twice returns the same video. A `title` is
        stored with it (a later registration without one keeps it).

        Raises:
            InputNotFound: No such file.
            EmptyInput: The file is empty.
            ConfigurationError: `video_id` is not a safe ID, or `title` is too long.
        """
        async with self._fetching() as inputs:
            return await self._register(source, video_id=video_id, title=title, inputs=inputs)

    @asynccontextmanager
    async def _fetching(self) -> AsyncIterator[RunInputs]:
        """Where a run keeps the local copy of a remote input (removed when the run ends)."""
        async with contextlib.AsyncExitStack() as stack:
            yield RunInputs(self.scratch(), self.settings.storage_options, stack)

    async def _register(
        self,
        source: str | os.PathLike[str] | Video,
        *,
        video_id: str | None,
        title: str | None,
        inputs: RunInputs,
    ) -> Video:
        title = clean_title(title)
        if isinstance(source, Video):
            if title is not None:
                source = source.model_copy(update={"title": title})
            return await self.store.upsert_video(source)
        if is_url(source):
            assert isinstance(source, str)
            path = source
            fetched = await inputs.fetch(source)  # the one read: hashed as it downloads
            if video_id is not None:
                validate_id(video_id, what="video id")
            else:
                video_id = fetched
        elif video_id is not None:
            validate_id(video_id, what="video id")
            await check_input(source)
            path = str(await anyio.Path(source).absolute())
        else:
            video_id = await video_id_for(source)
            path = str(await anyio.Path(source).absolute())
        try:
            existing = await self.store.get_video(video_id)
        except NotFound:
            return await self.store.upsert_video(
                Video(id=video_id, original_path=path, title=title)
            )
        update: dict[str, str] = {}
        if existing.original_path != path and not await _exists(
            existing.original_path, self.settings
        ):
            update["original_path"] = path
        if title is not None and title != existing.title:
            update["title"] = title
        if update:
            existing = await self.store.upsert_video(existing.model_copy(update=update))
        return existing

    async def run(
        self,
        source: str | os.PathLike[str] | Video,
        *,
        video_id: str | None = None,
        title: str | None = None,
        force: bool | Iterable[str] = False,
        job_id: str | None = None,
        lease: float | None = None,
        progress: ProgressListener | None = None,
    ) -> VideoResult:
        """Run one video through the pipeline.

        Args:
            source: A video file's path, or a `Video` already in the store.
            video_id: The ID to give a new video; by default derived from the
                file's content, so the same file is the same video.
            title: What search hits and reports call the video (by default its
                file name); stored with it, and kept by later runs without one.
            force: Redo completed stages: `True` for all, or a set of names
                (the stages that require them are redone too).
            job_id: The queue job this run belongs to, for usage accounting.
            lease: Seconds this run's hold on the video lasts in the store
                unless renewed, when the store keeps leases (`RunLeases`):
                another process given the same video waits for this run, and
                waits at most this long after this process dies. Defaults to
                `RUN_LEASE_SEC`; a `Worker` passes its job lease.
            progress: Called on the event loop with a
                [`RunProgress`][videopipe.RunProgress] when a stage starts or
                ends and when a running stage moves by 1 % (stages report in
                media seconds or items). Inside `process_batch` the batch's
                progress gets it without this argument. Either way, each running
                stage's progress is also recorded in its stage run's
                `detail["progress"]`, for `videopipe status`. A listener that
                raises is logged and not called again for this run.

        Returns:
            The video's result.

        Raises:
            StageError: A stage failed; `.stage` names it, the cause is in
                `__cause__`, and `.result` holds the partial `VideoResult`.
            MediaError: The input file is missing or empty.
        """
        started = time.perf_counter()
        async with self._fetching() as inputs:
            video = await self._register(source, video_id=video_id, title=title, inputs=inputs)
            async with self._one_run(video.id):
                if not isinstance(self.store, RunLeases):
                    return await execute(
                        self,
                        video,
                        force=force,
                        job_id=job_id,
                        started=started,
                        progress=progress,
                        prefetched=inputs,
                    )
                ttl = lease if lease is not None else self.settings.run_lease_sec
                return await self._leased(
                    self.store,
                    video,
                    ttl=ttl,
                    force=force,
                    job_id=job_id,
                    started=started,
                    progress=progress,
                    prefetched=inputs,
                )

    async def _leased(
        self,
        leases: RunLeases,
        video: Video,
        *,
        ttl: float,
        force: bool | Iterable[str],
        job_id: str | None,
        started: float,
        progress: ProgressListener | None,
        prefetched: RunInputs,
    ) -> VideoResult:
        """Run `video` holding its lease, so that no other process runs it meanwhile.

        Another process's run is waited out: its lease is taken again every
        third of `ttl` while it runs, so it lapses only when that process is
        gone. Then this run finds its completed stages and resumes.
        """
        key = f"video:{video.id}"
        delay = 0.05
        waited = False
        while not await leases.take_lease(key, self._owner, ttl=ttl):
            if not waited:
                waited = True
                logger.info("video %s is being processed elsewhere: waiting for that run", video.id)
            await anyio.sleep(delay)
            delay = min(delay * 2, ttl / 3, 2.0)
        if waited:  # what the other run recorded (its status, its error) is the truth now
            video = await self.store.get_video(video.id)
        error: Exception | None = None
        result: VideoResult | None = None
        try:
            async with anyio.create_task_group() as tg:

                async def keep() -> None:
                    while True:
                        await anyio.sleep(ttl / 3)
                        try:
                            await leases.take_lease(key, self._owner, ttl=ttl)
                        except StorageError as exc:  # the next try may work; the run goes on
                            logger.warning("could not extend the lease of %s: %s", key, exc)

                tg.start_soon(keep)
                try:
                    result = await execute(
                        self,
                        video,
                        force=force,
                        job_id=job_id,
                        started=started,
                        progress=progress,
                        prefetched=prefetched,
                    )
                except Exception as exc:  # raised below, outside the task group
                    error = exc
                finally:
                    tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True), contextlib.suppress(StorageError):
                await leases.drop_lease(key, self._owner)
        if error is not None:
            raise error
        assert result is not None  # execute returned
        return result

    @asynccontextmanager
    async def _one_run(self, video_id: str) -> AsyncIterator[None]:
        """Hold `video_id`'s run: a concurrent run of the same video waits for it."""
        lock, users = self._runs.setdefault(video_id, (anyio.Lock(), [0]))
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if not users[0]:
                del self._runs[video_id]

    def run_blocking(
        self,
        source: str | os.PathLike[str] | Video,
        *,
        video_id: str | None = None,
        title: str | None = None,
        force: bool | Iterable[str] = False,
    ) -> VideoResult:
        """The blocking twin of [`run`][videopipe.Pipeline.run] (works in Jupyter too).

        Each call runs on an event loop of its own; a provider this pipeline
        chose itself has that loop's connections closed before it returns.
        """

        async def call() -> VideoResult:
            try:
                return await self.run(source, video_id=video_id, title=title, force=force)
            finally:
                await self.aclose()

        return run_blocking(call)

    async def run_many(
        self,
        sources: Iterable[str | os.PathLike[str] | Video]
        | AsyncIterable[str | os.PathLike[str] | Video],
        *,
        concurrency: int = 2,
        **options: Any,
    ) -> list[Ok[VideoResult] | Err]:
        """Run many videos, at most `concurrency` at a time: `process_batch` over `run`.

        Args:
            sources: Paths or videos.
            concurrency: Most videos in flight at once.
            **options: More options of [`process_batch`][videopipe.process_batch]
                (`retry`, `progress`, `stop`, `largest_first`, ...).

        Returns:
            One `Ok(VideoResult)` or `Err(error)` per source, in order.
        """

        async def one(source: str | os.PathLike[str] | Video) -> VideoResult:
            return await self.run(source)

        return await process_batch(sources, one, concurrency=concurrency, **options)


async def _exists(location: str, settings: Settings) -> bool:
    return await anyio.to_thread.run_sync(exists, location, settings.storage_options)
