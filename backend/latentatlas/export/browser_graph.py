"""An imported ONNX graph in the browser's convention: the app's worker feeds a float32 tensor to
a graph's first input and reads its first output, images being (N, C, S, S) in [0, 1].

A graph already in that convention is handed out byte for byte. Otherwise it is wrapped, its
own nodes untouched: before the encoder, the images go to NHWC (``Transpose``), to [-1, 1]
(``x * 2 - 1``) and to the graph's input type (``Cast``) as its convention asks; after the
decoder, its images come back to float32, to [0, 1] (``(x + 1) / 2``) and to NCHW; the latent
side is cast to and from float32; and only the output used is kept.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from latentatlas.families.base import OnnxGraph

TO_NHWC, TO_NCHW = [0, 2, 3, 1], [0, 3, 1, 2]


def _value(graph: onnx.GraphProto, name: str) -> onnx.ValueInfoProto:
    """The graph input or output ``name``."""
    for value in [*graph.input, *graph.output]:
        if value.name == name:
            return value
    raise ValueError(f"the graph has no input or output {name!r}")


def _float32_value(value: onnx.ValueInfoProto, name: str, permute: bool) -> onnx.ValueInfoProto:
    """A float32 value info named ``name`` of ``value``'s shape (NHWC -> NCHW with ``permute``)."""
    dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in value.type.tensor_type.shape.dim]
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, [dims[i] for i in TO_NCHW] if permute else dims)


Step = tuple[str, list[float], dict]
"""One node: its op type, the float32 scalars it takes after its input, its attributes."""


def _chain(graph: onnx.GraphProto, start: str, end: str, steps: list[Step], prefix: str) -> list[onnx.NodeProto]:
    """Nodes taking ``start`` through ``steps`` to ``end`` (their scalars become initialisers)."""
    nodes, current = [], start
    for index, (op, scalars, attributes) in enumerate(steps):
        produced = end if index == len(steps) - 1 else f"{prefix}_{index}"
        inputs = [current]
        for number, scalar in enumerate(scalars):
            inputs.append(f"{prefix}_{index}_scalar{number}")
            graph.initializer.append(numpy_helper.from_array(np.array(scalar, dtype=np.float32), inputs[-1]))
        nodes.append(helper.make_node(op, inputs, [produced], name=f"{prefix}_{index}", **attributes))
        current = produced
    return nodes


def browser_graph(own: OnnxGraph, part: str) -> tuple[bytes, str, str]:
    """(graph bytes, input name, output name) the browser runs for ``own`` (module docstring)."""
    data = own.path.read_bytes()
    model = onnx.load_model_from_string(data)
    graph = model.graph
    input_value, output_value = _value(graph, own.input), _value(graph, own.output)
    input_type, output_type = input_value.type.tensor_type.elem_type, output_value.type.tensor_type.elem_type
    to_float: list[Step] = [("Cast", [], {"to": TensorProto.FLOAT})] if output_type != TensorProto.FLOAT else []
    from_float: list[Step] = [("Cast", [], {"to": input_type})] if input_type != TensorProto.FLOAT else []
    before: list[Step] = []
    after: list[Step] = list(to_float)
    if part == "encoder":
        if own.layout == "nhwc":
            before.append(("Transpose", [], {"perm": TO_NHWC}))
        if own.pixel_range == "pm1":
            before += [("Mul", [2.0], {}), ("Add", [-1.0], {})]
        before += from_float
    else:
        before = from_float
        if own.pixel_range == "pm1":
            after += [("Add", [1.0], {}), ("Mul", [0.5], {})]
        if own.layout == "nhwc":
            after.append(("Transpose", [], {"perm": TO_NCHW}))
        if after:  # the model's decode clips its images to [0, 1] (Clip takes its bounds as inputs from opset 11)
            opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 11)
            after.append(("Clip", [0.0, 1.0], {}) if opset >= 11 else ("Clip", [], {"min": 0.0, "max": 1.0}))
    if not before and not after and graph.output[0].name == own.output:
        return data, own.input, own.output
    new_input = f"{own.input}_browser" if before else own.input
    new_output = f"{own.output}_browser" if after else own.output
    head = _chain(graph, new_input, own.input, before, "browser_in") if before else []
    tail = _chain(graph, own.output, new_output, after, "browser_out") if after else []
    nodes = [*head, *graph.node, *tail]
    del graph.node[:]
    graph.node.extend(nodes)
    kept_inputs = [value for value in graph.input if value.name != own.input or not before]
    del graph.input[:]
    nhwc = own.layout == "nhwc"
    if before:
        graph.input.append(_float32_value(input_value, new_input, nhwc and part == "encoder"))
    graph.input.extend(kept_inputs)
    del graph.output[:]
    graph.output.append(_float32_value(output_value, new_output, nhwc and part == "decoder"))
    onnx.checker.check_model(model)
    return model.SerializeToString(), new_input, new_output
