"""The negative-free contrastive families (BYOL, SimSiam, Barlow Twins): each loss against a hand
computation, BYOL's EMA target and its schedule, the augmentations, a few steps on dSprites,
bitwise resume through the generic loop, the registry and the CLI."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from latentatlas.cli import app
from latentatlas.data.registry import load_dataset
from latentatlas.data.spec import DatasetSpec
from latentatlas.families import build_model, families, model_config
from latentatlas.families.barlow import barlow_twins_loss
from latentatlas.families.byol import BYOL, byol_loss, target_momentum
from latentatlas.families.contrastive import ContrastiveModel
from latentatlas.families.simsiam import simsiam_loss
from latentatlas.nets import NetConfig
from latentatlas.nets.augment import Augmentations, augment
from latentatlas.train import TrainConfig
from train_helpers import crash_then_resume

KINDS = ("byol", "simsiam", "barlow")
NET16 = NetConfig(image_size=16, channels=1, widths=(8, 8), hidden=32)
DSPRITES16 = DatasetSpec(name="dsprites", image_size=16)
SMALL_HEADS = {
    "byol": {"projector_hidden": 32, "projector_dim": 16, "predictor_hidden": 32},
    "simsiam": {"projector_dim": 32, "predictor_hidden": 8},
    "barlow": {"projector_dim": 32},
}


def _model(kind: str, **overrides) -> ContrastiveModel:
    torch.manual_seed(0)
    model = build_model(model_config(kind=kind, latent_dim=16, net=NET16, **SMALL_HEADS[kind], **overrides))
    assert isinstance(model, ContrastiveModel)
    return model


def _rows() -> tuple[torch.Tensor, torch.Tensor]:
    a = torch.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0], [2.0, 0.5, -1.0], [-1.0, 1.0, 1.0]])
    b = torch.tensor([[0.5, 1.0, 1.5], [1.0, -2.0, 2.0], [2.5, 0.0, -0.5], [-0.5, 2.0, 0.0]])
    return a, b


def _hand_cosines(a: torch.Tensor, b: torch.Tensor) -> list[float]:
    out = []
    for x, y in zip(a.tolist(), b.tolist(), strict=True):
        dot = sum(p * q for p, q in zip(x, y, strict=True))
        out.append(dot / math.sqrt(sum(p * p for p in x) * sum(q * q for q in y)))
    return out


def test_byol_loss_is_the_normalised_mse_two_minus_two_cosine():
    a, b = _rows()
    cosines = _hand_cosines(a, b)
    normalised_mse = [
        sum(
            (p / math.sqrt(sum(v * v for v in x)) - q / math.sqrt(sum(v * v for v in y))) ** 2
            for p, q in zip(x, y, strict=True)
        )
        for x, y in zip(a.tolist(), b.tolist(), strict=True)
    ]
    assert normalised_mse == pytest.approx([2 - 2 * c for c in cosines], rel=1e-6)
    assert float(byol_loss(a, b)) == pytest.approx(sum(normalised_mse) / 4, rel=1e-6)


def test_simsiam_loss_is_the_negative_cosine_and_stops_the_gradient_into_the_target():
    a, b = _rows()
    a.requires_grad_(True)
    b.requires_grad_(True)
    loss = simsiam_loss(a, b)
    assert loss.item() == pytest.approx(-sum(_hand_cosines(a.detach(), b.detach())) / 4, rel=1e-6)
    loss.backward()
    assert b.grad is None  # sg(z): nothing flows into the target branch
    assert a.grad is not None
    assert a.grad.abs().sum() > 0


def test_simsiam_model_gradient_reaches_the_projector_only_through_the_prediction_branch():
    model = _model("simsiam")
    z = torch.randn(6, 32, requires_grad=True)
    simsiam_loss(model.predictor(z), z).backward()
    # z enters as prediction input and as target; the target side is cut, so the gradient equals
    # the one through the predictor alone.
    expected = torch.autograd.grad(simsiam_loss(model.predictor(z), z.detach()), z)[0]
    assert torch.allclose(z.grad, expected)


def test_barlow_twins_loss_against_a_hand_computation():
    a, b = _rows()
    n, d, lam = a.shape[0], a.shape[1], 0.3

    def standardise(column: list[float]) -> list[float]:
        mean = sum(column) / n
        sd = math.sqrt(sum((v - mean) ** 2 for v in column) / n + 1e-5)
        return [(v - mean) / sd for v in column]

    za = [standardise([row[j] for row in a.tolist()]) for j in range(d)]  # per dimension
    zb = [standardise([row[j] for row in b.tolist()]) for j in range(d)]
    c = [[sum(za[i][k] * zb[j][k] for k in range(n)) / n for j in range(d)] for i in range(d)]
    on = sum((1 - c[i][i]) ** 2 for i in range(d))
    off = sum(c[i][j] ** 2 for i in range(d) for j in range(d) if i != j)
    total, on_term, off_term = barlow_twins_loss(a, b, lam)
    assert float(on_term) == pytest.approx(on, rel=1e-5)
    assert float(off_term) == pytest.approx(off, rel=1e-5)
    assert float(total) == pytest.approx(on + lam * off, rel=1e-5)
    _, identical_on, _ = barlow_twins_loss(a, a, lam)
    assert float(identical_on) == pytest.approx(0.0, abs=1e-5)  # a view correlates perfectly with itself


def test_barlow_lambda_is_the_papers_scaled_to_the_projector_width():
    assert model_config(kind="barlow", latent_dim=8, projector_dim=8192).off_diagonal_lambda == pytest.approx(5e-3)
    assert model_config(kind="barlow", latent_dim=8).off_diagonal_lambda == pytest.approx(0.04)  # width 1024
    assert model_config(kind="barlow", latent_dim=8, offdiag_weight=0.1).off_diagonal_lambda == 0.1


def test_byol_target_starts_as_the_online_network_and_follows_it_by_ema():
    model = _model("byol")
    assert isinstance(model, BYOL)
    pairs = model.online_pairs()
    assert all(torch.equal(t, o) and not t.requires_grad for t, o in pairs)
    with torch.no_grad():
        for _, online in pairs:
            online.add_(torch.randn_like(online))
    before = [(t.clone(), o.clone()) for t, o in pairs]
    model.update_target(0.9)
    for (target, online), (old_target, old_online) in zip(pairs, before, strict=True):
        assert torch.allclose(target, 0.9 * old_target + 0.1 * old_online)
        assert torch.equal(online, old_online)


def test_byol_tau_schedule_rises_from_tau_base_to_one():
    assert target_momentum(0.996, 0, 100) == pytest.approx(0.996)
    assert target_momentum(0.996, 50, 100) == pytest.approx(0.998)
    assert target_momentum(0.996, 100, 100) == pytest.approx(1.0)


def test_byol_trainer_moves_the_online_network_by_gradient_and_the_target_by_ema_only():
    model = _model("byol")
    trainer = model.make_trainer(TrainConfig(steps=10, lr=1e-2, weight_decay=0.0))
    owned = {id(p) for group in trainer.optimizers["model"].param_groups for p in group["params"]}
    assert not any(id(t) in owned for t, _ in model.online_pairs())
    images = _dsprites_batch(8)
    logged = trainer.step(lambda: images, 0)
    assert set(logged) == {"loss", "tau"}
    assert logged["tau"] == pytest.approx(0.996)
    for target, online in model.online_pairs():  # xi = tau xi0 + (1 - tau) theta1, xi0 = theta0
        assert not torch.equal(target, online)


def _dsprites_batch(n: int, seed: int = 0) -> torch.Tensor:
    dataset = load_dataset(DSPRITES16)
    return dataset.images(dataset.sample_train_indices(n, np.random.default_rng(seed)))


@pytest.mark.parametrize("channels", [1, 3])
def test_augmentations_keep_shape_and_range_and_are_seeded(channels):
    images = torch.rand(6, channels, 16, 16, generator=torch.Generator().manual_seed(1))
    settings = Augmentations(flip_probability=0.5)
    first = augment(images, settings, torch.Generator().manual_seed(7))
    again = augment(images, settings, torch.Generator().manual_seed(7))
    other = augment(images, settings, torch.Generator().manual_seed(8))
    assert first.shape == images.shape
    assert first.dtype == images.dtype
    assert first.min() >= 0
    assert first.max() <= 1
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    assert not torch.equal(first, images)


def test_a_constant_image_stays_constant_and_colour_jitter_touches_rgb_only():
    flat = torch.full((2, 1, 16, 16), 0.6)
    assert torch.allclose(augment(flat, Augmentations(), torch.Generator().manual_seed(0)), flat, atol=1e-5)
    grey = torch.rand(3, 1, 16, 16, generator=torch.Generator().manual_seed(2))
    no_jitter, jitter = Augmentations(colour_jitter=0.0), Augmentations(colour_jitter=0.9)
    same_seed = [augment(grey, settings, torch.Generator().manual_seed(4)) for settings in (no_jitter, jitter)]
    assert torch.equal(*same_seed)
    rgb = grey.expand(-1, 3, -1, -1)
    assert not torch.equal(
        *[augment(rgb, settings, torch.Generator().manual_seed(4)) for settings in (no_jitter, jitter)]
    )


@pytest.mark.parametrize("kind", KINDS)
def test_a_few_steps_on_dsprites_lower_the_loss(kind):
    model = _model(kind)
    trainer = model.make_trainer(TrainConfig(steps=40, lr=3e-3, weight_decay=0.0))
    images = _dsprites_batch(32)
    losses = [trainer.step(lambda: images, s)["loss"] for s in range(30)]
    assert np.isfinite(losses).all()
    assert np.mean(losses[-5:]) < np.mean(losses[:5]) - 0.05 * abs(np.mean(losses[:5])), (losses[:5], losses[-5:])


@pytest.mark.parametrize("kind", KINDS)
def test_encoder_only_capabilities_and_representation(kind):
    family = families()[kind]
    caps = family.capabilities
    assert caps.encode
    assert caps.train
    assert not caps.decode
    assert not caps.sample
    assert not caps.posterior
    model = _model(kind).eval()
    assert model.encode(_dsprites_batch(3)).latent.shape == (3, 16)
    with pytest.raises(TypeError, match="no decoder"):
        model.decode(torch.zeros(1, 16))
    assert family.config.default_latent_dim(NetConfig(), 5) == 256


def test_byol_crash_then_resume_is_bitwise_equal_ema_target_included(tmp_path, monkeypatch):
    config = model_config(kind="byol", latent_dim=8, net=NET16, **SMALL_HEADS["byol"])
    settings = TrainConfig(steps=6, batch_size=8, threads=1, device="cpu", log_every=2, checkpoint_every=4, seed=3)
    straight, resumed, a, b = crash_then_resume(config, DSPRITES16, settings, tmp_path, monkeypatch)
    assert a.keys() == b.keys()
    assert any(name.startswith("target_backbone.") for name in a)
    for name in a:
        assert torch.equal(a[name], b[name]), name
    assert resumed["curves"]["loss"] == straight["curves"]["loss"]
    assert "psnr_db" not in straight["heldout"]
    assert len(straight["latent_stats"]["mean"]) == 8
    assert not (tmp_path / "straight" / "reconstructions.png").exists()


def test_train_help_lists_the_options():
    result = CliRunner().invoke(app, ["train", "byol", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for option in (
        "--tau-base",
        "--projector-hidden",
        "--predictor-hidden",
        "--crop-min-area",
        "--colour-jitter",
        "--flip-probability",
        "--blur-probability",
    ):
        assert option in result.output, option
    assert "1.5e-06" in result.output  # --weight-decay starts from the paper's (train_defaults)
    barlow = CliRunner().invoke(app, ["train", "barlow", "--help"], env={"COLUMNS": "200"})
    assert barlow.exit_code == 0
    assert "--offdiag-weight" in barlow.output
