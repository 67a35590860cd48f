"""The fast estimators (no logarithm in the coefficients, one logarithm per chunk of rows,
the pairwise product on blocks above the diagonal) against the definitions, recomputed here
from the full (M, N, N) distance tensor on seeded random inputs (Murphy, Dillavou & Bassett 2025)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentatlas.fragments import compute_factor_similarity, compute_fingerprint, compute_similarity
from latentatlas.fragments import similarity as similarity_module
from latentatlas.fragments.fingerprint import bhattacharyya_coefficients, bhattacharyya_rows, to_tensor
from latentatlas.fragments.report import compute_fragments
from latentatlas.fragments.spaces import compute_space_similarity


def _channels(seed: int, m: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    mu = rng.standard_normal((m, 1)) * np.tanh(rng.standard_normal((m, n))) + 0.1 * rng.standard_normal((m, n))
    logvar = rng.uniform(-6.0, 1.0, size=(m, 1)) + 0.8 * rng.standard_normal((m, n))
    y = np.stack([rng.integers(0, k, size=n) for k in (2, 5, 7)], axis=1)
    return mu, logvar, y


def _coefficients(mu: np.ndarray, logvar: np.ndarray) -> np.ndarray:
    """(M, N, N) exp(-D), D = (mu_i - mu_j)^2 / (4 P) + 1/2 ln(P / (2 s_i s_j)), P = s_i^2 + s_j^2."""
    var, sd = np.exp(logvar), np.exp(0.5 * logvar)
    pair = var[:, :, None] + var[:, None, :]
    spread = 0.5 * np.log(pair / (2 * sd[:, :, None] * sd[:, None, :]))
    return np.exp(-((mu[:, :, None] - mu[:, None, :]) ** 2 / (4 * pair) + spread))


def _bits(product: np.ndarray) -> np.ndarray:
    """-1/N sum_i log2(1/N sum_j product[..., i, j])."""
    return -np.log2(product.mean(-1)).mean(-1)


def _reference(coeff: np.ndarray, factor_coeff: np.ndarray) -> dict[str, np.ndarray]:
    info, self_joint = _bits(coeff), _bits(coeff**2)
    joint = _bits(coeff[:, None] * coeff[None, :])
    factor_info, factor_self = _bits(factor_coeff), _bits(factor_coeff**2)
    factor_joint = _bits(coeff[:, None] * factor_coeff[None, :])
    spread, factor_spread = 2 * info - self_joint, 2 * factor_info - factor_self
    return {
        "info": info,
        "self_joint": self_joint,
        "joint": joint,
        "nmi": (info[:, None] + info[None, :] - joint) / np.sqrt(spread[:, None] * spread[None, :]),
        "vi": 2 * joint - self_joint[:, None] - self_joint[None, :],
        "nmi_factor": (info[:, None] + factor_info[None, :] - factor_joint)
        / np.sqrt(spread[:, None] * factor_spread[None, :]),
        "vi_factor": 2 * factor_joint - self_joint[:, None] - factor_self[None, :],
        "factor_info": factor_info,
    }


def _factor_coefficients(y: np.ndarray) -> np.ndarray:
    same = y.T[:, :, None] == y.T[:, None, :]
    return np.exp(np.log(np.clip(same.astype(np.float64), 1e-10, None)))


def test_coefficients_equal_exp_of_minus_the_distance() -> None:
    mu, logvar, _ = _channels(0, 9, 70)
    fast = bhattacharyya_coefficients(to_tensor(mu), to_tensor(logvar), slice(5, 31)).numpy()
    slow = torch.exp(-bhattacharyya_rows(to_tensor(mu), to_tensor(logvar), slice(5, 31))).numpy()
    np.testing.assert_allclose(fast, slow.transpose(1, 0, 2), rtol=1e-13, atol=0)
    np.testing.assert_allclose(fast, _coefficients(mu, logvar)[:, 5:31].transpose(1, 0, 2), rtol=1e-13, atol=0)


@pytest.mark.parametrize(("seed", "pair_block", "chunk_elements"), [(1, 128, 1 << 23), (2, 3, 1 << 23), (3, 4, 900)])
def test_fast_pass_equals_the_definition(monkeypatch, seed, pair_block, chunk_elements) -> None:
    """Channel blocks of ``pair_block`` (mirrored) and chunks of a few rows (one logarithm each)."""
    monkeypatch.setattr(similarity_module, "PAIR_BLOCK", pair_block)
    mu, logvar, y = _channels(seed, 11, 90)
    expected = _reference(_coefficients(mu, logvar), _factor_coefficients(y))
    pairs = compute_similarity(mu, logvar, chunk_elements=chunk_elements)
    np.testing.assert_allclose(pairs.info_bits, expected["info"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(pairs.self_joint_bits, expected["self_joint"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(pairs.joint_bits, expected["joint"], rtol=0, atol=1e-12)
    off = ~np.eye(11, dtype=bool)
    np.testing.assert_allclose(pairs.nmi[off], expected["nmi"][off], rtol=0, atol=1e-10)
    np.testing.assert_allclose(pairs.vi[off], expected["vi"][off], rtol=0, atol=1e-12)
    factors = compute_factor_similarity(mu, logvar, y)
    np.testing.assert_allclose(factors.factor_info_bits, expected["factor_info"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(factors.nmi, expected["nmi_factor"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(factors.vi, expected["vi_factor"], rtol=0, atol=1e-12)
    report = compute_fragments(mu, logvar, y)
    np.testing.assert_allclose(np.array(report["vi"], dtype=float)[off], expected["vi"][off], rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.array(report["vi_factor"], dtype=float), expected["vi_factor"], rtol=0, atol=1e-12)
    fingerprint = compute_fingerprint(mu, logvar)
    np.testing.assert_allclose(fingerprint.info_bits, expected["info"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(fingerprint.self_joint_bits, expected["self_joint"], rtol=0, atol=1e-12)


def test_many_rows_take_several_logarithms_of_products() -> None:
    """N large enough that the rows of one chunk are split by rows_per_product."""
    mu, logvar, _ = _channels(4, 3, 1500)
    coeff = _coefficients(mu, logvar)
    pairs = compute_similarity(mu, logvar)
    np.testing.assert_allclose(pairs.info_bits, _bits(coeff), rtol=0, atol=1e-12)
    np.testing.assert_allclose(pairs.joint_bits, _bits(coeff[:, None] * coeff[None, :]), rtol=0, atol=1e-12)


def test_space_similarity_equals_the_definition() -> None:
    """A space's coefficient is the product of its channels' (its distance the sum)."""
    mu, logvar, y = _channels(5, 12, 80)
    spaces = compute_space_similarity(mu.reshape(4, 3, 80), logvar.reshape(4, 3, 80))
    coeff = _coefficients(mu, logvar).reshape(4, 3, 80, 80).prod(axis=1)
    expected = _reference(coeff, _factor_coefficients(y))
    np.testing.assert_allclose(spaces.info_bits, expected["info"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(spaces.joint_bits, expected["joint"], rtol=0, atol=1e-12)
    off = ~np.eye(4, dtype=bool)
    np.testing.assert_allclose(spaces.vi[off], expected["vi"][off], rtol=0, atol=1e-12)
