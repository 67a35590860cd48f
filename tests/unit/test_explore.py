"""``latentatlas.explore``'s model side: an in-memory encoder (and decoder) probed, checked and
measured into a served model, with nothing written and nothing registered for training."""

from __future__ import annotations

import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from explore_models import LATENT_DIM, SIZE, function_pair, linear_pair
from latentatlas.data.registry import load_dataset
from latentatlas.data.spec import DatasetSpec
from latentatlas.errors import UnsupportedError
from latentatlas.evaluation.in_memory import in_memory_model
from latentatlas.families import families
from latentatlas.families.python_model import function_name, slug
from latentatlas.serve.explore import dataset_spec, explore, listening_socket

SPEC = DatasetSpec(name="dsprites", image_size=SIZE, holdout=200)


@pytest.fixture
def folder(tmp_path):
    path = tmp_path / "model"
    path.mkdir()
    return path


def held_out_images(spec: DatasetSpec = SPEC) -> torch.Tensor:
    dataset = load_dataset(spec)
    return dataset.images(dataset.holdout_indices)


def test_the_card_holds_the_encoders_statistics_on_the_seeded_held_out_images(folder):
    encoder, decoder = linear_pair()
    loaded = in_memory_model(encoder, decoder, SPEC, folder)
    with torch.no_grad():
        latents = encoder(held_out_images())
    stats = loaded.card["latent_stats"]
    assert stats["mean"] == pytest.approx(latents.mean(0).tolist(), abs=1e-5)
    assert stats["std"] == pytest.approx(latents.std(0, correction=0).tolist(), abs=1e-5)
    assert stats["min"] == pytest.approx(latents.min(0).values.tolist(), abs=1e-5)
    assert loaded.card["heldout"]["samples"] == len(latents) == SPEC.holdout
    assert loaded.card["heldout"]["psnr_db"] > 0
    assert loaded.card["dataset"]["name"] == "dsprites"
    config = loaded.config.model
    described = (config.kind, config.latent_dim, config.net.image_size, config.net.channels)
    assert described == ("python", LATENT_DIM, SIZE, 1)
    assert (loaded.model.capabilities.decode, loaded.model.capabilities.train) == (True, False)
    assert (encoder.training, decoder.training) == (False, False)  # served in eval mode
    assert list(folder.iterdir()) == []  # nothing written


def test_an_encoder_only_model_declares_no_decoder_and_refuses_decodes(folder):
    encode, _ = function_pair()
    loaded = in_memory_model(encode, None, SPEC, folder)
    model = loaded.model
    assert (model.capabilities.encode, model.capabilities.decode) == (True, False)
    assert "psnr_db" not in loaded.card["heldout"]
    assert model.encode(held_out_images()[:2]).latent.shape == (2, LATENT_DIM)
    with pytest.raises(UnsupportedError, match="no decoder"):
        model.decode(torch.zeros(1, LATENT_DIM))


def test_the_model_decodes_with_the_sessions_decoder_clipped_to_the_unit_range(folder):
    encode, render = function_pair()
    model = in_memory_model(encode, lambda z: 2 * render(z) - 0.5, SPEC, folder).model
    latents = torch.randn(4, LATENT_DIM, generator=torch.Generator().manual_seed(1))
    assert torch.equal(model.decode(latents), (2 * render(latents) - 0.5).clamp(0, 1))


def _nan_encoder(images):
    latents = images.flatten(1)[:, :LATENT_DIM].clone()
    latents[0, 1] = float("nan")
    return latents


