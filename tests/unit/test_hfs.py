"""HFS: the pairwise Hausdorff factorised-support penalty on examples computed by hand, the loss
it enters, a tiny dSprites run, the registry and the CLI."""

from __future__ import annotations

import math

import pytest
import torch
from typer.testing import CliRunner

from latentatlas.cli import app
from latentatlas.families import build_model, families, model_config
from latentatlas.families.configs import HFSConfig
from latentatlas.families.hfs import HFS, hausdorff_support_penalty, pair_hausdorff
from latentatlas.nets import NetConfig
from train_helpers import assert_a_few_steps_lower_the_loss

NET16 = NetConfig(image_size=16, channels=1, widths=(8, 8), hidden=32)


def _model(**overrides) -> HFS:
    torch.manual_seed(0)
    model = build_model(model_config(**{"kind": "hfs", "latent_dim": 3, "net": NET16, **overrides}))
    assert isinstance(model, HFS)
    return model


def test_three_points_missing_a_corner():
    # Joint support {(0,0), (1,0), (0,1)}; factorised support {0,1} x {0,1} adds (1,1), whose
    # nearest joint points (1,0) and (0,1) are at squared distance 1: the Hausdorff distance is 1.
    z = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert float(pair_hausdorff(z[:, 0], z[:, 1])) == 1.0
    assert float(hausdorff_support_penalty(z)) == 1.0


def test_a_full_grid_has_factorised_support():
    z = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [0.5, 0.0], [0.5, 1.0]])
    assert float(hausdorff_support_penalty(z)) == 0.0


def test_penalty_sums_the_pairs():
    # Columns 0 and 1 on the diagonal {(0,0), (1,1), (2,2)}: the factorised corners (0,2) and (2,0)
    # are at squared distance 1 + 1 = 2 from (1,1), the farthest. Column 2 = 2 - column 0: the
    # anti-diagonal, also 2 for pairs (0,2) and (1,2). Sum: 6.
    z = torch.tensor([[0.0, 0.0, 2.0], [1.0, 1.0, 1.0], [2.0, 2.0, 0.0]])
    assert float(pair_hausdorff(z[:, 0], z[:, 1])) == 2.0
    assert float(hausdorff_support_penalty(z)) == 6.0
    assert float(hausdorff_support_penalty(z[:, :1])) == 0.0  # one latent: no pairs


def test_penalty_is_max_over_min_and_not_symmetric_chamfer():
    # Random columns: the definition written out with loops.
    generator = torch.Generator().manual_seed(1)
    z = torch.randn(5, 2, generator=generator)
    worst = 0.0
    for a in range(5):
        for b in range(5):
            nearest = min(float((z[a, 0] - z[c, 0]) ** 2 + (z[b, 1] - z[c, 1]) ** 2) for c in range(5))
            worst = max(worst, nearest)
    assert math.isclose(float(hausdorff_support_penalty(z)), worst, rel_tol=1e-6)


def test_loss_is_the_beta_vae_plus_gamma_times_the_penalty_on_the_means():
    model = _model(beta=2.0, gamma=3.0)
    images = (torch.rand(8, 1, 16, 16, generator=torch.Generator().manual_seed(0)) > 0.7).float()
    with torch.no_grad():
        torch.manual_seed(1)
        total, parts = model.loss(images, 0)
        mean, _ = model.posterior(images)
    assert math.isclose(parts["support"], float(hausdorff_support_penalty(mean)), rel_tol=1e-6)
    assert math.isclose(float(total), parts["recon"] + 2.0 * parts["kl"] + 3.0 * parts["support"], rel_tol=1e-5)
    assert set(parts) == {"loss", "recon", "kl", "support"} | {f"kl_dim_{d}" for d in range(model.config.latent_dim)}


def test_penalty_reaches_the_encoder():
    model = _model(gamma=1.0)
    mean, _ = model.posterior((torch.rand(8, 1, 16, 16) > 0.7).float())
    hausdorff_support_penalty(mean).backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.parameters())


def test_a_few_steps_on_dsprites_lower_the_loss():
    model = _model(latent_dim=4)
    assert_a_few_steps_lower_the_loss(model)


def test_registry_defaults_and_help():
    family = families()["hfs"]
    assert family.config is HFSConfig and family.model is HFS
    assert family.capabilities.posterior and family.capabilities.sample
    config = model_config(kind="hfs", latent_dim=10)
    assert (config.beta, config.gamma) == (1.0, 1.0)
    with pytest.raises(ValueError):
        model_config(kind="hfs", latent_dim=3, gamma=-1.0)
    result = CliRunner().invoke(app, ["train", "hfs", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "--gamma" in result.output and "--beta" in result.output and "factorised-support" in result.output
