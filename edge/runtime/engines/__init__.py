"""Inference engines over bundles: `OrtEngine` (onnxruntime), `LiteRtEngine` (LiteRT/TFLite) and
`NativeEngine` (affect-edge's C kernel for HiSTN students, reading the fp32 ONNX's weights)."""

from __future__ import annotations

from edge.errors import BundleError
from edge.runtime.bundle import Bundle
from edge.runtime.engines.base import Engine
from edge.runtime.engines.litert import LiteRtEngine
from edge.runtime.engines.native import NativeEngine
from edge.runtime.engines.ort import OrtEngine
from edge.runtime.manifest import ModelFile

#: Engines by model file format.
ENGINES: dict[str, type[Engine]] = {"onnx": OrtEngine, "tflite": LiteRtEngine}
#: Engines that run a model file of another format: the native engine runs fp32 ONNX files.
NATIVE = "native"
ENGINE_NAMES = (*ENGINES, NATIVE)


def _runs_native(bundle: Bundle) -> bool:
    """Whether the native engine can run the bundle: it reads the fp32 ONNX model's weights."""
    return any(m.format == "onnx" and m.precision == "fp32" for m in bundle.manifest.models)


def bundle_default(bundle: Bundle) -> str | None:
    """The engine the bundle's own measurements chose (`measured.default_engine`: the native
    kernel for the EEG students, LiteRT for face-expr), when the bundle can run it."""
    name = bundle.manifest.measured.get("default_engine")
    if name == NATIVE:
        return NATIVE if _runs_native(bundle) else None
    return name if name in {m.format for m in bundle.manifest.models} else None


def choose_format(bundle: Bundle, engine: str | None = None, preferred: str | None = None) -> str:
    """Explicit choice, else the engine the bundle's manifest names its default (measured faster
    for that model: the native kernel, which needs no interpreter at all, or one of the two), else
    the device profile's preference if the bundle has it, else ONNX, else TFLite."""
    have = {m.format for m in bundle.manifest.models}
    if engine is not None:
        if engine == NATIVE:
            if not _runs_native(bundle):
                raise BundleError(
                    f"bundle {bundle.manifest.name!r} has no fp32 ONNX model for the native engine"
                )
            return NATIVE
        if engine not in ENGINES:
            raise BundleError(f"unknown engine {engine!r}; choose one of {sorted(ENGINE_NAMES)}")
        if engine not in have:
            raise BundleError(
                f"bundle {bundle.manifest.name!r} has no {engine} model (it has {sorted(have)})"
            )
        return engine
    default = bundle_default(bundle)
    if default is not None:
        return default
    if preferred in have:
        return preferred
    return "onnx" if "onnx" in have else "tflite"


def resolve(
    bundle: Bundle,
    engine: str | None = None,
    precision: str | None = None,
    preferred: str | None = None,
) -> tuple[str, ModelFile]:
    """(engine name, model file) that `open_engine` runs; int8 is taken before fp32 unless
    `precision` says. The native engine runs the fp32 ONNX model (asked for by name, or the
    bundle's default when no precision other than fp32 is asked for)."""
    fmt = choose_format(bundle, engine, preferred)
    if fmt == NATIVE and precision not in (None, "fp32"):
        if engine == NATIVE:
            raise BundleError(f"the native engine runs fp32 models, not {precision}")
        fmt = "onnx" if any(m.format == "onnx" for m in bundle.manifest.models) else "tflite"
    if fmt == NATIVE:
        return NATIVE, bundle.manifest.model("onnx", "fp32")
    return fmt, bundle.manifest.model(fmt, precision)


def open_engine(
    bundle: Bundle,
    engine: str | None = None,
    precision: str | None = None,
    preferred: str | None = None,
    threads: int = 1,
) -> Engine:
    """Open the bundle's model (`resolve`) in its engine."""
    name, model = resolve(bundle, engine, precision, preferred)
    cls = NativeEngine if name == NATIVE else ENGINES[name]
    return cls(bundle, model, threads=threads)


__all__ = [
    "ENGINES",
    "ENGINE_NAMES",
    "NATIVE",
    "Engine",
    "LiteRtEngine",
    "NativeEngine",
    "OrtEngine",
    "choose_format",
    "open_engine",
    "resolve",
]
