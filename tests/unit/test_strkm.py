"""St-RKM (latentatlas.families.strkm): U on the Stiefel manifold, the loss terms, the exact U of
finalize, the fitted prior and a tiny end-to-end training run. Tiny networks, one thread."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from latentatlas.families import build_model, families, get_family, model_config
from latentatlas.families.configs import STRKMConfig, TrainConfig
from latentatlas.families.strkm import STRKM, STRKMTrainer, _geoopt, kpca_loss
from latentatlas.nets.config import NetConfig

geoopt = _geoopt()

NET = NetConfig(image_size=16, channels=1, widths=(8, 8), hidden=32)


def tiny(**options) -> STRKM:
    torch.manual_seed(0)
    return build_model(model_config(kind="strkm", latent_dim=3, feature_dim=12, net=NET, **options))


def blobs(n: int, seed: int = 0) -> torch.Tensor:
    """dSprites-like images: a bright square at a random place and size on black."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, 1, 16, 16), dtype=np.float32)
    for image in images:
        size = rng.integers(3, 7)
        x, y = rng.integers(0, 16 - size, size=2)
        image[0, y : y + size, x : x + size] = 1.0
    return torch.from_numpy(images)


def orthogonality(U: torch.Tensor) -> float:
    return (U.T @ U - torch.eye(U.shape[1], dtype=U.dtype)).abs().max().item()


def principal_cosines(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """Cosines of the principal angles between the column spans of orthonormal A and B."""
    return torch.linalg.svdvals(A.T.double() @ B.double())


def test_registered_with_its_capabilities():
    family = get_family("strkm")
    assert "strkm" in families() and family.model is STRKM and family.config is STRKMConfig
    assert {"qlae", "ae", "strkm"} <= set(families())
    assert family.capabilities.sample and not family.capabilities.ordered and not family.capabilities.codes
    config = model_config({"kind": "strkm", "latent_dim": 4})
    assert (config.feature_dim, config.c_acc, config.recon_loss, config.pixel_loss, config.manifold_lr) == (
        128,
        1.0,
        "deterministic",
        "bce",
        1e-4,
    )
    with pytest.raises(ValueError):
        model_config(kind="strkm", latent_dim=20, feature_dim=8)
    with pytest.raises(ValueError):
        model_config(kind="strkm", latent_dim=2, recon_loss="vae")


def test_loss_terms_match_a_hand_computation():
    for variant, pixels in (
        ("deterministic", "bce"),
        ("deterministic", "mse"),
        ("splitloss", "mse"),
        ("noisyU", "bce"),
    ):
        # sigma = 0: the noisy decodes equal the clean one, so splitloss's distance term is 0
        model = tiny(c_acc=3.0, recon_loss=variant, pixel_loss=pixels, noise_sigma=0.0).eval()
        images = blobs(5)
        with torch.no_grad():
            total, parts = model.loss(images, 0)
            phi = model.encoder(images).double().numpy()
            U = model.U.detach().double().numpy()
            n = phi.shape[0]
            centred = phi - phi.mean(axis=0)
            C = centred.T @ centred
            f1 = np.trace(C - U @ U.T @ C) / n
            projected = torch.from_numpy(centred @ U @ U.T).float()
            p = torch.sigmoid(model.decoder(projected)).double().numpy()
            x = images.double().numpy()
            if pixels == "mse":
                error = ((x - p) ** 2).sum() / n
            else:
                error = -(x * np.log(p) + (1 - x) * np.log(1 - p)).sum() / n
            f2 = 3.0 / 2 * error
        assert parts["kpca"] == pytest.approx(f1, rel=1e-4, abs=1e-7)
        assert parts["recon"] == pytest.approx(f2, rel=1e-4)
        assert total.item() == pytest.approx(f1 + f2, rel=1e-4)


def test_noisy_variants_add_latent_noise():
    torch.manual_seed(1)
    images = blobs(6)
    clean = tiny(recon_loss="deterministic").eval().loss(images, 0)[1]["recon"]
    noisy = tiny(recon_loss="noisyU", noise_sigma=0.5).eval()
    values = {noisy.loss(images, 0)[1]["recon"] for _ in range(3)}
    assert len(values) == 3 and all(v != clean for v in values)


def test_trainer_keeps_U_orthonormal_and_survives_a_safetensors_round_trip(tmp_path):
    model = tiny()
    trainer = model.make_trainer(TrainConfig(lr=1e-3, batch_size=16))
    assert isinstance(trainer, STRKMTrainer) and set(trainer.optimizers) == {"networks", "stiefel"}
    assert isinstance(model.U, geoopt.ManifoldParameter) and isinstance(
        model.U.manifold, geoopt.manifolds.CanonicalStiefel
    )
    U0 = model.U.detach().clone()
    data = blobs(30 * 16, seed=1).split(16)
    for step in range(30):
        parts = trainer.step(lambda: data[step], step)
        assert orthogonality(model.U.detach()) < 1e-5
    assert set(parts) == {"loss", "kpca", "recon", "orthogonality"} and parts["orthogonality"] < 1e-5
    assert (model.U.detach() - U0).abs().max() > 1e-4, "U did not move"
    assert model.feature_mean.abs().sum() > 0, "the running feature mean was not updated"

    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "w.safetensors"))
    fresh = build_model(model.config)
    fresh.load_state_dict(load_file(str(tmp_path / "w.safetensors")), strict=True)
    assert isinstance(fresh.U, geoopt.ManifoldParameter)
    assert torch.equal(fresh.U.detach(), model.U.detach()) and orthogonality(fresh.U.detach()) < 1e-5
    images = blobs(4, seed=2)
    with torch.no_grad():
        assert torch.allclose(fresh.encode(images).latent, model.encode(images).latent)


