"""Whole latent spaces as fingerprints (information, NMI, VI between members) and fusion
(Murphy, Dillavou & Bassett 2025)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentatlas.fragments import compute_similarity
from latentatlas.fragments.fingerprint import bhattacharyya_rows
from latentatlas.fragments.spaces import (
    FusionObjective,
    _channels_per_log,
    _FusionStep,
    _log2_mean,
    _space_coefficients,
    compute_space_similarity,
    fuse_spaces,
)


def _noisy_views(
    seed: int, spaces: int, dims: int, n: int, noise: float, var: float = 0.5
) -> tuple[np.ndarray, np.ndarray]:
    """``spaces`` members that each see one shared ``dims``-D source through independent noise."""
    rng = np.random.default_rng(seed)
    source = rng.standard_normal((dims, n))
    mu = np.stack([3 * (source + noise * rng.standard_normal((dims, n))) for _ in range(spaces)])
    return mu, np.full_like(mu, np.log(var))


def test_a_one_channel_space_is_that_channel() -> None:
    mu, logvar = _noisy_views(0, spaces=3, dims=1, n=200, noise=0.5)
    spaces = compute_space_similarity(mu, logvar)
    channels = compute_similarity(mu[:, 0], logvar[:, 0])
    np.testing.assert_allclose(spaces.info_bits, channels.info_bits, atol=1e-12)
    np.testing.assert_allclose(spaces.nmi, channels.nmi, atol=1e-12)
    np.testing.assert_allclose(spaces.vi, channels.vi, atol=1e-12)


def test_space_against_its_copy_and_an_unrelated_space() -> None:
    # Broad posteriors keep every space far below the log2 N cap, where joint estimates saturate.
    mu, logvar = _noisy_views(1, spaces=1, dims=2, n=300, noise=0.0, var=4.0)
    other, other_lv = _noisy_views(2, spaces=1, dims=2, n=300, noise=0.0, var=4.0)
    result = compute_space_similarity(np.concatenate([mu, mu, other]), np.concatenate([logvar, logvar, other_lv]))
    assert result.nmi[0, 1] == pytest.approx(1.0, abs=1e-12) and result.vi[0, 1] == pytest.approx(0.0, abs=1e-12)
    assert result.nmi[0, 2] < 0.05
    assert result.vi[0, 2] > 0.5
    # Two channels carry more than either alone (each of the pair's channels sees the same source).
    single = compute_similarity(mu[0], logvar[0]).info_bits
    assert result.info_bits[0] > single.max()


def test_space_similarity_does_not_depend_on_chunking() -> None:
    mu, logvar = _noisy_views(3, spaces=4, dims=3, n=120, noise=0.4)
    whole = compute_space_similarity(mu, logvar)
    chunked = compute_space_similarity(mu, logvar, chunk_elements=500)
    np.testing.assert_allclose(whole.nmi, chunked.nmi, atol=1e-12)
    np.testing.assert_allclose(whole.info_bits, chunked.info_bits, atol=1e-12)


def test_space_coefficients_and_their_hand_written_gradient_match_autograd() -> None:
    rng = np.random.default_rng(7)
    mu = torch.tensor(rng.standard_normal((3, 25)), requires_grad=True)
    logvar = torch.tensor(0.5 * rng.standard_normal((3, 25)), requires_grad=True)
    weights = torch.tensor(rng.random((25, 25)))
    expected = torch.exp(-bhattacharyya_rows(mu, logvar, slice(0, 25)).sum(0))
    torch.testing.assert_close(_space_coefficients(mu, logvar), expected, rtol=1e-12, atol=1e-12)
    grads = torch.autograd.grad((expected * weights).sum(), (mu, logvar))
    mine = torch.autograd.grad((_space_coefficients(mu, logvar) * weights).sum(), (mu, logvar))
    for a, b in zip(grads, mine):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert torch.autograd.gradcheck(
        _space_coefficients, (mu[:, :8].detach().requires_grad_(), logvar[:, :8].detach().requires_grad_())
    )


def test_ln_s_of_several_channels_is_one_log_only_within_the_normal_range() -> None:
    """The forward pass sums ln S over up to four channels as the log of their product; how many
    depends on the widest log-variance, so float32 products never underflow (S >= 2 min s^2)."""
    assert _channels_per_log(torch.tensor([[-20.0, 5.0]])) == 4  # fusion's clamp, float32
    assert _channels_per_log(torch.tensor([[-30.0, 0.0]])) == 2
    assert _channels_per_log(torch.tensor([[-100.0, 0.0]])) == 1
    assert _channels_per_log(torch.tensor([[-100.0, 0.0]], dtype=torch.float64)) == 4
    rng = np.random.default_rng(3)
    for low in (-20.0, -30.0, -60.0):  # four, two and one channel(s) a log
        mu = rng.standard_normal((9, 40))
        logvar = rng.uniform(low, 5.0, size=(9, 40))
        logvar[:, 0] = low  # the extreme in every channel: their product is the smallest
        expected = torch.exp(-bhattacharyya_rows(torch.tensor(mu), torch.tensor(logvar), slice(0, 40)).sum(0))
        got = _space_coefficients(torch.tensor(mu).float(), torch.tensor(logvar).float()).double()
        assert torch.isfinite(got).all()
        torch.testing.assert_close(got, expected, rtol=2e-4, atol=1e-6)


@pytest.mark.parametrize("objective", ["exp_neg_vi", "nmi"])
def test_the_fusion_steps_hand_written_gradient_matches_autograd(objective: FusionObjective) -> None:
    """The fusion step takes the objective's derivatives in three sets of row sums and carries
    them to (mu, logvar) by hand, in preallocated buffers; autograd through the coefficients
    (themselves checked above) and an einsum gives the same gradient."""
    rng = np.random.default_rng(11)
    member_mu, member_lv = rng.standard_normal((3, 2, 30)), 0.3 * rng.standard_normal((3, 2, 30))
    similarity = compute_space_similarity(member_mu, member_lv)
    members = torch.stack([_space_coefficients(torch.tensor(m), torch.tensor(v)) for m, v in zip(member_mu, member_lv)])
    info, self_joint = torch.tensor(similarity.info_bits), torch.tensor(similarity.self_joint_bits)
    mu = torch.tensor(rng.standard_normal((2, 30)), requires_grad=True)
    logvar = torch.tensor(0.3 * rng.standard_normal((2, 30)), requires_grad=True)

    coefficients = _space_coefficients(mu, logvar)
    info_f, self_f = _log2_mean(coefficients.sum(1), 30), _log2_mean((coefficients * coefficients).sum(1), 30)
    joint = _log2_mean(torch.einsum("ij,sij->si", coefficients, members), 30)
    nmi = (info_f + info - joint) / torch.sqrt((2 * info_f - self_f) * (2 * info - self_joint))
    score = nmi.mean() if objective == "nmi" else torch.exp(-(2 * joint - self_f - self_joint)).mean()
    expected = torch.autograd.grad(-score, (mu, logvar))

    terms, gradient = _FusionStep(members, info, self_joint, objective)(
        mu.detach(), logvar.detach(), with_gradient=True
    )
    assert terms.score == pytest.approx(float(score.detach()), rel=1e-12)
    assert terms.info_bits == pytest.approx(float(info_f.detach()), rel=1e-12)
    torch.testing.assert_close(terms.nmi, nmi.detach(), rtol=1e-12, atol=1e-12)
    assert gradient is not None
    for mine, reference in zip(gradient, expected):
        torch.testing.assert_close(mine, reference, rtol=1e-9, atol=1e-12)


def test_fusion_from_random_converges_above_every_member() -> None:
    """Members are noisy copies of one space; from a seeded random start the fused space ends
    above the best member in both mean NMI and information, the tolerance stops it before the
    budget, and the objective's trajectory has flattened: its last 1,000 steps added under 1 %
    of its gain and it fell nowhere by more than 5e-3 between records."""
    mu, logvar = _noisy_views(4, spaces=5, dims=2, n=100, noise=0.7)
    fusion = fuse_spaces(mu, logvar, seed=0)
    assert fusion.init == "random" and fusion.start_member is None
    assert fusion.mu.shape == (2, 100) and fusion.logvar.shape == (2, 100)
    assert fusion.converged and 0 < fusion.steps < 20_000 and fusion.best_step > 0
    history = np.array(fusion.history)
    assert len(history) == fusion.steps // fusion.history_every + 1
    assert history[0] < 0.05 < 0.3 < history[-1]  # an uninformative start, far below the end
    tail = np.maximum.accumulate(history)[-(1000 // fusion.history_every) - 1 :]
    assert tail[-1] - tail[0] < 0.01 * (history[-1] - history[0])  # the last 1,000 steps: under 1 % of the gain
    assert np.all(np.diff(history[-(1000 // fusion.history_every) - 1 :]) > -5e-3)  # Adam's wobble, no fall
    # Each member sees the source through its own noise; the fused space averages it out.
    assert fusion.mean_nmi > fusion.member_mean_nmi.max() + 0.05
    assert fusion.info_bits > fusion.member_info_bits.max()
    short = [fuse_spaces(mu, logvar, seed=seed, max_steps=20).mu for seed in (0, 0, 1)]
    np.testing.assert_array_equal(short[0], short[1])  # seeded
    assert not np.array_equal(short[0], short[2])


def test_fusion_from_the_most_consensual_member_under_the_nmi_objective() -> None:
    mu, logvar = _noisy_views(4, spaces=5, dims=2, n=100, noise=0.7)
    fusion = fuse_spaces(mu, logvar, objective="nmi", init="member", seed=0)
    assert fusion.start_member == int(np.argmax(fusion.member_mean_nmi))
    assert fusion.history[-1] > fusion.history[0]
    assert fusion.mean_nmi > fusion.member_mean_nmi.max() + 0.05
    assert fusion.info_bits > fusion.member_info_bits.max()


def test_fusion_returns_a_valid_iterate_under_the_nmi_objective() -> None:
    """The NMI ratio can be gamed by draining F's information (on a tiny real ensemble it
    reached "NMI" 1.8 at 0.06 bits); whatever the trajectory, the result is an iterate with at
    least the least informative member's information and NMI <= 1 to every member."""
    rng = np.random.default_rng(0)
    source = rng.standard_normal((4, 200))
    mu = np.stack([2 * (source + 0.3 * rng.standard_normal((4, 200))) for _ in range(4)])
    logvar = np.stack([np.full((4, 200), np.log(var)) for var in (0.05, 0.3, 1.0, 3.0)])  # 7.5 .. 1.6 bits
    fusion = fuse_spaces(mu, logvar, objective="nmi", init="member", max_steps=100, seed=0)
    assert fusion.info_bits >= fusion.member_info_bits.min() - 1e-3
    assert fusion.mean_nmi <= 1.0 + 1e-6
    assert fusion.mean_nmi > np.median(fusion.member_mean_nmi)


def test_fused_nmi_is_clipped_at_one_with_the_raw_estimates_kept() -> None:
    """Near-deterministic spaces sit at the estimator's cap (log2 N bits), where its bias can
    put NMI above 1 (it did on the shipped beta-VAE ensemble): the reported mean counts each
    member's NMI as at most 1, the raw estimates stay in ``member_nmi``."""
    rng = np.random.default_rng(1)
    source = rng.standard_normal((3, 150))
    mu = np.stack([source + 0.01 * rng.standard_normal((3, 150)) for _ in range(3)])
    logvar = np.full((3, 3, 150), np.log(1e-4))
    fusion = fuse_spaces(mu, logvar, init="member", max_steps=20, seed=0)
    assert fusion.member_nmi.shape == (3,)
    assert fusion.mean_nmi == pytest.approx(np.minimum(fusion.member_nmi, 1.0).mean())
    assert fusion.mean_nmi <= 1.0
    assert (fusion.member_mean_nmi <= 1.0).all()
