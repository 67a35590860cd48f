"""Retrieval math (latentatlas.evaluation.retrieval) against brute force: nearest rows by
Euclidean distance on standardised latents, ties to the lower position, and traversal sweeps."""

from __future__ import annotations

import numpy as np
import pytest

from latentatlas.evaluation.retrieval import MIN_SCALE, QUERY_CHUNK, nearest, standardise, standardiser, sweep_queries


def _brute_force(index: np.ndarray, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    positions, distances = [], []
    for query in queries:
        d = np.array([np.sqrt(((row - query) ** 2).sum()) for row in index])
        order = sorted(range(len(index)), key=lambda i: (d[i], i))[:k]
        positions.append(order)
        distances.append(d[order])
    return np.array(positions), np.array(distances)


def test_nearest_matches_brute_force_across_query_chunks():
    rng = np.random.default_rng(0)
    index = rng.standard_normal((300, 7)) * rng.uniform(0.1, 5, 7)
    queries = rng.standard_normal((QUERY_CHUNK + 9, 7))
    mean, scale = standardiser(index)
    z, q = standardise(index, mean, scale), standardise(queries, mean, scale)
    positions, distances = nearest(z, q, 5)
    expected_positions, expected_distances = _brute_force(z, q, 5)
    assert np.array_equal(positions, expected_positions)
    assert np.allclose(distances, expected_distances, atol=1e-9)


def test_an_indexed_latent_is_its_own_nearest_and_ties_go_to_the_lower_position():
    rng = np.random.default_rng(1)
    index = rng.standard_normal((50, 3))
    index[30] = index[10]  # a duplicate: equally near, the lower position first
    positions, distances = nearest(index, index[[10, 4]], 2)
    assert positions[0].tolist() == [10, 30] and distances[0].tolist() == [0.0, 0.0]
    assert positions[1, 0] == 4 and distances[1, 0] == 0.0


def test_standardising_equalises_dim_scales_and_floors_constant_dims():
    rng = np.random.default_rng(2)
    latents = np.stack([rng.normal(5, 100, 1000), rng.normal(-1, 0.01, 1000), np.full(1000, 3.0)], axis=1)
    mean, scale = standardiser(latents)
    z = standardise(latents, mean, scale)
    assert np.allclose(z[:, :2].mean(axis=0), 0, atol=1e-9) and np.allclose(z[:, :2].std(axis=0), 1)
    assert scale[2] == MIN_SCALE and np.all(z[:, 2] == 0)


def test_sweep_queries_set_one_dim_per_row():
    base = np.array([0.5, -1.0, 2.0])
    queries = sweep_queries(base, [2, 0], [[-1.0, 0.0, 1.0], [7.0, 8.0, 9.0]])
    assert queries.shape == (6, 3)
    assert queries[:3, 2].tolist() == [-1.0, 0.0, 1.0] and np.all(queries[:3, :2] == base[:2])
    assert queries[3:, 0].tolist() == [7.0, 8.0, 9.0] and np.all(queries[3:, 1:] == base[1:])


@pytest.mark.parametrize("k", [0, 51])
def test_k_outside_the_index_is_refused(k):
    with pytest.raises(ValueError, match="k = "):
        nearest(np.zeros((50, 2)), np.zeros((1, 2)), k)


def test_mismatched_dims_are_refused():
    with pytest.raises(ValueError, match="must be"):
        nearest(np.zeros((5, 2)), np.zeros((1, 3)), 1)
