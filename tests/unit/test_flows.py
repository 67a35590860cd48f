"""Invertible flow blocks (exact inverses and log-determinants) and the EOFlow model: its
Jacobian-column estimator, PCA ordering on Gaussian data, and training through the loop."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from latentatlas.data.spec import DatasetSpec
from latentatlas.evaluation.flow import PCA, evaluate_flow, keep_grid
from latentatlas.families import FamilyConfig, build_model, model_config
from latentatlas.families.eoflow import (
    EOFlow,
    balanced_directions,
    eoflow_terms,
    exact_jacobian_column_log_norms,
    jacobian_column_log_norms,
)
from latentatlas.nets import NetConfig
from latentatlas.nets.flows import (
    ActNorm,
    Affine,
    AffineCoupling,
    Flatten,
    FlowSequence,
    InvertibleLinear,
    Logit,
    Permutation,
    PrincipalRotation,
    Squeeze,
    conv_conditioner,
    image_flow,
    mlp_conditioner,
    vector_flow,
)
from latentatlas.store import load_model_folder
from latentatlas.train import TrainConfig, refinalize_folder, train


def _randomise(flow: nn.Module, seed: int = 0) -> nn.Module:
    """Give zero-initialised conditioner outputs random weights, so couplings are not the identity."""
    generator = torch.Generator().manual_seed(seed)
    for module in flow.modules():
        if isinstance(module, AffineCoupling):
            last = module.conditioner[-1]
            with torch.no_grad():
                last.weight.copy_(0.3 * torch.randn(last.weight.shape, generator=generator))
                last.bias.copy_(0.3 * torch.randn(last.bias.shape, generator=generator))
    return flow


MODULES = {
    "actnorm": (lambda: ActNorm(4), (5, 4, 3, 3)),
    "permutation": (lambda: Permutation(6, seed=1), (5, 6)),
    "linear": (lambda: InvertibleLinear(4, seed=2), (5, 4, 2, 2)),
    "coupling_mlp": (lambda: AffineCoupling(5, mlp_conditioner(8)), (5, 5)),
    "coupling_conv": (lambda: AffineCoupling(4, conv_conditioner(8)), (5, 4, 4, 4)),
    "squeeze": (lambda: Squeeze(), (5, 2, 4, 4)),
    "flatten": (lambda: Flatten((2, 3, 3)), (5, 2, 3, 3)),
    "affine": (lambda: Affine(2.5, 0.3), (5, 3, 2, 2)),
    "logit": (lambda: Logit(0.05), (5, 3, 2, 2)),
    "vector_flow": (lambda: vector_flow(6, blocks=2, hidden=8), (5, 6)),
    "image_flow": (lambda: image_flow(1, 8, levels=2, blocks=2, hidden=8), (5, 1, 8, 8)),
}


def _input(shape: tuple[int, ...], name: str) -> torch.Tensor:
    x = torch.rand(shape) if name == "logit" else 2 * torch.randn(shape) + 0.5
    return x


@pytest.mark.parametrize("name", list(MODULES))
def test_inverse_is_exact(name):
    torch.manual_seed(0)
    factory, shape = MODULES[name]
    flow = _randomise(factory())
    x = _input(shape, name)
    flow(x)  # ActNorm's data-dependent initialisation happens here
    with torch.no_grad():
        y, logdet = flow(x)
        assert logdet.shape == (shape[0],)
        assert torch.isfinite(y).all()
        assert (flow.inverse(y) - x).abs().max() < 1e-5
        # ... and the other way round
        assert (flow(flow.inverse(y))[0] - y).abs().max() < 1e-4


def test_actnorm_initialises_from_the_first_batch_only():
    x = 3 * torch.randn(64, 3, 4, 4) + 2
    norm = ActNorm(3)
    y, _ = norm(x)
    assert y.mean(dim=(0, 2, 3)).abs().max() < 1e-5
    assert (y.std(dim=(0, 2, 3), correction=0) - 1).abs().max() < 1e-4
    before = norm.loc.detach().clone()
    norm(x + 10)
    assert torch.equal(norm.loc.detach(), before) and bool(norm.initialized)


def test_principal_rotation_fits_the_principal_axes_and_inverts_exactly():
    torch.manual_seed(0)
    mixing = torch.randn(5, 5)
    x = torch.randn(2000, 5) * torch.tensor([5.0, 3.0, 2.0, 1.0, 0.5]) @ mixing + 3
    rotation = PrincipalRotation(5)
    variances = rotation.fit(x)
    assert torch.all(variances[:-1] >= variances[1:])
    assert torch.allclose(rotation.rotation.T @ rotation.rotation, torch.eye(5), atol=1e-5)
    y, logdet = rotation(x)
    assert torch.equal(logdet, torch.zeros(2000))
    assert torch.allclose(y.var(dim=0), variances, rtol=1e-3)  # decorrelated, largest first
    # ... to the precision of the float16 reflectors: axes 10x apart in sd leak ~10 x 2^-11.
    assert torch.allclose(torch.corrcoef(y.T), torch.eye(5), atol=5e-3)
    assert (rotation.inverse(y) - x).abs().max() < 1e-4


def test_principal_rotation_stores_householder_factors_and_rebuilds_the_same_rotation():
    features = 64
    assert torch.equal(PrincipalRotation(features).rotation, torch.eye(features))  # the identity before fit
    target, _ = torch.linalg.qr(
        torch.randn(features, features, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    )
    target[:, 3] *= -1  # a reflection (det -1) is stored as well as a rotation
    rotation = PrincipalRotation(features)
    change = rotation.set_rotation(target)
    assert change == pytest.approx(float((rotation.rotation.double() - target).abs().max()))
    assert 0 < change < 1e-3  # float16 reflectors
    eye = torch.eye(features, dtype=torch.float64)
    assert (
        rotation.rotation.double().T @ rotation.rotation.double() - eye
    ).abs().max() < 1e-6  # orthogonal whatever the rounding
    state = rotation.state_dict()
    assert set(state) == {"mean", "reflectors", "signs"}
    assert state["reflectors"].dtype == torch.float16 and state["reflectors"].numel() == features * (features - 1) // 2
    loaded = PrincipalRotation(features)
    loaded.load_state_dict(state)
    assert torch.equal(loaded.rotation, rotation.rotation)  # what training used is what loads


def test_couplings_start_as_identity():
    x = torch.randn(3, 4, 4, 4)
    y, logdet = AffineCoupling(4, conv_conditioner(8))(x)
    assert torch.equal(y, x) and torch.equal(logdet, torch.zeros(3))


TINY = {  # modules on inputs small enough for a full autograd Jacobian
    "actnorm": (lambda: ActNorm(2), (1, 2, 2, 2)),
    "permutation": (lambda: Permutation(6, seed=1), (1, 6)),
    "linear": (lambda: InvertibleLinear(4, seed=2), (1, 4, 2, 1)),
    "coupling_mlp": (lambda: AffineCoupling(5, mlp_conditioner(8)), (1, 5)),
    "coupling_conv": (lambda: AffineCoupling(4, conv_conditioner(8)), (1, 4, 2, 2)),
    "squeeze": (lambda: Squeeze(), (1, 2, 2, 2)),
    "affine": (lambda: Affine(2.5, 0.3), (1, 2, 2, 2)),
    "logit": (lambda: Logit(0.05), (1, 2, 2, 2)),
    "vector_flow": (lambda: vector_flow(6, blocks=2, hidden=8), (1, 6)),
    "image_flow": (lambda: image_flow(1, 4, levels=1, blocks=2, hidden=8), (1, 1, 4, 4)),
}


@pytest.mark.parametrize("name", list(TINY))
def test_logdet_matches_autograd_jacobian(name):
    torch.manual_seed(1)
    factory, shape = TINY[name]
    flow = _randomise(factory()).double()
    x = _input(shape, name).double()
    flow(torch.cat([x, _input(shape, name).double()]))  # initialise ActNorm on a 2-sample batch
    _, logdet = flow(x)
    jacobian = torch.autograd.functional.jacobian(lambda v: flow(v.view(shape))[0].flatten(), x.flatten())
    assert jacobian.shape[0] == jacobian.shape[1]
    expected = torch.linalg.slogdet(jacobian)[1]
    assert torch.allclose(logdet[0], expected, atol=1e-8)


def test_preprocessing_pipeline_logdet_and_bounds():
    """Logit after dequantisation centring: finite everywhere on [0, 1], including 0 and 1."""
    pre = FlowSequence([Affine(255 / 256, -0.5 / 255), Logit(0.05)]).double()
    x = torch.tensor([[0.0, 1.0, 0.5, 0.2]], dtype=torch.float64)
    y, logdet = pre(x)
    assert torch.isfinite(y).all()
    jacobian = torch.autograd.functional.jacobian(lambda v: pre(v.unsqueeze(0))[0][0], x[0])
    assert torch.allclose(logdet[0], torch.linalg.slogdet(jacobian)[1])
    assert torch.allclose(pre.inverse(y), x)


# -- the Jacobian-column estimator ---------------------------------------------------------------


def _exact_log_norms(decode, z: torch.Tensor) -> torch.Tensor:
    rows = []
    for zi in z:
        jac = torch.autograd.functional.jacobian(lambda v: decode(v.unsqueeze(0))[0], zi)
        rows.append(jac.norm(dim=0).log())
    return torch.stack(rows)


def _tiny_flow(d: int = 4) -> FlowSequence:
    torch.manual_seed(3)
    flow = _randomise(vector_flow(d, blocks=2, hidden=8), seed=3)
    flow(torch.randn(32, d) * 2)
    return flow


def test_jvp_columns_match_exact_jacobian_columns():
    flow = _tiny_flow()
    z = torch.randn(6, 4)
    exact = _exact_log_norms(flow.inverse, z)
    dims = torch.tensor([0, 1, 2, 3, 1, 3])
    estimated = jacobian_column_log_norms(flow.inverse, z, dims)
    assert torch.allclose(estimated, exact[torch.arange(6), dims], atol=1e-5)
    for batch in (1, 5, 24, 100):  # (sample, dimension) pairs per JVP batch: any size, the same columns
        assert torch.allclose(exact_jacobian_column_log_norms(flow.inverse, z, batch), exact, atol=1e-5)


def test_jvp_column_gradients_reach_the_parameters():
    flow = _tiny_flow()
    z = torch.randn(2, 4)
    dims = torch.tensor([1, 2])
    params = list(flow.parameters())
    grads = torch.autograd.grad(jacobian_column_log_norms(flow.inverse, z, dims).sum(), params, allow_unused=True)
    exact = 0
    for i in range(2):
        jac = torch.autograd.functional.jacobian(lambda v: flow.inverse(v.unsqueeze(0))[0], z[i], create_graph=True)
        exact = exact + jac[:, dims[i]].norm().log()
    expected = torch.autograd.grad(exact, params, allow_unused=True)
    for got, want in zip(grads, expected):
        if want is None:
            assert got is None or got.abs().max() == 0
        else:
            assert torch.allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("batch", [3, 4, 10])
def test_balanced_directions(batch):
    generator = torch.Generator().manual_seed(0)
    dims, weights = balanced_directions(batch, 4, generator)
    counts = torch.bincount(dims, minlength=4)
    assert counts.max() - counts.min() <= 1
    # the weights give each drawn dimension unit total weight, scaled by D / (dimensions drawn)
    drawn = int((counts > 0).sum())
    for k in range(4):
        if counts[k]:
            assert math.isclose(float(weights[dims == k].sum()), 4 / drawn, rel_tol=1e-6)


def test_estimator_average_matches_exact_column_norm_sum():
    """Averaged over many direction draws, the weighted estimate of sum_i log|dg/dz_i| matches
    the exact batch mean (also with fewer samples than dimensions)."""
    flow = _tiny_flow(6)
    z = torch.randn(4, 6)
    with torch.no_grad():
        exact = _exact_log_norms(flow.inverse, z).sum(dim=1).mean()
    generator = torch.Generator().manual_seed(0)
    draws = []
    with torch.no_grad():
        for _ in range(400):
            dims, weights = balanced_directions(4, 6, generator)
            draws.append((weights * jacobian_column_log_norms(flow.inverse, z, dims)).sum())
    estimate = torch.stack(draws)
    assert abs(float(estimate.mean() - exact)) < 4 * float(estimate.std()) / math.sqrt(len(draws)) + 1e-4


def test_mtc_is_nonnegative_and_terms_consistent():
    flow = _tiny_flow()
    x = torch.randn(64, 4) * torch.tensor([3.0, 1.0, 0.5, 0.2])
    z, logdet = flow(x)
    terms = eoflow_terms(z, logdet, flow.inverse, 0.5)
    with torch.no_grad():
        exact_sum = (0.5 * z.square() + 0.5 * math.log(2 * math.pi) + _exact_log_norms(flow.inverse, z)).sum(1).mean()
    # B = 64 >= D: every dimension drawn, so the estimate is the per-dimension sample mean
    assert float(terms["mtc"].detach()) > -0.5
    assert abs(float(terms["sum_l"].detach()) - float(exact_sum)) < 0.5
    assert float(exact_sum) >= float(terms["nll"]) - 1e-5  # Hadamard: sum_i l_i >= NLL
    assert torch.isclose(terms["loss"], 0.5 * terms["nll"] + 0.5 * terms["sum_l"])


def test_pca_ordering_on_gaussian_data():
    """In the linear-Gaussian limit EOFlow is PCA: the entropy-ordered Jacobian columns align
    with the covariance's eigenvectors, by decreasing eigenvalue, and top-C decoding loses
    (almost) no more than PCA's projection."""
    torch.manual_seed(0)
    d = 4
    rotation, _ = torch.linalg.qr(torch.randn(d, d))
    std = torch.tensor([4.0, 1.5, 0.6, 0.25])

    def sample(n: int) -> torch.Tensor:
        return (torch.randn(n, d) * std) @ rotation.T

    flow = vector_flow(d, blocks=1, hidden=16)
    optimizer = torch.optim.Adam(flow.parameters(), lr=2e-2)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, 1200)
    for _ in range(1200):
        z, logdet = flow(sample(1024))
        loss = eoflow_terms(z, logdet, flow.inverse, 1.0)["loss"] / d
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    x = sample(512)
    with torch.no_grad():
        z, logdet = flow(x)
    log_norms = exact_jacobian_column_log_norms(flow.inverse, z).detach()
    entropy = (0.5 * z.square() + log_norms).mean(dim=0)
    order = torch.argsort(entropy, descending=True)
    jacobian = torch.autograd.functional.jacobian(lambda v: flow.inverse(v.unsqueeze(0))[0], z[0])
    columns = jacobian[:, order] / jacobian[:, order].norm(dim=0)
    cosines = (rotation.T @ columns).abs()  # eigenvector x ordered latent
    assert torch.equal(cosines.argmax(dim=0), torch.arange(d))
    assert cosines.diagonal()[:2].min() > 0.98 and cosines.diagonal().min() > 0.85
    # the explained entropies follow log(std) (up to a shared constant)
    shifts = entropy[order] - std.log()
    assert (shifts - shifts.mean()).abs().max() < 0.2
    # top-C decoding (the other latents at the base mode 0) is within 10% of PCA's error at every C
    for keep in range(1, d):
        kept = torch.zeros_like(z)
        kept[:, order[:keep]] = z[:, order[:keep]]
        with torch.no_grad():
            flow_error = (flow.inverse(kept) - x).square().mean()
        axes = rotation[:, :keep]  # the covariance's top eigenvectors (std is sorted descending)
        pca_error = (x @ axes @ axes.T - x).square().mean()
        assert flow_error <= 1.1 * pca_error, (keep, float(flow_error), float(pca_error))