@pytest.mark.parametrize(
    ("encoder", "decoder", "words"),
    [
        (_nan_encoder, None, ["encoder", "1 non-finite", "NaN"]),
        (lambda images: images.flatten(1)[:, :LATENT_DIM, None], None, ["encoder", "rank 3", "(N, D)"]),
        (lambda images: images.flatten(1)[:, :LATENT_DIM][:1], None, ["encoder", "(1, 3)", "(8, D)"]),
        (lambda images: (images.flatten(1)[:, :2], images.flatten(1)[:, 2:]), None, ["tuple", "posterior mean"]),
        (lambda images: images.flatten(1)[:, :2].numpy(), None, ["encoder", "ndarray", "torch.Tensor"]),
        (lambda images: images.flatten(1)[:, :2].long(), None, ["encoder", "torch.int64", "floating"]),
        (torch.nn.Linear(SIZE * SIZE, 2), None, ["encoder failed", "(8, 1, 16, 16)", "RuntimeError"]),
        (
            function_pair()[0],
            lambda z: torch.zeros(len(z), 1, 2 * SIZE, 2 * SIZE),
            ["decoder", "(8, 1, 32, 32)", "(8, 1, 16, 16)", "dataset's image shape"],
        ),
        (function_pair()[0], lambda z: torch.full((len(z), 1, SIZE, SIZE), float("inf")), ["decoder", "non-finite"]),
    ],
    ids=["nan", "rank", "batch", "tuple", "numpy", "integers", "crash", "decoder-shape", "decoder-inf"],
)
def test_a_bad_encoder_or_decoder_is_a_value_error_naming_what_is_wrong(folder, encoder, decoder, words):
    with pytest.raises(ValueError) as error:
        in_memory_model(encoder, decoder, SPEC, folder)
    for word in words:
        assert word in str(error.value), (word, str(error.value))


def test_a_bad_encoder_fails_before_the_port_is_taken():
    with listening_socket(0) as probe:
        port = probe.getsockname()[1]
    with pytest.raises(ValueError, match="non-finite"):
        explore(_nan_encoder, dataset=SPEC, port=port, block=False)
    with socket.socket() as sock:  # nothing listens there: the server never started
        assert sock.connect_ex(("127.0.0.1", port)) != 0


def test_a_taken_port_is_an_os_error_naming_it():
    with listening_socket(0) as taken:
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(OSError, match=f"port {port} on 127.0.0.1 is taken"):
            explore(function_pair()[0], dataset=SPEC, port=port, block=False)


def test_dataset_arguments(tmp_path):
    assert dataset_spec(None, 32) == DatasetSpec(name="dsprites", image_size=32)
    assert dataset_spec("shapes3d", 64) == DatasetSpec(name="shapes3d", image_size=64)
    assert dataset_spec(SPEC, 64) is SPEC
    assert dataset_spec(tmp_path, 48) == DatasetSpec(name="folder", path=str(tmp_path), image_size=48)
    with pytest.raises(ValueError, match="'mnist' is not one of dsprites, shapes3d nor a folder"):
        dataset_spec("mnist", 64)


def test_model_ids_come_from_the_encoders_name():
    encoder, _ = linear_pair()
    encode, _ = function_pair()
    assert slug(function_name(encoder)) == "sequential"
    assert slug(function_name(encode)) == "project"
    assert slug(function_name(encoder.forward)) == "sequential-forward"
    assert slug(function_name(lambda x: x)) == "lambda"
    assert slug("My VAE (beta=4)") == "my-vae-beta-4"


def test_the_family_is_never_offered_for_training():
    family = families()["python"]
    assert not family.capabilities.train
    from latentatlas.cli import app

    result = CliRunner().invoke(app, ["train", "--help"])
    assert result.exit_code == 0
    assert "python" not in result.output.split()


def test_import_latentatlas_stays_cheap_and_explore_is_exported():
    code = (
        "import sys, latentatlas; assert 'torch' not in sys.modules; "
        "from latentatlas import explore; assert callable(explore) and 'torch' in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_a_folder_claiming_the_python_kind_does_not_load(tmp_path):
    from latentatlas.store.folders import CONFIG_FILE, load_model_folder

    (tmp_path / CONFIG_FILE).write_text(
        '{"model": {"kind": "python", "latent_dim": 3, "encoder": "f"}, "dataset": {"name": "dsprites"}}'
    )
    with pytest.raises(TypeError, match="encoder"):
        load_model_folder(tmp_path)


def test_the_metrics_encode_a_model_without_parameters(folder):
    from latentatlas.evaluation.disentanglement import encode_factor_samples

    encode, _ = function_pair()  # plain functions: no parameter tells the device
    loaded = in_memory_model(encode, None, SPEC, folder)
    dataset = load_dataset(SPEC)
    factors = dataset.sample_factors(4, np.random.default_rng(0))
    latents, codes = encode_factor_samples(loaded, dataset, factors)
    assert codes is None
    np.testing.assert_allclose(latents, encode(dataset.render(factors)).numpy(), rtol=1e-6)
