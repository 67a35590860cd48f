"""QLAE's latent quantiser and losses: nearest codes, straight-through gradients,
data-dependent codebook initialisation, and which loss term moves which parameters."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentatlas.families import build_model, model_config
from latentatlas.families.qlae import QLAE
from latentatlas.nets import NetConfig
from latentatlas.nets.quantizer import LatentQuantizer

NET = NetConfig(image_size=16, channels=1, widths=(8, 8), hidden=16)


def _qlae(**overrides) -> QLAE:
    torch.manual_seed(0)
    config = model_config(kind="qlae", latent_dim=4, net=NET, codebook_size=5, **overrides)
    model = build_model(config)
    assert isinstance(model, QLAE)
    return model


def _images(n: int = 8, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 1, 16, 16, generator=generator) > 0.7).float()


# -- the quantiser ----------------------------------------------------------------------


def test_codebooks_start_evenly_spaced():
    quantizer = LatentQuantizer(latent_dim=3, codebook_size=10)
    assert quantizer.values.shape == (3, 10)
    for row in quantizer.values.detach():
        torch.testing.assert_close(row, torch.linspace(-0.5, 0.5, 10))


def test_codes_pick_the_nearest_value_per_dimension():
    quantizer = LatentQuantizer(latent_dim=3, codebook_size=6)
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():  # a different, unsorted codebook per dimension
        quantizer.values.copy_(torch.randn(3, 6, generator=generator) * torch.tensor([[1.0], [3.0], [0.1]]))
    continuous = torch.randn(200, 3, generator=generator) * 2
    codes = quantizer.codes(continuous)
    assert codes.shape == (200, 3) and codes.dtype == torch.int64
    values = quantizer.values.detach().numpy()
    x = continuous.numpy()
    expected = np.array([[np.argmin(np.abs(values[d] - x[i, d])) for d in range(3)] for i in range(200)])
    np.testing.assert_array_equal(codes.numpy(), expected)
    looked_up = quantizer.lookup(codes)
    np.testing.assert_array_equal(looked_up.detach().numpy(), np.take_along_axis(values.T, expected, axis=0))
    # No value is closer than the chosen one.
    distance = (continuous - looked_up).abs()
    assert (distance.unsqueeze(-1) <= (continuous.unsqueeze(-1) - quantizer.values.unsqueeze(0)).abs() + 1e-7).all()


def test_exact_codebook_values_map_to_themselves():
    quantizer = LatentQuantizer(latent_dim=2, codebook_size=4)
    values = quantizer.values.detach()
    codes = torch.tensor([[0, 3], [1, 2], [3, 0]])
    assert torch.equal(quantizer.codes(quantizer.lookup(codes)), codes)
    torch.testing.assert_close(
        quantizer(quantizer.lookup(codes)), torch.stack([values[0, codes[:, 0]], values[1, codes[:, 1]]], 1)
    )


def test_straight_through_value_is_quantised_and_gradient_is_identity():
    quantizer = LatentQuantizer(latent_dim=4, codebook_size=7)
    continuous = torch.randn(16, 4, generator=torch.Generator().manual_seed(2), requires_grad=True)
    out = quantizer(continuous)
    torch.testing.assert_close(out, quantizer.lookup(quantizer.codes(continuous)), rtol=0, atol=0)
    assert not torch.equal(out, continuous)
    weights = torch.randn(16, 4, generator=torch.Generator().manual_seed(3))
    (out * weights).sum().backward()
    # d out / d continuous = I: the upstream gradient passes through unchanged.
    torch.testing.assert_close(continuous.grad, weights, rtol=0, atol=0)
    # The forward pass alone gives the codebook no gradient (that is the quantisation loss's job).
    assert quantizer.values.grad is None or torch.count_nonzero(quantizer.values.grad) == 0


def test_straight_through_gradient_of_a_sum_is_ones():
    quantizer = LatentQuantizer(latent_dim=3, codebook_size=5)
    continuous = torch.randn(10, 3, generator=torch.Generator().manual_seed(4), requires_grad=True)
    quantizer(continuous).sum().backward()
    assert torch.equal(continuous.grad, torch.ones_like(continuous))


def test_init_from_quantiles_spreads_codes_over_the_batch():
    quantizer = LatentQuantizer(latent_dim=3, codebook_size=10)
    generator = torch.Generator().manual_seed(5)
    # Tiny, shifted encoder outputs: the default codebook would give almost every sample one code.
    batch = torch.randn(1000, 3, generator=generator) * torch.tensor([0.01, 0.02, 0.005]) + torch.tensor(
        [0.3, -0.2, 0.0]
    )
    assert max(len(quantizer.codes(batch)[:, d].unique()) for d in range(3)) <= 3
    quantizer.init_from_quantiles(batch)
    values = quantizer.values.detach()
    assert (values.diff(dim=1) > 0).all()  # sorted, distinct
    assert (values.min(dim=1).values >= batch.min(dim=0).values).all()
    assert (values.max(dim=1).values <= batch.max(dim=0).values).all()
    codes = quantizer.codes(batch)
    for d in range(3):
        counts = torch.bincount(codes[:, d], minlength=10)
        assert (counts > 0).all(), counts  # every code is in use
        assert counts.max() < 3 * counts.min(), counts  # roughly evenly
    assert quantizer.values.requires_grad  # still a parameter after the in-place reset


# -- the model --------------------------------------------------------------------------


def test_encode_returns_codebook_values_matching_codes():
    model = _qlae().eval()
    images = _images()
    with torch.no_grad():
        model.quantizer.init_from_quantiles(model.encoder(images))  # so the codes differ between images
        latent = model.encode(images).latent
        codes = model.encode(images).codes
    assert latent.shape == codes.shape == (8, 4)
    assert codes.dtype == torch.int64 and codes.min() >= 0 and codes.max() < 5
    values = model.quantizer.values.detach()
    expected = torch.stack([values[d, codes[:, d]] for d in range(4)], dim=1)
    assert torch.equal(latent, expected)
    assert model.encode(images).scale is None
    assert len(codes.unique()) > 1
    assert model.capabilities.codes and torch.equal(model.codebooks(), values)


def test_prior_samples_are_codebook_values():
    model = _qlae().eval()
    latents = model.sample_prior(64, torch.Generator().manual_seed(0))
    values = model.codebooks()
    assert latents.shape == (64, 4)
    for d in range(4):
        assert set(latents[:, d].tolist()) <= set(values[d].tolist())


def test_decode_outputs_images_in_unit_range():
    model = _qlae().eval()
    with torch.no_grad():
        images = model.decode(torch.randn(3, 4))
    assert images.shape == (3, 1, 16, 16)
    assert images.min() >= 0 and images.max() <= 1


def test_loss_parts_are_finite():
    model = _qlae()
    total, parts = model.loss(_images(), step=0)
    assert set(parts) == {"loss", "recon", "quantize", "commit"}
    assert all(np.isfinite(value) for value in parts.values())
    assert torch.isfinite(total) and total.item() == pytest.approx(parts["loss"])
    assert parts["quantize"] == pytest.approx(parts["commit"])  # the same distance, stopped on opposite sides
    config = model.config
    assert parts["loss"] == pytest.approx(
        parts["recon"] + config.quantize_weight * parts["quantize"] + config.commit_weight * parts["commit"], rel=1e-5
    )


def test_first_training_step_initialises_the_codebooks_from_the_batch():
    model = _qlae()
    images = _images(64)
    before = model.quantizer.values.detach().clone()
    model.loss(images, step=0)
    after = model.quantizer.values.detach()
    assert not torch.equal(before, after)
    with torch.no_grad():
        continuous = model.encoder(images)
    assert (after.min(dim=1).values >= continuous.min(dim=0).values - 1e-6).all()
    assert (after.max(dim=1).values <= continuous.max(dim=0).values + 1e-6).all()
    model.loss(images, step=1)  # only step 0 resets them
    assert torch.equal(model.quantizer.values.detach(), after)


def _gradients(model: QLAE, state: dict, images: torch.Tensor) -> dict[str, torch.Tensor]:
    model.load_state_dict(state)
    model.zero_grad(set_to_none=True)
    total, _ = model.loss(images, step=10_000)  # past the warm-up: the paper's QLAE
    total.backward()
    return {
        name: (p.grad.clone() if p.grad is not None else torch.zeros_like(p)) for name, p in model.named_parameters()
    }


def test_quantize_loss_moves_only_codebooks_and_commit_loss_only_the_encoder():
    images = _images(16, seed=6)
    state = _qlae().state_dict()
    recon_only = _gradients(_qlae(quantize_weight=0.0, commit_weight=0.0), state, images)
    quantize_only = _gradients(_qlae(quantize_weight=1.0, commit_weight=0.0), state, images)
    commit_only = _gradients(_qlae(quantize_weight=0.0, commit_weight=1.0), state, images)

    codebook = "quantizer.values"
    encoder = [name for name in recon_only if name.startswith("encoder.")]
    decoder = [name for name in recon_only if name.startswith("decoder.")]
    assert encoder and decoder

    # The reconstruction (straight-through) and commitment terms give the codebooks nothing ...
    assert torch.count_nonzero(recon_only[codebook]) == 0
    assert torch.count_nonzero(commit_only[codebook]) == 0
    # ... the quantisation term does.
    assert torch.count_nonzero(quantize_only[codebook]) > 0
    # The quantisation term does not reach the encoder or the decoder.
    for name in encoder + decoder:
        torch.testing.assert_close(quantize_only[name], recon_only[name], rtol=0, atol=0)
    # The commitment term reaches the encoder but not the decoder.
    assert any(not torch.allclose(commit_only[name], recon_only[name]) for name in encoder)
    for name in decoder:
        torch.testing.assert_close(commit_only[name], recon_only[name], rtol=0, atol=0)


def test_quantize_loss_pulls_codebook_values_towards_the_encoder_outputs():
    model = _qlae(quantize_weight=1.0, commit_weight=0.0)
    images = _images(16, seed=7)
    model.zero_grad(set_to_none=True)
    total, _parts = model.loss(images, step=10_000)
    total.backward()
    with torch.no_grad():
        continuous = model.encoder(images)
        codes = model.quantizer.codes(continuous)
        chosen = model.quantizer.lookup(codes)
    # d/dv mean((sg(z_c) - v)^2) = -2 (z_c - v) / numel, summed over the samples that picked v.
    expected = torch.zeros_like(model.quantizer.values)
    expected.scatter_add_(1, codes.T, (-2 * (continuous - chosen) / continuous.numel()).T)
    torch.testing.assert_close(model.quantizer.values.grad, expected, rtol=1e-5, atol=1e-8)
