"""Model folders (safetensors + JSON, no pickles), the training loop's outputs and card,
exact resumption from checkpoints, and AdamW's weight-decay groups."""

from __future__ import annotations

import json
import pickle
import struct

import numpy as np
import pytest
import torch
from PIL import Image

from latentatlas.data.dsprites import DSprites
from latentatlas.data.spec import DatasetSpec
from latentatlas.families import build_model, model_config
from latentatlas.families.base import GradientTrainer
from latentatlas.nets import NetConfig
from latentatlas.store import load_model_folder, save_model_folder
from latentatlas.store.folders import FolderConfig
from latentatlas.train import TrainConfig, train

NET16 = NetConfig(image_size=16, channels=1, widths=(8, 8), hidden=32)
NET32_RGB = NetConfig(image_size=32, channels=3, widths=(8, 8, 8), hidden=32)
DSPRITES16 = DatasetSpec(name="dsprites", image_size=16)
SAFE_SUFFIXES = {".json", ".safetensors"}


def _tiny_train_config(**overrides) -> TrainConfig:
    settings = {
        "steps": 12,
        "batch_size": 8,
        "threads": 1,
        "device": "cpu",
        "log_every": 2,
        "checkpoint_every": 4,
        "seed": 3,
    }
    return TrainConfig(**{**settings, **overrides})


def _assert_safetensors(path) -> None:
    """A safetensors file: an 8-byte little-endian header length, then a JSON header."""
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + length])
    assert isinstance(header, dict) and header
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    # Raw tensor bytes follow the header and nothing else does.
    assert len(raw) == 8 + length + max(v["data_offsets"][1] for v in tensors.values())


@pytest.fixture
def no_pickles(monkeypatch):
    """Fail loudly if anything unpickles while the test runs."""

    def refuse(*args, **kwargs):
        raise AssertionError("a pickle was loaded")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)


# -- model folders ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["qlae", "ae", "vae"])
def test_model_folder_round_trip(tmp_path, kind, no_pickles):
    torch.manual_seed(0)
    config = model_config(kind=kind, latent_dim=6, net=NET32_RGB)
    model = build_model(config).eval()
    with torch.no_grad():  # make the codebooks and weights differ from a fresh init
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.01)
    folder_config = FolderConfig(model=config, dataset=DatasetSpec(name="shapes3d", image_size=32), train={"steps": 5})
    card = {"id": "m", "steps": 5, "note": "round trip"}
    save_model_folder(tmp_path / "m", folder_config, model, card)

    written = sorted(p.name for p in (tmp_path / "m").iterdir())
    assert written == ["card.json", "config.json", "weights.safetensors"]
    assert {p.suffix for p in (tmp_path / "m").iterdir()} <= SAFE_SUFFIXES
    _assert_safetensors(tmp_path / "m" / "weights.safetensors")

    loaded = load_model_folder(tmp_path / "m")
    assert loaded.config == folder_config
    assert loaded.card == card
    assert not loaded.model.training
    images = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        before, after = model.encode(images), loaded.model.encode(images)
        assert torch.equal(before.latent, after.latent)
        if kind == "vae":
            assert torch.equal(before.scale, after.scale)
        assert torch.equal(model.decode(before.latent), loaded.model.decode(after.latent))
    for (name, a), (_, b) in zip(model.state_dict().items(), loaded.model.state_dict().items()):
        assert torch.equal(a, b), name


def test_load_model_folder_refuses_corrupt_files(tmp_path):
    config = model_config(kind="ae", latent_dim=3, net=NET16)
    save_model_folder(tmp_path / "m", FolderConfig(model=config, dataset=DSPRITES16), build_model(config), {})
    weights = tmp_path / "m" / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(Exception):
        load_model_folder(tmp_path / "m")
    (tmp_path / "m" / "config.json").write_text("{not json")
    with pytest.raises(ValueError):
        load_model_folder(tmp_path / "m")


def test_load_model_folder_refuses_weights_of_another_shape(tmp_path):
    small = model_config(kind="ae", latent_dim=3, net=NET16)
    large = model_config(kind="ae", latent_dim=5, net=NET16)
    save_model_folder(tmp_path / "m", FolderConfig(model=large, dataset=DSPRITES16), build_model(small), {})
    with pytest.raises(RuntimeError):
        load_model_folder(tmp_path / "m")


# -- a tiny training run ----------------------------------------------------------------


