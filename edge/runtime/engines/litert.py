"""LiteRT (TFLite) engine: ai-edge-litert, or tflite-runtime where that is what a device has.

The interpreter is created with fd 2 briefly redirected, so LiteRT's C++ notice ("Created
TensorFlow Lite XNNPACK delegate for CPU") does not reach the terminal on every command; any
other message it prints there is passed on unchanged.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

import numpy as np

from devices.native import native_stderr
from edge.errors import BundleError
from edge.runtime.bundle import Bundle
from edge.runtime.engines.base import Engine
from edge.runtime.manifest import ModelFile


def interpreter_class() -> tuple[type, str]:
    """The TFLite interpreter class available here and the name of its package."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        return Interpreter, "ai-edge-litert"
    except ImportError:
        pass
    try:
        from tflite_runtime.interpreter import Interpreter

        return Interpreter, "tflite-runtime"
    except ImportError:
        raise BundleError(
            "no TFLite runtime is installed: pip install 'affect-edge[litert]' (ai-edge-litert), "
            "or tflite-runtime on devices that ship it; or run the bundle's ONNX model (--engine onnx)"
        ) from None


_NOTICES = ("INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",)


@contextlib.contextmanager
def quiet_native_notices() -> Iterator[None]:
    """Hold back LiteRT's C++ info notices on fd 2 while the block runs; re-emit anything else."""
    lines: list[str] = []
    try:
        with native_stderr(lines):
            yield
    finally:
        kept = [ln for ln in lines if ln.strip() not in _NOTICES]
        if kept:
            sys.stderr.write("\n".join(kept) + "\n")


def describe(details: list[dict]) -> list[tuple]:
    """LiteRT tensor details as (name, shape with None for dynamic dimensions, dtype name,
    (scale, zero_point) or None): the model file's view, to check or write manifests."""
    out = []
    for d in details:
        signature = d.get("shape_signature", d["shape"])
        scale, zero_point = d.get("quantization", (0.0, 0))
        out.append(
            (
                d["name"],
                tuple(None if int(s) < 0 else int(s) for s in signature),
                np.dtype(d["dtype"]).name,
                (float(scale), int(zero_point)) if scale else None,
            )
        )
    return out


class LiteRtEngine(Engine):
    kind = "tflite"

    def __init__(self, bundle: Bundle, model: ModelFile, threads: int = 1) -> None:
        super().__init__(bundle, model, threads)
        interpreter, package = interpreter_class()
        self.runtime = package
        try:
            with quiet_native_notices():
                self._interp = interpreter(
                    model_content=bundle.model_bytes(model), num_threads=threads
                )
                self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise BundleError(f"{self._where()}: {package} cannot load this model: {exc}") from exc
        in_details = self._interp.get_input_details()
        out_details = self._interp.get_output_details()
        self._check_io("input", model.inputs, describe(in_details))
        self._check_io("output", model.outputs, describe(out_details))
        self._in_index = [d["index"] for d in in_details]
        self._out_index = [d["index"] for d in out_details]
        self._shapes = [tuple(int(s) for s in d["shape"]) for d in in_details]
        self._one = len(in_details) == 1 and len(out_details) == 1
        self._in0, self._out0 = self._in_index[0], self._out_index[0]

    def _invoke(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        interp = self._interp
        if self._one and arrays[0].shape == self._shapes[0]:  # one tensor each way, same shape
            try:
                interp.set_tensor(self._in0, arrays[0])
                interp.invoke()
            except (ValueError, RuntimeError) as exc:
                raise BundleError(f"{self._where()}: the model failed at run time: {exc}") from exc
            return [interp.get_tensor(self._out0)]
        resized = False
        for i, x in enumerate(arrays):
            if x.shape != self._shapes[i]:
                interp.resize_tensor_input(self._in_index[i], list(x.shape), strict=True)
                self._shapes[i] = x.shape
                resized = True
        try:
            if resized:
                interp.allocate_tensors()
            for index, x in zip(self._in_index, arrays, strict=True):
                interp.set_tensor(index, x)
            interp.invoke()
        except (ValueError, RuntimeError) as exc:
            raise BundleError(f"{self._where()}: the model failed at run time: {exc}") from exc
        return [interp.get_tensor(index) for index in self._out_index]
