"""The IVF index's arithmetic: lists found by k-means, vectors to their nearest list."""

from __future__ import annotations

import numpy as np

from videopipe.storage._ivf import (
    assign,
    list_count,
    nearest_lists,
    probe_count,
    sample_size,
    train,
)


def test_k_means_finds_separated_clusters() -> None:
    rng = np.random.default_rng(0)
    centers = np.eye(6, 16, dtype=np.float32) * 5
    labels = rng.integers(0, 6, size=600)
    data = (centers[labels] + rng.normal(scale=0.1, size=(600, 16))).astype(np.float32)
    centroids = train(data, 6, seed=1)
    assert centroids.shape == (6, 16)
    assert np.allclose(np.linalg.norm(centroids, axis=1), 1.0, atol=1e-5)
    found = assign(data, centroids)
    # One list per cluster: the labels agree up to numbering.
    pairs = set(zip(labels.tolist(), found.tolist(), strict=True))
    assert len(pairs) == 6


def test_a_sample_smaller_than_the_lists_gives_fewer_lists() -> None:
    data = np.random.default_rng(2).normal(size=(3, 8)).astype(np.float32)
    assert len(train(data, 10)) == 3


def test_assign_and_nearest_lists_agree_on_the_nearest_centroid() -> None:
    rng = np.random.default_rng(3)
    centroids = rng.normal(size=(50, 8)).astype(np.float32)
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    vectors = rng.normal(size=(200, 8)).astype(np.float32)
    nearest = assign(vectors, centroids)
    for vector, i in zip(vectors, nearest, strict=True):
        probes = nearest_lists(vector, centroids, 5)
        assert probes[0] == i
        scores = centroids @ vector
        assert list(scores[probes]) == sorted(scores[probes], reverse=True)


def test_sizes_grow_with_the_square_root_of_the_rows() -> None:
    assert list_count(1) == 1
    assert list_count(1_000_000) == 1000
    assert list_count(10**9) == 4096
    assert probe_count(3) == 3
    assert probe_count(100) == 8
    assert probe_count(1000) == 30
    assert sample_size(100) == 4_000
    assert sample_size(4096) == 60_000
