"""FactorVAE: permute_dims, the discriminator's TC estimate and cross-entropy against hand
computations, which optimiser moves what, a tiny dSprites run, the registry and the CLI."""

from __future__ import annotations

import math

import pytest
import torch
from typer.testing import CliRunner

from latentatlas.cli import app
from latentatlas.families import build_model, families, model_config
from latentatlas.families.configs import FactorVAEConfig
from latentatlas.families.factorvae import FactorVAE, discriminator_loss, permute_dims
from latentatlas.nets import NetConfig
from latentatlas.train import TrainConfig
from train_helpers import assert_a_few_steps_lower_the_loss

NET16 = NetConfig(image_size=16, channels=1, widths=(8, 8), hidden=32)


def _model(**overrides) -> FactorVAE:
    torch.manual_seed(0)
    small = {"discriminator_layers": 2, "discriminator_width": 16}
    model = build_model(model_config(**{"kind": "factorvae", "latent_dim": 3, "net": NET16, **small, **overrides}))
    assert isinstance(model, FactorVAE)
    return model


def _images(n: int = 8, seed: int = 0) -> torch.Tensor:
    return (torch.rand(n, 1, 16, 16, generator=torch.Generator().manual_seed(seed)) > 0.7).float()


def test_permute_dims_keeps_each_columns_values_and_breaks_the_rows():
    torch.manual_seed(0)
    latents = torch.arange(40.0).reshape(10, 4) + 0.5 * torch.randn(10, 4)
    permuted = permute_dims(latents)
    assert permuted.shape == latents.shape
    for d in range(4):
        assert torch.equal(permuted[:, d].sort().values, latents[:, d].sort().values), d
    rows = {tuple(row) for row in latents.tolist()}
    assert sum(tuple(row) in rows for row in permuted.tolist()) < 10  # the joint rows are shuffled apart


def test_discriminator_loss_is_the_papers_cross_entropy():
    joint, permuted = torch.tensor([2.0, -1.0, 0.5]), torch.tensor([0.3, -2.0, 1.5])

    def log_d(logit: float) -> float:
        return math.log(1 / (1 + math.exp(-logit)))

    def log_one_minus_d(logit: float) -> float:
        return math.log(1 - 1 / (1 + math.exp(-logit)))

    expected = -sum(log_d(a) + log_one_minus_d(b) for a, b in zip(joint.tolist(), permuted.tolist(), strict=True)) / 6
    assert math.isclose(float(discriminator_loss(joint, permuted)), expected, rel_tol=1e-6)


def test_objective_is_elbo_plus_gamma_times_the_mean_log_density_ratio():
    # No hidden layer: outputs (w1.z + b1, w2.z + b2), D(z) = softmax(...)_0, by hand.
    model = _model(gamma=2.5, discriminator_layers=0)
    w1, w2, b1, b2 = torch.tensor([0.7, -1.2, 0.4]), torch.tensor([0.2, 0.1, -0.3]), 0.3, -0.2
    with torch.no_grad():
        model.discriminator.net[0].weight.copy_(torch.stack([w1, w2]))
        model.discriminator.net[0].bias.copy_(torch.tensor([b1, b2]))
    with torch.no_grad():
        total, terms = model.objective(_images())
    z = terms["latent"]
    first, second = torch.exp(z @ w1 + b1), torch.exp(z @ w2 + b2)
    d = first / (first + second)
    by_hand = float((torch.log(d) - torch.log(1 - d)).mean())
    assert math.isclose(float(terms["tc"]), by_hand, rel_tol=1e-5, abs_tol=1e-6)
    assert math.isclose(float(total), float(terms["recon"] + terms["kl"]) + 2.5 * by_hand, rel_tol=1e-5)


def test_trainer_logs_a_constant_discriminators_values_and_moves_each_part_with_its_optimiser():
    model = _model(discriminator_layers=0)
    b = 0.8
    with torch.no_grad():  # D(z) = sigmoid(b) everywhere: TC estimate b, L_D = (softplus(-b) + softplus(b)) / 2
        model.discriminator.net[0].weight.zero_()
        model.discriminator.net[0].bias.copy_(torch.tensor([b, 0.0]))
    trainer = model.make_trainer(TrainConfig(lr=1e-3))
    vae_names = {n for n, _ in model.named_parameters() if not n.startswith("discriminator.")}
    names = {id(p): n for n, p in model.named_parameters()}
    owned = {k: {names[id(p)] for g in opt.param_groups for p in g["params"]} for k, opt in trainer.optimizers.items()}
    assert owned == {"vae": vae_names, "discriminator": {"discriminator.net.0.weight", "discriminator.net.0.bias"}}
    group = trainer.optimizers["discriminator"].param_groups[0]
    assert group["betas"] == (0.5, 0.9) and group["lr"] == 1e-4

    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    images = _images()
    logged = trainer.step(lambda: images, 0)
    per_dim = {f"kl_dim_{d}" for d in range(model.config.latent_dim)}
    assert set(logged) == {"loss", "recon", "kl", "tc", "discriminator_loss"} | per_dim
    assert math.isclose(logged["tc"], b, rel_tol=1e-6)
    expected_d = 0.5 * (math.log1p(math.exp(-b)) + math.log1p(math.exp(b)))
    assert math.isclose(logged["discriminator_loss"], expected_d, rel_tol=1e-6)
    assert math.isclose(logged["loss"], logged["recon"] + logged["kl"] + 6.4 * b, rel_tol=1e-5)
    assert all(not torch.equal(before[n], p) for n, p in model.named_parameters()), "every part moves"


def test_discriminator_gradient_does_not_reach_the_vae_and_vice_versa():
    model = _model()
    trainer = model.make_trainer(TrainConfig(lr=1e-3))
    trainer.optimizers["discriminator"].param_groups[0]["lr"] = 0.0
    discriminator_before = {n: p.detach().clone() for n, p in model.discriminator.named_parameters()}
    trainer.step(lambda: _images(), 0)
    # lr 0 for D: the VAE's loss (which runs through D) left D exactly where it was.
    assert all(torch.equal(discriminator_before[n], p) for n, p in model.discriminator.named_parameters())


def test_a_few_steps_on_dsprites_lower_the_loss():
    model = _model()
    assert_a_few_steps_lower_the_loss(model)


def test_registry_defaults_and_help():
    family = families()["factorvae"]
    assert family.config is FactorVAEConfig and family.model is FactorVAE
    assert family.capabilities.posterior and family.capabilities.sample and family.capabilities.encode
    config = model_config(kind="factorvae", latent_dim=10)
    assert (config.gamma, config.discriminator_layers, config.discriminator_width) == (6.4, 6, 1000)
    assert (config.discriminator_lr, config.discriminator_beta1, config.discriminator_beta2) == (1e-4, 0.5, 0.9)
    assert FactorVAEConfig.train_defaults == {"lr": 1e-4, "weight_decay": 0.0}
    linear = [m for m in build_model(config).discriminator.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == [(10, 1000)] + [(1000, 1000)] * 5 + [(1000, 2)]
    with pytest.raises(ValueError):
        model_config(kind="factorvae", latent_dim=3, beta=4.0)  # the beta-VAE's option, not this family's
    result = CliRunner().invoke(app, ["train", "factorvae", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "0.0001" in result.output  # --lr starts from the paper's 1e-4 (train_defaults)
    options = ["--gamma"] + [f"--discriminator-{name}" for name in ("layers", "width", "lr", "beta1", "beta2")]
    for option in options:
        assert option in result.output, option