def test_stiefel_adam_on_the_kpca_term_finds_the_principal_subspace():
    torch.manual_seed(0)
    F, m, n = 12, 3, 2000
    rotation, _ = torch.linalg.qr(torch.randn(F, F, dtype=torch.float64))
    scales = torch.tensor([3.0, 2.5, 2.0] + [0.5] * (F - 3), dtype=torch.float64)
    X = (torch.randn(n, F, dtype=torch.float64) * scales) @ rotation.T
    X = (X - X.mean(dim=0)).float()
    top = rotation[:, :m]  # the population's top-m principal directions
    U = geoopt.ManifoldParameter(torch.nn.init.orthogonal_(torch.empty(F, m)), manifold=geoopt.Stiefel())
    optimizer = geoopt.optim.RiemannianAdam([U], lr=2e-2, stabilize=10)
    for _ in range(300):
        optimizer.zero_grad()
        kpca_loss(X, U).backward()
        optimizer.step()
    assert orthogonality(U.detach()) < 1e-5
    assert principal_cosines(U.detach(), top).min() > 0.99
    # f1 at the optimum is the PCA residual: the sum of the trailing eigenvalues of C / n.
    eigenvalues = torch.linalg.eigvalsh(X.double().T @ X.double() / n)
    assert kpca_loss(X, U).item() == pytest.approx(eigenvalues[: F - m].sum().item(), rel=1e-3)


