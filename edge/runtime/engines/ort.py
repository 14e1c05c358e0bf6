"""ONNX Runtime engine: one intra-op thread by default, CPU execution provider, sequential.

Calls go through an IOBinding whose input and output buffers are allocated once per input shape:
inputs are copied (or, for int8 inputs, quantised) straight into the bound buffers, so a call
converts nothing between numpy and ONNX Runtime; outputs are copied out for the caller.
"""

from __future__ import annotations

import os

import numpy as np

from edge.errors import BundleError
from edge.runtime.bundle import Bundle
from edge.runtime.engines.base import Engine
from edge.runtime.manifest import ModelFile

# ONNX Runtime's own telemetry stays off: since 1.2x its Linux wheels create a device id and a
# usage database under ~/.cache/Microsoft/DeveloperTools at import and upload to
# mobile.events.data.microsoft.com about 10 s later. Only this variable, read when the module is
# first imported, stops all of it (`disable_telemetry_events()` comes too late: measured on
# onnxruntime 1.32.0, tests/test_telemetry.py). onnxruntime is imported below this line only.
os.environ["ORT_DISABLE_TELEMETRY"] = "1"

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

        ort.disable_telemetry_events()
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
        self._bound_shapes: tuple | None = None
        self._binding = None
        self._bound_in: list[np.ndarray] = []
        self._bound_out: list[np.ndarray] = []
        self._one = False

    def _bind(self, arrays: list[np.ndarray]) -> None:
        """Bind buffers for these input shapes; output shapes come from one plain run."""
        feeds = dict(zip(self._input_names, arrays, strict=True))
        outputs = self._session.run(self._output_names, feeds)
        io = self._session.io_binding()
        self._bound_in = []
        for plan, name, x in zip(self._in_plans, self._input_names, arrays, strict=True):
            # A quantised input already lives in the plan's reused buffer: bind that very buffer.
            buf = x if plan.quantized and x is plan.buffer else np.empty(x.shape, dtype=x.dtype)
            io.bind_cpu_input(name, buf)
            self._bound_in.append(buf)
        self._bound_out = []
        for name, y in zip(self._output_names, outputs, strict=True):
            buf = np.empty(y.shape, dtype=y.dtype)
            io.bind_output(
                name,
                "cpu",
                element_type=buf.dtype.type,
                shape=buf.shape,
                buffer_ptr=buf.ctypes.data,
            )
            self._bound_out.append(buf)
        self._binding = io
        self._bound_shapes = tuple(x.shape for x in arrays)
        # The public run_with_iobinding re-checks WebGPU graph capture on every call (about a
        # microsecond); the session's own binding runs the bound graph directly. Used where this
        # onnxruntime has it, else the public method.
        native = getattr(self._session, "_sess", None)
        bound = getattr(io, "_iobinding", None)
        if native is not None and bound is not None and hasattr(native, "run_with_iobinding"):
            self._run_bound = lambda: native.run_with_iobinding(bound, None)
        else:
            self._run_bound = lambda: self._session.run_with_iobinding(io)
        self._one = len(arrays) == 1 and len(outputs) == 1
        if self._one:
            self._in0, self._out0, self._shape0 = (
                self._bound_in[0],
                self._bound_out[0],
                arrays[0].shape,
            )

    def _invoke(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        try:
            if self._one and arrays[0].shape == self._shape0:  # one tensor each way, seen before
                x = arrays[0]
                if x is not self._in0:
                    np.copyto(self._in0, x)
                self._run_bound()
                return [self._out0.copy()]
            if self._bound_shapes != tuple(x.shape for x in arrays):
                self._bind(arrays)
            for buf, x in zip(self._bound_in, arrays, strict=True):
                if buf is not x:
                    np.copyto(buf, x)
            self._run_bound()
        except Exception as exc:  # onnxruntime raises its own pybind exception types
            self._bound_shapes = None
            self._one = False
            raise BundleError(f"{self._where()}: the model failed at run time: {exc}") from exc
        return [y.copy() for y in self._bound_out]
