"""The engine interface: feed float arrays, get float arrays, whatever the model's precision.

An engine checks every input against the manifest (rank, fixed dimensions, dtype), quantises
float inputs of int8 tensors with the manifest's scale and zero point, dequantises int8
outputs, and records the latency of each call. At open it checks that the model file's own
inputs and outputs are the ones the manifest declares.

Per call, the overhead over the runtime's own call is kept small: an input of the shape seen on
the previous call skips the shape checks, int8 inputs are quantised by a compiled kernel into a
buffer kept from call to call (for ONNX Runtime, the very buffer bound to the session), and
latency goes into a fixed ring. `bench/engines.py` measures the overhead against the bare call.

Thread safety: an engine serves one call at a time (its buffers and the runtimes' interpreters
are not re-entrant). A call made while another is in flight on another thread raises an
`InputError` saying so; give each thread its own engine. The arrays `run` returns belong to the
caller and are never touched again by the engine.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import ClassVar

import numpy as np

from edge.errors import BundleError, InputError
from edge.runtime import _quantize
from edge.runtime.bundle import Bundle
from edge.runtime.latency import LatencyStats
from edge.runtime.manifest import ModelFile, TensorSpec, dims_agree

_INT_RANGES = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767)}

Feeds = np.ndarray | Sequence[np.ndarray] | Mapping[str, np.ndarray]


def quantize(x: np.ndarray, spec: TensorSpec) -> np.ndarray:
    """Float -> the spec's integer dtype: round(x / scale) + zero_point, saturated."""
    q = spec.quantization
    lo, hi = _INT_RANGES[spec.dtype]
    return np.clip(np.rint(x / q.scale) + q.zero_point, lo, hi).astype(spec.dtype)


def dequantize(x: np.ndarray, spec: TensorSpec) -> np.ndarray:
    q = spec.quantization
    return ((x.astype(np.float32) - q.zero_point) * np.float32(q.scale)).astype(np.float32)


_QUANTIZERS = {"int8": _quantize.quantize_f32_to_i8, "uint8": _quantize.quantize_f32_to_u8}
_DEQUANTIZERS = {"int8": _quantize.dequantize_i8, "uint8": _quantize.dequantize_u8}
_FLOAT32 = np.dtype(np.float32)


class _Plan:
    """What an input or output needs per call, worked out once from its spec."""

    __slots__ = (
        "buffer",
        "dtype",
        "fixed",
        "inv_scale",
        "kernel",
        "last_shape",
        "ndim",
        "quantized",
        "scale",
        "spec",
        "zero_point",
    )

    def __init__(self, spec: TensorSpec, kernels: dict) -> None:
        self.spec = spec
        self.ndim = len(spec.shape)
        self.fixed = tuple((i, d) for i, d in enumerate(spec.shape) if d is not None)
        self.dtype = np.dtype(spec.dtype)
        q = spec.quantization
        self.quantized = q is not None
        self.kernel = kernels.get(spec.dtype) if q is not None else None
        self.scale = float(np.float32(q.scale)) if q else 1.0
        self.inv_scale = float(np.float32(1.0 / q.scale)) if q else 1.0
        self.zero_point = q.zero_point if q else 0
        self.last_shape: tuple[int, ...] | None = None
        #: The quantised input of the last shape seen, reused by the next call of that shape.
        self.buffer: np.ndarray | None = None

    def fits(self, shape: tuple[int, ...]) -> bool:
        if shape == self.last_shape:  # streams feed one shape over and over
            return True
        ok = len(shape) == self.ndim and all(shape[i] == d for i, d in self.fixed)
        if ok:
            self.last_shape = shape
        return ok


