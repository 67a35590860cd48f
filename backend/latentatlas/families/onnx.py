"""Models trained elsewhere, imported as ONNX graphs (``latentatlas import onnx``).

The folder holds ``encoder.onnx`` (images -> latents) and, optionally, ``decoder.onnx``
(latents -> images) beside ``config.json``; they run in ONNX Runtime only (never torch.load,
never a pickle). The config records which input and output of each graph to use and how the
graphs take their images: ``layout`` NCHW or NHWC, ``pixel_range`` [0, 1] or [-1, 1]; ``encode``
and ``decode`` convert from and to the app's (N, C, S, S) images in [0, 1]. The family cannot
be trained here, and decodes only with a decoder graph.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from latentatlas.families.base import Encoding, LatentModel, OnnxGraph
from latentatlas.families.configs import DECODER_FILE, ENCODER_FILE, FamilyConfig, Layout, OnnxConfig, PixelRange

if TYPE_CHECKING:
    import onnxruntime


ELEMENT_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16}
"""The graph input types accepted (ONNX Runtime's names) and the numpy type each is fed."""


def open_session(source: Path | bytes) -> onnxruntime.InferenceSession:
    """An ONNX Runtime session on the CPU with torch's intra-op thread count."""
    import onnxruntime  # here: the CLI and server start without it

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads()
    options.log_severity_level = 3  # errors only: a user's graph may carry unused initialisers
    return onnxruntime.InferenceSession(
        source if isinstance(source, bytes) else str(source), options, providers=["CPUExecutionProvider"]
    )


def to_graph_images(images: torch.Tensor, layout: Layout, pixel_range: PixelRange) -> np.ndarray:
    """The app's images (N, C, S, S) in [0, 1] as graphs of ``layout`` and ``pixel_range`` take them."""
    values = images.detach().float().cpu().numpy()
    if pixel_range == "pm1":
        values = 2 * values - 1
    return values.transpose(0, 2, 3, 1) if layout == "nhwc" else values


def from_graph_images(values: np.ndarray, layout: Layout, pixel_range: PixelRange) -> np.ndarray:
    """A graph's images as the app's: (N, C, S, S) in [0, 1] (clipped), float32."""
    if layout == "nhwc":
        values = values.transpose(0, 3, 1, 2)
    if pixel_range == "pm1":
        values = (values + 1) / 2
    return np.ascontiguousarray(np.clip(values, 0, 1), dtype=np.float32)


class Graph:
    """One session, the input it is fed and the output read from it."""

    def __init__(
        self, session: onnxruntime.InferenceSession, input_name: str, output_name: str, path: Path | None = None
    ) -> None:
        inputs = {node.name: node for node in session.get_inputs()}
        outputs = [node.name for node in session.get_outputs()]
        if input_name not in inputs or output_name not in outputs:
            raise ValueError(
                f"the graph has inputs {list(inputs)} and outputs {outputs}; "
                f"the config names input {input_name!r} and output {output_name!r}"
            )
        if inputs[input_name].type not in ELEMENT_TYPES:
            raise ValueError(
                f"the graph's input {input_name!r} is {inputs[input_name].type}; accepted: {', '.join(ELEMENT_TYPES)}"
            )
        self.session, self.input, self.output, self.path = session, input_name, output_name, path
        self.dtype = ELEMENT_TYPES[inputs[input_name].type]

    def __call__(self, values: np.ndarray) -> np.ndarray:
        return np.asarray(self.session.run([self.output], {self.input: values.astype(self.dtype)})[0])


class OnnxModel(LatentModel):
    """An imported encoder (and decoder) graph; ``encode``/``decode`` convert the app's images
    (N, C, S, S) in [0, 1] to the graphs' layout and range and back."""

    config: OnnxConfig

    def __init__(self, config: OnnxConfig, encoder: Graph, decoder: Graph | None = None) -> None:
        super().__init__(config)
        self.encoder_graph, self.decoder_graph = encoder, decoder

    @classmethod
    def from_folder(cls, config: FamilyConfig, folder: Path) -> OnnxModel:
        assert isinstance(config, OnnxConfig)
        folder = Path(folder)
        encoder = Graph(
            open_session(folder / ENCODER_FILE), config.encoder_input, config.latent_output, folder / ENCODER_FILE
        )
        decoder = None
        if config.decoder_input is not None and config.decoder_output is not None:
            decoder = Graph(
                open_session(folder / DECODER_FILE), config.decoder_input, config.decoder_output, folder / DECODER_FILE
            )
        return cls(config, encoder, decoder)

    def encode(self, images: torch.Tensor) -> Encoding:
        latent = self.encoder_graph(to_graph_images(images, self.config.layout, self.config.pixel_range)).astype(
            np.float32
        )
        return Encoding(torch.from_numpy(latent).to(images.device))

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        if self.decoder_graph is None:
            raise TypeError(f"this {self.config.kind} model has no decoder graph (capabilities.decode is false)")
        values = self.decoder_graph(latents.detach().float().cpu().numpy())
        images = from_graph_images(values, self.config.layout, self.config.pixel_range)
        return torch.from_numpy(images).to(latents.device)

    def decode_logits(self, latents: torch.Tensor) -> torch.Tensor:
        """The graph gives images, not logits: their inverse sigmoid."""
        return torch.logit(self.decode(latents), eps=1e-6)

    def onnx_graph(self, part: str) -> OnnxGraph | None:
        graph = self.decoder_graph if part == "decoder" else self.encoder_graph
        if graph is None or graph.path is None:
            raise ValueError(f"the imported model has no {part} graph file")
        return OnnxGraph(graph.path, graph.input, graph.output, self.config.layout, self.config.pixel_range)
