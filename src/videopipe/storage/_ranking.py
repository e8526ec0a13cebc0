"""Search ranking every backend shares: cosine similarity, fusion with full text, hits."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePath
from typing import Any
from urllib.parse import unquote, urlsplit

import numpy as np
import numpy.typing as npt

from .._exceptions import ConfigurationError
from .._models import SearchHit
from ._fulltext import TextQuery, coverage, holds, term_weights, terms

__all__ = [
    "LINK_SCHEMES",
    "MERGE_GAP",
    "TEXT_WEIGHT",
    "VECTOR_WEIGHT",
    "TopK",
    "candidate_count",
    "caption_hit",
    "check_dimension",
    "cosine_top_k",
    "cosines",
    "file_title",
    "fuse",
    "merge_adjacent",
    "moment_link",
    "scored_hits",
    "vector_blob",
    "vector_from_blob",
    "with_source",
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
    query: Sequence[float] | npt.NDArray[np.float32], matrix: npt.NDArray[np.float32]
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


#: Fused score = VECTOR_WEIGHT x cosine similarity (below 0 counts as 0) + TEXT_WEIGHT x
#: the share of the query's terms the text holds, and at least COSINE_FLOOR x cosine.
#: Chosen on `benchmarks/bench_search.py`, against reciprocal rank fusion (see the
#: Search guide).
VECTOR_WEIGHT = 0.6
TEXT_WEIGHT = 0.4
#: The share of terms counts each term by how few of the candidates hold it (`term_weights`).
RARE_TERMS_WEIGH_MORE = True
#: A hit scores at least this share of its cosine similarity, so the query words it
#: lacks never sink a close paraphrase below a text that merely shares a word.
COSINE_FLOOR = 0.9

#: Hits of the same text in one video, less than this many seconds apart, are one hit.
MERGE_GAP = 1.0


def candidate_count(k: int) -> int:
    """How many candidates each side (vector, full text) brings for `k` hits.

    More than `k`: hits with the same text merge, and excluded words, phrases and
    `min_score` drop some.
    """
    return max(4 * k, 50)


def fuse(
    candidates: Iterable[tuple[SearchHit, float]],
    query: TextQuery | None,
    *,
    k: int,
    min_score: float = 0.0,
) -> list[SearchHit]:
    """The best `k` hits of the candidates (hit, cosine similarity), scored in [0, 1].

    With a text `query`, a hit must hold its phrases and none of its excluded words,
    and scores `max(VECTOR_WEIGHT * cosine + TEXT_WEIGHT * share, COSINE_FLOOR * cosine)`,
    where the share of the query's terms found weighs each term by how few of the
    candidates hold it (`term_weights`, when `RARE_TERMS_WEIGH_MORE`);
    `SearchHit.matched` lists the terms found. Without one, the score is the cosine
    similarity (clipped to [0, 1]). Hits under `min_score` are left out, and
    adjacent hits with the same text in one video merge into one (see `merge_adjacent`).
    """
    if k <= 0:
        return []
    pool: list[tuple[SearchHit, float, list[str]]] = []
    seen: set[tuple[str, str]] = set()
    for hit, cosine in candidates:
        if (hit.kind, hit.id) in seen:
            continue
        seen.add((hit.kind, hit.id))
        text_terms = terms(hit.text) if query is not None else []
        if query is not None and not holds(text_terms, query):
            continue
        pool.append((hit, min(max(float(cosine), 0.0), 1.0), text_terms))
    wanted = query.wanted if query is not None else ()
    weights = (
        term_weights(wanted, [set(t) for _, _, t in pool])
        if wanted and RARE_TERMS_WEIGH_MORE
        else None
    )
    scored: list[SearchHit] = []
    for hit, similarity, text_terms in pool:
        score, found = similarity, list[str]()
        if query is not None and wanted:
            share, found = coverage(text_terms, query, weights)
            score = VECTOR_WEIGHT * similarity + TEXT_WEIGHT * share
            score = max(score, COSINE_FLOOR * similarity)
        if score >= min_score:
            scored.append(hit.model_copy(update={"score": round(score, 6), "matched": found}))
    merged = merge_adjacent(scored)
    merged.sort(key=lambda h: (-h.score, h.video_id, h.t_start, h.kind, h.id))
    return merged[:k]


def merge_adjacent(hits: Sequence[SearchHit]) -> list[SearchHit]:
    """Hits of the same kind and text in one video that touch (`MERGE_GAP`) as one hit.

    The merged hit spans them all and keeps the best one's ID, score, frame and words
    (the same on-screen caption over three adjacent scenes is one hit, not three).
    """
    groups: dict[tuple[str, str, str], list[SearchHit]] = {}
    for hit in hits:
        key = (hit.video_id, hit.kind, " ".join(terms(hit.text)) or hit.text)
        groups.setdefault(key, []).append(hit)
    merged: list[SearchHit] = []
    for group in groups.values():
        group.sort(key=lambda h: (h.t_start, h.t_end))
        run = [group[0]]
        for hit in group[1:]:
            if hit.t_start <= max(h.t_end for h in run) + MERGE_GAP:
                run.append(hit)
            else:
                merged.append(_one(run))
                run = [hit]
        merged.append(_one(run))
    return merged


def _one(run: list[SearchHit]) -> SearchHit:
    if len(run) == 1:
        return run[0]
    best = max(run, key=lambda h: h.score)
    return best.model_copy(
        update={"t_start": min(h.t_start for h in run), "t_end": max(h.t_end for h in run)}
    )


def cosines(
    query: Sequence[float] | npt.NDArray[np.float32], vectors: Sequence[npt.NDArray[np.float32]]
) -> list[float]:
    """The cosine similarity of `query` to each of `vectors` (0 for a zero vector)."""
    if not vectors:
        return []
    return [float(x) for x in _cosine(query, np.stack(vectors).astype(np.float32))]


class TopK:
    """A running top `n` of cosine similarities over chunks of rows, in bounded memory."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.keys: npt.NDArray[Any] = np.empty(0, dtype=object)
        self.scores: npt.NDArray[np.floating[Any]] = np.empty(0, dtype=np.float32)

    def add(
        self,
        query: npt.NDArray[np.float32],
        keys: Sequence[Any],
        matrix: npt.NDArray[np.float32],
    ) -> None:
        """Score one chunk (`matrix`, a row per key) against `query` and keep the best."""
        if len(keys) == 0 or self.n <= 0:
            return
        scores = _cosine(query, matrix).astype(np.float32)
        chunk_keys = np.empty(len(keys), dtype=object)
        chunk_keys[:] = list(keys)
        all_keys = np.concatenate([self.keys, chunk_keys])
        all_scores = np.concatenate([self.scores, scores])
        if len(all_scores) > self.n:
            top = np.argpartition(-all_scores, self.n - 1)[: self.n]
            all_keys, all_scores = all_keys[top], all_scores[top]
        self.keys, self.scores = all_keys, all_scores

    def best(self) -> list[Any]:
        """The kept keys, best first."""
        return list(self.keys[np.argsort(-self.scores, kind="stable")])