class Engine(ABC):
    """Runs one model file of a bundle. Not re-entrant: one call at a time (see the module)."""

    kind: ClassVar[str]
    #: The model file format the engine reads (its `kind` unless said otherwise).
    reads: ClassVar[str | None] = None

    def __init__(self, bundle: Bundle, model: ModelFile, threads: int = 1) -> None:
        reads = self.reads or self.kind
        if model.format != reads:
            raise BundleError(
                f"{type(self).__name__} runs {reads} models, not {model.format} ({model.file})"
            )
        if threads < 1:
            raise BundleError(f"threads must be >= 1, got {threads}")
        self.bundle = bundle
        self.model = model
        self.threads = threads
        self.inputs = model.inputs
        self.outputs = model.outputs
        self._in_plans = [_Plan(spec, _QUANTIZERS) for spec in model.inputs]
        self._out_plans = [_Plan(spec, _DEQUANTIZERS) for spec in model.outputs]
        self._output_names = [spec.name for spec in model.outputs]
        self._plain_outputs = all(spec.quantization is None for spec in model.outputs)
        self._single = len(self._in_plans) == 1
        self._single_out = len(self._out_plans) == 1
        self._guard = threading.Lock()
        self.latency = LatencyStats()

    @property
    def name(self) -> str:
        return f"{self.kind}/{self.model.precision}"

    def _where(self) -> str:
        return f"{self.bundle.path}:{self.model.file}"

    def _check_io(self, side: str, declared: Sequence[TensorSpec], actual: Sequence[tuple]) -> None:
        """actual: (name, shape with None for dynamic, dtype name, (scale, zero_point) or None)."""
        if len(declared) != len(actual):
            raise BundleError(
                f"{self._where()}: the manifest declares {len(declared)} {side}s, the model file has {len(actual)}"
            )
        for spec, (name, shape, dtype, quant) in zip(declared, actual, strict=True):
            problems = []
            if spec.name != name:
                problems.append(f"name {name!r}")
            if not dims_agree(spec.shape, shape):
                problems.append(f"shape {list(shape)}")
            if spec.dtype != dtype:
                problems.append(f"dtype {dtype}")
            if (
                spec.quantization
                and quant
                and not (
                    np.isclose(spec.quantization.scale, quant[0], rtol=1e-5)
                    and spec.quantization.zero_point == quant[1]
                )
            ):
                problems.append(f"quantization scale={quant[0]:.6g} zero_point={quant[1]}")
            if problems:
                raise BundleError(
                    f"{self._where()}: {side} {spec.name!r} is declared as {list(spec.shape)} {spec.dtype} "
                    f"but the model file has {', '.join(problems)}"
                )

    def _prepare(self, feeds: Feeds) -> list[np.ndarray]:
        if type(feeds) is np.ndarray and self._single:
            return [self._prepare_one(self._in_plans[0], feeds)]
        if isinstance(feeds, np.ndarray):
            arrays: Sequence = (feeds,)
        elif isinstance(feeds, Mapping):
            missing = [s.name for s in self.inputs if s.name not in feeds]
            extra = sorted(set(feeds) - {s.name for s in self.inputs})
            if missing or extra:
                raise InputError(
                    f"{self.model.file}: missing inputs {missing}, unknown inputs {extra}"
                )
            arrays = [feeds[s.name] for s in self.inputs]
        else:
            arrays = list(feeds)
        if len(arrays) != len(self._in_plans):
            raise InputError(
                f"{self.model.file} takes {len(self.inputs)} inputs, got {len(arrays)}"
            )
        return [
            self._prepare_one(plan, raw) for plan, raw in zip(self._in_plans, arrays, strict=True)
        ]

    def _prepare_one(self, plan: _Plan, raw: object) -> np.ndarray:
        x = raw if type(raw) is np.ndarray else np.asarray(raw)
        shape = x.shape
        if not plan.fits(shape):
            raise InputError(
                f"input {plan.spec.name!r} has shape {list(shape)}; the model takes "
                f"{['any' if d is None else d for d in plan.spec.shape]}"
            )
        if x.dtype.kind not in "fiu":
            raise InputError(f"input {plan.spec.name!r}: dtype {x.dtype} is not numeric")
        if plan.quantized and x.dtype.kind == "f":
            if plan.kernel is None:  # int16: rare, numpy is fine
                if not np.all(np.isfinite(x)):
                    raise InputError(f"input {plan.spec.name!r} holds NaN or Inf")
                return quantize(x, plan.spec)
            q = plan.buffer
            if q is None or q.shape != shape:
                q = plan.buffer = np.empty(shape, dtype=plan.dtype)
            if x.dtype is not _FLOAT32 or not x.flags.c_contiguous:
                x = np.ascontiguousarray(x, dtype=np.float32)
            bad = plan.kernel(x, plan.inv_scale, plan.zero_point, q)
            if bad >= 0:
                where = np.unravel_index(bad, shape)
                raise InputError(
                    f"input {plan.spec.name!r} holds {x.reshape(-1)[bad]} at index {tuple(map(int, where))}"
                )
            return q
        if x.dtype != plan.dtype:
            return np.ascontiguousarray(x, dtype=plan.dtype)
        return x

    def _finish(self, plan: _Plan, raw: np.ndarray) -> np.ndarray:
        if not plan.quantized:
            return raw
        if plan.kernel is None:
            return dequantize(raw, plan.spec)
        out = np.empty(raw.shape, dtype=np.float32)
        plan.kernel(np.ascontiguousarray(raw), plan.scale, plan.zero_point, out)
        return out

    def run(self, feeds: Feeds) -> dict[str, np.ndarray]:
        """Run the model; returns each output by name, dequantised to float32 where quantised."""
        if not self._guard.acquire(blocking=False):
            raise InputError(
                f"{self._where()}: run() called while another call is in flight on another thread; "
                "an engine serves one call at a time: open one engine per thread"
            )
        try:
            plan = self._in_plans[0]
            # A stream feeds one shape and dtype over and over: nothing to check or convert.
            if (
                type(feeds) is np.ndarray
                and self._single
                and feeds.shape == plan.last_shape
                and feeds.dtype is plan.dtype
            ):
                arrays = [feeds]
            else:
                arrays = self._prepare(feeds)
            t0 = time.perf_counter()
            raw = self._invoke(arrays)
            self.latency.record(time.perf_counter() - t0)
            if self._single_out:
                plan = self._out_plans[0]
                return {
                    self._output_names[0]: self._finish(plan, raw[0]) if plan.quantized else raw[0]
                }
            if self._plain_outputs:
                return dict(zip(self._output_names, raw, strict=True))
            return {
                plan.spec.name: self._finish(plan, r)
                for plan, r in zip(self._out_plans, raw, strict=True)
            }
        finally:
            self._guard.release()

    def example_inputs(self, batch: int = 1, seed: int = 0) -> list[np.ndarray]:
        """Random float inputs of the declared shapes (dynamic dimensions set to `batch`)."""
        rng = np.random.default_rng(seed)
        return [
            rng.standard_normal([batch if d is None else d for d in spec.shape]).astype(np.float32)
            for spec in self.inputs
        ]

    def warmup(self, runs: int = 5) -> None:
        """Run a few calls so that lazy allocations happen now; then forget their latency."""
        inputs = self.example_inputs()
        for _ in range(runs):
            self.run(inputs)
        self.latency.reset()

    @abstractmethod
    def _invoke(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        """Run prepared inputs; return outputs as fresh arrays the caller may keep."""

    def close(self) -> None:  # noqa: B027 - engines without native handles have nothing to free
        """Release native resources."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
