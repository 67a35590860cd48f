"""``latentatlas import onnx``: the shipped beta-VAE exported with torch.onnx.export and imported
gives the native model's latents and decodes; the folder loads, exports for the browser and is
scored like any model; every kind of bad input is a clear CLI error that leaves nothing behind."""

from __future__ import annotations

import json
import os

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from typer.testing import CliRunner

from import_helpers import TinyDecoder, TinyEncoder, export, export_vae, tiny_pair
from latentatlas.cli import app
from latentatlas.export.onnx import cache_folder, export_onnx
from latentatlas.imports import MAX_GRAPH_BYTES
from latentatlas.store.folders import load_model_folder

VAE = os.fspath(os.path.join(os.path.dirname(__file__), "..", "..", "models", "vae-dsprites"))


def _import_pair(encoder, decoder, out, *options: str) -> list[str]:
    """``latentatlas import onnx --encoder E --decoder D OPTIONS... --out OUT``."""
    return ["import", "onnx", "--encoder", str(encoder), "--decoder", str(decoder), *options, "--out", str(out)]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(scope="module")
def vae_graphs(tmp_path_factory):
    return export_vae(tmp_path_factory.mktemp("vae-graphs"))


@pytest.fixture(scope="module")
def imported_vae(vae_graphs, tmp_path_factory):
    """The exported vae-dsprites imported through the CLI (encoder -> mu, and the decoder)."""
    out = tmp_path_factory.mktemp("models") / "vae-onnx"
    encoder, decoder = vae_graphs
    result = CliRunner().invoke(
        app,
        _import_pair(encoder, decoder, out, "--latent-output", "mu", "--dataset", "dsprites"),
    )
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout.strip().splitlines()[-1])


def test_import_help_lists_both_sources(runner):
    result = runner.invoke(app, ["import", "--help"])
    assert result.exit_code == 0 and "onnx" in result.output and "latents" in result.output
    assert "512 MiB" in runner.invoke(app, ["import", "onnx", "--help"]).output


def test_the_imported_vae_gives_the_native_latents_and_decodes(imported_vae):
    out, summary = imported_vae
    native = load_model_folder(VAE).model.eval()
    imported = load_model_folder(out).model
    images = torch.rand(6, 1, 64, 64, generator=torch.Generator().manual_seed(3)).round()
    with torch.inference_mode():
        native_latents = native.encode(images).latent
        assert (imported.encode(images).latent - native_latents).abs().max() <= 1e-4
        latents = native_latents + torch.randn(6, 10, generator=torch.Generator().manual_seed(4))
        assert (imported.decode(latents) - native.decode(latents)).abs().max() <= 1e-4
    native_card = json.loads((load_model_folder(VAE).folder / "card.json").read_text())
    assert summary["latent_dim"] == 10
    assert (
        abs(summary["heldout"]["psnr_db"] - native_card["heldout"]["psnr_db"]) < 0.01
    )  # same held-out images, same model


def test_the_folder_is_an_ordinary_model_folder(imported_vae):
    out, _ = imported_vae
    assert sorted(p.name for p in out.iterdir()) == ["card.json", "config.json", "decoder.onnx", "encoder.onnx"]
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no staging folder left
    loaded = load_model_folder(out)
    config = json.loads((out / "config.json").read_text())["model"]
    assert config["kind"] == "onnx" and config["latent_output"] == "mu" and config["latent_dim"] == 10
    caps = loaded.model.capabilities
    assert caps.encode and caps.decode and not caps.train and not caps.posterior
    card = loaded.card
    assert card["imported"]["encoder"]["outputs"] == ["mu", "logvar"]
    assert len(card["latent_stats"]["mean"]) == 10 and card["dataset"]["factor_names"]


def test_the_browser_gets_the_imported_decoder_itself(imported_vae, tmp_path):
    out, _ = imported_vae
    result = export_onnx(out, tmp_path / "cache")
    assert set(result.parts) == {"decoder", "encoder"}, result.unavailable
    cached = cache_folder(tmp_path / "cache", result.digest)
    assert (cached / "decoder.onnx").read_bytes() == (out / "decoder.onnx").read_bytes()
    assert (cached / "encoder.onnx").read_bytes() == (out / "encoder.onnx").read_bytes()  # mu is its first output
    assert result.parts["decoder"].input == "latent" and result.parts["decoder"].max_abs_error <= 1e-6


@pytest.mark.slow  # the whole metric suite on an imported model: about a minute
def test_evaluate_scores_an_imported_model(runner, tmp_path):
    encoder, decoder = tiny_pair(tmp_path / "graphs")
    out = tmp_path / "models" / "tiny"
    assert runner.invoke(app, _import_pair(encoder, decoder, out)).exit_code == 0
    result = runner.invoke(
        app, ["evaluate", str(out), "--samples", "60", "--train-votes", "2", "--eval-votes", "2", "--threads", "1"]
    )
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "card.json").read_text())["metrics"]
    assert metrics["latent_dim"] == 4 and 0 <= metrics["values"]["mig"] <= 1


