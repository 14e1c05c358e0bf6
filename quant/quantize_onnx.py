"""Static int8 quantisation of ONNX models with ONNX Runtime: QDQ format, per-channel weights.

Calibration runs real front-end features through the float model to fix activation ranges.
Sensitive layers can stay in float: "first" (the first Conv/Gemm/MatMul, which sees raw
features) and "last" (the last one, which produces the outputs), or node names. Dynamic
quantisation is never used: for conv nets it is about 10x slower on this class of CPU.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from quant.errors import ExportError

_WEIGHTED_OPS = ("Conv", "Gemm", "MatMul", "ConvTranspose")


def weighted_nodes(onnx_bytes: bytes) -> list[str]:
    """Names of the nodes that carry weights, in graph order."""
    import onnx

    return [
        n.name for n in onnx.load_from_string(onnx_bytes).graph.node if n.op_type in _WEIGHTED_OPS
    ]


def resolve_keep_float(onnx_bytes: bytes, keep_float: Sequence[str]) -> list[str]:
    nodes = weighted_nodes(onnx_bytes)
    out = []
    for item in keep_float:
        if item == "first" and nodes:
            out.append(nodes[0])
        elif item == "last" and nodes:
            out.append(nodes[-1])
        elif item in nodes:
            out.append(item)
        elif item not in ("first", "last"):
            raise ExportError(
                f"--keep-float names {item!r}, which is not a weighted node; nodes: {nodes}"
            )
    return sorted(set(out))


def quantize_onnx(
    onnx_bytes: bytes,
    calibration: np.ndarray,
    input_name: str = "features",
    keep_float: Sequence[str] = (),
    per_channel: bool = True,
    progress=None,
) -> bytes:
    """Static QDQ int8 (int8 weights per channel, int8 activations) with float inputs and outputs."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    rows = [calibration[i : i + 1] for i in range(len(calibration))]
    tick = progress or (lambda: None)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._rows = iter(rows)

        def get_next(self):
            row = next(self._rows, None)
            if row is None:
                return None
            tick()
            return {input_name: row}

    exclude = resolve_keep_float(onnx_bytes, keep_float)
    with tempfile.TemporaryDirectory() as tmp:
        src, pre, dst = (Path(tmp) / n for n in ("float.onnx", "pre.onnx", "int8.onnx"))
        src.write_bytes(onnx_bytes)
        try:
            quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)
        except Exception:  # pre-processing is an optimisation; quantise the plain model if it fails
            pre = src
        quantize_static(
            str(pre),
            str(dst),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=per_channel,
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=exclude,
            extra_options={"ActivationSymmetric": False, "WeightSymmetric": True},
        )
        return compact_names(dst.read_bytes())


def compact_names(onnx_bytes: bytes) -> bytes:
    """The same graph with short internal tensor names, no node names and no shape annotations.

    The quantiser names every scale, zero point and intermediate after its layer
    ("blocks.4.pointwise.weight_bias_quantized_zero_point"), each written at least twice; on a
    20 K-parameter model the names alone take a fifth of the file. Graph inputs and outputs keep
    their names (the manifest and the engines use them); the computation is untouched.
    """
    import onnx

    model = onnx.load_from_string(onnx_bytes)
    graph = model.graph
    keep = {v.name for v in (*graph.input, *graph.output)}
    names: dict[str, str] = {}

    def short(name: str) -> str:
        if not name or name in keep:
            return name
        return names.setdefault(name, f"t{len(names)}")

    for tensor in graph.initializer:
        tensor.name = short(tensor.name)
    for node in graph.node:
        node.name = ""
        node.input[:] = [short(x) for x in node.input]
        node.output[:] = [short(x) for x in node.output]
    del graph.value_info[:]
    onnx.checker.check_model(model)
    return model.SerializeToString()
