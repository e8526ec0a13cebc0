"""Search a store's transcripts and captions by meaning."""

from __future__ import annotations

from collections.abc import Iterable

from ._models import EmbeddingKind, SearchHit
from .providers import Provider
from .storage import Store

__all__ = ["search", "search_blocking"]


async def search(
    store: Store,
    query: str,
    *,
    provider: Provider,
    k: int = 10,
    kinds: Iterable[EmbeddingKind] | None = None,
    video_ids: Iterable[str] | None = None,
) -> list[SearchHit]:
    """The `k` transcript segments and frame captions that best answer `query`.

    The same as `await store.search(query, provider=provider, ...)`. The query
    is embedded with `provider`'s embedding model, and only vectors made by that
    same model are searched, so results never mix models. Search is hybrid: a
    hit's score is its cosine similarity plus up to 0.5 for the query words its
    text holds verbatim (`SearchHit.matched`), so an exact product name, number
    or code shown on screen is found even when the embedding misses it.

    Examples:
        ```python
        hits = await vp.search(store, "who mentions the budget?", provider=provider, k=5)
        for hit in hits:
            print(f"{hit.video_id} {hit.t_start:.1f}s {hit.text}")
        ```

    Args:
        store: Where the videos were indexed.
        query: What to look for, in words.
        provider: Embeds the query; must be the provider (and model) that indexed the videos.
        k: How many hits.
        kinds: Only `"segment"` or `"caption"` hits.
        video_ids: Only these videos.

    Returns:
        Hits, best first, each with its video, timestamps, text and score.

    Raises:
        ConfigurationError: The query vector's dimension differs from the stored ones.

    Note:
        Added in 0.1.0.
    """
    return await store.search(query, provider=provider, k=k, kinds=kinds, video_ids=video_ids)


def search_blocking(
    store_url: str,
    query: str,
    *,
    provider: Provider,
    k: int = 10,
    kinds: Iterable[EmbeddingKind] | None = None,
    video_ids: Iterable[str] | None = None,
) -> list[SearchHit]:
    """The blocking twin of [`search`][videopipe.search], for scripts and notebooks.

    It opens the store at `store_url` and closes it again inside the call, so
    it works whatever event loop is running.
    """
    from ._sync import run_blocking
    from .storage import open_store

    async def call() -> list[SearchHit]:
        async with open_store(store_url) as store:
            return await search(
                store, query, provider=provider, k=k, kinds=kinds, video_ids=video_ids
            )

    return run_blocking(call)
