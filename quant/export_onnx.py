"""torch module -> ONNX bytes with torch's dynamo exporter, checked against torch in ONNX Runtime."""

from __future__ import annotations

import contextlib
import inspect
import io
import logging
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from quant.diagnose import explain
from quant.errors import ExportError

#: The dynamo exporter writes opset 20 and converts down; 18 converts cleanly (17 does not:
#: its ReduceMean takes axes as an attribute) and ONNX Runtime >= 1.14 runs it.
OPSET = 18
#: Highest ONNX IR version the ONNX Runtime versions we support can load.
MAX_IR_VERSION = 10
log = logging.getLogger(__name__)


@contextlib.contextmanager
def quiet():
    """Silence exporters that print progress to stdout and log warnings about their own internals.

    Failures still surface: they raise, and the callers turn them into `ExportError`s.
    """
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


def export_onnx(
    module: torch.nn.Module,
    example: torch.Tensor,
    input_name: str = "features",
    output_name: str = "scores",
    dynamic_batch: bool = True,
    max_batch: int = 1024,
) -> bytes:
    """Export with a dynamic batch axis (where the model allows), opset 18, weights inside the file.

    The result is checked with `onnx.checker` and run in ONNX Runtime against torch on `example`;
    a disagreement above 1e-4 is an `ExportError`.
    """
    import onnx

    module = module.eval()
    forward_arg = next(iter(inspect.signature(module.forward).parameters))
    dynamic = (
        {forward_arg: {0: torch.export.Dim("batch", min=1, max=max_batch)}}
        if dynamic_batch
        else None
    )
    try:
        with quiet(), tempfile.TemporaryDirectory() as tmp:
            program = torch.onnx.export(
                module,
                (example,),
                dynamo=True,
                external_data=False,
                opset_version=OPSET,
                input_names=[input_name],
                output_names=[output_name],
                dynamic_shapes=dynamic,
                verbose=False,
            )
            path = Path(tmp) / "model.onnx"
            program.save(str(path))
            data = path.read_bytes()
    except Exception as exc:
        if dynamic_batch:
            log.info("dynamic-batch export failed (%s); retrying with a fixed batch", exc)
            return export_onnx(module, example, input_name, output_name, dynamic_batch=False)
        raise ExportError(
            explain("torch.onnx.export", module, example, exc)
            + "; replace it with supported ops, or export TFLite only (--formats tflite)"
        ) from exc
    model = strip(onnx.load_from_string(data))
    model.ir_version = min(model.ir_version, MAX_IR_VERSION)
    onnx.checker.check_model(model)
    data = model.SerializeToString()
    check_against_torch(data, module, example, input_name)
    return data


def strip(model):
    """Drop what a device never needs: the exporter's per-node metadata (stack traces with local
    file paths), doc strings and intermediate shape annotations (ONNX Runtime infers them)."""
    for node in model.graph.node:
        del node.metadata_props[:]
        node.doc_string = ""
    del model.graph.value_info[:]
    model.graph.doc_string = ""
    model.doc_string = ""
    return model


def check_against_torch(
    data: bytes, module: torch.nn.Module, example: torch.Tensor, input_name: str, atol: float = 1e-4
) -> float:
    import onnxruntime as ort

    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    got = session.run(None, {input_name: example.numpy()})[0]
    with torch.no_grad():
        want = module(example).numpy()
    err = float(np.max(np.abs(got - want)))
    if err > atol:
        raise ExportError(
            f"the exported ONNX model differs from torch by {err:.3g} (> {atol}); export is unsound"
        )
    return err