def test_finalize_sets_the_exact_U_the_mean_and_a_gaussian_prior():
    model = tiny().eval()
    pool = blobs(400, seed=3)
    drawn = []

    def sample(count: int) -> torch.Tensor:
        images = pool[torch.randint(0, len(pool), (count,))]
        drawn.append(images)
        return images

    U_trained = model.U.detach().clone()
    model.finalize(sample, validation_images=lambda count: pytest.fail("St-RKM's U is fitted to training images only"))
    with torch.no_grad():
        phi = model.encoder(torch.cat(drawn)).double()
        mean = phi.mean(dim=0)
        _values, vectors = torch.linalg.eigh(torch.cov(phi.T))
        top = vectors[:, -3:].flip(-1)
        U = model.U.detach().double()
        assert torch.allclose(model.feature_mean.double(), mean, atol=1e-5)
        assert orthogonality(model.U.detach()) < 1e-5
        # the same columns as the top eigenvectors (up to sign), in order of decreasing eigenvalue
        assert torch.allclose((U * top).sum(dim=0).abs(), torch.ones(3, dtype=torch.float64), atol=1e-4)
        assert ((U * U_trained.double()).sum(dim=0) >= 0).all(), "signs follow the trained U"
        latents = (phi - mean) @ U
        variances = latents.var(dim=0)
        assert torch.all(variances[:-1] >= variances[1:])
        # the Gaussian prior is the latents' mean and covariance
        prior_cov = model.prior_scale_tril[0].double() @ model.prior_scale_tril[0].double().T
        assert torch.allclose(model.prior_means[0].double(), latents.mean(dim=0), atol=1e-5)
        assert torch.allclose(prior_cov, torch.cov(latents.T), rtol=1e-3, atol=1e-6 * variances.max().item())

        samples = model.sample_prior(20_000, torch.Generator().manual_seed(0))
        assert samples.shape == (20_000, 3) and samples.device == model.device
        assert torch.allclose(samples.double().std(dim=0), latents.std(dim=0), rtol=0.05)
        assert torch.allclose(
            samples.double().mean(dim=0), latents.mean(dim=0), atol=0.05 * latents.std(dim=0).max().item()
        )
        assert torch.equal(
            model.sample_prior(5, torch.Generator().manual_seed(1)),
            model.sample_prior(5, torch.Generator().manual_seed(1)),
        )
        decoded = model.decode(samples[:7])
        assert decoded.shape == (7, 1, 16, 16) and decoded.min() >= 0 and decoded.max() <= 1
        # decoding the encoding of an image = decoding its projected, centred features
        images = pool[:4]
        assert torch.allclose(
            model.decode_logits(model.encode(images).latent),
            model.decoder((model.encoder(images) - model.feature_mean) @ model.U @ model.U.T),
            atol=1e-5,
        )


def test_mixture_prior_is_a_buffer_that_reloads(tmp_path):
    model = tiny(prior_components=2).eval()
    rng = torch.Generator().manual_seed(0)
    latents = torch.cat([torch.randn(300, 3, generator=rng) * 0.1 - 2, torch.randn(300, 3, generator=rng) * 0.1 + 2])
    torch.manual_seed(0)
    model.fit_prior(latents)
    assert sorted(model.prior_means[:, 0].tolist()) == pytest.approx([-2, 2], abs=0.05)
    assert model.prior_weights.tolist() == pytest.approx([0.5, 0.5], abs=0.01)
    samples = model.sample_prior(1000, torch.Generator().manual_seed(1))
    assert ((samples[:, 0].abs() - 2).abs() < 0.5).float().mean() > 0.99
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "w.safetensors"))
    fresh = build_model(model.config)
    fresh.load_state_dict(load_file(str(tmp_path / "w.safetensors")), strict=True)
    assert torch.equal(
        fresh.sample_prior(10, torch.Generator().manual_seed(2)),
        model.sample_prior(10, torch.Generator().manual_seed(2)),
    )


def test_end_to_end_training_writes_a_reloadable_folder(tmp_path):
    from latentatlas.data.spec import DatasetSpec
    from latentatlas.store.folders import load_model_folder
    from latentatlas.train import train

    config = model_config(kind="strkm", latent_dim=3, feature_dim=12, net=NET)
    run = TrainConfig(steps=6, batch_size=8, threads=1, log_every=2, checkpoint_every=3)
    card = train(config, DatasetSpec(name="dsprites", image_size=16), run, tmp_path / "m", progress=False)
    assert card["steps"] == 6 and max(card["curves"]["orthogonality"]) < 1e-5
    loaded = load_model_folder(tmp_path / "m").model
    assert isinstance(loaded, STRKM) and orthogonality(loaded.U.detach()) < 1e-5
    assert loaded.prior_scale_tril.abs().sum() > 0 and not torch.equal(loaded.prior_scale_tril[0], torch.eye(3))
    # resuming from the checkpoint restores both optimisers (the Stiefel one's state included)
    card = train(
        config,
        DatasetSpec(name="dsprites", image_size=16),
        run.model_copy(update={"steps": 8}),
        tmp_path / "m",
        resume=True,
        progress=False,
    )
    assert card["steps"] == 8 and card["curves"]["step"][-1] == 8
