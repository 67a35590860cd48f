"""``latentatlas import onnx``: an encoder graph (and optionally a decoder graph) trained elsewhere,
checked in full and written as a model folder of the ``onnx`` family.

Before anything is written: each file is at most :data:`MAX_GRAPH_BYTES` (checked before it is
read), parses as ONNX, passes ``onnx.checker``, keeps all its weights inside itself (no external
data files) and loads in ONNX Runtime; the encoder has one image input whose declared shape fits
the dataset's images (in the given layout) and a latent output (named with ``--latent-output``
when it has several); the decoder has one latent input of the encoder's latent size and one image
output; a round trip of dataset images gives finite latents and images of the dataset's shape,
each of the shapes the graphs declare. The card records the held-out reconstruction PSNR (and
the latent statistics that size the app's sliders) measured with the graphs themselves.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import torch
from onnx.external_data_helper import uses_external_data

from latentatlas.data.registry import load_dataset
from latentatlas.data.spec import DatasetSpec
from latentatlas.evaluation.quality import evaluate_reconstruction
from latentatlas.families.configs import DECODER_FILE, ENCODER_FILE, Layout, OnnxConfig, PixelRange
from latentatlas.families.onnx import ELEMENT_TYPES, Graph, OnnxModel, open_session, to_graph_images
from latentatlas.imports.staging import (
    ModelImportError,
    check_destination,
    write_folder,
)
from latentatlas.nets.config import NetConfig
from latentatlas.store.folders import (
    CARD_FILE,
    CONFIG_FILE,
    FolderConfig,
    load_model_folder,
    write_json,
)

MAX_GRAPH_BYTES = 512 * 2**20
"""The largest graph file imported (512 MiB); a larger one is refused before it is read (a 64 x 64
image model's graphs are megabytes; protobuf itself stops at 2 GiB)."""

PROBE_IMAGES = 16
"""Held-out dataset images of the validating round trip (the card's PSNR uses all of them)."""


def _reason(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:300]}" if text else type(error).__name__


def _tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    """Every tensor a graph stores: initialisers and attribute tensors, subgraphs included."""
    yield from graph.initializer
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            if attribute.HasField("g"):
                yield from _tensors(attribute.g)
            for subgraph in attribute.graphs:
                yield from _tensors(subgraph)


class GraphFile:
    """A graph file read once, checked, and opened in ONNX Runtime from those same bytes."""

    def __init__(self, path: Path, role: str) -> None:
        self.path, self.role = path, role
        if not path.is_file():
            raise ModelImportError(f"{path}: no such file (the {role} graph)")
        size = path.stat().st_size
        if size > MAX_GRAPH_BYTES:
            raise ModelImportError(
                f"{path}: {size:,} bytes; a graph may be at most {MAX_GRAPH_BYTES:,} bytes (MAX_GRAPH_BYTES)"
            )
        self.data = path.read_bytes()
        try:
            proto = onnx.load_model_from_string(self.data)
        except Exception as error:
            raise ModelImportError(f"{path}: not an ONNX model ({_reason(error)})") from error
        if not proto.HasField("graph") or not proto.opset_import:
            raise ModelImportError(f"{path}: not an ONNX model (no graph or no opset: a truncated or foreign file?)")
        if any(uses_external_data(tensor) for tensor in _tensors(proto.graph)):
            raise ModelImportError(
                f"{path}: the graph keeps weights in external data files; save it as one file "
                "(onnx.save_model(model, path, save_as_external_data=False))"
            )
        try:
            onnx.checker.check_model(proto)
        except Exception as error:
            raise ModelImportError(f"{path}: not a valid ONNX graph ({_reason(error)})") from error
        try:
            self.session = open_session(self.data)
        except Exception as error:
            raise ModelImportError(f"{path}: ONNX Runtime cannot load the graph ({_reason(error)})") from error
        self.inputs, self.outputs = self.session.get_inputs(), self.session.get_outputs()
        # the shapes the file declares (ONNX Runtime reports its own inference, merged leniently)
        self.declared = {value.name: _dims(value) for value in [*proto.graph.input, *proto.graph.output]}

    def shape(self, node: onnxruntime.NodeArg) -> list[int | str | None]:
        return self.declared.get(node.name, list(node.shape))

    def describe(self, node: onnxruntime.NodeArg) -> str:
        return f"{node.name!r} {_shape_text(self.shape(node))} {node.type}"

    def only_input(self) -> onnxruntime.NodeArg:
        if len(self.inputs) != 1:
            raise ModelImportError(
                f"{self.path}: the {self.role} graph must take one input; it takes "
                f"{', '.join(self.describe(node) for node in self.inputs)}"
            )
        node = self.inputs[0]
        if node.type not in ELEMENT_TYPES:
            raise ModelImportError(
                f"{self.path}: its input {self.describe(node)} is not one of {', '.join(ELEMENT_TYPES)}"
            )
        return node

    def output(self, name: str | None) -> onnxruntime.NodeArg:
        """The output named ``name``, or the only output when ``name`` is None."""
        listed = ", ".join(self.describe(node) for node in self.outputs)
        if name is None:
            if len(self.outputs) != 1:
                hint = (
                    "name the latent one with --latent-output (a VAE's mean)"
                    if self.role == "encoder"
                    else "it must give only its images"
                )
                raise ModelImportError(f"{self.path}: the {self.role} graph has several outputs ({listed}); {hint}")
            return self.outputs[0]
        for node in self.outputs:
            if node.name == name:
                return node
        raise ModelImportError(f"{self.path}: the {self.role} graph has no output {name!r}; its outputs: {listed}")

    def run(self, graph: Graph, values: np.ndarray, what: str) -> np.ndarray:
        try:
            result = graph(values)
        except Exception as error:
            raise ModelImportError(
                f"{self.path}: running the {self.role} on {what} failed ({_reason(error)})"
            ) from error
        if not np.isfinite(result).all():
            raise ModelImportError(f"{self.path}: the {self.role} gives NaN or infinite values on {what}")
        return result


