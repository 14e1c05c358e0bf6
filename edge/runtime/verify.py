"""Checking that every model in a bundle computes what it should, on the device's own engines.

With reference examples in the bundle (held-out inputs and the float model's outputs on them;
see `quant/reference.py` for how they and the tolerances are made), every model runs them one
example per call and must stay within the manifest's tolerance of the float outputs, in its
largest and in its mean |difference|. Models of equal precision are also compared with each
other on the same inputs (for the record). A bundle without reference examples (built before
they existed) gets the older check: engines of equal precision on one random input, within the
manifest's tolerance of each other.
"""

from __future__ import annotations

import importlib.util
from itertools import combinations
from typing import Any

import numpy as np

from edge.errors import AffectEdgeError
from edge.runtime.bundle import Bundle
from edge.runtime.engines import ENGINES
from edge.runtime.manifest import ModelFile

#: The modules each format's engine runs on, and what to install for them.
RUNTIMES = {
    "onnx": (("onnxruntime",), "ONNX Runtime", "onnxruntime"),
    "tflite": (("ai_edge_litert", "tflite_runtime"), "LiteRT", "'affect-edge[litert]'"),
}


def missing_runtime(fmt: str) -> str | None:
    """Why models of this format cannot run here ("LiteRT not installed: pip install ..."), or
    None when its runtime is installed (or the format has no optional runtime)."""
    if fmt not in RUNTIMES:
        return None
    modules, name, package = RUNTIMES[fmt]
    for module in modules:
        try:
            if importlib.util.find_spec(module) is not None:
                return None
        except (ImportError, ValueError):  # a module blocked in sys.modules has no spec
            continue
    return f"{name} not installed (pip install {package})"


def run_each(bundle: Bundle, model: ModelFile, inputs: np.ndarray) -> np.ndarray:
    """The model's first output for each example, one per call (as a device runs it), stacked."""
    engine = ENGINES[model.format](bundle, model)
    name = model.outputs[0].name
    return np.concatenate([engine.run(inputs[i : i + 1])[name] for i in range(len(inputs))])


def measure(bundle: Bundle, inputs: np.ndarray, reference: np.ndarray) -> dict[str, dict[str, Any]]:
    """Largest and mean |difference| from the reference outputs, per model file."""
    out = {}
    for m in bundle.manifest.models:
        diff = np.abs(run_each(bundle, m, inputs).astype(np.float64) - reference)
        out[m.file] = {
            "precision": m.precision,
            "max_abs": float(diff.max()),
            "mean_abs": float(diff.mean()),
        }
    return out


def verify_bundle(bundle: Bundle) -> dict[str, Any]:
    """A report: per model, its status and (with reference examples) its differences and limits."""
    m = bundle.manifest
    ref = bundle.reference_examples()
    results, outputs = [], {}
    for model in m.models:
        entry: dict[str, Any] = {
            "file": model.file,
            "format": model.format,
            "precision": model.precision,
            "bytes": model.size_bytes,
        }
        missing = missing_runtime(model.format)
        if missing:
            entry.update(status="skipped", error=missing)
            results.append(entry)
            continue
        try:
            engine = ENGINES[model.format](bundle, model)
            entry["runtime"] = engine.runtime
            if ref is None:
                y = engine.run(engine.example_inputs(seed=7))
                outputs[model.file] = np.concatenate(
                    [v.reshape(len(v), -1) for v in y.values()], axis=1
                )
                finite = all(np.all(np.isfinite(v)) for v in y.values())
                entry["status"] = "ok" if finite else "non-finite output"
            else:
                inputs, expected = ref
                got = run_each(bundle, model, inputs).astype(np.float64)
                outputs[model.file] = got
                diff = np.abs(got - expected)
                limit, mean_limit = (
                    m.tolerance[model.precision],
                    m.reference.mean_tolerance[model.precision],
                )
                entry.update(
                    max_abs=float(diff.max()),
                    mean_abs=float(diff.mean()),
                    tolerance=limit,
                    mean_tolerance=mean_limit,
                )
                within = (
                    np.all(np.isfinite(got)) and diff.max() <= limit and diff.mean() <= mean_limit
                )
                entry["status"] = "ok" if within else "outside tolerance"
        except AffectEdgeError as exc:
            entry.update(status="failed", error=str(exc))
        results.append(entry)
    comparisons = []
    for a, b in combinations(m.models, 2):
        if a.precision != b.precision or a.file not in outputs or b.file not in outputs:
            continue
        diff = float(np.max(np.abs(outputs[a.file] - outputs[b.file])))
        tol = m.tolerance[a.precision] * (1 if ref is None else 2)  # each within tol of the float
        comparisons.append(
            {"a": a.file, "b": b.file, "max_abs_diff": diff, "tolerance": tol, "ok": diff <= tol}
        )
    # Models whose runtime is not installed are skipped, not failed; the others are judged, and
    # at least one must have run.
    ran = [r for r in results if r["status"] != "skipped"]
    ok = bool(ran) and all(r["status"] == "ok" for r in ran) and all(c["ok"] for c in comparisons)
    return {
        "bundle": str(bundle.path),
        "ok": ok,
        "against": "reference examples"
        if ref is not None
        else "one random input, engine against engine",
        "examples": 0 if ref is None else len(ref[0]),
        "models": results,
        "skipped": [f"{r['file']}: {r['error']}" for r in results if r["status"] == "skipped"],
        "comparisons": comparisons,
    }
