"""An inverted-file (IVF) vector index kept in a store's own tables.

The vectors of a model are split into lists, one per centroid of a k-means over
a sample of them; each vector belongs to the list of its nearest centroid. A
search ranks the centroids, reads only the vectors of the `probes` nearest
lists, and scores those exactly: at a million vectors it reads a few
thousand instead of all of them. New vectors join their nearest list as they
are saved; the lists are trained again when the model has grown `GROWTH`
times since they were.

The SQL backends keep the centroids and the lists in tables and run this
module's arithmetic (numpy) on what they read.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "GROWTH",
    "IVF_MIN_ROWS",
    "Lists",
    "assign",
    "list_count",
    "nearest_lists",
    "probe_count",
    "sample_size",
    "train",
]

#: A model with fewer vectors than this is searched by an exact scan (a few tens of
#: milliseconds there); from this many on, its vectors are indexed.
IVF_MIN_ROWS = 20_000

#: The lists are trained again when the model holds this many times the vectors
#: they were trained on (new vectors join the nearest list in between).
GROWTH = 4

#: Vectors sampled per list to train the centroids, and the most sampled in all.
_SAMPLE_PER_LIST = 40
_SAMPLE_MAX = 60_000
#: Rounds of k-means (the centroids barely move after these on embeddings).
_ROUNDS = 8
#: Share of the lists a search reads, and the fewest.
_PROBE_SHARE = 0.03
_MIN_PROBES = 8


@dataclass(frozen=True)
class Lists:
    """A model's lists as a store read them.

    `first` is the first list's ID: each training numbers its lists above the
    previous ones, so a store that cached them sees when they changed.
    """

    first: int
    dim: int
    ids: npt.NDArray[np.int64]
    centroids: npt.NDArray[np.float32]
    #: How many vectors the lists were trained on.
    trained_rows: int = 0

    def per_read(self, floats: int) -> int:
        """How many lists one read may take to hold about `floats` numbers at most.

        A list holds `trained_rows / lists` vectors on average when trained, and up
        to `GROWTH` times that before the lists are trained again.
        """
        per_list = GROWTH * max(1, self.trained_rows) / max(1, len(self.ids))
        return max(1, int(floats / (per_list * max(1, self.dim))))


def list_count(rows: int) -> int:
    """How many lists `rows` vectors are split into: about the square root of `rows`."""
    return max(1, min(4096, round(math.sqrt(max(rows, 1)))))


def probe_count(lists: int) -> int:
    """How many of `lists` lists a search reads."""
    return min(lists, max(_MIN_PROBES, math.ceil(_PROBE_SHARE * lists)))


def sample_size(lists: int) -> int:
    """How many vectors train `lists` centroids."""
    return min(_SAMPLE_MAX, _SAMPLE_PER_LIST * lists)


def _unit(matrix: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    unit: npt.NDArray[np.float32] = (matrix / np.where(norms == 0, 1.0, norms)).astype(np.float32)
    return unit


def train(sample: npt.NDArray[np.float32], lists: int, *, seed: int = 0) -> npt.NDArray[np.float32]:
    """`lists` centroids (unit vectors) of `sample`'s rows, by spherical k-means.

    Fewer when the sample has fewer rows than `lists`.
    """
    data = _unit(np.asarray(sample, dtype=np.float32))
    lists = max(1, min(lists, len(data)))
    rng = np.random.default_rng(seed)
    centroids = data[rng.choice(len(data), size=lists, replace=False)].copy()
    for _ in range(_ROUNDS):
        labels = assign(data, centroids)
        counts = np.bincount(labels, minlength=lists)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        sums = np.zeros_like(centroids)
        full = counts > 0
        sums[full] = np.add.reduceat(data[np.argsort(labels, kind="stable")], starts[full], axis=0)
        empty = ~full
        # A list that lost all its vectors restarts at a random one.
        sums[empty] = data[rng.choice(len(data), size=int(empty.sum()))]
        centroids = _unit(sums)
    return centroids


def assign(
    vectors: npt.NDArray[np.float32], centroids: npt.NDArray[np.float32]
) -> npt.NDArray[np.intp]:
    """The index of each vector's nearest centroid (by cosine), in chunks of bounded memory."""
    out = np.empty(len(vectors), dtype=np.intp)
    step = max(1, 4_000_000 // max(len(centroids), 1))
    for start in range(0, len(vectors), step):
        chunk = np.asarray(vectors[start : start + step], dtype=np.float32)
        out[start : start + step] = np.argmax(chunk @ centroids.T, axis=1)
    return out


def nearest_lists(
    query: npt.NDArray[np.float32], centroids: npt.NDArray[np.float32], probes: int
) -> npt.NDArray[np.intp]:
    """The indices of the `probes` centroids nearest `query`, nearest first."""
    scores: npt.NDArray[Any] = centroids @ np.asarray(query, dtype=np.float32)
    probes = min(probes, len(scores))
    top = np.argpartition(-scores, probes - 1)[:probes]
    best: npt.NDArray[np.intp] = top[np.argsort(-scores[top], kind="stable")]
    return best