def _dims(value: onnx.ValueInfoProto) -> list[int | str | None]:
    """A declared shape: fixed sizes as ints, named ones as their names, unknown ones None."""
    dims = value.type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in dims]


def _shape_text(shape) -> str:
    return "[" + ", ".join(str(d) if isinstance(d, int) else (d or "?") for d in shape) + "]"


def _check_declared(graph: GraphFile, node: onnxruntime.NodeArg, actual: tuple[int, ...], what: str) -> None:
    """ModelImportError when ``node``'s declared shape (its fixed sizes) disagrees with ``actual``."""
    declared = graph.shape(node)
    if len(declared) != len(actual) or any(isinstance(d, int) and d != a for d, a in zip(declared, actual)):
        raise ModelImportError(
            f"{graph.path}: {what} {node.name!r} is declared {_shape_text(declared)} but is {list(actual)} here"
        )


def _check_image_input(
    graph: GraphFile, node: onnxruntime.NodeArg, image_shape: tuple[int, ...], layout: str, dataset: str
) -> None:
    shape = graph.shape(node)
    if len(shape) != 4 or any(isinstance(d, int) and d != e for d, e in zip(shape[1:], image_shape)):
        raise ModelImportError(
            f"{graph.path}: its input {graph.describe(node)} does not take the {dataset} images "
            f"(N, {', '.join(map(str, image_shape))}) in the {layout} layout (see --layout, --dataset)"
        )
    if isinstance(shape[0], int):
        raise ModelImportError(
            f"{graph.path}: its input {node.name!r} has a fixed batch size of {shape[0]}; export it "
            "with a dynamic batch axis (torch.onnx.export(..., dynamic_axes={name: {0: 'n'}}))"
        )


def _file_entry(graph: GraphFile, input_node: onnxruntime.NodeArg, output_node: onnxruntime.NodeArg, file: str) -> dict:
    return {
        "file": file,
        "source": graph.path.name,
        "bytes": len(graph.data),
        "sha256": hashlib.sha256(graph.data).hexdigest(),
        "input": graph.describe(input_node),
        "output": graph.describe(output_node),
        "outputs": [node.name for node in graph.outputs],
    }