def test_an_encoder_alone_imports_without_decode(runner, tmp_path):
    encoder, _ = tiny_pair(tmp_path / "graphs")
    out = tmp_path / "models" / "encoder-only"
    result = runner.invoke(app, ["import", "onnx", "--encoder", str(encoder), "--out", str(out)])
    assert result.exit_code == 0, result.output
    loaded = load_model_folder(out)
    assert loaded.model.capabilities.encode and not loaded.model.capabilities.decode
    assert "psnr_db" not in loaded.card["heldout"] and len(loaded.card["latent_stats"]["std"]) == 4
    assert "decoder" in export_onnx(out, tmp_path / "cache").unavailable


def test_nhwc_graphs_in_plus_minus_one(runner, tmp_path):
    """A graph taking (N, 64, 64, 1) images in [-1, 1] is fed exactly that, and wrapped for the browser."""
    shape = (64, 64, 1)
    encoder = export(TinyEncoder(3, shape), torch.rand(2, *shape), tmp_path / "enc.onnx", "x", ["z"])
    decoder = export(TinyDecoder(3, shape, scale=2.0), torch.zeros(2, 3), tmp_path / "dec.onnx", "z", ["y"])
    out = tmp_path / "models" / "nhwc"
    result = runner.invoke(
        app,
        _import_pair(encoder, decoder, out, "--layout", "nhwc", "--range", "pm1"),
    )
    assert result.exit_code == 0, result.output
    model = load_model_folder(out).model
    images = torch.rand(3, 1, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        expected = TinyEncoder(3, shape)(images.permute(0, 2, 3, 1) * 2 - 1)
        assert (model.encode(images).latent - expected).abs().max() <= 1e-5
        graph_images = TinyDecoder(3, shape, scale=2.0)(expected)  # in [0, 2]: read as [-1, 1], its upper half is kept
        assert (model.decode(expected) - ((graph_images + 1) / 2).clamp(0, 1).permute(0, 3, 1, 2)).abs().max() <= 1e-5
    # the browser gets the graphs wrapped to NCHW [0, 1] float32, agreeing with the model
    browser = export_onnx(out, tmp_path / "cache")
    assert set(browser.parts) == {"decoder", "encoder"}, browser.unavailable
    cached = cache_folder(tmp_path / "cache", browser.digest)
    with torch.inference_mode():
        assert (
            np.abs(run_graph(cached / "decoder.onnx", expected.numpy()) - model.decode(expected).numpy()).max() <= 1e-6
        )
        assert (
            np.abs(run_graph(cached / "encoder.onnx", images.numpy()) - model.encode(images).latent.numpy()).max()
            <= 1e-5
        )


def run_graph(path, values: np.ndarray) -> np.ndarray:
    """The first output of a graph run on its first input, as the browser's worker runs it."""
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: values})[0]


def _half_graph(path, nodes, weights: dict, input_name: str, input_shape: list, output_name: str, output_shape: list):
    """A float16 graph of ``nodes`` (weights: name -> array) saved at ``path``."""
    initializers = [numpy_helper.from_array(np.asarray(value), name) for name, value in weights.items()]
    graph = helper.make_graph(
        nodes,
        "half",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT16, input_shape)],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT16, output_shape)],
        initializers,
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_the_browser_gets_float16_graphs_as_float32(runner, tmp_path):
    """A half-precision pair is cast at its edges; the browser's graph takes and gives float32."""
    rng = np.random.default_rng(0)
    encoder = _half_graph(
        tmp_path / "enc16.onnx",
        [helper.make_node("Flatten", ["x"], ["f"]), helper.make_node("MatMul", ["f", "w"], ["z"])],
        {"w": (0.01 * rng.standard_normal((4096, 4))).astype(np.float16)},
        "x",
        ["n", 1, 64, 64],
        "z",
        ["n", 4],
    )
    decoder = _half_graph(
        tmp_path / "dec16.onnx",
        [
            helper.make_node("MatMul", ["z", "w"], ["h"]),
            helper.make_node("Sigmoid", ["h"], ["s"]),
            helper.make_node("Reshape", ["s", "shape"], ["x"]),
        ],
        {"w": rng.standard_normal((4, 4096)).astype(np.float16), "shape": np.array([-1, 1, 64, 64])},
        "z",
        ["n", 4],
        "x",
        ["n", 1, 64, 64],
    )
    out = tmp_path / "models" / "half"
    result = runner.invoke(app, _import_pair(encoder, decoder, out))
    assert result.exit_code == 0, result.output
    browser = export_onnx(out, tmp_path / "cache")
    assert set(browser.parts) == {"decoder", "encoder"}, browser.unavailable
    latents = rng.standard_normal((3, 4)).astype(np.float32)
    decoded = run_graph(cache_folder(tmp_path / "cache", browser.digest) / "decoder.onnx", latents)
    assert decoded.dtype == np.float32 and decoded.shape == (3, 1, 64, 64)
    with torch.inference_mode():
        reference = load_model_folder(out).model.decode(torch.from_numpy(latents)).numpy()
    assert np.abs(decoded - reference).max() <= 1e-3  # float16 rounding: ONNX Runtime may run the cast graph in float32


