"""`PostgresStore`: the scale-out backend, shared by many workers on many machines.

psycopg 3 is an optional dependency (`pip install 'videopipe[postgres]'`): this
module imports it inside functions, after `PostgresStore()` has checked it is
installed, so `import videopipe` works without it.
"""

from __future__ import annotations

from .._coalescer import Coalescer
from ._buckets import PostgresBuckets
from ._leases import PostgresLeases
from ._queue import PostgresQueue
from ._results import PostgresResults
from ._vectors import PostgresVectors

__all__ = ["PostgresStore"]


class PostgresStore(
    PostgresResults, PostgresVectors, PostgresQueue, PostgresBuckets, PostgresLeases
):
    """A [`Store`][videopipe.storage.Store] in PostgreSQL, for many workers on many machines.

    Uses psycopg 3 with an async connection pool, opened on first use inside
    the running event loop. The schema is created and upgraded on first use,
    under an advisory lock, so workers starting together do not race.

    The job queue claims with `FOR UPDATE SKIP LOCKED` in one round trip, along
    a partial index of runnable jobs, so claims stay fast however many finished
    jobs pile up. `enqueue` notifies `videopipe_jobs`, which
    [`wait_for_jobs`][videopipe.storage.Store.wait_for_jobs] listens to.
    Times come from the database's clock, which all workers share.

    When the connection drops (the server restarts, an administrator ends the
    session), an operation is retried until the database answers again, for up
    to `retry_for` seconds.

    Embeddings are `real[]` columns. When the server has the pgvector
    extension, the store also keeps each vector as a pgvector `vector` and
    builds an HNSW index per model and dimension, and searches a model with
    many vectors through it; the hits' scores are exact cosines (see the
    storage guide). Without pgvector, a model with 20,000 vectors or more is
    kept in an inverted-file index in its own tables (k-means lists, as on
    SQLite) and a search reads only the lists nearest its query, each packed
    into one binary string; smaller models, and searches filtered to some
    videos, are scanned exactly with numpy.

    Args:
        url: A libpq URL, `postgresql://user:password@host:5432/dbname`
            (`postgres://` also works). Add `?options=-csearch_path%3Dvideopipe`
            to keep videopipe's tables in their own schema.
        min_size: Connections the pool keeps open.
        max_size: Connections the pool may open.
        retry_for: Seconds to keep retrying an operation whose connection was
            lost before raising `StorageError`.

    Raises:
        MissingDependency: psycopg is not installed.
        ConfigurationError: `url` is not a PostgreSQL URL.

    Note:
        Added in 0.1.0.
    """

    def __init__(
        self, url: str, *, min_size: int = 1, max_size: int = 10, retry_for: float = 30.0
    ) -> None:
        super().__init__(url, min_size=min_size, max_size=max_size, retry_for=retry_for)
        # Completions arriving together share one statement and one commit.
        self._complete = Coalescer(self._complete_many)
