"""The population's PCA: the principal plane (coordinates and the basis that places a new latent) and the
principal directions with their variances (the explorer's direction sliders)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.decomposition import PCA

from latentatlas.evaluation.population import EXACT_SVD_DIMS, principal_directions, principal_plane


def test_plane_is_sklearn_pca_and_places_new_latents_with_its_basis():
    rng = np.random.default_rng(0)
    latents = rng.standard_normal((500, 6)) * np.array([5.0, 3.0, 1.0, 0.5, 0.2, 0.1])
    plane = principal_plane(latents)
    reference = PCA(n_components=2, svd_solver="full").fit(latents)
    expected = reference.transform(latents)
    np.testing.assert_allclose(np.c_[plane["x"], plane["y"]], expected, atol=1e-9)
    np.testing.assert_allclose(plane["explained_variance_ratio"], reference.explained_variance_ratio_)
    # the first axis is the latent with the largest spread
    assert abs(plane["components"][0][0]) > 0.99
    new = rng.standard_normal((3, 6))
    np.testing.assert_allclose(
        (new - plane["mean"]) @ np.asarray(plane["components"]).T, reference.transform(new), atol=1e-9
    )


def test_degenerate_populations_keep_finite_zero_coordinates():
    for latents in (np.ones((10, 4)), np.zeros((1, 3)), np.arange(5.0)[:, None]):
        plane = principal_plane(latents)
        assert np.isfinite(plane["x"]).all() and np.isfinite(plane["y"]).all()
        assert np.asarray(plane["components"]).shape == (2, latents.shape[1])
    one_dim = principal_plane(np.arange(5.0)[:, None])
    np.testing.assert_allclose(one_dim["y"], 0)
    np.testing.assert_allclose(np.abs(one_dim["x"]), np.abs(np.arange(5.0) - 2))


def test_principal_directions_recover_a_planted_basis_with_its_variances():
    rng = np.random.default_rng(1)
    basis, _ = np.linalg.qr(rng.standard_normal((8, 8)))  # orthonormal columns: the planted directions
    sds = np.array([4.0, 2.0, 1.0, 0.5, 0.25, 0.1, 0.05, 0.02])
    latents = (rng.standard_normal((20_000, 8)) * sds) @ basis.T + 3.0
    found = principal_directions(latents, 3)
    for k in range(3):
        assert abs(found["components"][k] @ basis[:, k]) > 0.999  # the same direction, up to sign
        assert np.sqrt(found["explained_variance"][k]) == pytest.approx(sds[k], rel=0.03)
    assert found["explained_variance_ratio"] == pytest.approx(sds[:3] ** 2 / (sds**2).sum(), rel=0.05)
    np.testing.assert_allclose(np.linalg.norm(found["components"], axis=1), 1.0)
    np.testing.assert_allclose(found["mean"], 3.0, atol=0.05)


def test_wide_latents_use_the_randomized_solver_and_agree_with_the_exact_one():
    rng = np.random.default_rng(2)
    dim = EXACT_SVD_DIMS + 44
    sds = np.geomspace(5.0, 0.01, dim)
    latents = rng.standard_normal((400, dim)) * sds
    wide = principal_directions(latents, 4)
    exact = PCA(n_components=4, svd_solver="full").fit(latents)
    np.testing.assert_allclose(np.abs((wide["components"] * exact.components_).sum(axis=1)), 1.0, atol=1e-3)
    np.testing.assert_allclose(wide["explained_variance_ratio"], exact.explained_variance_ratio_, rtol=1e-3)


def test_fewer_directions_than_asked_are_zero_rows():
    found = principal_directions(np.arange(10.0)[:, None] * np.array([[1.0, 2.0]]), 4)  # a line in 2 dims
    assert found["components"].shape == (4, 2)
    assert found["explained_variance"][0] > 0 and not found["explained_variance"][1:].any()
    assert not found["components"][2:].any()
