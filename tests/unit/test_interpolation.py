"""Interpolation math: the straight line between two latents, and the snap to per-dim codebooks."""

from __future__ import annotations

import numpy as np
import pytest

from latentatlas.evaluation.interpolation import interpolate_linear, snap_to_codebooks


def test_the_line_starts_and_ends_at_the_two_latents_in_even_steps():
    rng = np.random.default_rng(0)
    start, end = rng.standard_normal(5), rng.standard_normal(5)
    path = interpolate_linear(start, end, 7)
    assert path.shape == (7, 5)
    np.testing.assert_allclose(path[0], start)
    np.testing.assert_allclose(path[-1], end)
    np.testing.assert_allclose(np.diff(path, axis=0), np.tile((end - start) / 6, (6, 1)), atol=1e-12)
    np.testing.assert_allclose(path[3], (start + end) / 2)  # the middle step is the midpoint


def test_two_steps_are_the_ends_and_bad_arguments_are_refused():
    np.testing.assert_allclose(interpolate_linear([0.0, 1.0], [2.0, 3.0], 2), [[0.0, 1.0], [2.0, 3.0]])
    with pytest.raises(ValueError, match="at least 2 steps"):
        interpolate_linear([0.0], [1.0], 1)
    with pytest.raises(ValueError, match="one length"):
        interpolate_linear([0.0, 1.0], [1.0], 3)


def test_snapping_takes_each_dims_nearest_code():
    codebooks = [[-1.0, 0.0, 1.0], [0.0, 10.0]]  # dims may have codebooks of different sizes
    latents = np.array([[-0.6, 4.9], [0.4, 5.1], [2.0, -3.0]])
    np.testing.assert_array_equal(snap_to_codebooks(latents, codebooks), [[-1.0, 0.0], [0.0, 10.0], [1.0, 0.0]])
    assert snap_to_codebooks([[0.5, 5.0]], codebooks).tolist() == [[0.0, 0.0]]  # ties: the earlier code


def test_a_snapped_path_holds_only_codes_and_keeps_its_ends():
    rng = np.random.default_rng(1)
    codebooks = [np.sort(rng.uniform(-2, 2, 6)) for _ in range(4)]
    start = np.array([book[0] for book in codebooks])
    end = np.array([book[-1] for book in codebooks])
    path = snap_to_codebooks(interpolate_linear(start, end, 9), codebooks)
    for d, book in enumerate(codebooks):
        assert set(path[:, d]) <= set(book)
        assert (np.diff(path[:, d]) >= 0).all()  # monotone from the first code to the last
    np.testing.assert_allclose(path[0], start)
    np.testing.assert_allclose(path[-1], end)


def test_snapping_needs_one_codebook_per_dim():
    with pytest.raises(ValueError, match="one codebook per dim"):
        snap_to_codebooks(np.zeros((2, 3)), [[0.0], [1.0]])