def with_source(hit: SearchHit, original_path: str | None, title: str | None = None) -> SearchHit:
    """`hit` with its video's file, title (`title`, else the file name) and a link to the moment."""
    if original_path is None:
        return hit
    return hit.model_copy(
        update={
            "file": original_path,
            "title": title or file_title(original_path),
            "link": moment_link(original_path, hit.t_start),
        }
    )


def file_title(path: str) -> str:
    """A file's name, from a local path or a URL (`s3://b/talk.mp4` is `talk.mp4`)."""
    if "://" in path:
        name = unquote(urlsplit(path).path.rstrip("/").rsplit("/", 1)[-1])
    else:
        name = PurePath(path).name
    return name or path


#: The URL schemes a link may have (an input named `javascript://...` gets none).
LINK_SCHEMES = frozenset({"file", "http", "https", "s3", "gs", "az", "abfs", "ftp"})


def moment_link(path: str, t: float) -> str | None:
    """A URL that opens `path` at `t` seconds (a media fragment: `file:///a/talk.mp4#t=12.5`).

    `None` for a URL whose scheme is not one of `LINK_SCHEMES`.
    """
    if "://" in path:
        if urlsplit(path).scheme.lower() not in LINK_SCHEMES:
            return None
        base = path.split("#", 1)[0]
    else:
        base = Path(path).absolute().as_uri()
    seconds = f"{max(t, 0.0):.3f}".rstrip("0").rstrip(".")
    return f"{base}#t={seconds}"


def vector_blob(vector: Sequence[float]) -> bytes:
    """A vector as little-endian float32 bytes."""
    return np.asarray(vector, dtype="<f4").tobytes()


def vector_from_blob(blob: bytes) -> npt.NDArray[np.float32]:
    """The inverse of `vector_blob`."""
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)
