"""ONNX Runtime engine: one intra-op thread by default, CPU execution provider, sequential."""

from __future__ import annotations

import numpy as np

from edge.errors import BundleError
from edge.runtime.bundle import Bundle
from edge.runtime.engines.base import Engine
from edge.runtime.manifest import ModelFile

_ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(int16)": "int16",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
}


def describe(nodes: list) -> list[tuple]:
    """An ONNX Runtime session's own inputs or outputs as (name, shape with None for dynamic
    dimensions, dtype name, quantization): the model file's view, to check or write manifests."""
    return [
        (
            n.name,
            tuple(d if isinstance(d, int) else None for d in n.shape),
            _ORT_TYPES.get(n.type, n.type),
            None,
        )
        for n in nodes
    ]


class OrtEngine(Engine):
    kind = "onnx"

    def __init__(self, bundle: Bundle, model: ModelFile, threads: int = 1) -> None:
        super().__init__(bundle, model, threads)
        import onnxruntime as ort

        self.runtime = f"onnxruntime {ort.__version__}"
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(
                bundle.model_bytes(model), opts, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own pybind exception types
            raise BundleError(
                f"{self._where()}: {self.runtime} cannot load this model: {exc}"
            ) from exc

        self._check_io("input", model.inputs, describe(self._session.get_inputs()))
        self._check_io("output", model.outputs, describe(self._session.get_outputs()))
        self._input_names = [s.name for s in model.inputs]

    def _invoke(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        try:
            return self._session.run(
                self._output_names, dict(zip(self._input_names, arrays, strict=True))
            )
        except Exception as exc:
            raise BundleError(f"{self._where()}: the model failed at run time: {exc}") from exc
