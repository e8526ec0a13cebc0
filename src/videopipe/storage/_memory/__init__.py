"""`MemoryStore`: everything in plain Python structures, for tests, notebooks and one-off runs."""

from __future__ import annotations

from ._buckets import MemoryBuckets
from ._leases import MemoryLeases
from ._queue import MemoryQueue
from ._results import MemoryResults
from ._vectors import MemoryVectors

__all__ = ["MemoryStore"]


class MemoryStore(MemoryResults, MemoryVectors, MemoryQueue, MemoryBuckets, MemoryLeases):
    """A [`Store`][videopipe.storage.Store] that keeps everything in memory.

    Nothing survives the process. Every method runs without awaiting in the
    middle, so concurrent tasks on one event loop see each operation as atomic.

    Examples:
        ```python
        async with vp.storage.MemoryStore() as store:
            await store.upsert_video(vp.Video(id="talk", original_path="talk.mp4"))
        ```

    Note:
        Added in 0.1.0.
    """