def import_onnx(
    encoder_path: Path,
    decoder_path: Path | None,
    spec: DatasetSpec,
    out: Path,
    latent_output: str | None = None,
    layout: Layout = "nchw",
    pixel_range: PixelRange = "01",
) -> dict:
    """Check the graphs on ``spec``'s images (module docstring) and write ``out``; returns the
    card. Raises ModelImportError (naming the file and what is wrong) with nothing written."""
    started = time.perf_counter()
    check_destination(out)
    try:
        dataset = load_dataset(spec)
    except (OSError, ValueError) as error:
        raise ModelImportError(f"dataset {spec.name}: {error}") from error
    channels, size = dataset.channels, dataset.image_size
    image_shape = (channels, size, size) if layout == "nchw" else (size, size, channels)
    encoder = GraphFile(Path(encoder_path), "encoder")
    decoder = GraphFile(Path(decoder_path), "decoder") if decoder_path is not None else None
    enc_in, enc_out = encoder.only_input(), encoder.output(latent_output)
    _check_image_input(encoder, enc_in, image_shape, layout, spec.name)
    decoder_nodes = (decoder.only_input(), decoder.output(None)) if decoder is not None else None

    images = dataset.images(dataset.holdout_indices[:PROBE_IMAGES])
    what = f"{len(images)} held-out {spec.name} images"
    encoder_graph = Graph(encoder.session, enc_in.name, enc_out.name)
    latents = encoder.run(encoder_graph, to_graph_images(images, layout, pixel_range), what)
    if latents.ndim != 2 or latents.shape[0] != len(images):
        raise ModelImportError(
            f"{encoder.path}: output {enc_out.name!r} gives {list(latents.shape)} for {len(images)} images; "
            f"a latent output is (N, D)"
        )
    _check_declared(encoder, enc_out, latents.shape, "output")
    latent_dim = latents.shape[1]
    decoder_graph, decoder_names = None, {}
    if decoder is not None and decoder_nodes is not None:
        dec_in, dec_out = decoder_nodes
        declared = decoder.shape(dec_in)
        if len(declared) != 2 or (isinstance(declared[1], int) and declared[1] != latent_dim):
            raise ModelImportError(
                f"{decoder.path}: its input {decoder.describe(dec_in)} does not take the encoder's latents "
                f"(N, {latent_dim}) ({encoder.path.name}'s {enc_out.name!r})"
            )
        decoder_graph = Graph(decoder.session, dec_in.name, dec_out.name)
        decoded = decoder.run(decoder_graph, latents.astype(np.float32), f"the latents of {what}")
        if decoded.shape != (len(images), *image_shape):
            raise ModelImportError(
                f"{decoder.path}: output {dec_out.name!r} gives {list(decoded.shape)}; the {spec.name} images "
                f"are {[len(images), *image_shape]} in the {layout} layout"
            )
        _check_declared(decoder, dec_out, decoded.shape, "output")
        decoder_names = {"decoder_input": dec_in.name, "decoder_output": dec_out.name}

    config = OnnxConfig(
        latent_dim=latent_dim,
        net=NetConfig(image_size=size, channels=channels),
        encoder_input=enc_in.name,
        latent_output=enc_out.name,
        layout=layout,
        pixel_range=pixel_range,
        **decoder_names,
    )
    model = OnnxModel(config, encoder_graph, decoder_graph)
    with torch.inference_mode():
        heldout = evaluate_reconstruction(
            model, dataset, torch.device("cpu")
        )  # latent statistics alone without a decoder
    numbers = [heldout.get("psnr_db", 0.0), *(v for values in heldout["latent_stats"].values() for v in values)]
    if not np.isfinite(numbers).all():
        raise ModelImportError(
            f"{encoder_path}{' / ' + str(decoder_path) if decoder_path else ''}: NaN or infinite latents "
            f"or reconstructions on the {heldout['samples']} held-out {spec.name} images"
        )
    imported = {
        "encoder": _file_entry(encoder, enc_in, enc_out, ENCODER_FILE),
        "layout": layout,
        "pixel_range": pixel_range,
    }
    if decoder is not None and decoder_nodes is not None:
        imported["decoder"] = _file_entry(decoder, *decoder_nodes, DECODER_FILE)
    card = {
        "id": out.name,
        "kind": config.kind,
        "dataset": dataset.describe(),
        "steps": None,
        "heldout": {name: value for name, value in heldout.items() if name != "latent_stats"},
        "latent_stats": heldout["latent_stats"],
        "imported": imported,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }

    def fill(folder: Path) -> None:
        (folder / ENCODER_FILE).write_bytes(encoder.data)
        if decoder is not None:
            (folder / DECODER_FILE).write_bytes(decoder.data)
        write_json(folder / CONFIG_FILE, FolderConfig(model=config, dataset=spec).model_dump(mode="json"))
        card["imported"]["seconds"] = round(time.perf_counter() - started, 3)
        write_json(folder / CARD_FILE, card)
        load_model_folder(folder)  # it loads as the server and `evaluate` will load it

    write_folder(out, fill)
    return card
