"""torch module -> TFLite bytes with litert-torch (no TensorFlow): float32 and full-integer int8.

int8 uses the PT2E flow: export, insert observers with litert-torch's symmetric per-channel
quantiser, calibrate on real features, convert, then rewrite the model interface so inputs and
outputs are int8 too (the quantise/dequantise ops at the edges are removed). A conversion that
fails on an operator is reported with the operator and the layer that uses it.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np
import torch

from quant.diagnose import explain
from quant.errors import ExportError
from quant.export_onnx import quiet

log = logging.getLogger(__name__)

_TFLITE_INT8 = 9


def _convert(module: torch.nn.Module, example: torch.Tensor, **kwargs) -> bytes:
    try:
        with quiet(), tempfile.TemporaryDirectory() as tmp:
            import litert_torch

            edge_model = litert_torch.convert(module, (example,), **kwargs)
            path = Path(tmp) / "m.tflite"
            edge_model.export(str(path))
            return path.read_bytes()
    except Exception as exc:
        raise ExportError(
            explain("litert-torch", module, example, exc)
            + "; replace it with supported ops, or export ONNX only (--formats onnx)"
        ) from exc


def rename_io(data: bytes, input_names: list[str], output_names: list[str]) -> bytes:
    """Give the main subgraph's inputs and outputs these names (litert-torch calls them
    serving_default_*), in the tensors and the signature, so every format of a bundle shares them.
    Every other tensor loses its name: litert-torch names each after its torch module path, 7 KB
    of face-expr's 76 KB (the budget is 80 KB), and no kernel or tool here reads them."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as tfl

    model = tfl.ModelT.InitFromPackedBuf(bytearray(data), 0)
    graph = model.subgraphs[0]
    if len(graph.inputs) != len(input_names) or len(graph.outputs) != len(output_names):
        raise ExportError(
            f"expected {len(input_names)} inputs and {len(output_names)} outputs, the TFLite model "
            f"has {len(graph.inputs)} and {len(graph.outputs)}"
        )
    for tensor in graph.tensors:
        tensor.name = ""
    for index, name in zip(
        [*graph.inputs, *graph.outputs], [*input_names, *output_names], strict=True
    ):
        graph.tensors[index].name = name
    for signature in model.signatureDefs or []:
        for tensor_map, names in (
            (signature.inputs, input_names),
            (signature.outputs, output_names),
        ):
            for item, name in zip(tensor_map or [], names, strict=False):
                item.name = name
    builder = flatbuffers.Builder(len(data) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def fix_bias_scales(data: bytes) -> tuple[bytes, int]:
    """Requantise int32 biases whose scale is not input scale x weight scale; returns the model
    and how many biases were mended.

    TFLite's int8 conv and fully-connected kernels read a bias as int32 on the scale
    input_scale x weight_scale[channel] and never look at the scale stored with it. litert-torch
    0.10 can store a bias quantised on another scale: in `face_expr` the linear head after the
    global mean got the mean's calibrated output scale, and the converter then gave the mean's
    output its input's scale (0.0331 against 0.0101), so the head added its bias 3.3 times
    (int8 top-1 against float 0.83 on 600 LFW crops; per-class logit offsets of 2.25 x the bias).
    The bias keeps its real value here: q' = round(q x stored scale / (input x weight scale)).
    """
    import flatbuffers
    from ai_edge_litert import schema_py_generated as tfl

    model = tfl.ModelT.InitFromPackedBuf(bytearray(data), 0)
    biased = {
        tfl.BuiltinOperator.CONV_2D,
        tfl.BuiltinOperator.DEPTHWISE_CONV_2D,
        tfl.BuiltinOperator.FULLY_CONNECTED,
    }
    fixed = 0
    for graph in model.subgraphs:
        for op in graph.operators:
            code = model.operatorCodes[op.opcodeIndex]
            if max(code.builtinCode, code.deprecatedBuiltinCode) not in biased:
                continue
            if len(op.inputs) < 3 or op.inputs[2] < 0:
                continue
            x, w, b = (graph.tensors[i] for i in op.inputs[:3])
            if b.type != tfl.TensorType.INT32 or not all(t.quantization for t in (x, w, b)):
                continue
            stored = np.asarray(b.quantization.scale, dtype=np.float64)
            wanted = float(x.quantization.scale[0]) * np.asarray(w.quantization.scale, np.float64)
            buffer = model.buffers[b.buffer]
            if stored.size == 0 or buffer.data is None or np.allclose(stored, wanted, rtol=1e-4):
                continue
            q = np.frombuffer(bytes(bytearray(buffer.data)), dtype="<i4").astype(np.float64)
            mended = np.clip(np.round(q * stored / wanted), -(2**31), 2**31 - 1).astype("<i4")
            buffer.data = np.frombuffer(mended.tobytes(), dtype=np.uint8)
            b.quantization.scale = [float(v) for v in np.broadcast_to(wanted, q.shape)]
            b.quantization.zeroPoint = [0] * q.size
            fixed += 1
    if not fixed:
        return data, 0
    builder = flatbuffers.Builder(len(data) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output()), fixed


def _io_dtypes(data: bytes) -> set[str]:
    """The dtypes of a TFLite model's inputs and outputs."""
    from edge.runtime.engines.litert import interpreter_class

    it = interpreter_class()[0](model_content=data)
    return {np.dtype(d["dtype"]).name for d in (*it.get_input_details(), *it.get_output_details())}


def export_tflite(
    module: torch.nn.Module,
    example: torch.Tensor,
    input_name: str = "features",
    output_name: str = "scores",
) -> bytes:
    """Float32 TFLite of `module`, traced on `example` (batch 1)."""
    return rename_io(_convert(module.eval(), example), [input_name], [output_name])


def export_tflite_int8(
    module: torch.nn.Module,
    example: torch.Tensor,
    calibration: np.ndarray,
    progress=None,
    input_name: str = "features",
    output_name: str = "scores",
) -> bytes:
    """Full-integer int8 TFLite: int8 weights (per channel), activations, inputs and outputs."""
    from ai_edge_litert import _pywrap_modify_model_interface as interface

    with quiet():  # these imports log warnings about optional GPU kernels
        from litert_torch.quantize import pt2e_quantizer
        from litert_torch.quantize.quant_config import QuantConfig
        from torchao.quantization.pt2e import quantize_pt2e

    quantizer = pt2e_quantizer.PT2EQuantizer().set_global(
        pt2e_quantizer.get_symmetric_quantization_config(is_per_channel=True, is_dynamic=False)
    )
    with quiet():
        try:
            prepared = quantize_pt2e.prepare_pt2e(
                torch.export.export(module.eval(), (example,)).module(), quantizer
            )
        except Exception as exc:
            raise ExportError(
                f"PT2E could not prepare {type(module).__name__} for int8: {exc}"
            ) from exc
        with torch.no_grad():
            for i in range(len(calibration)):
                prepared(torch.from_numpy(calibration[i : i + 1]))
                if progress:
                    progress()
        converted = quantize_pt2e.convert_pt2e(prepared, fold_quantize=False)
    data = _convert(converted, example, quant_config=QuantConfig(pt2e_quantizer=quantizer))
    if _io_dtypes(data) != {"int8"}:  # litert-torch 0.10 usually ends the graph in int8 already
        with tempfile.TemporaryDirectory() as tmp:
            src, dst = Path(tmp) / "q.tflite", Path(tmp) / "q8.tflite"
            src.write_bytes(data)
            status = interface.modify_model_interface(
                str(src), str(dst), _TFLITE_INT8, _TFLITE_INT8
            )
            if status == 0 and dst.is_file():
                data = dst.read_bytes()
    dtypes = _io_dtypes(data)
    if dtypes != {"int8"}:
        raise ExportError(
            f"the TFLite int8 model of {type(module).__name__} keeps {sorted(dtypes - {'int8'})} inputs or outputs: "
            "an operation next to them is not quantised by litert-torch's PT2E quantiser (e.g. a mean or "
            "subtraction applied to the input). Move such preprocessing into the front end."
        )
    data, mended = fix_bias_scales(data)
    if mended:
        log.info("requantised %d int8 bias(es) on the scale the TFLite kernels read", mended)
    return rename_io(data, [input_name], [output_name])
