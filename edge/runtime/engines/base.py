"""The engine interface: feed float arrays, get float arrays, whatever the model's precision.

An engine checks every input against the manifest (rank, fixed dimensions, dtype), quantises
float inputs of int8 tensors with the manifest's scale and zero point, dequantises int8
outputs, and records the latency of each call. At open it checks that the model file's own
inputs and outputs are the ones the manifest declares.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import ClassVar

import numpy as np

from edge.errors import BundleError, InputError
from edge.runtime import _quantize
from edge.runtime.bundle import Bundle
from edge.runtime.latency import LatencyStats
from edge.runtime.manifest import ModelFile, TensorSpec

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


class _Plan:
    """What an input or output needs per call, worked out once from its spec."""

    __slots__ = (
        "dtype",
        "fixed",
        "inv_scale",
        "kernel",
        "last_shape",
        "ndim",
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
        self.kernel = kernels.get(spec.dtype) if q is not None else None
        self.scale = float(np.float32(q.scale)) if q else 1.0
        self.inv_scale = float(np.float32(1.0 / q.scale)) if q else 1.0
        self.zero_point = q.zero_point if q else 0
        self.last_shape: tuple[int, ...] | None = None

    def fits(self, shape: tuple[int, ...]) -> bool:
        if shape == self.last_shape:  # streams feed one shape over and over
            return True
        ok = len(shape) == self.ndim and all(shape[i] == d for i, d in self.fixed)
        if ok:
            self.last_shape = shape
        return ok


def dims_agree(declared: Sequence[int | None], actual: Sequence[int | None]) -> bool:
    """Same rank, and every dimension fixed on both sides is equal."""
    return len(declared) == len(actual) and all(
        d is None or a is None or d == a for d, a in zip(declared, actual, strict=True)
    )


class Engine(ABC):
    """Runs one model file of a bundle."""

    kind: ClassVar[str]

    def __init__(self, bundle: Bundle, model: ModelFile, threads: int = 1) -> None:
        if model.format != self.kind:
            raise BundleError(
                f"{type(self).__name__} runs {self.kind} models, not {model.format} ({model.file})"
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
        if type(feeds) is np.ndarray:
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
        if x.dtype.kind not in "fiu":
            raise InputError(f"input {plan.spec.name!r}: dtype {x.dtype} is not numeric")
        if not plan.fits(x.shape):
            raise InputError(
                f"input {plan.spec.name!r} has shape {list(x.shape)}; the model takes "
                f"{['any' if d is None else d for d in plan.spec.shape]}"
            )
        if plan.spec.quantization is not None and x.dtype.kind == "f":
            x = np.ascontiguousarray(x, dtype=np.float32)
            if plan.kernel is None:  # int16: rare, numpy is fine
                if not np.all(np.isfinite(x)):
                    raise InputError(f"input {plan.spec.name!r} holds NaN or Inf")
                return quantize(x, plan.spec)
            q = np.empty(x.shape, dtype=plan.dtype)
            bad = plan.kernel(x.reshape(-1), plan.inv_scale, plan.zero_point, q.reshape(-1))
            if bad >= 0:
                where = np.unravel_index(bad, x.shape)
                raise InputError(
                    f"input {plan.spec.name!r} holds {x.reshape(-1)[bad]} at index {tuple(map(int, where))}"
                )
            return q
        if x.dtype != plan.dtype:
            return np.ascontiguousarray(x, dtype=plan.dtype)
        return x if x.flags.c_contiguous else np.ascontiguousarray(x)

    def _finish(self, plan: _Plan, raw: np.ndarray) -> np.ndarray:
        if plan.spec.quantization is None:
            return raw
        if plan.kernel is None:
            return dequantize(raw, plan.spec)
        out = np.empty(raw.shape, dtype=np.float32)
        plan.kernel(
            np.ascontiguousarray(raw).reshape(-1), plan.scale, plan.zero_point, out.reshape(-1)
        )
        return out

    def run(self, feeds: Feeds) -> dict[str, np.ndarray]:
        """Run the model; returns each output by name, dequantised to float32 where quantised."""
        arrays = self._prepare(feeds)
        t0 = time.perf_counter()
        raw = self._invoke(arrays)
        self.latency.record(time.perf_counter() - t0)
        if self._plain_outputs:
            return dict(zip(self._output_names, raw, strict=True))
        return {
            plan.spec.name: self._finish(plan, r)
            for plan, r in zip(self._out_plans, raw, strict=True)
        }

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
    def _invoke(self, arrays: list[np.ndarray]) -> list[np.ndarray]: ...

    def close(self) -> None:  # noqa: B027 - engines without native handles have nothing to free
        """Release native resources."""

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
