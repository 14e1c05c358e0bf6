"""Small reference networks written straight to ONNX and TFLite with identical weights.

A dense network (fully connected layers, ReLU between them) is simple enough to write as an
ONNX graph with `onnx.helper` and as a TFLite flatbuffer with the schema that ai-edge-litert
ships, in float32 and in full-integer int8 (int8 weights, activations, inputs and outputs).
Tests and benchmarks of the engines use them to run real models on both runtimes without
torch. The students themselves are exported from torch by `quant.export_*`.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import numpy as np

ONNX_OPSET = 17


@dataclass(frozen=True)
class DenseNet:
    """Layers of (weight (out, in), bias (out,)); ReLU after every layer but the last."""

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]

    @property
    def sizes(self) -> list[int]:
        return [self.weights[0].shape[1], *(w.shape[0] for w in self.weights)]

    @property
    def params(self) -> int:
        return sum(w.size + b.size for w, b in zip(self.weights, self.biases, strict=True))

    @property
    def macs(self) -> int:
        """Multiply-accumulates for one input row."""
        return sum(w.size for w in self.weights)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """float64 reference forward pass, x (batch, in) -> (batch, out)."""
        h = np.asarray(x, dtype=np.float64)
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = h @ w.T.astype(np.float64) + b
            if i < len(self.weights) - 1:
                h = np.maximum(h, 0.0)
        return h

    def activations(self, x: np.ndarray) -> list[np.ndarray]:
        """Input and every layer's output (after its ReLU), float64, for calibration."""
        out = [np.asarray(x, dtype=np.float64)]
        for i, (w, b) in enumerate(zip(self.weights, self.biases, strict=True)):
            h = out[-1] @ w.T.astype(np.float64) + b
            out.append(np.maximum(h, 0.0) if i < len(self.weights) - 1 else h)
        return out


def dense_net(sizes: list[int], seed: int = 0) -> DenseNet:
    """He-initialised dense network with the given layer widths (input first)."""
    rng = np.random.default_rng(seed)
    weights, biases = [], []
    for n_in, n_out in pairwise(sizes):
        weights.append(
            (rng.standard_normal((n_out, n_in)) * np.sqrt(2.0 / n_in)).astype(np.float32)
        )
        biases.append((0.1 * rng.standard_normal(n_out)).astype(np.float32))
    return DenseNet(tuple(weights), tuple(biases))


