"""beta-TCVAE: the total-correlation estimator and the loss it enters."""

from __future__ import annotations

import math

import torch

from latentatlas.families import build_model, model_config
from latentatlas.families.autoencoders import total_correlation
from latentatlas.nets import NetConfig

NET16 = NetConfig(image_size=16, channels=1, widths=(4, 4), hidden=8)


def _posterior(latent: torch.Tensor, sd: float) -> tuple[torch.Tensor, torch.Tensor]:
    return latent.clone(), torch.full_like(latent, 2 * math.log(sd))


def _random_batch(seed: int, batch: int, dims: int = 3):
    """A seeded batch: sampled latents, posterior means and log-variances, and the posteriors."""
    generator = torch.Generator().manual_seed(seed)
    latent, mean = torch.randn(batch, dims, generator=generator), torch.randn(batch, dims, generator=generator)
    log_var = torch.randn(batch, dims, generator=generator) * 0.3
    return latent, mean, log_var, torch.distributions.Normal(mean, torch.exp(0.5 * log_var))


def test_total_correlation_is_larger_for_dependent_latents():
    generator = torch.Generator().manual_seed(0)
    independent = torch.randn(256, 2, generator=generator)
    shared = torch.randn(256, 1, generator=generator)
    dependent = torch.cat([shared, shared + 0.05 * torch.randn(256, 1, generator=generator)], dim=1)
    tc_independent = total_correlation(independent, *_posterior(independent, 0.1), dataset_size=256)
    tc_dependent = total_correlation(dependent, *_posterior(dependent, 0.1), dataset_size=256)
    assert tc_dependent > tc_independent + 1.0


def test_total_correlation_matches_the_estimator_written_out():
    """log q(z_i) ~ log sum_j q(z_i|x_j) - log(NM), per dimension likewise (Chen et al. 2018, MWS)."""
    latent, mean, log_var, normal = _random_batch(seed=3, batch=4)
    dataset_size, batch = 50, 4
    expected = 0.0
    for i in range(batch):
        per_pair = normal.log_prob(latent[i].expand(batch, -1))  # (j, d): log q(z_i,d | x_j)
        log_qz = torch.logsumexp(per_pair.sum(dim=1), dim=0) - math.log(dataset_size * batch)
        log_qzd = torch.logsumexp(per_pair, dim=0) - math.log(dataset_size * batch)
        expected += float(log_qz - log_qzd.sum()) / batch
    assert math.isclose(float(total_correlation(latent, mean, log_var, dataset_size, "mws")), expected, rel_tol=1e-5)


def test_stratified_estimator_matches_its_weights_written_out():
    """MSS: w_ii = 1/N, w_i,i+1 = (N - M + 1) / (N (M - 1)) (cyclically), else 1 / (M - 1)."""
    latent, mean, log_var, normal = _random_batch(seed=4, batch=5)
    n, m = 40, 5
    expected = 0.0
    for i in range(m):
        weights = torch.tensor(
            [1 / n if j == i else (n - m + 1) / (n * (m - 1)) if j == (i + 1) % m else 1 / (m - 1) for j in range(m)]
        )
        assert math.isclose(float(weights.sum()), 1.0, rel_tol=1e-6)
        per_pair = normal.log_prob(latent[i].expand(m, -1))  # (j, d)
        log_qz = torch.logsumexp(per_pair.sum(dim=1) + weights.log(), dim=0)
        log_qzd = torch.logsumexp(per_pair + weights.log().unsqueeze(1), dim=0)
        expected += float(log_qz - log_qzd.sum()) / m
    assert math.isclose(float(total_correlation(latent, mean, log_var, n, "mss")), expected, rel_tol=1e-5)


def test_stratified_estimator_is_not_swamped_by_the_dataset_size():
    """Independent latents, sharp posteriors, a dSprites-sized dataset: the true TC is 0. MWS
    adds about (D - 1) log(N M) minus what the batch covers; MSS stays near 0."""
    generator = torch.Generator().manual_seed(5)
    latent = torch.randn(256, 4, generator=generator)
    mean, log_var = _posterior(latent, 0.1)
    mss = float(total_correlation(latent, mean, log_var, 737_280, "mss"))
    mws = float(total_correlation(latent, mean, log_var, 737_280, "mws"))
    assert abs(mss) < 2.0 and mws > 20.0, (mss, mws)  # measured: -1.6 and 45.8


def test_tcvae_with_beta_one_is_the_plain_vae_objective():
    vae_config = model_config(kind="vae", latent_dim=3, net=NET16, beta=1.0, dataset_size=1000)
    torch.manual_seed(0)
    vae = build_model(vae_config)
    tcvae = build_model(model_config(kind="tcvae", latent_dim=3, net=NET16, beta=1.0, dataset_size=1000))
    tcvae.load_state_dict(vae.state_dict())
    images = (torch.rand(8, 1, 16, 16) > 0.7).float()
    torch.manual_seed(1)
    vae_loss, _ = vae.loss(images, 0)
    torch.manual_seed(1)
    tcvae_loss, parts = tcvae.loss(images, 0)
    torch.testing.assert_close(tcvae_loss, vae_loss)
    assert math.isfinite(parts["tc"])


def test_tcvae_penalty_reaches_the_encoder():
    config = model_config(kind="tcvae", latent_dim=3, net=NET16, beta=6.0, dataset_size=1000)
    torch.manual_seed(0)
    model = build_model(config)
    images = (torch.rand(8, 1, 16, 16) > 0.7).float()
    loss, parts = model.loss(images, 0)
    loss.backward()
    assert set(parts) == {"loss", "recon", "kl", "tc"} | {f"kl_dim_{d}" for d in range(3)}
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.encoder.parameters())
