"""`SQLiteStore`: one file, no server; the embedded default, shared safely by several processes."""

from __future__ import annotations

import os

from .._coalescer import Coalescer
from ._buckets import SQLiteBuckets
from ._leases import SQLiteLeases
from ._queue import SQLiteQueue
from ._results import SQLiteResults
from ._vectors import SQLiteVectors

__all__ = ["SQLiteStore"]


class SQLiteStore(SQLiteResults, SQLiteVectors, SQLiteQueue, SQLiteBuckets, SQLiteLeases):
    """A [`Store`][videopipe.storage.Store] in one SQLite file.

    The standard library's `sqlite3` runs on a worker thread, never on the event
    loop: each store owns one connection, and its calls run one at a time on
    that thread. The file is in WAL mode, so readers never block the writer,
    and every write takes the database's write lock up front (`BEGIN
    IMMEDIATE`): several processes can share one file, and no two of them ever
    claim the same job. The schema is created and upgraded on first use.

    Embeddings are stored as float32 blobs. A model with fewer than 20,000
    vectors is searched exactly (cosine similarity with numpy, in chunks); from
    then on its vectors are also kept in an inverted-file index in the same
    file (k-means lists, see the Search guide), and a search reads only the
    lists nearest its query. A search filtered to some videos reads exactly
    their vectors, through an index.

    Args:
        path: The database file, created if missing; `":memory:"` for a
            private, temporary database.
        busy_timeout: Seconds a write waits for another process's write to
            finish before failing with `StorageError`.

    Examples:
        ```python
        async with vp.storage.SQLiteStore("videos.db") as store:
            await store.upsert_video(vp.Video(id="talk", original_path="talk.mp4"))
        ```

    Note:
        Added in 0.1.0.
    """

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 30.0) -> None:
        super().__init__(path, busy_timeout=busy_timeout)
        # Completions arriving together share one write transaction.
        self._complete = Coalescer(self._complete_many)
