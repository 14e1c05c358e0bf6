"""Inference engines over bundles: `OrtEngine` (onnxruntime) and `LiteRtEngine` (LiteRT/TFLite)."""

from __future__ import annotations

from edge.errors import BundleError
from edge.runtime.bundle import Bundle
from edge.runtime.engines.base import Engine
from edge.runtime.engines.litert import LiteRtEngine
from edge.runtime.engines.ort import OrtEngine

ENGINES: dict[str, type[Engine]] = {"onnx": OrtEngine, "tflite": LiteRtEngine}


def choose_format(bundle: Bundle, engine: str | None = None, preferred: str | None = None) -> str:
    """Explicit choice, else the device profile's preference if the bundle has it, else ONNX, else TFLite."""
    have = {m.format for m in bundle.manifest.models}
    if engine is not None:
        if engine not in ENGINES:
            raise BundleError(f"unknown engine {engine!r}; choose one of {sorted(ENGINES)}")
        if engine not in have:
            raise BundleError(
                f"bundle {bundle.manifest.name!r} has no {engine} model (it has {sorted(have)})"
            )
        return engine
    if preferred in have:
        return preferred
    return "onnx" if "onnx" in have else "tflite"


def open_engine(
    bundle: Bundle,
    engine: str | None = None,
    precision: str | None = None,
    preferred: str | None = None,
    threads: int = 1,
) -> Engine:
    """Open the bundle's model in an engine; int8 is taken before fp32 unless `precision` says."""
    fmt = choose_format(bundle, engine, preferred)
    model = bundle.manifest.model(fmt, precision)
    return ENGINES[fmt](bundle, model, threads=threads)


__all__ = ["ENGINES", "Engine", "LiteRtEngine", "OrtEngine", "choose_format", "open_engine"]
