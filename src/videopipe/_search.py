"""Search a store's transcripts and captions by meaning and by words: `search`.

Search sits above storage: it embeds a text query with the provider that
indexed the videos, then asks the store (`Vectors.search`) to rank its vectors
and texts. A store never embeds anything or chooses a provider.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AsyncExitStack

import anyio.to_thread

from ._exceptions import ConfigurationError, MissingDependency, ObjectStoreError
from ._locations import is_bucket_url, presign
from ._models import EmbeddingKind, SearchHit
from ._settings import Settings
from ._sync import run_blocking
from .providers import Provider
from .providers._choose import default_provider
from .storage import Vectors, open_store

__all__ = ["DEFAULT_MIN_SCORE", "search", "search_blocking"]

#: The score under which a text query's hit is noise: measured on the labeled set of
#: `benchmarks/bench_search.py` with the `LocalProvider` (see the Search guide).
DEFAULT_MIN_SCORE = 0.35


def check_text(text: str, *, what: str) -> None:
    """Refuse text that cannot be encoded as UTF-8 (undecodable bytes from a command line).

    Raises:
        ConfigurationError: The text holds lone surrogates.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ConfigurationError(
            f"the {what} is not valid UTF-8 (an undecodable byte at position {exc.start}): "
            "check the terminal's encoding"
        ) from None


async def search(
    store: Vectors,
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
    """The `k` transcript segments and frame captions that best answer `query`.

    A text query is embedded with `provider`'s embedding model, and only
    vectors made by that same model are searched, so results never mix models.
    Search is hybrid: the store fuses its nearest vectors with its full-text
    index (SQLite FTS5, PostgreSQL `tsvector`), so an exact number, product name
    or code (`slide 7`, `Q3`, `ZX-4471`) is found even when the embedding cannot
    tell it apart. The query reads as a web search: `"quoted words"` must appear
    as a phrase, `-word` leaves out texts holding it. A hit's score is in
    [0, 1]: `0.6 x cosine similarity + 0.4 x the share of the query's terms its
    text holds` (see `SearchHit.matched`), each term counting more the fewer
    candidates hold it, and never less than `0.9 x cosine similarity`; hits under
    `min_score` are left out, so a question nothing answers returns no hits.
    Adjacent hits with the same text in one video come back as one. Each hit
    names its file (`hit.file`, `hit.title`) and links to the moment
    (`hit.link`). A vector query needs the `model` that made it, and `keywords`
    for the full-text part.

    Examples:
        ```python
        hits = await vp.search(store, "who mentions the budget?", provider=provider, k=5)
        for hit in hits:
            print(f"{hit.title} {hit.t_start:.1f}s {hit.text}  {hit.link}")
        ```

    Args:
        store: Where the videos were indexed.
        query: What to look for, in words; or a vector made by `model`.
        provider: Embeds a text query; must be the provider (and model) that indexed
            the videos.
        model: The embedding model that made a vector `query`.
        k: How many hits.
        kinds: Only `"segment"` or `"caption"` hits.
        video_ids: Only these videos.
        keywords: The words for the full-text index; a text query is its own keywords.
        min_score: Leave out hits scoring less; default `DEFAULT_MIN_SCORE` (0.35) for
            a query with words, 0 for a vector alone (its cosine similarity).

    Returns:
        Hits, best first, each with its video's file, title, timestamps, a link to
        the moment, text and score. The link to a video in a bucket (`s3://`,
        `gs://`, `az://`) is presigned, valid for `PRESIGN_EXPIRY_SEC`.

    Raises:
        ConfigurationError: A text query that is not valid UTF-8 (undecodable
            bytes from a command line), a text query without `provider`, a vector query
            without `model`, a query vector whose dimension differs from the
            stored ones, or a `min_score` outside [0, 1].

    Note:
        Added in 0.1.0.
    """
    if min_score is not None and not 0.0 <= min_score <= 1.0:
        raise ConfigurationError(
            f"min_score={min_score!r} is outside [0, 1]: scores run from 0 (no match) to 1"
        )
    if isinstance(query, str):
        check_text(query, what="search query")
        if provider is None:
            raise ConfigurationError(
                "searching by text needs provider=: the provider (and embedding model) "
                "that indexed the videos embeds the query (search_blocking uses the "
                "configured one: OPENAI_API_KEY or the local extra)"
            )
        if model is not None and model != provider.embedding_model:
            raise ConfigurationError(
                f"model={model!r} differs from the provider's embedding model "
                f"{provider.embedding_model!r}: leave model out for a text query"
            )
        embedded = await provider.embed([query])
        vector, model = embedded.vectors[0], provider.embedding_model
        keywords = query if keywords is None else keywords
    elif model is None:
        raise ConfigurationError(
            "searching by vector needs model=: the embedding model that made the vector"
        )
    else:
        vector = list(query)
    if min_score is None:
        min_score = DEFAULT_MIN_SCORE if keywords else 0.0
    hits = await store.search(
        vector,
        model=model,
        k=k,
        kinds=kinds,
        video_ids=video_ids,
        keywords=keywords,
        min_score=min_score,
    )
    if any(hit.file is not None and is_bucket_url(hit.file) for hit in hits):
        hits = await anyio.to_thread.run_sync(_presigned, hits, Settings())
    return hits


def _presigned(hits: list[SearchHit], settings: Settings) -> list[SearchHit]:
    """Hits whose video is in a bucket, with a presigned `link` (`PRESIGN_EXPIRY_SEC`).

    A store that cannot sign (no credentials here) leaves the `s3://` link as it is.
    """
    signed: dict[str, str | None] = {}
    out = []
    for hit in hits:
        if hit.file is None or not is_bucket_url(hit.file) or hit.link is None:
            out.append(hit)
            continue
        if hit.file not in signed:
            try:
                signed[hit.file] = presign(
                    hit.file, settings.storage_options, expires_sec=settings.presign_expiry_sec
                )
            except (ObjectStoreError, MissingDependency):
                signed[hit.file] = None
        url = signed[hit.file]
        if url is not None:
            fragment = hit.link.partition("#")[2]
            hit = hit.model_copy(update={"link": f"{url}#{fragment}" if fragment else url})
        out.append(hit)
    return out


def search_blocking(
    store: str | Vectors,
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
    """The blocking twin of [`search`][videopipe.search], for scripts and notebooks.

    Given a URL, it opens the store and closes it again inside the call, so it
    works whatever event loop is running; a store object must be one usable
    from any loop (`memory://` and SQLite are; a PostgreSQL pool belongs to the
    loop that opened it: pass its URL). A text query without `provider` is
    embedded by the provider the settings choose (`OpenAIProvider` with a key,
    else `LocalProvider`), which must be the one that indexed the videos; that
    provider is closed again before the call returns.

    Examples:
        ```python
        hits = vp.search_blocking("sqlite:///videos.db", "who mentions the budget?", k=5)
        ```

    Note:
        Added in 0.1.0.
    """

    async def call() -> list[SearchHit]:
        async with AsyncExitStack() as stack:
            target = (
                await stack.enter_async_context(open_store(store))
                if isinstance(store, str)
                else store
            )
            chosen = provider
            if chosen is None and isinstance(query, str):
                chosen = default_provider(Settings())
                if chosen is not None:  # made here, for this call
                    stack.push_async_callback(chosen.aclose)
            return await search(
                target, query, provider=chosen, model=model, k=k, kinds=kinds,
                video_ids=video_ids, keywords=keywords, min_score=min_score,
            )  # fmt: skip

    return run_blocking(call)