def affine_params(lo: float, hi: float) -> tuple[float, int]:
    """int8 scale and zero point covering [min(lo, 0), max(hi, 0)]."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    scale = max(hi - lo, 1e-8) / 255.0
    zero_point = int(np.clip(np.rint(-128 - lo / scale), -128, 127))
    return scale, zero_point


# ----------------------------------------------------------------------------------------- ONNX


def to_onnx(
    net: DenseNet,
    input_name: str = "features",
    output_name: str = "scores",
    int8_io: tuple[tuple[float, int], tuple[float, int]] | None = None,
) -> bytes:
    """ONNX bytes with a dynamic batch axis. With ``int8_io=((in_scale, in_zp), (out_scale, out_zp))``
    the graph takes and returns int8 (DequantizeLinear at the input, QuantizeLinear at the output)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []
    current = input_name
    if int8_io is not None:
        (s_in, z_in), (s_out, z_out) = int8_io
        inits += [
            numpy_helper.from_array(np.array(s_in, np.float32), "in_scale"),
            numpy_helper.from_array(np.array(z_in, np.int8), "in_zero_point"),
            numpy_helper.from_array(np.array(s_out, np.float32), "out_scale"),
            numpy_helper.from_array(np.array(z_out, np.int8), "out_zero_point"),
        ]
        nodes.append(
            helper.make_node(
                "DequantizeLinear", [input_name, "in_scale", "in_zero_point"], ["x_float"]
            )
        )
        current = "x_float"
    last = len(net.weights) - 1
    for i, (w, b) in enumerate(zip(net.weights, net.biases, strict=True)):
        inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
        gemm_out = f"gemm{i}" if (i < last or int8_io is not None) else output_name
        nodes.append(helper.make_node("Gemm", [current, f"w{i}", f"b{i}"], [gemm_out], transB=1))
        current = gemm_out
        if i < last:
            nodes.append(helper.make_node("Relu", [current], [f"relu{i}"]))
            current = f"relu{i}"
    if int8_io is not None:
        nodes.append(
            helper.make_node(
                "QuantizeLinear", [current, "out_scale", "out_zero_point"], [output_name]
            )
        )
    elem = TensorProto.INT8 if int8_io is not None else TensorProto.FLOAT
    graph = helper.make_graph(
        nodes,
        "dense",
        [helper.make_tensor_value_info(input_name, elem, ["batch", net.sizes[0]])],
        [helper.make_tensor_value_info(output_name, elem, ["batch", net.sizes[-1]])],
        inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", ONNX_OPSET)],
        producer_name="affect-edge quant.reference_models",
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


# --------------------------------------------------------------------------------------- TFLite


def _tflite_model(tensors, buffers, operators, inputs, outputs, opcodes) -> bytes:
    import flatbuffers
    from ai_edge_litert import schema_py_generated as tfl

    sub = tfl.SubGraphT()
    sub.tensors, sub.operators, sub.inputs, sub.outputs, sub.name = (
        tensors,
        operators,
        inputs,
        outputs,
        "main",
    )
    model = tfl.ModelT()
    model.version = 3
    model.description = "affect-edge quant.reference_models dense network"
    model.operatorCodes = opcodes
    model.subgraphs = [sub]
    model.buffers = buffers
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def to_tflite(
    net: DenseNet,
    input_name: str = "features",
    output_name: str = "scores",
    calibration: np.ndarray | None = None,
) -> bytes:
    """TFLite bytes, batch 1 (resizable). Float32, or full-integer int8 when ``calibration``
    (float inputs, (n, in)) is given: per-tensor symmetric int8 weights, int32 biases,
    asymmetric int8 activations whose ranges come from the calibration data."""
    from ai_edge_litert import schema_py_generated as tfl

    int8 = calibration is not None
    ranges = [(a.min(), a.max()) for a in net.activations(calibration)] if int8 else None
    buffers = [tfl.BufferT()]  # buffer 0 is the conventional empty buffer

    def add_buffer(array: np.ndarray) -> int:
        buf = tfl.BufferT()
        buf.data = np.frombuffer(np.ascontiguousarray(array).tobytes(), dtype=np.uint8)
        buffers.append(buf)
        return len(buffers) - 1

    tensors = []

    def add_tensor(
        name: str,
        shape: list[int],
        ttype: int,
        buffer: int = 0,
        quant: tuple[list[float], list[int]] | None = None,
        dynamic_batch: bool = False,
    ) -> int:
        t = tfl.TensorT()
        t.name, t.shape, t.type, t.buffer = name, np.array(shape, np.int32), ttype, buffer
        if dynamic_batch:
            t.shapeSignature = np.array([-1, *shape[1:]], np.int32)
        if quant is not None:
            q = tfl.QuantizationParametersT()
            q.scale, q.zeroPoint = list(quant[0]), list(quant[1])
            t.quantization = q
        tensors.append(t)
        return len(tensors) - 1

    act_type = tfl.TensorType.INT8 if int8 else tfl.TensorType.FLOAT32
    act_q = [affine_params(*r) for r in ranges] if int8 else None
    current = add_tensor(
        input_name,
        [1, net.sizes[0]],
        act_type,
        quant=([act_q[0][0]], [act_q[0][1]]) if int8 else None,
        dynamic_batch=True,
    )
    inputs = [current]
    operators = []
    last = len(net.weights) - 1
    for i, (w, b) in enumerate(zip(net.weights, net.biases, strict=True)):
        if int8:
            w_scale = max(float(np.abs(w).max()), 1e-8) / 127.0
            wq = np.clip(np.rint(w / w_scale), -127, 127).astype(np.int8)
            b_scale = act_q[i][0] * w_scale
            bq = np.rint(b / b_scale).astype(np.int32)
            w_t = add_tensor(
                f"w{i}", list(w.shape), tfl.TensorType.INT8, add_buffer(wq), ([w_scale], [0])
            )
            b_t = add_tensor(
                f"b{i}", list(b.shape), tfl.TensorType.INT32, add_buffer(bq), ([b_scale], [0])
            )
            out_q = ([act_q[i + 1][0]], [act_q[i + 1][1]])
        else:
            w_t = add_tensor(f"w{i}", list(w.shape), tfl.TensorType.FLOAT32, add_buffer(w))
            b_t = add_tensor(f"b{i}", list(b.shape), tfl.TensorType.FLOAT32, add_buffer(b))
            out_q = None
        name = output_name if i == last else f"dense{i}"
        out = add_tensor(name, [1, w.shape[0]], act_type, quant=out_q, dynamic_batch=True)
        op = tfl.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = 0, [current, w_t, b_t], [out]
        op.builtinOptionsType = tfl.BuiltinOptions.FullyConnectedOptions
        op.builtinOptions = tfl.FullyConnectedOptionsT()
        op.builtinOptions.fusedActivationFunction = (
            tfl.ActivationFunctionType.NONE if i == last else tfl.ActivationFunctionType.RELU
        )
        operators.append(op)
        current = out
    code = tfl.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = tfl.BuiltinOperator.FULLY_CONNECTED
    code.version = 4 if int8 else 1
    return _tflite_model(tensors, buffers, operators, inputs, [current], [code])


def io_quantization(
    net: DenseNet, calibration: np.ndarray
) -> tuple[tuple[float, int], tuple[float, int]]:
    """The (scale, zero_point) of the int8 input and output that `to_tflite` chooses."""
    acts = net.activations(calibration)
    return affine_params(acts[0].min(), acts[0].max()), affine_params(
        acts[-1].min(), acts[-1].max()
    )


# ------------------------------------------------------------------------------------ manifests


def tensor_spec(
    name: str, shape: list, dtype: str = "float32", quant: tuple[float, int] | None = None
) -> dict:
    """A manifest tensor entry; `quant` is (scale, zero_point) for int8 tensors."""
    spec: dict = {"name": name, "shape": shape, "dtype": dtype}
    if quant is not None:
        spec["quantization"] = {"scale": quant[0], "zero_point": quant[1]}
    return spec


def dense_manifest(
    name: str,
    net: DenseNet,
    models: list[dict],
    provenance: dict,
    tolerance: dict,
    modality: str = "test",
) -> dict:
    """A bundle manifest for a dense reference network (regression outputs y0, y1, ...)."""
    return {
        "schema_version": 1,
        "name": name,
        "version": "0",
        "modality": modality,
        "task": {"kind": "regression", "outputs": [f"y{i}" for i in range(net.sizes[-1])]},
        "front_end": {"kind": "none"},
        "models": models,
        "params": net.params,
        "macs": net.macs,
        "provenance": provenance,
        "tolerance": tolerance,
        "measured": {},
    }