@pytest.fixture(scope="module")
def trained_qlae(tmp_path_factory):
    out = tmp_path_factory.mktemp("train") / "qlae-dsprites"
    config = model_config(kind="qlae", latent_dim=6, net=NET16, quantize_warmup=4)
    card = train(config, DSPRITES16, _tiny_train_config(), out, progress=False)
    return out, config, card


def test_train_writes_a_model_folder(trained_qlae):
    out, config, card = trained_qlae
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "weights.safetensors", "card.json", "reconstructions.png"} <= names
    assert names <= {
        "config.json",
        "weights.safetensors",
        "card.json",
        "reconstructions.png",
        "samples.png",
        "checkpoint",
    }
    # One complete checkpoint folder, named by the pointer file (older ones are removed).
    assert sorted(p.name for p in (out / "checkpoint").iterdir()) == ["latest", "step-12"]
    assert (out / "checkpoint" / "latest").read_text() == "step-12"
    assert sorted(p.name for p in (out / "checkpoint" / "step-12").iterdir()) == ["state.json", "state.safetensors"]
    for path in [out / "weights.safetensors", out / "checkpoint" / "step-12" / "state.safetensors"]:
        _assert_safetensors(path)
    saved = FolderConfig.model_validate_json((out / "config.json").read_text())
    assert (
        saved.model == config.model_copy(update={"dataset_size": len(DSprites(DSPRITES16))})
        and saved.dataset == DSPRITES16
    )
    assert saved.train["steps"] == 12 and saved.train["seed"] == 3
    assert json.loads((out / "card.json").read_text()) == card


def test_train_card_describes_the_run(trained_qlae):
    _, config, card = trained_qlae
    assert card["dataset"]["name"] == "dsprites"
    assert card["dataset"]["factor_names"] == list(DSprites.factor_names)
    assert card["steps"] == 12 and card["seed"] == 3 and card["kind"] == "qlae"
    assert card["wall_seconds"] >= 0 and card["device"] == "cpu"
    assert isinstance(card["git_commit"], str) and card["git_commit"]
    curves = card["curves"]
    assert curves["step"] == [2, 4, 6, 8, 10, 12]
    for key in ("loss", "recon", "quantize", "commit", "seconds"):
        assert len(curves[key]) == len(curves["step"]), key
        assert all(np.isfinite(curves[key])), key
    assert curves["seconds"] == sorted(curves["seconds"])
    heldout = card["heldout"]
    assert heldout["samples"] == 1000
    assert np.isfinite(heldout["psnr_db"]) and heldout["psnr_db"] > 0
    assert 0 <= heldout["iou"] <= 1  # binary dSprites: IoU too
    stats = card["latent_stats"]
    for key in ("mean", "std", "min", "max"):
        assert len(stats[key]) == config.latent_dim, key
    # (float32 means of a collapsed dimension may sit an ulp outside its min/max)
    assert all(lo - 1e-6 <= m <= hi + 1e-6 for lo, m, hi in zip(stats["min"], stats["mean"], stats["max"]))
    assert all(sd >= 0 for sd in stats["std"])