# -- the EOFlow model ------------------------------------------------------------------------------


def _eoflow_config(**overrides) -> FamilyConfig:
    net = NetConfig(image_size=16, channels=1, widths=(8, 8), hidden=32)
    return model_config(kind="eoflow", latent_dim=256, net=net, flow_blocks=2, flow_hidden=16, **overrides)


@pytest.mark.parametrize("preprocess", ["affine", "logit"])
def test_eoflow_round_trip_ordering_and_truncation(preprocess):
    torch.manual_seed(0)
    model = build_model(_eoflow_config(flow_preprocess=preprocess, recon_weight=0.1))
    assert isinstance(model, EOFlow)
    images = torch.randint(0, 256, (8, 1, 16, 16)).float() / 255
    total, parts = model.loss(images, 0)
    total.backward()
    assert {"loss", "nll", "bpd", "mtc", "recon"} <= parts.keys() and math.isfinite(parts["loss"])
    model.eval()
    with torch.no_grad():
        latent = model.encode(images).latent
        assert latent.shape == (8, 256)
        assert (model.decode(latent) - images).abs().max() < 1e-5
    estimate = model.estimate_explained_entropy(images[:4], batch=100)
    assert (
        estimate.mean.shape == estimate.se.shape == (256,)
        and torch.isfinite(estimate.mean).all()
        and (estimate.se > 0).all()
    )
    order = model.fix_ordering(estimate)
    assert torch.equal(torch.sort(order).values, torch.arange(256))
    with torch.no_grad():
        reordered = model.encode(images).latent
        assert torch.allclose(reordered, latent[:, order])
        assert (model.decode(reordered) - images).abs().max() < 1e-5
    assert (model.estimate_explained_entropy(images[:4], batch=100).mean.diff() <= 1e-4).all()  # now descending
    assert torch.equal(model.explained_entropy(), torch.sort(estimate.mean, descending=True).values)
    assert torch.equal(model.explained_entropy_se(), estimate.se[order])
    kept = model.truncate(reordered, 5)
    assert torch.equal(kept[:, :5], reordered[:, :5]) and not kept[:, 5:].any()


