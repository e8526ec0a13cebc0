"""The `Vectors` protocol: embeddings, and search over them and the text they embed."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol, runtime_checkable

from .._models import Embedding, EmbeddingKind, SearchHit

__all__ = ["Vectors"]


# Runtime-checkable: the embeddings stage asks whether the pipeline's store keeps vectors.
@runtime_checkable
class Vectors(Protocol):
    """**Protocol:** embeddings per model and dimension, and hybrid search over them.

    What [`videopipe.search`][videopipe.search] depends on, and what the
    embeddings stage writes to. A store never embeds text: it ranks a vector
    that the caller made. Every backend of [`Store`][videopipe.storage.Store]
    implements it.

    Note:
        Added in 0.1.0.
    """

    async def save_embeddings(self, embeddings: Sequence[Embedding]) -> None:
        """Upsert embeddings by `(owner_id, model)`. Raises `NotFound` for an unknown video."""
        ...

    async def find_embeddings(
        self, text_hashes: Iterable[str], *, model: str
    ) -> dict[str, list[float]]:
        """Stored vectors of `model` for these text hashes, so identical texts are embedded once."""
        ...

    async def search(
        self,
        vector: Sequence[float],
        *,
        model: str,
        k: int = 10,
        kinds: Iterable[EmbeddingKind] | None = None,
        video_ids: Iterable[str] | None = None,
        keywords: str | None = None,
        min_score: float = 0.0,
    ) -> list[SearchHit]:
        """The `k` segments and captions that best answer `vector` and `keywords`, best first.

        `vector` was made by the embedding model `model`. Only vectors of that
        one model are searched (a store can hold several models' vectors side by
        side), and only those whose segment or caption still exists. A store
        never embeds text: [`videopipe.search`][videopipe.search] embeds a text
        query with the provider, then calls this.

        Two rankings are fused: the nearest vectors, and the engine's full-text
        index over `keywords` (FTS5 with BM25 on SQLite, a `tsvector` GIN index on
        PostgreSQL, a scan in memory), with `websearch_to_tsquery`'s syntax:
        `"quoted words"` must appear as a phrase, `-word` excludes. Each side brings
        its best candidates; each candidate scores `0.6 x cosine + 0.4 x the share
        of the query's terms its text holds` (the cosine alone without
        `keywords`), in [0, 1]. `SearchHit.matched` lists the terms found. Hits
        under `min_score` are left out, and adjacent hits with the same text in
        one video merge into one spanning them. Each hit carries its video's file,
        title and a link to the moment.

        Raises:
            ConfigurationError: `vector`'s dimension differs from the stored
                vectors of `model`.
        """
        ...
