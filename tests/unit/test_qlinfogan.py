"""QLInfoWGAN-GP: the gradient penalty against closed forms and hand-made autograd, which
optimiser moves which parameters, the latent (Q) loss falling on a tiny run, exact resumption
through the generic loop, and the model's codes, prior and decoder."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentatlas.data.registry import load_dataset
from latentatlas.data.spec import DatasetSpec
from latentatlas.families import build_model, families, model_config
from latentatlas.families.base import DiscreteCodes, PriorSampling
from latentatlas.families.configs import QLInfoGANConfig
from latentatlas.families.qlinfogan import QLInfoGAN, gradient_penalty
from latentatlas.nets import NetConfig
from latentatlas.train import TrainConfig
from train_helpers import crash_then_resume

NET16 = NetConfig(image_size=16, channels=1, widths=(8, 8), hidden=32)
DSPRITES16 = DatasetSpec(name="dsprites", image_size=16)


def _model(**overrides) -> QLInfoGAN:
    torch.manual_seed(0)
    model = build_model(
        model_config(**{"kind": "qlinfogan", "latent_dim": 4, "net": NET16, "codebook_size": 4, **overrides})
    )
    assert isinstance(model, QLInfoGAN)
    return model


def _images(n: int = 8, seed: int = 0) -> torch.Tensor:
    return (torch.rand(n, 1, 16, 16, generator=torch.Generator().manual_seed(seed)) > 0.7).float()


# -- the gradient penalty ---------------------------------------------------------------


def test_gradient_penalty_of_a_linear_critic_is_closed_form():
    # V(x) = <w, x>: grad_x V = w everywhere, so the penalty is (||w|| - 1)^2, and its gradient
    # with respect to w is 2 (||w|| - 1) w / ||w|| (the penalty must be differentiable: create_graph).
    w = torch.randn(1, 2, 3, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64).requires_grad_(True)
    real, fake = torch.rand(5, 2, 3, 3, dtype=torch.float64), torch.rand(5, 2, 3, 3, dtype=torch.float64)
    penalty = gradient_penalty(lambda x: (x * w).flatten(1).sum(1), real, fake, torch.rand(5, dtype=torch.float64))
    norm = w.detach().norm()
    torch.testing.assert_close(penalty, (norm - 1) ** 2)
    (grad_w,) = torch.autograd.grad(penalty, w)
    torch.testing.assert_close(grad_w, 2 * (norm - 1) * w.detach() / norm)


def test_gradient_penalty_of_a_quadratic_critic_is_closed_form():
    # V(x) = ||x||^2 / 2: grad_x V = x, so the penalty is mean_i (||x_int_i|| - 1)^2.
    generator = torch.Generator().manual_seed(2)
    real, fake = torch.rand(6, 1, 4, 4, generator=generator), torch.rand(6, 1, 4, 4, generator=generator)
    eps = torch.rand(6, generator=generator)
    penalty = gradient_penalty(lambda x: 0.5 * x.flatten(1).square().sum(1), real, fake, eps)
    interpolated = eps.view(-1, 1, 1, 1) * real + (1 - eps.view(-1, 1, 1, 1)) * fake
    torch.testing.assert_close(penalty, (interpolated.flatten(1).norm(dim=1) - 1).square().mean())


def test_gradient_penalty_matches_per_image_autograd_on_the_model_critic():
    model = _model().double()
    real, fake = (
        _images(4, seed=3).double(),
        torch.rand(4, 1, 16, 16, generator=torch.Generator().manual_seed(4), dtype=torch.float64),
    )
    eps = torch.rand(4, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    penalty = gradient_penalty(model.critic, real, fake, eps)
    expected = []
    for i in range(4):  # one image at a time, by hand
        x = (eps[i] * real[i : i + 1] + (1 - eps[i]) * fake[i : i + 1]).requires_grad_(True)
        (gradient,) = torch.autograd.grad(model.critic(x).sum(), x)
        expected.append((gradient.norm() - 1) ** 2)
    torch.testing.assert_close(penalty, torch.stack(expected).mean())
    # It carries a graph to the critic's weights (the critic step minimises it).
    assert penalty.requires_grad and torch.autograd.grad(penalty, model.encoder.features[0].weight)[0].abs().sum() > 0


# -- the trainer --------------------------------------------------------------------------


def test_optimisers_groups_and_betas():
    model = _model()
    trainer = model.make_trainer(TrainConfig(lr=2e-4, weight_decay=1e-3))
    assert set(trainer.optimizers) == {"encoder", "generator"}
    names = {id(p): name for name, p in model.named_parameters()}
    owned = {
        key: {names[id(p)] for group in opt.param_groups for p in group["params"]}
        for key, opt in trainer.optimizers.items()
    }
    assert owned["encoder"] == {n for n in names.values() if n.startswith("encoder.")}
    assert owned["generator"] == {n for n in names.values() if n.startswith(("generator.", "quantizer."))}
    for opt in trainer.optimizers.values():
        decay, no_decay = opt.param_groups
        assert decay["weight_decay"] == 1e-3 and no_decay["weight_decay"] == 0.0
        assert decay["betas"] == (0.0, 0.9) and decay["lr"] == 2e-4
        assert all(names[id(p)].endswith(".weight") for p in decay["params"])
    assert "quantizer.values" in {names[id(p)] for p in trainer.optimizers["generator"].param_groups[1]["params"]}


def test_critic_steps_move_the_encoder_and_generator_steps_the_generator_and_codebooks():
    images = _images(8)

    def run(step: int) -> tuple[QLInfoGAN, dict[str, torch.Tensor], dict[str, float]]:
        model = _model(generator_period=2)
        trainer = model.make_trainer(TrainConfig(lr=1e-3, weight_decay=0.0))
        before = {name: p.detach().clone() for name, p in model.named_parameters()}
        torch.manual_seed(1)
        return model, before, trainer.step(lambda: images, step)

    def moved(model, before):
        return {name for name, p in model.named_parameters() if not torch.equal(before[name], p.detach())}

    critic_only, before, logged = run(0)  # (0 + 1) % 2 != 0: the critic only
    assert moved(critic_only, before) == {n for n in before if n.startswith("encoder.")}
    assert set(logged) == {
        "encoder_loss",
        "value_loss",
        "gradient_penalty",
        "latent_loss",
        "quantize",
        "commit",
        "generator_loss",
    }
    assert all(np.isfinite(v) for v in logged.values())

    both, before, logged_both = run(1)  # the same critic update, then the generator and its codebooks
    assert moved(both, before) == set(before)
    assert logged_both == logged  # logged values come from the critic step
    # The generator update left the encoder exactly where the critic update put it.
    for name, parameter in both.named_parameters():
        if name.startswith("encoder."):
            assert torch.equal(parameter, dict(critic_only.named_parameters())[name]), name


def test_latent_loss_falls_on_a_tiny_run():
    # A tiny dSprites run with the generator updated every step (generator_period 1, so that
    # 60 steps are enough): the encoder learns to read back the generator's codes.
    torch.manual_seed(0)
    model = _model(generator_period=1)
    trainer = model.make_trainer(TrainConfig(lr=2e-3, weight_decay=1e-4, batch_size=16))
    dataset, rng = load_dataset(DSPRITES16), np.random.default_rng(0)
    latent = [
        trainer.step(lambda: dataset.images(dataset.sample_train_indices(16, rng)), s)["latent_loss"] for s in range(60)
    ]
    first, last = np.mean(latent[:10]), np.mean(latent[-10:])
    assert np.isfinite(latent).all()
    assert last < 0.6 * first, (first, last)


def test_resume_equals_an_uninterrupted_run(tmp_path, monkeypatch):
    # generator_period 3: generator updates at steps 3 and 6 (1-based), one in each half.
    config = model_config(kind="qlinfogan", latent_dim=4, net=NET16, codebook_size=4, generator_period=3)
    settings = TrainConfig(steps=8, batch_size=8, threads=1, device="cpu", log_every=2, checkpoint_every=4, seed=3)
    straight, resumed, a, b = crash_then_resume(config, DSPRITES16, settings, tmp_path, monkeypatch)
    assert resumed["steps"] == straight["steps"] == 8

    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name
    assert resumed["curves"]["step"] == straight["curves"]["step"] == [2, 4, 6, 8]
    for key in ("encoder_loss", "value_loss", "gradient_penalty", "latent_loss", "generator_loss"):
        assert resumed["curves"][key] == straight["curves"][key], key


# -- the model --------------------------------------------------------------------------


def test_encode_returns_the_codebook_values_of_its_codes():
    model = _model()
    with torch.no_grad():
        model.quantizer.values.add_(torch.randn_like(model.quantizer.values) * 0.05)  # not linspace
        encoding = model.encode(_images(8))
    codebooks = model.codebooks()
    assert encoding.codes.shape == encoding.latent.shape == (8, 4) and encoding.codes.dtype == torch.int64
    assert torch.equal(encoding.latent, codebooks[torch.arange(4), encoding.codes])
    assert encoding.scale is None


def test_prior_samples_are_codebook_values_and_decode_is_an_image():
    model = _model()
    samples = model.sample_prior(64, torch.Generator().manual_seed(0)).detach()
    assert samples.shape == (64, 4)
    for d in range(4):
        assert set(samples[:, d].tolist()) <= set(model.codebooks()[d].tolist())
    again = model.sample_prior(64, torch.Generator().manual_seed(0)).detach()
    assert torch.equal(samples, again)
    with torch.no_grad():
        images = model.decode(samples[:5])
    assert images.shape == (5, 1, 16, 16)
    assert images.min() >= 0 and images.max() <= 1


def test_noise_inputs_train_and_decode_deterministically():
    model = _model(noise_dim=3)
    trainer = model.make_trainer(TrainConfig(lr=1e-3))
    images = _images(8)
    for step in range(2):
        assert all(np.isfinite(v) for v in trainer.step(lambda: images, step).values())
    latents = model.sample_prior(4).detach()
    with torch.no_grad():
        first, second = model.decode(latents), model.decode(latents)
        assert torch.equal(first, second)
        assert torch.equal(model.decode_logits(latents), model.generate_logits(latents, torch.zeros(4, 3)))


def test_registry_accepts_the_family():
    family = families()["qlinfogan"]
    assert family.config is QLInfoGANConfig and family.model is QLInfoGAN
    assert family.capabilities.codes and family.capabilities.sample
    assert not (family.capabilities.posterior or family.capabilities.ordered or family.capabilities.likelihood)
    assert issubclass(QLInfoGAN, DiscreteCodes) and issubclass(QLInfoGAN, PriorSampling)
    config = model_config(kind="qlinfogan", latent_dim=3)
    assert isinstance(config, QLInfoGANConfig)
    assert (config.codebook_size, config.lambda_value, config.lambda_gradient, config.lambda_latent) == (
        10,
        1.0,
        10.0,
        200.0,
    )
    assert (config.quantize_weight, config.commit_weight, config.generator_period, config.noise_dim) == (
        0.01,
        0.01,
        5,
        0,
    )
    assert (config.beta1, config.beta2) == (0.0, 0.9)
    with pytest.raises(ValueError):
        model_config(kind="qlinfogan", latent_dim=3, quantize_warmup=5)  # QLAE's option, not this family's