def test_eoflow_trains_through_the_loop_and_loads_back(tmp_path):
    config = _eoflow_config()
    spec = DatasetSpec(name="dsprites", image_size=16)
    settings = TrainConfig(steps=3, batch_size=8, threads=1, device="cpu", log_every=1, checkpoint_every=10, seed=0)
    card = train(config, spec, settings, tmp_path / "eoflow", progress=False)
    assert card["kind"] == "eoflow" and card["steps"] == 3
    assert {"nll", "bpd", "mtc", "loss"} <= card["curves"].keys()
    assert all(math.isfinite(v) for v in card["curves"]["loss"])
    loaded = load_model_folder(tmp_path / "eoflow")
    model = loaded.model
    assert isinstance(model, EOFlow) and not model.training
    images = (torch.rand(4, 1, 16, 16) > 0.5).float()
    with torch.no_grad():
        assert (model.decode(model.encode(images).latent) - images).abs().max() < 1e-5
    entropy = model.explained_entropy()
    assert torch.isfinite(entropy).all()
    # train() ends by fixing the ordering: the saved model's latents come sorted by explained entropy.
    assert torch.all(entropy[:-1] >= entropy[1:])
    assert (model.explained_entropy_se() > 0).all()

    # `latentatlas finalize` runs the step again on the folder: a scrambled order is re-sorted
    # (the same validation images, so the same estimates) and the card says when and with what.
    scrambled = torch.randperm(model.dim)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    state.update(order=state["order"][scrambled].contiguous(), inverse_order=torch.argsort(state["order"][scrambled]))
    from safetensors.torch import save_file

    save_file(state, str(tmp_path / "eoflow" / "weights.safetensors"))
    card = refinalize_folder(tmp_path / "eoflow", torch.device("cpu"))
    assert (
        card["finalized"]["git_commit"]
        and load_model_folder(tmp_path / "eoflow").card["finalized"] == card["finalized"]
    )
    again = load_model_folder(tmp_path / "eoflow").model
    assert torch.all(again.explained_entropy().diff() <= 0)
    assert torch.allclose(again.explained_entropy(), entropy, atol=1e-5)
    assert torch.allclose(again.entropy, model.entropy, atol=1e-5)  # per native latent: the same estimates