def test_train_card_latent_stats_match_the_saved_model(trained_qlae):
    out, _, card = trained_qlae
    loaded = load_model_folder(out)
    dataset = DSprites(DSPRITES16)
    with torch.no_grad():
        latent = loaded.model.encode(dataset.images(dataset.holdout_indices)).latent
    np.testing.assert_allclose(card["latent_stats"]["min"], latent.min(0).values.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(card["latent_stats"]["max"], latent.max(0).values.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(card["latent_stats"]["mean"], latent.mean(0).numpy(), rtol=1e-4, atol=1e-5)


def test_train_writes_a_reconstruction_sheet(trained_qlae):
    out, _, _ = trained_qlae
    with Image.open(out / "reconstructions.png") as sheet:
        # 10 held-out originals above their reconstructions, each 16 px, upscaled 2x.
        assert sheet.size == (10 * 16 * 2, 2 * 16 * 2)


def test_vae_card_has_posterior_scale_and_no_iou_for_colour_data(tmp_path):
    config = model_config(kind="vae", latent_dim=4, net=NetConfig(image_size=16, channels=3, widths=(8, 8), hidden=16))
    spec = DatasetSpec(name="shapes3d", image_size=16)
    card = train(config, spec, _tiny_train_config(steps=2), tmp_path / "vae", progress=False)
    assert "kl" in card["curves"]
    assert len(card["latent_stats"]["posterior_scale"]) == 4
    assert all(s > 0 for s in card["latent_stats"]["posterior_scale"])
    assert "iou" not in card["heldout"] and np.isfinite(card["heldout"]["psnr_db"])


# -- resuming ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["qlae", "vae"])  # the VAE also draws torch randoms in its loss
def test_resume_equals_an_uninterrupted_run(tmp_path, kind):
    config = model_config(kind=kind, latent_dim=4, net=NET16, **({"quantize_warmup": 6} if kind == "qlae" else {}))
    straight = train(config, DSPRITES16, _tiny_train_config(steps=8), tmp_path / "straight", progress=False)
    first = train(config, DSPRITES16, _tiny_train_config(steps=4), tmp_path / "resumed", progress=False)
    assert first["steps"] == 4
    resumed = train(config, DSPRITES16, _tiny_train_config(steps=8), tmp_path / "resumed", resume=True, progress=False)
    assert resumed["steps"] == 8

    a = load_model_folder(tmp_path / "straight").model.state_dict()
    b = load_model_folder(tmp_path / "resumed").model.state_dict()
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], rtol=1e-6, atol=1e-7, msg=name)
    # The curves continue the first run's (the logged steps and losses are those of the straight run).
    assert resumed["curves"]["step"] == straight["curves"]["step"] == [2, 4, 6, 8]
    np.testing.assert_allclose(resumed["curves"]["loss"], straight["curves"]["loss"], rtol=1e-5)
    assert resumed["heldout"]["psnr_db"] == pytest.approx(straight["heldout"]["psnr_db"], rel=1e-5)


def test_snapshots_along_training_hold_the_weights_of_their_step(tmp_path):
    from latentatlas.store.checkpoints import list_snapshots, load_snapshot

    config = model_config(kind="ae", latent_dim=3, net=NET16)
    train(config, DSPRITES16, _tiny_train_config(steps=9, snapshot_every=3), tmp_path / "long", progress=False)
    train(config, DSPRITES16, _tiny_train_config(steps=6), tmp_path / "short", progress=False)
    snapshots = list_snapshots(tmp_path / "long")
    assert list(snapshots) == [3, 6]  # the last step is the folder's own weights
    model = load_model_folder(tmp_path / "long").model
    load_snapshot(model, snapshots[6])
    short = load_model_folder(tmp_path / "short").model.state_dict()
    for name, tensor in model.state_dict().items():
        torch.testing.assert_close(tensor, short[name], rtol=1e-6, atol=1e-7, msg=name)


def test_resume_without_a_checkpoint_starts_from_scratch(tmp_path):
    config = model_config(kind="ae", latent_dim=3, net=NET16)
    fresh = train(config, DSPRITES16, _tiny_train_config(steps=4), tmp_path / "a", progress=False)
    resumed = train(config, DSPRITES16, _tiny_train_config(steps=4), tmp_path / "b", resume=True, progress=False)
    assert resumed["steps"] == fresh["steps"] == 4
    a = load_model_folder(tmp_path / "a").model.state_dict()
    b = load_model_folder(tmp_path / "b").model.state_dict()
    assert all(torch.equal(a[name], b[name]) for name in a)


def test_checkpoint_restores_optimiser_moments_and_rngs(tmp_path):
    from latentatlas.store.checkpoints import load_checkpoint, save_checkpoint

    config = model_config(kind="qlae", latent_dim=4, net=NET16)
    torch.manual_seed(0)
    model = build_model(config)
    trainer = GradientTrainer(model, _tiny_train_config())
    optimizer = trainer.optimizers["model"]
    images = DSprites(DSPRITES16).images(np.arange(8))
    for step in range(3):
        trainer.step(lambda: images, step)
    rng = np.random.default_rng(11)
    rng.random(5)
    torch.manual_seed(12)
    save_checkpoint(tmp_path / "ckpt", model, trainer, 3, {"step": [3]}, rng, {"loss": 0.25})
    expected_numpy, expected_torch = rng.random(3), torch.rand(3)

    torch.manual_seed(99)
    other = build_model(config)
    other_trainer = GradientTrainer(other, _tiny_train_config())
    other_optimizer = other_trainer.optimizers["model"]
    other_rng = np.random.default_rng(0)
    step, history, pending = load_checkpoint(tmp_path / "ckpt", other, other_trainer, other_rng)
    assert step == 3 and history == {"step": [3]} and pending == {"loss": 0.25}
    np.testing.assert_array_equal(other_rng.random(3), expected_numpy)
    assert torch.equal(torch.rand(3), expected_torch)
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, other.state_dict()[name]), name
    saved, restored = optimizer.state_dict(), other_optimizer.state_dict()
    assert saved["state"].keys() == restored["state"].keys()
    for index, state in saved["state"].items():
        for key in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(torch.as_tensor(state[key]), torch.as_tensor(restored["state"][index][key])), (
                index,
                key,
            )
    assert [g["weight_decay"] for g in restored["param_groups"]] == [g["weight_decay"] for g in saved["param_groups"]]


