"""`BlockingStore`: a store's queries from synchronous code, in the shape of httpx's `Client`.

videopipe's stores are async. A script that only wants to read results back
would otherwise write `vp.run_blocking(store.list_scenes, video_id)` for every
query. `BlockingStore` runs one event loop of its own in a worker thread (an
anyio blocking portal) for as long as it is open, and sends each method there:
the store is opened, used and closed on that one loop, so a PostgreSQL pool
(bound to the loop that opened it) works as well as SQLite and memory, and it
works inside Jupyter's running loop too.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from contextlib import AsyncExitStack, ExitStack
from types import TracebackType
from typing import Any, ParamSpec, Self, TypeVar

import anyio.from_thread

from ._exceptions import StoreClosed
from ._models import (
    Embedding,
    EmbeddingKind,
    Frame,
    FrameCaption,
    Scene,
    SearchHit,
    StageRun,
    TranscriptSegment,
    Usage,
    UsageSummary,
    Video,
    VideoStatus,
)
from ._search import search
from ._settings import Settings
from .providers import Provider
from .providers._choose import default_provider
from .storage import Store, open_store

__all__ = ["BlockingStore"]

P = ParamSpec("P")
R = TypeVar("R")


class BlockingStore:
    """Blocking access to a store, for scripts: every query of `Results` and `Vectors`, no `await`.

    Give it a store URL (it opens the store) or a store that has not been used
    on another event loop yet; it owns the store from then on and closes it in
    [`close`][videopipe.BlockingStore.close]. Use it as a context manager, as
    `httpx.Client`:

    ```python
    import videopipe as vp

    with vp.BlockingStore("sqlite:///videos.db") as store:
        for video in store.list_videos():
            for scene in store.list_scenes(video.id):
                print(video.id, scene.idx, scene.t_start, scene.t_end)
    ```

    Each method is the async method of the same name of
    [`Results`][videopipe.storage.Results] or
    [`Vectors`][videopipe.storage.Vectors], run to completion on the store's
    own loop in a worker thread, with the same arguments, result and errors.
    [`search`][videopipe.BlockingStore.search] is
    [`videopipe.search`][videopipe.search] (a text query embedded by
    `provider`, or a vector with its `model`). It also works inside a running
    loop (Jupyter), where top-level `await` on the async store is still the
    better fit. Calls from several threads all run on the store's one loop.

    Args:
        store: A store URL for [`open_store`][videopipe.open_store], or a store.

    Raises:
        ConfigurationError: The URL's scheme is unknown or the URL is malformed.
        MissingDependency: The backend needs an extra that is not installed.

    Note:
        Added in 0.2.0.
    """

    def __init__(self, store: str | Store) -> None:
        self._store: Store = open_store(store) if isinstance(store, str) else store
        self._exit = ExitStack()
        self._portal: anyio.from_thread.BlockingPortal | None = self._exit.enter_context(
            anyio.from_thread.start_blocking_portal()
        )

    @property
    def store(self) -> Store:
        """The async store behind it (use it only from the loop of this wrapper's calls)."""
        return self._store

    def _call(
        self, method: Callable[P, Coroutine[Any, Any, R]], /, *args: P.args, **kwargs: P.kwargs
    ) -> R:
        if self._portal is None:
            raise StoreClosed("this BlockingStore is closed: open a new one")
        result: R = self._portal.call(functools.partial(method, *args, **kwargs))
        return result

    def close(self) -> None:
        """Close the store and stop its event loop; closing twice does nothing."""
        if self._portal is None:
            return
        try:
            self._portal.call(self._store.aclose)
        finally:
            self._portal = None
            self._exit.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._portal is None else "open"
        return f"<BlockingStore {type(self._store).__name__} ({state})>"

    # --- Results: videos and stage runs -------------------------------------------

    def upsert_video(self, video: Video) -> Video:
        """Insert or replace a video; `created_at` of an existing video is kept."""
        return self._call(self._store.upsert_video, video)

    def get_video(self, video_id: str) -> Video:
        """The video with this ID. Raises `NotFound`."""
        return self._call(self._store.get_video, video_id)

    def list_videos(self, *, status: VideoStatus | None = None, limit: int = 100) -> list[Video]:
        """Videos, newest first, optionally only those with `status`."""
        return self._call(self._store.list_videos, status=status, limit=limit)

    def count_videos(self) -> dict[str, int]:
        """Videos per status; every `VideoStatus` is present."""
        return self._call(self._store.count_videos)

    def set_video_status(
        self, video_id: str, status: VideoStatus, *, error: str | None = None
    ) -> None:
        """Move a video to `status`, recording (or clearing) its error. Raises `NotFound`."""
        return self._call(self._store.set_video_status, video_id, status, error=error)

    def record_stage_run(self, run: StageRun) -> None:
        """Insert or replace the run of `run.stage` for `run.video_id`. Raises `NotFound`."""
        return self._call(self._store.record_stage_run, run)

    def get_stage_runs(self, video_id: str) -> dict[str, StageRun]:
        """The latest run of each stage of a video, by stage name."""
        return self._call(self._store.get_stage_runs, video_id)

    # --- Results: stage outputs -----------------------------------------------------

    def save_scenes(self, video_id: str, scenes: Sequence[Scene]) -> None:
        """Replace the video's scenes."""
        return self._call(self._store.save_scenes, video_id, scenes)

    def list_scenes(self, video_id: str) -> list[Scene]:
        """The video's scenes in order."""
        return self._call(self._store.list_scenes, video_id)

    def save_frames(self, video_id: str, frames: Sequence[Frame]) -> None:
        """Replace the video's frames."""
        return self._call(self._store.save_frames, video_id, frames)

    def list_frames(self, video_id: str) -> list[Frame]:
        """The video's frames in order."""
        return self._call(self._store.list_frames, video_id)

    def save_segments(self, video_id: str, segments: Sequence[TranscriptSegment]) -> None:
        """Replace the video's transcript segments."""
        return self._call(self._store.save_segments, video_id, segments)

    def list_segments(self, video_id: str) -> list[TranscriptSegment]:
        """The video's transcript segments in order."""
        return self._call(self._store.list_segments, video_id)

    def save_captions(self, video_id: str, captions: Sequence[FrameCaption]) -> None:
        """Replace the video's frame captions."""
        return self._call(self._store.save_captions, video_id, captions)

    def list_captions(self, video_id: str) -> list[FrameCaption]:
        """The video's captions in frame order."""
        return self._call(self._store.list_captions, video_id)

    # --- Results: cache and usage ---------------------------------------------------

    def get_cached(self, keys: Iterable[str]) -> dict[str, str]:
        """Cached values of these keys (those present)."""
        return self._call(self._store.get_cached, keys)

    def put_cached(self, items: Mapping[str, str]) -> None:
        """Store cached values; an existing key is overwritten."""
        return self._call(self._store.put_cached, items)

    def record_usage(self, usage: Usage) -> None:
        """Append a usage row."""
        return self._call(self._store.record_usage, usage)

    def usage_summary(
        self,
        *,
        video_id: str | None = None,
        job_id: str | None = None,
        batch_id: str | None = None,
    ) -> UsageSummary:
        """Usage added up over a video, a job, a batch, or everything."""
        return self._call(
            self._store.usage_summary, video_id=video_id, job_id=job_id, batch_id=batch_id
        )

    # --- Vectors ------------------------------------------------------------------------

    def save_embeddings(self, embeddings: Sequence[Embedding]) -> None:
        """Upsert embeddings by `(owner_id, model)`. Raises `NotFound` for an unknown video."""
        return self._call(self._store.save_embeddings, embeddings)

    def find_embeddings(self, text_hashes: Iterable[str], *, model: str) -> dict[str, list[float]]:
        """Stored vectors of `model` for these text hashes."""
        return self._call(self._store.find_embeddings, text_hashes, model=model)

    def search(
        self,
        query: str | Sequence[float],
        *,
        provider: Provider | None = None,
        model: str | None = None,
        k: int = 10,
        kinds: Iterable[EmbeddingKind] | None = None,
        video_ids: Iterable[str] | None = None,
        keywords: str | None = None,
        min_score: float | None = None,
    ) -> list[SearchHit]:
        """The `k` segments and captions that best answer `query`, as [`videopipe.search`][videopipe.search].

        A text query is embedded by `provider`; without one, by the provider
        the settings choose (as [`search_blocking`][videopipe.search_blocking]
        does), which must be the one that indexed the videos. A vector query
        needs the `model` that made it.
        """  # noqa: E501 (a cross-reference is one word)

        async def call() -> list[SearchHit]:
            async with AsyncExitStack() as stack:
                chosen = provider
                if chosen is None and isinstance(query, str):
                    chosen = default_provider(Settings())
                    if chosen is not None:  # made here, for this call
                        stack.push_async_callback(chosen.aclose)
                return await search(
                    self._store, query, provider=chosen, model=model, k=k, kinds=kinds,
                    video_ids=video_ids, keywords=keywords, min_score=min_score,
                )  # fmt: skip

        return self._call(call)