def test_an_eoflow_config_must_declare_its_true_latent_size():
    net = NetConfig(image_size=16, channels=1, widths=(8, 8), hidden=32)
    with pytest.raises(ValueError, match="256"):
        model_config(kind="eoflow", latent_dim=10, net=net)


def test_initialised_eoflow_truncates_like_pca_and_is_evaluated_against_it(tmp_path):
    """With ``flow_principal`` the untrained flow is a per-channel affine map followed by the
    principal rotation: its top-C decode is (nearly) PCA's reconstruction, and the card's
    flow section says so; full-C decoding is exact."""
    from latentatlas.data.registry import load_dataset

    torch.manual_seed(0)
    dataset = load_dataset(DatasetSpec(name="dsprites", image_size=16, holdout=200))
    model = build_model(_eoflow_config())
    rng = np.random.default_rng(0)
    model.train()
    model.initialize(dataset.images(dataset.sample_train_indices(model.init_samples, rng)))
    model.finalize(
        lambda n: dataset.images(dataset.sample_train_indices(n, rng)),
        lambda n: dataset.images(dataset.validation_indices[:n]),
    )
    assert 0 < float(model.explained_entropy_se().median()) < float(model.explained_entropy().std())
    section, sheet = evaluate_flow(model, dataset, torch.device("cpu"), images=200, pca_samples=2048)
    truncation = section["truncation"]
    assert truncation["keep"] == keep_grid(256) and truncation["keep"][0] == 1 and truncation["keep"][-1] == 256
    assert {4, 16, 64} <= set(truncation["keep"])  # D/64, D/16, D/4
    assert truncation["psnr"][-1] >= 60 and truncation["pca_psnr"][-1] >= 60
    for c, flow_db, pca_db in zip(truncation["keep"], truncation["psnr"], truncation["pca_psnr"]):
        if c < 128:
            assert abs(flow_db - pca_db) < 1.0, (c, flow_db, pca_db)
    denoise = section["denoise"]
    assert denoise["gain_db"] == pytest.approx(max(denoise["psnr"]) - denoise["noisy_psnr"])
    assert denoise["pca_gain_db"] == pytest.approx(max(denoise["pca_psnr"]) - denoise["noisy_psnr"])
    assert denoise["pca_psnr"][denoise["keep"].index(denoise["pca_best_keep"])] == max(denoise["pca_psnr"])
    assert (
        denoise["best_keep"] in denoise["keep"]
        and len(section["explained_entropy"]) == len(section["explained_entropy_se"]) == 256
    )
    assert 0 < section["bits_per_dim"] < 8
    assert sheet.size == (2 * 9 * 16, 2 * 8 * 16)


def test_pca_reconstruction_is_exact_with_every_axis():
    images = torch.rand(300, 1, 4, 4)
    pca = PCA(images)
    assert (pca.reconstruct(images, 16) - images).abs().max() < 1e-5
    errors = [float((pca.reconstruct(images, c) - images).square().mean()) for c in (1, 4, 8, 16)]
    assert errors == sorted(errors, reverse=True)
