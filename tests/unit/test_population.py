"""The population view's principal plane: PCA coordinates and the basis that places a new latent."""

from __future__ import annotations

import numpy as np
from sklearn.decomposition import PCA

from latentatlas.evaluation.population import principal_plane


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