def _graph_declaring(path, declared_dim: int, returned_dim: int):
    """An encoder graph whose output is declared (n, declared_dim) but is (n, returned_dim)."""
    weight = helper.make_tensor("w", TensorProto.FLOAT, [4096, returned_dim], np.zeros(4096 * returned_dim).tolist())
    nodes = [helper.make_node("Flatten", ["image"], ["flat"]), helper.make_node("MatMul", ["flat", "w"], ["latent"])]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 1, 64, 64])],
        [helper.make_tensor_value_info("latent", TensorProto.FLOAT, ["n", declared_dim])],
        [weight],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def _bad_inputs(tmp_path):
    """(name, args, what the error must say) for each kind of bad input."""
    encoder, decoder = tiny_pair(tmp_path / "good")
    text = tmp_path / "notes.onnx"
    text.write_text("this is not a graph")
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(encoder.read_bytes()[: encoder.stat().st_size // 2])
    huge = tmp_path / "huge.onnx"
    with open(huge, "wb") as handle:
        handle.truncate(MAX_GRAPH_BYTES + 1)  # sparse: no disk used
    rgb = export(TinyEncoder(4, (3, 64, 64)), torch.rand(2, 3, 64, 64), tmp_path / "rgb.onnx", "image", ["latent"])
    wide = export(TinyDecoder(5), torch.zeros(2, 5), tmp_path / "wide.onnx", "latent", ["image"])
    small = export(TinyDecoder(4, (1, 32, 32)), torch.zeros(2, 4), tmp_path / "small.onnx", "latent", ["image"])
    nan = export(TinyDecoder(4, scale=float("nan")), torch.zeros(2, 4), tmp_path / "nan.onnx", "latent", ["image"])
    fixed = export(
        TinyEncoder(4), torch.rand(1, 1, 64, 64), tmp_path / "fixed.onnx", "image", ["latent"], dynamic_batch=False
    )
    two = export(TinyEncoder(4, outputs=2), torch.rand(2, 1, 64, 64), tmp_path / "two.onnx", "image", ["mu", "logvar"])
    lying = _graph_declaring(tmp_path / "lying.onnx", declared_dim=3, returned_dim=4)
    external = tmp_path / "external.onnx"
    onnx.save_model(
        onnx.load(str(encoder)), str(external), save_as_external_data=True, location="weights.bin", size_threshold=0
    )
    with_decoder = ["--decoder", str(decoder)]
    return [
        ("not onnx", ["--encoder", str(text)], [text.name, "not an onnx model"]),
        ("truncated", ["--encoder", str(truncated)], [truncated.name]),
        ("huge", ["--encoder", str(huge)], [huge.name, f"{MAX_GRAPH_BYTES:,} bytes"]),
        ("missing", ["--encoder", str(tmp_path / "absent.onnx")], ["absent.onnx", "no such file"]),
        ("wrong channels", ["--encoder", str(rgb)], [rgb.name, "layout"]),
        ("latent sizes disagree", ["--encoder", str(encoder), "--decoder", str(wide)], [wide.name, "(n, 4)"]),
        ("decoder image shape", ["--encoder", str(encoder), "--decoder", str(small)], [small.name, "[16, 1, 32, 32]"]),
        ("nan outputs", ["--encoder", str(encoder), "--decoder", str(nan)], [nan.name, "nan"]),
        ("fixed batch", ["--encoder", str(fixed)], [fixed.name, "batch"]),
        ("ambiguous latent", ["--encoder", str(two)], [two.name, "'mu'", "'logvar'", "--latent-output"]),
        ("unknown latent", ["--encoder", str(two), "--latent-output", "z"], [two.name, "no output 'z'", "'mu'"]),
        ("external data", ["--encoder", str(external)], [external.name, "external data"]),
        ("declared shape", ["--encoder", str(lying), *with_decoder], [lying.name, "declared [n, 3]", "[16, 4]"]),
    ]


def test_bad_input_is_a_clear_error_that_leaves_nothing(runner, tmp_path):
    for name, args, words in _bad_inputs(tmp_path / "inputs"):
        models = tmp_path / name.replace(" ", "-")
        models.mkdir()
        result = runner.invoke(app, ["import", "onnx", *args, "--out", str(models / "imported")])
        assert result.exit_code == 2, (name, result.output)
        assert isinstance(result.exception, SystemExit), (name, result.exception)  # no traceback
        message = result.output.lower()
        assert message.startswith("error: "), (name, result.output)
        for word in words:
            assert word.lower() in message, (name, word, result.output)
        assert list(models.iterdir()) == [], name


def test_an_existing_destination_is_refused(runner, tmp_path):
    encoder, _ = tiny_pair(tmp_path / "graphs")
    out = tmp_path / "models" / "taken"
    out.mkdir(parents=True)
    (out / "keep.txt").write_text("mine")
    result = runner.invoke(app, ["import", "onnx", "--encoder", str(encoder), "--out", str(out)])
    assert result.exit_code == 2 and "already exists" in result.output
    assert [p.name for p in out.iterdir()] == ["keep.txt"]
