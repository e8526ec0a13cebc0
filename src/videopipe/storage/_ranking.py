"""Search ranking every backend shares: cosine similarity, keywords, hits."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from .._exceptions import ConfigurationError
from .._models import SearchHit

__all__ = [
    "KEYWORD_WEIGHT",
    "caption_hit",
    "check_dimension",
    "cosine_top_k",
    "keyword_matches",
    "keyword_terms",
    "rank_hits",
    "scored_hits",
    "vector_blob",
    "vector_from_blob",
]


def check_dimension(query: int, stored: Iterable[int], *, model: str) -> None:
    """Raise `ConfigurationError` when a query vector cannot be compared with stored ones."""
    for dim in stored:
        if dim != query:
            raise ConfigurationError(
                f"the query vector has {query} dimensions but the stored {model!r} vectors have "
                f"{dim}: embed the query with the same model (and dimensions) as the videos"
            )


def cosine_top_k(
    query: Sequence[float], matrix: npt.NDArray[np.float32], k: int
) -> list[tuple[int, float]]:
    """Indices and cosine similarities of the `k` rows of `matrix` nearest `query`, best first."""
    if len(matrix) == 0 or k <= 0:
        return []
    scores = _cosine(query, matrix)
    return [(int(i), float(scores[i])) for i in _best(scores, k)]


def _cosine(
    query: Sequence[float], matrix: npt.NDArray[np.float32]
) -> npt.NDArray[np.floating[Any]]:
    """The cosine similarity of `query` to each row of `matrix` (0 for a zero vector)."""
    q = np.asarray(query, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1) * (np.linalg.norm(q) or 1.0)
    scores: npt.NDArray[np.floating[Any]] = (matrix @ q) / np.where(norms == 0, 1.0, norms)
    return scores


def _best(scores: npt.NDArray[np.floating[Any]], k: int) -> npt.NDArray[np.intp]:
    """Indices of the `k` highest `scores`, best first."""
    k = min(k, len(scores))
    top = np.argpartition(-scores, k - 1)[:k]
    best: npt.NDArray[np.intp] = top[np.argsort(-scores[top], kind="stable")]
    return best


def caption_hit(
    *,
    id: str,
    video_id: str,
    caption: str,
    ocr_text: str,
    t: float,
    scene: tuple[float, float] | None,
    frame_path: str | None,
    score: float = 0.0,
) -> SearchHit:
    """A caption's search hit: its description and on-screen text, over its frame's scene.

    Without the scene (it was redone since), the hit is the moment `t`.
    """
    t_start, t_end = scene if scene is not None else (t, t)
    return SearchHit(
        kind="caption",
        id=id,
        video_id=video_id,
        text=" ".join(filter(None, [caption, ocr_text])),
        on_screen_text_only=not caption and bool(ocr_text),
        t_start=t_start,
        t_end=t_end,
        score=score,
        frame_path=frame_path,
    )


def scored_hits(
    details: Mapping[tuple[str, str], SearchHit], ranked: Sequence[tuple[Any, float, list[str]]]
) -> list[SearchHit]:
    """The hits of `ranked` (candidate row, score, words found), in its order.

    `details` holds the hits by kind and ID, without their scores.
    """
    return [
        details[row["kind"], row["owner_id"]].model_copy(
            update={"score": score, "matched": matched}
        )
        for row, score, matched in ranked
    ]


#: What a hit gains when its text holds every query word verbatim (a share of it for some).
KEYWORD_WEIGHT = 0.5

_STOPWORDS = frozenset(
    {
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "had",
        "has",
        "have",
        "how",
        "i",
        "in",
        "is",
        "it",
        "its",
        "me",
        "my",
        "of",
        "on",
        "or",
        "our",
        "so",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "to",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "you",
        "your",
    }
)
_EDGE_PUNCTUATION = ".,;:!?\"'()[]{}<>\u00ab\u00bb\u201c\u201d\u2018\u2019"


def keyword_terms(query: str) -> list[str]:
    """The words of `query` that hybrid search looks for verbatim, in lower case.

    Stop words and one-letter words are left out; a word keeps its inner
    punctuation, so a code such as `ZX-4471` or a number such as `3.5` stays whole.

    Examples:
        >>> keyword_terms("Where is order ZX-4471?")
        ['order', 'zx-4471']
    """
    terms: list[str] = []
    for raw in query.lower().split():
        word = raw.strip(_EDGE_PUNCTUATION)
        if len(word) > 1 and word not in _STOPWORDS and word not in terms:
            terms.append(word)
    return terms


def keyword_matches(text: str, terms: Sequence[str]) -> list[str]:
    """The `terms` that occur in `text` as whole words, ignoring case."""
    lowered = text.lower()
    found = []
    for term in terms:
        start = lowered.find(term)
        while start != -1:
            end = start + len(term)
            before = lowered[start - 1] if start > 0 else " "
            after = lowered[end] if end < len(lowered) else " "
            if not (before.isalnum() or before == "_") and not (after.isalnum() or after == "_"):
                found.append(term)
                break
            start = lowered.find(term, start + 1)
    return found


def rank_hits(
    query: Sequence[float],
    matrix: npt.NDArray[np.float32],
    texts: Sequence[str],
    terms: Sequence[str],
    k: int,
) -> list[tuple[int, float, list[str]]]:
    """The `k` best rows: cosine similarity, plus `KEYWORD_WEIGHT` times the share of `terms` found.

    Returns `(row index, score, terms found)`, best first. Without `terms` this is
    plain exact cosine search.
    """
    if len(matrix) == 0 or k <= 0:
        return []
    scores = _cosine(query, matrix)
    if not terms:
        return [(int(i), float(scores[i]), []) for i in _best(scores, k)]
    matched = [keyword_matches(text, terms) for text in texts]
    scores = scores + np.asarray(
        [KEYWORD_WEIGHT * len(m) / len(terms) for m in matched], dtype=np.float32
    )
    return [(int(i), float(scores[i]), matched[i]) for i in _best(scores, k)]


def vector_blob(vector: Sequence[float]) -> bytes:
    """A vector as little-endian float32 bytes."""
    return np.asarray(vector, dtype="<f4").tobytes()


def vector_from_blob(blob: bytes) -> npt.NDArray[np.float32]:
    """The inverse of `vector_blob`."""
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)