# -- the optimiser ----------------------------------------------------------------------


def test_adamw_decays_weights_only():
    config = model_config(kind="qlae", latent_dim=4, net=NET16)
    model = build_model(config)
    optimizer = GradientTrainer(model, _tiny_train_config(weight_decay=0.1, lr=0.01)).optimizers["model"]
    decay, no_decay = optimizer.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    names = {id(p): name for name, p in model.named_parameters()}
    decayed = {names[id(p)] for p in decay["params"]}
    undecayed = {names[id(p)] for p in no_decay["params"]}
    assert decayed | undecayed == set(names.values()) and not decayed & undecayed
    assert "quantizer.values" in undecayed
    assert all(not name.endswith(".bias") for name in decayed)
    assert all(name.endswith(".weight") for name in decayed)
    assert {name for name in names.values() if name.endswith(".bias")} <= undecayed

    # Behaviour: with zero gradients AdamW only decays, so weights shrink and the rest stays.
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    for parameter in model.parameters():
        parameter.grad = torch.zeros_like(parameter)
    optimizer.step()
    for name, parameter in model.named_parameters():
        if name in decayed:
            torch.testing.assert_close(parameter.detach(), before[name] * (1 - 0.01 * 0.1), msg=name)
        else:
            assert torch.equal(parameter.detach(), before[name]), name


def test_resume_after_a_crash_between_log_points_logs_the_same_curves(tmp_path, monkeypatch):
    import latentatlas.train.loop as loop

    config = model_config(kind="ae", latent_dim=3, net=NET16)
    settings = {"steps": 6, "log_every": 2, "checkpoint_every": 3}
    straight = train(config, DSPRITES16, _tiny_train_config(**settings), tmp_path / "straight", progress=False)

    real_save = loop.save_checkpoint

    class Crash(Exception):
        pass

    def save_then_crash(path, model, trainer, step, history, rng, pending):
        real_save(path, model, trainer, step, history, rng, pending)
        raise Crash  # the process dies right after the step-3 checkpoint

    monkeypatch.setattr(loop, "save_checkpoint", save_then_crash)
    with pytest.raises(Crash):
        train(config, DSPRITES16, _tiny_train_config(**settings), tmp_path / "crashed", progress=False)
    monkeypatch.setattr(loop, "save_checkpoint", real_save)
    resumed = train(
        config, DSPRITES16, _tiny_train_config(**settings), tmp_path / "crashed", resume=True, progress=False
    )

    # The weights continue exactly ...
    a = load_model_folder(tmp_path / "straight").model.state_dict()
    b = load_model_folder(tmp_path / "crashed").model.state_dict()
    assert all(torch.allclose(a[name], b[name], rtol=1e-6, atol=1e-7) for name in a)
    # ... and so should the logged curve.
    assert resumed["curves"]["step"] == straight["curves"]["step"] == [2, 4, 6]
    np.testing.assert_allclose(resumed["curves"]["loss"], straight["curves"]["loss"], rtol=1e-5)


def _strict_json(text: str) -> dict:
    def refuse(constant):
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_card_is_strict_json(trained_qlae):
    out, _, _ = trained_qlae
    for name in ("card.json", "config.json"):
        _strict_json((out / name).read_text())


def test_card_of_a_small_image_folder_is_strict_json(tmp_path):
    root = tmp_path / "photos"
    root.mkdir()
    for i in range(12):
        Image.new("RGB", (16, 16), (20 * i, 90, 200 - 10 * i)).save(root / f"{i:02d}.png")
    config = model_config(kind="ae", latent_dim=3, net=NetConfig(image_size=16, channels=3, widths=(8, 8), hidden=16))
    spec = DatasetSpec(name="folder", path=str(root), image_size=16)
    train(config, spec, _tiny_train_config(steps=2), tmp_path / "m", progress=False)
    card = _strict_json((tmp_path / "m" / "card.json").read_text())
    assert all(np.isfinite(card["latent_stats"]["std"]))
