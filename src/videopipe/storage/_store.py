"""The `Store` protocol: the union of the five storage protocols."""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self

from ._buckets import RateBuckets
from ._leases import RunLeases
from ._queue import JobQueue
from ._results import Results
from ._vectors import Vectors

__all__ = ["Store"]


class Store(Results, Vectors, JobQueue, RateBuckets, RunLeases, Protocol):
    r"""**Protocol:** where videopipe persists videos, stage outputs, vectors and the job queue.

    The union of the protocols each part of videopipe depends on:
    [`Results`][videopipe.storage.Results] (the pipeline),
    [`Vectors`][videopipe.storage.Vectors] (search),
    [`JobQueue`][videopipe.storage.JobQueue] (the worker) and
    [`RateBuckets`][videopipe.storage.RateBuckets] (the provider rate limits
    every worker shares) and [`RunLeases`][videopipe.storage.RunLeases] (one
    run of a video at a time, across processes), plus a URL and a lifecycle.
    Every backend implements all of it.

    Every backend stores the same values. File paths are kept byte for byte,
    even when they are not valid UTF-8 (`os.fsdecode`); error messages have NUL
    characters and lone surrogates escaped (`\x00`, `\udcff`) so that recording
    a failure never fails; any other text with a NUL or a lone surrogate, a NaN,
    or a `detail` that is not JSON is rejected with `ConfigurationError` before
    anything is written. Backends: [`MemoryStore`][videopipe.storage.MemoryStore],
    [`SQLiteStore`][videopipe.storage.SQLiteStore] and
    [`PostgresStore`][videopipe.storage.PostgresStore], all behind
    [`open_store`][videopipe.storage.open_store].

    Note:
        Added in 0.1.0.
    """

    url: str
    """Where this store lives, with any password redacted."""

    async def aclose(self) -> None:
        """Close the store; later calls raise `StoreClosed`."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...
