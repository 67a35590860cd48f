"""Per-dimension KL over training: every VAE-family trainer logs ``kl_dim_<d>`` curves beside
``kl`` (their sum, batch-averaged over the same log windows), at the loop's ``log_every``."""

from __future__ import annotations

import math

import pytest
import torch

from latentatlas.data.spec import DatasetSpec
from latentatlas.families import model_config
from latentatlas.families.autoencoders import GaussianVAE
from latentatlas.nets import NetConfig
from latentatlas.train import TrainConfig, train

LATENT_DIM = 4
NET = NetConfig(image_size=16, channels=1, widths=(8, 8), hidden=32)


@pytest.mark.parametrize("kind", ["vae", "tcvae", "factorvae", "hfs"])
def test_vae_family_cards_record_kl_per_dim(kind, tmp_path):
    torch.set_num_threads(1)
    run = TrainConfig(steps=6, batch_size=8, threads=1, device="cpu", log_every=3, checkpoint_every=6, seed=0)
    config = model_config(kind=kind, latent_dim=LATENT_DIM, net=NET)
    curves = train(config, DatasetSpec(name="dsprites", image_size=16), run, tmp_path / kind, progress=False)["curves"]
    keys = [f"kl_dim_{d}" for d in range(LATENT_DIM)]
    assert set(keys) <= set(curves) and f"kl_dim_{LATENT_DIM}" not in curves
    assert curves["step"] == [3, 6]
    for logged in range(len(curves["step"])):
        per_dim = [curves[key][logged] for key in keys]
        assert all(value >= 0 for value in per_dim), per_dim  # each is a KL divergence
        assert math.fsum(per_dim) == pytest.approx(curves["kl"][logged], rel=1e-4)


def test_kl_per_dim_is_zero_for_a_posterior_equal_to_the_prior():
    torch.manual_seed(0)
    vae = GaussianVAE.__new__(GaussianVAE)  # only the KL arithmetic of elbo_terms is under test
    mean, log_var = torch.zeros(5, LATENT_DIM), torch.zeros(5, LATENT_DIM)
    mean[:, 1] = 2.0  # one dimension in use: KL = mu^2 / 2 = 2 nats
    vae.sample_posterior = lambda images: (mean, mean, log_var)
    vae.decode_logits = lambda latent: torch.zeros(latent.shape[0], 1, 16, 16)
    terms = vae.elbo_terms(torch.full((5, 1, 16, 16), 0.5))
    assert terms["kl_per_dim"].tolist() == pytest.approx([0.0, 2.0, 0.0, 0.0])
    assert float(terms["kl"]) == pytest.approx(2.0)
