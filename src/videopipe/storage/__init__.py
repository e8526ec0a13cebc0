"""Where videopipe persists its results, its vectors, its job queue, rate buckets and leases.

Five protocols, each used by the part of videopipe that needs it:
[`Results`][videopipe.storage.Results] by the pipeline,
[`Vectors`][videopipe.storage.Vectors] by search,
[`JobQueue`][videopipe.storage.JobQueue] by the worker,
[`RateBuckets`][videopipe.storage.RateBuckets] by the provider rate limits, and
[`RunLeases`][videopipe.storage.RunLeases] by the pipeline, for one run of a video at a time;
[`Store`][videopipe.storage.Store] is their union, which every backend implements.

```python
store = vp.storage.open_store("sqlite:///videos.db")  # or "memory://", "postgresql://…"
```
"""

from __future__ import annotations

from collections.abc import Callable

from .._exceptions import ConfigurationError
from .._imports import public as _public
from .._secrets import redact
from ._buckets import RateBuckets
from ._leases import RunLeases
from ._memory import MemoryStore
from ._postgres import PostgresStore
from ._queue import DEFAULT_LEASE, JobQueue
from ._results import Results
from ._sqlite import SQLiteStore
from ._store import Store
from ._vectors import Vectors

__all__ = [
    "DEFAULT_LEASE",
    "JobQueue",
    "MemoryStore",
    "PostgresStore",
    "RateBuckets",
    "Results",
    "RunLeases",
    "SQLiteStore",
    "Store",
    "Vectors",
    "open_store",
]


def _memory(url: str) -> Store:
    if url not in ("memory://", "memory:"):
        raise ConfigurationError(f"a memory store takes no path: use 'memory://', not {url!r}")
    return MemoryStore()


def _sqlite(url: str) -> Store:
    # sqlite:///relative.db, sqlite:////absolute/path.db, sqlite:///:memory: (as SQLAlchemy)
    prefix = "sqlite:///"
    if not url.lower().startswith(prefix) or len(url) == len(prefix):
        raise ConfigurationError(
            f"a SQLite URL names a file: 'sqlite:///videos.db' (relative to the working "
            f"directory) or 'sqlite:////abs/path/videos.db', not {url!r}"
        )
    return SQLiteStore(url[len(prefix) :])


def _postgres(url: str) -> Store:
    return PostgresStore(url)


# Scheme -> factory, like PySceneDetect's AVAILABLE_BACKENDS. Backends with
# optional dependencies import them when the store is created, not here.
BACKENDS: dict[str, Callable[[str], Store]] = {
    "memory": _memory,
    "postgres": _postgres,
    "postgresql": _postgres,
    "sqlite": _sqlite,
}


def open_store(url: str) -> Store:
    """Open the store at `url`, choosing the backend from its scheme.

    | URL | backend |
    | --- | --- |
    | `memory://` | [`MemoryStore`][videopipe.storage.MemoryStore] |
    | `sqlite:///videos.db` (relative to the working directory), `sqlite:////abs/videos.db`, `sqlite:///:memory:` | [`SQLiteStore`][videopipe.storage.SQLiteStore] |
    | `postgresql://user:password@host:5432/dbname` (or `postgres://…`) | [`PostgresStore`][videopipe.storage.PostgresStore], needs `pip install 'videopipe[postgres]'` |

    The store connects lazily, on first use; close it with `await store.aclose()`
    or use it as `async with open_store(url) as store:`.

    Args:
        url: Where the store lives.

    Returns:
        The store.

    Raises:
        ConfigurationError: The scheme is unknown (the message lists the valid
            ones), or the URL is malformed for its backend.
        MissingDependency: The backend needs an extra that is not installed.

    Note:
        Added in 0.1.0.
    """  # noqa: E501 (a table row is one line)
    scheme = url.split(":", 1)[0].lower() if ":" in url else ""
    try:
        factory = BACKENDS[scheme]
    except KeyError:
        valid = ", ".join(f"'{s}://'" for s in sorted(BACKENDS))
        raise ConfigurationError(
            f"unknown store URL {redact(url)!r}: the scheme must be one of {valid}"
        ) from None
    return factory(url)


_public(globals(), __name__)
